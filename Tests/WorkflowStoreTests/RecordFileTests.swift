import Foundation
import Testing
import WorkflowCore
import WorkflowStore
import WorkflowTesting

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
            #expect(await child.waitForExit() == SIGKILL)
            let record = try RecordFile.read(LoopRecord.self, from: path)
            #expect(record.payload.count == 256 * 1024)
            #expect(record.payload.allSatisfy { $0 == Character(String(record.seq % 10)) }, "payload matches seq")
            #expect(record.seq >= 1)
            lastSeq = record.seq
        }
        #expect(lastSeq >= 1)
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
    func decision(_ second: Int, _ outcome: String, trigger: Trigger = .schedule) -> ScheduleMark.Decision {
        let at = Date(timeIntervalSince1970: 1_800_000_000 + Double(second))
        return ScheduleMark.Decision(
            fireTime: at, trigger: trigger, outcome: outcome, reason: outcome == "started" ? nil : "busy",
            decidedAt: at, run: nil)
    }

    @Test func theNotableDecisionsOutliveTwentyPlainStarts() throws {
        var mark = ScheduleMark(job: JobID("a")!)
        mark.record(decision(0, "skipped"))
        mark.record(decision(1, "started", trigger: .catchup))
        for second in 2..<40 { mark.record(decision(second, "started")) }
        #expect(mark.recent.count == ScheduleMark.keep)
        #expect(mark.notable.map(\.outcome) == ["skipped", "started"])
        for second in 40..<45 { mark.record(decision(second, "queued")) }
        #expect(mark.notable.count == ScheduleMark.keepNotable)
        #expect(mark.notable.last?.fireTime == decision(44, "queued").fireTime)

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
        mark.record(decision(0, "skipped"))
        mark.record(decision(1, "started"))
        var object = try #require(
            try JSONSerialization.jsonObject(with: Timestamp.makeEncoder().encode(mark)) as? [String: Any])
        object["notable"] = nil
        let old = try JSONSerialization.data(withJSONObject: object)
        let read = try Timestamp.makeDecoder().decode(ScheduleMark.self, from: old)
        #expect(read.notable.map(\.outcome) == ["skipped"])
        #expect(try Timestamp.makeDecoder().decode(ScheduleMarkHead.self, from: old).notable == nil)
    }
}
