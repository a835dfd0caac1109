import Foundation
import JobFormat
import RunModel
import Schedules
import Testing
import WorkflowTesting

@testable import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct RecordFileTests {
    @Test func writesAreReadBackAndLeaveNoTemporaryFile() throws {
        let dir = try TemporaryDirectory("store")
        let path = dir.file("a/b/record.json")
        try RecordFile.write(LatestRuns(job: JobID("x")!), to: path)
        #expect(try RecordFile.read(LatestRuns.self, from: path) == LatestRuns(job: JobID("x")!))
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasSuffix("}\n"))
        #expect(text.contains("\"version\" : 1"))
    }

    @Test func missingAndCorruptRecordsAreTellingErrors() throws {
        let dir = try TemporaryDirectory("store")
        #expect(throws: StoreError.missing(path: dir.file("none.json"))) {
            try RecordFile.read(LatestRuns.self, from: dir.file("none.json"))
        }
        try dir.write("bad.json", "{\"version\": 1, \"job\": ")
        #expect {
            try RecordFile.read(LatestRuns.self, from: dir.file("bad.json"))
        } throws: { error in
            guard case .corrupt(let path, _) = error as? StoreError else { return false }
            return path == dir.file("bad.json")
        }
    }

    @Test func aFailedWriteKeepsThePreviousRecord() throws {
        let dir = try TemporaryDirectory("store")
        let path = dir.file("r/record.json")
        try RecordFile.write(LatestRuns(job: JobID("old")!), to: path)
        chmod(dir.file("r"), 0o500)  // the temporary file cannot be created
        defer { chmod(dir.file("r"), 0o700) }
        if geteuid() == 0 {
            // root ignores the mode: make the temporary name a directory instead, so open() fails.
            mkdir(path + ".tmp", 0o700)
        }
        #expect(throws: StoreError.self) { try RecordFile.write(LatestRuns(job: JobID("new")!), to: path) }
        #expect(try RecordFile.read(LatestRuns.self, from: path).job == JobID("old"))
    }

    /// A writer SIGKILLed at arbitrary moments never leaves a torn or half-written record visible.
    @Test func aWriterKilledMidWriteNeverLeavesATornRecord() async throws {
        struct LoopRecord: Decodable {
            var seq: Int
            var payload: String
        }
        let helper = try BuiltProducts.path("wfd-testhelper")
        let dir = try TemporaryDirectory("torn")
        let path = dir.file("state/record.json")
        var lastSeq = 0
        for round in 0..<12 {
            let child = try DaemonProcess(
                executable: helper, arguments: ["write-loop", path], environment: [:],
                stderrPath: dir.file("out.\(round)"))
            #expect(await eventually { FileManager.default.fileExists(atPath: path) && child.output.contains("first") })
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...60)))
            child.send(SIGKILL)
            #expect(await child.waitForExit() == 128 + SIGKILL, "killed by SIGKILL")
            let record = try RecordFile.read(LoopRecord.self, from: path)
            #expect(record.payload.count == 256 * 1024)
            #expect(record.payload.allSatisfy { $0 == Character(String(record.seq % 10)) }, "payload matches seq")
            #expect(record.seq >= 1)
            lastSeq = record.seq
        }
        #expect(lastSeq >= 1)
    }
}

/// Start-up reads only the heads of `latest.json` and `schedule.json`: the same values as decoding
/// them whole, checksum still checked over every byte.
@Suite struct RecordHeadTests {
    @Test func aHeadReadDecodesWhatAWholeReadDoes() throws {
        let dir = try TemporaryDirectory("store")
        let job = try #require(JobID("x"))
        let at = Date(timeIntervalSince1970: 1_796_000_000.5)
        var run = RunRecord(
            job: Job(id: job, steps: []), id: try #require(RunID("20261130T040000.000Z-abcdef")),
            trigger: .manual, scheduledFor: nil, createdAt: at)
        run.state = .failed
        // Text that looks like a member boundary when unescaped: it must stay inside its string.
        run.error = "line\n  \"recent\" : [\n  ],\n  \"last\" : null,\n}"
        var latest = LatestRuns(job: job, last: RunSummary(run), active: RunSummary(run))
        latest.recent = (0..<20).map { _ in LatestRuns.RecentRun(id: run.id, state: .succeeded) }
        latest.successRate = SuccessCounts(succeeded: 19, ended: 20)
        let path = dir.file("latest.json")
        try RecordFile.write(latest, to: path)
        let keys = ["last", "active", "success_rate"]
        let head = try RecordFile.read(LatestRunsHead.self, from: path, keys: keys)
        let whole = try RecordFile.read(LatestRunsHead.self, from: path)
        #expect(head.last == whole.last && head.active == whole.active && head.successRate == whole.successRate)
        #expect(head.last?.error == run.error)
        #expect(head.successRate == SuccessCounts(succeeded: 19, ended: 20))
        // Only the members asked for are parsed.
        let data = try RecordFile.readData(path)
        let members = try #require(RecordFile.members(of: data, keeping: ["success_rate"]))
        #expect(
            String(decoding: members, as: UTF8.self)
                == "{\"success_rate\" : {\n    \"ended\" : 20,\n    \"succeeded\" : 19\n  }}")
        // One changed byte anywhere, even in a member not parsed, is still found.
        var damaged = data
        let recent = try #require(damaged.range(of: Data("\"recent\"".utf8)))
        damaged[recent.lowerBound + 1] = UInt8(ascii: "R")
        try damaged.write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.self) { try RecordFile.read(LatestRunsHead.self, from: path, keys: keys) }
    }

    @Test func bytesNotInWfdsLayoutAreDecodedWhole() {
        #expect(RecordFile.members(of: Data("{\"last\": null}".utf8), keeping: ["last"]) == nil)
        #expect(RecordFile.members(of: Data("[\n  \"last\"\n]".utf8), keeping: ["last"]) == nil)
        #expect(RecordFile.members(of: Data("{\n  \"a\" : 1\n  \"b\" : 2\n}".utf8), keeping: ["a"]) == nil)
        #expect(RecordFile.members(of: Data("{\n\n}\n".utf8), keeping: ["a"]) == Data("{}".utf8))
    }
}

