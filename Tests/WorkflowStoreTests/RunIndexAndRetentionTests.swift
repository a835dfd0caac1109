import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

@Suite struct RunIndexAndRetentionTests {
    let job = JobID("daily")!
    let day: TimeInterval = 86_400
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// A run of `job` created `age` seconds before `now`, ended in `state`.
    func endedRun(_ store: RunStore, age: TimeInterval, state: RunState = .succeeded, suffix: UInt32) throws
        -> RunRecord
    {
        let spec = Job(id: job, steps: [StepDefinition(id: StepID("a")!, run: "true")])
        var run = RunRecord(
            job: spec, id: RunID.make(at: now - age, suffix: suffix), trigger: .schedule, scheduledFor: nil,
            createdAt: now - age)
        try store.saveSpec(spec, run: run.id)
        run.state = .running
        try store.save(run)
        run.state = state
        run.endedAt = now - age + 1
        try store.save(run)
        return run
    }

    @Test func theIndexIsReadFromItsEndAndTheLastLineOfARunWins() throws {
        let dir = try TemporaryDirectory("index")
        let store = RunStore(directory: StateDirectory(root: dir.path))
        let index = RunIndex(directory: store.directory)
        var runs: [RunRecord] = []
        for number in 0..<300 { runs.append(try endedRun(store, age: Double(300 - number), suffix: UInt32(number))) }
        var retried = runs[299]
        retried.state = .failed
        try index.append(retried)
        let recent = index.recent(job, limit: 5)
        #expect(recent.map(\.id) == runs.suffix(5).reversed().map(\.id))
        #expect(recent.first?.state == .failed, "the later line of the same run wins")

        // A crash in the middle of an append leaves a torn line: readers skip it, the next
        // append starts on a new line.
        let handle = try #require(FileHandle(forWritingAtPath: store.directory.runIndex(job)))
        handle.seekToEndOfFile()
        handle.write(Data("{\"job\":\"daily\",\"id\":\"2027".utf8))
        try handle.close()
        #expect(index.recent(job, limit: 2).count == 2)
        let later = try endedRun(store, age: 0, suffix: 999)
        #expect(index.recent(job, limit: 1).first?.id == later.id)
        #expect(index.all(job).count == 301)
    }

    /// latest.json keeps how the newest 20 runs went, as the index says it, so that status need
    /// not read the index; a run saved twice (recovery) or ended again (retry) counts once.
    @Test func latestKeepsTheNewestTwentyOutcomesAsTheIndexTellsThem() throws {
        let dir = try TemporaryDirectory("recent")
        let store = RunStore(directory: StateDirectory(root: dir.path))
        let index = RunIndex(directory: store.directory)
        var runs: [RunRecord] = []
        for number in 0..<25 {
            let state: RunState = number % 3 == 0 ? .failed : .succeeded
            runs.append(try endedRun(store, age: Double(100 - number), state: state, suffix: UInt32(number)))
        }
        func agrees() throws {
            let latest = try store.loadLatest(job)
            let fromIndex = index.recent(job, limit: 20)
            #expect(latest.recent?.map(\.id) == fromIndex.reversed().map(\.id))
            #expect(latest.recent?.map(\.state) == fromIndex.reversed().map(\.state))
            let succeeded = fromIndex.filter { $0.state == .succeeded }.count
            #expect(latest.successRate == SuccessCounts(succeeded: succeeded, ended: fromIndex.count))
            #expect(try store.loadLatestHead(job).successRate == latest.successRate)
        }
        try agrees()
        try store.save(runs[24])  // recovery saves an ended run again
        try agrees()
        var retried = runs[22]  // a retry ends an older run again
        retried.state = .succeeded
        try store.save(retried)
        try agrees()
        #expect(try store.loadLatest(job).recent?.last?.id == runs[22].id)

        // A latest.json from before `recent` was kept: the next run to end starts it from the index.
        var old = try store.loadLatest(job)
        (old.recent, old.successRate) = (nil, nil)
        try store.saveLatest(old)
        #expect(try store.loadLatestHead(job).successRate == nil)
        _ = try endedRun(store, age: 1, suffix: 777)
        try agrees()
    }

    @Test func retentionDeletesTheOldestAndTheTooOldButNeverWhatWaits() throws {
        let dir = try TemporaryDirectory("retention")
        let store = RunStore(directory: StateDirectory(root: dir.path))
        let ancient = try endedRun(store, age: 40 * day, suffix: 1)
        var interrupted = try endedRun(store, age: 39 * day, state: .failed, suffix: 2)
        interrupted.interrupted = true
        try store.save(interrupted)
        var recent: [RunRecord] = []
        for number in 0..<6 {
            recent.append(try endedRun(store, age: Double(10 - number) * day, suffix: UInt32(10 + number)))
        }
        // An unfinished run (wfd is down) is the newest; it is never touched.
        let spec = try store.loadSpec(job, ancient.id)
        var unfinished = RunRecord(
            job: spec, id: RunID.make(at: now, suffix: 99), trigger: .manual, scheduledFor: nil, createdAt: now)
        try store.saveSpec(spec, run: unfinished.id)
        unfinished.state = .running
        try store.save(unfinished)

        let removed = try store.applyRetention(job, keepRuns: 4, keepDays: 30, now: now)
        #expect(removed == [ancient.id] + recent.prefix(3).map(\.id))
        #expect(store.runIDs(job) == [interrupted.id] + recent.suffix(3).map(\.id) + [unfinished.id])
        let indexed = Set(RunIndex(directory: store.directory).all(job).keys)
        #expect(indexed == Set([interrupted.id] + recent.suffix(3).map(\.id)), "the index lost the deleted runs")
        #expect(try store.applyRetention(job, keepRuns: 4, keepDays: 30, now: now).isEmpty)
    }

    @Test func runIdsTellWhenTheyWereMade() {
        let made = Date(timeIntervalSince1970: 1_795_587_270.066)
        let back = RunID.make(at: made, suffix: 7).createdAt
        #expect(back.map { abs($0.timeIntervalSince(made)) < 0.001 } == true, "to the millisecond")
        #expect(RunID("hand-made")?.createdAt == nil)
    }
}