@Suite struct FileLockTests {
    @Test func aSecondHolderIsRefusedUntilTheFirstReleases() throws {
        let dir = try TemporaryDirectory("lock")
        let path = dir.file("lock")
        var first = try FileLock.tryLock(path)
        #expect(first != nil)
        #expect(try FileLock.tryLock(path) == nil)
        #expect(FileLock.isHeld(path))
        first = nil
        #expect(!FileLock.isHeld(path))
        #expect(try FileLock.tryLock(path) != nil)
    }

    @Test func aLockHeldByAnotherProcessIsSeenAndDiesWithIt() async throws {
        let dir = try TemporaryDirectory("lock")
        let path = dir.file("lock")
        let holder = try DaemonProcess(
            executable: try BuiltProducts.path("wfd-testhelper"), arguments: ["hold-lock", path], environment: [:],
            stderrPath: dir.file("out"))
        #expect(await eventually { holder.output.contains("locked") })
        #expect(FileLock.isHeld(path))
        #expect(try FileLock.tryLock(path) == nil)
        holder.send(SIGKILL)
        _ = await holder.waitForExit()
        #expect(!FileLock.isHeld(path))
        #expect(try FileLock.tryLock(path) != nil)
    }
}

@Suite struct RunStoreTests {
    @Test func savingRunsKeepsLatestInStep() throws {
        let dir = try TemporaryDirectory("runs")
        let store = RunStore(directory: StateDirectory(root: dir.path))
        let job = Job(id: JobID("j")!, steps: [StepDefinition(id: StepID("s")!, run: "true")])
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        var snapshot = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 7), trigger: .manual, scheduledFor: nil, createdAt: t0)
        (snapshot, _) = try RunMachine.apply(snapshot, .start(at: t0))
        try store.save(snapshot.run)
        try store.saveSpec(job, run: snapshot.run.id)
        try store.save(snapshot.steps[0])
        #expect(try store.loadLatest(job.id).active?.id == snapshot.run.id)
        #expect(try store.loadLatest(job.id).last == nil)
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(StepID("s")!, .success, at: t0 + 1))
        try store.save(snapshot.run)
        try store.save(snapshot.steps[0])
        let latest = try store.loadLatest(job.id)
        #expect(latest.active == nil)
        #expect(latest.last?.state == .succeeded)
        #expect(try store.loadSnapshot(job.id, snapshot.run.id) == snapshot)
        #expect(store.runIDs(job.id) == [snapshot.run.id])
        #expect(RunID.make(at: t0, suffix: 7).rawValue == "20270115T080000.000Z-000007")
    }
}

@Suite struct ScheduleMarkTests {
    func decision(_ second: Int, _ outcome: ScheduleMark.Outcome, trigger: Trigger = .schedule) -> ScheduleMark.Decision
    {
        let at = Date(timeIntervalSince1970: 1_800_000_000 + Double(second))
        return ScheduleMark.Decision(
            fireTime: at, trigger: trigger, outcome: outcome, reason: outcome == .started ? nil : "busy",
            decidedAt: at, run: nil)
    }

    @Test func theNotableDecisionsOutliveTwentyPlainStarts() throws {
        var mark = ScheduleMark(job: JobID("a")!)
        mark.record(decision(0, .skipped))
        mark.record(decision(1, .started, trigger: .catchup))
        for second in 2..<40 { mark.record(decision(second, .started)) }
        #expect(mark.recent.count == ScheduleMark.keep)
        #expect(mark.notable.map(\.outcome) == [.skipped, .started])
        for second in 40..<45 { mark.record(decision(second, .queued)) }
        #expect(mark.notable.count == ScheduleMark.keepNotable)
        #expect(mark.notable.last?.fireTime == decision(44, .queued).fireTime)

        let dir = try TemporaryDirectory("mark")
        let store = RunStore(directory: StateDirectory(root: dir.path))
        try RecordFile.makeDirectory(store.directory.jobDirectory(mark.job))
        try store.saveScheduleMark(mark)
        let head = try store.loadScheduleMarkHead(mark.job)
        #expect(head.lastFireTime == mark.lastFireTime)
        #expect(head.notable == mark.notable)
    }

    @Test func aFileFromBeforeNotableWasKeptGivesItFromItsRecentDecisions() throws {
        var mark = ScheduleMark(job: JobID("a")!)
        mark.record(decision(0, .skipped))
        mark.record(decision(1, .started))
        var object = try #require(
            try JSONSerialization.jsonObject(with: Timestamp.makeEncoder().encode(mark)) as? [String: Any])
        object["notable"] = nil
        let old = try JSONSerialization.data(withJSONObject: object)
        let read = try Timestamp.makeDecoder().decode(ScheduleMark.self, from: old)
        #expect(read.notable.map(\.outcome) == [.skipped])
        #expect(try Timestamp.makeDecoder().decode(ScheduleMarkHead.self, from: old).notable == nil)
    }
}
