import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// Damaged state: wfd moves bad records aside and rebuilds what recovery needs; `wfctl fsck`
/// explains every problem and repairs the safe ones.
@Suite struct StateDamageTests {
    func wfctl(_ arguments: [String], state: String) async throws -> (status: Int32, output: String) {
        try await runProgram(
            try BuiltProducts.path("wfctl"), arguments + ["--state", state], environment: ["PATH": "/usr/bin:/bin"])
    }

    func flipByte(_ path: String, at fraction: Double = 0.5) throws {
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        data[Int(Double(data.count) * fraction)] ^= 0x20
        try data.write(to: URL(fileURLWithPath: path))
    }

    @Test func aDamagedStepRecordOfAnActiveRunIsMovedAsideAndTheStepJudgedByItsEffect() async throws {
        let dir = try TemporaryDirectory("damage")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write(
            "jobs/sync.yaml",
            """
            steps:
              - id: pull
                effect: pure
                run: |
                  if [ -e "$OUT/second" ]; then echo pulled; else touch "$OUT/second"; echo $$ > "$OUT/pull.pid"; exec sleep 60; fi
              - id: push
                run: echo "$WF_STEP_PULL_OUTPUT" > "$OUT/pushed"
                needs: [pull]
            env: { OUT: \(dir.path) }
            """)
        let first = try await TestDaemon.start(dir)
        let state = StateDirectory(root: first.state)
        let store = RunStore(directory: state)
        let job = JobID("sync")!
        #expect(try await wfctl(["run", "sync"], state: first.state).status == 0)
        #expect(await eventually { FileManager.default.fileExists(atPath: dir.file("pull.pid")) })
        first.process.send(SIGKILL)
        _ = await first.process.waitForExit()
        if let pid = Int32(
            (try String(contentsOfFile: dir.file("pull.pid"), encoding: .utf8)).trimmingCharacters(
                in: .whitespacesAndNewlines))
        {
            kill(pid, SIGKILL)
        }
        let run = try #require(store.runIDs(job).last)
        let damaged = state.stepRecord(job, run, StepID("pull")!)
        try flipByte(damaged)

        let second = try await TestDaemon.start(dir)
        defer { Task { await second.process.stop() } }
        #expect(await eventually { (try? store.loadRun(job, run))?.state == .succeeded }, "\(second.process.output)")
        #expect(try String(contentsOfFile: dir.file("pushed"), encoding: .utf8) == "pulled\n")
        let pull = try store.loadStep(job, run, StepID("pull")!)
        #expect(pull.attempts.map(\.outcome) == [.interrupted, .succeeded], "the rebuilt attempt, then a new one")
        let moved = try FileManager.default.contentsOfDirectory(atPath: state.stepsDirectory(job, run))
            .filter { $0.hasPrefix("pull.json.corrupt-") }
        #expect(moved.count == 1, "the damaged record is kept aside")
        #expect(second.process.output.contains("moved a damaged record aside"))
        let status = try await wfctl(["status"], state: first.state)
        #expect(status.output.contains("1 damaged records were moved aside"), "\(status.output)")
        #expect(status.output.contains("checksum does not match"))
    }

    @Test func fsckExplainsEveryProblemAndRepairsTheSafeOnes() async throws {
        let dir = try TemporaryDirectory("fsck")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write("jobs/tidy.yaml", "steps:\n  - id: only\n    run: 'true'\n")
        let daemon = try await TestDaemon.start(dir)
        let state = StateDirectory(root: daemon.state)
        let store = RunStore(directory: state)
        let job = JobID("tidy")!
        for _ in 0..<3 { #expect(try await wfctl(["run", "tidy", "--wait"], state: daemon.state).status == 0) }
        await daemon.process.stop()
        #expect(try await wfctl(["fsck"], state: daemon.state).output.contains("no problems"))

        let runs = store.runIDs(job)
        try flipByte(state.runRecord(job, runs[0]))
        try dir.write("state/runs/tidy/\(runs[1].rawValue)/steps/only.json.tmp", "{\"half")
        let never = RunID.make(at: Date(), suffix: 1)
        try RecordFile.makeDirectory(state.runDirectory(job, never))
        try FileManager.default.copyItem(atPath: state.spec(job, runs[2]), toPath: state.spec(job, never))
        var latest = try store.loadLatest(job)
        latest.active = RunSummary(
            RunRecord(
                job: Job(id: job, steps: []), id: RunID.make(at: Date(), suffix: 2), trigger: .manual,
                scheduledFor: nil, createdAt: Date()))
        try store.saveLatest(latest)

        let found = try await wfctl(["fsck"], state: daemon.state)
        #expect(found.status == 1)
        for expected in [
            "problem: runs/tidy/\(runs[0])/run.json: the record fails its check: its checksum does not match",
            "(--repair: move it aside)", "only.json.tmp: a write that never completed",
            "runs/tidy/\(never): wfd stopped after freezing this run's definition", "its active run",
            "4 problems, 0 repaired, 4 remaining",
        ] {
            #expect(found.output.contains(expected), "\(expected)\n\(found.output)")
        }
        let json = try await wfctl(["fsck", "--json"], state: daemon.state)
        #expect(json.output.contains("\"kind\" : \"damaged\"") && json.output.contains("\"kind\" : \"dangling_index\""))

        let repaired = try await wfctl(["fsck", "--repair"], state: daemon.state)
        #expect(repaired.status == 0, "\(repaired.output)")
        #expect(repaired.output.contains("4 problems, 4 repaired, 0 remaining"), "\(repaired.output)")
        let after = try await wfctl(["fsck"], state: daemon.state)
        #expect(after.status == 1, "the record moved aside waits for a person")
        #expect(after.output.contains("moved_aside") || after.output.contains("a damaged record wfd moved aside"))
        #expect(try store.loadLatest(job).active == nil)
        #expect(!FileManager.default.fileExists(atPath: state.runDirectory(job, never)))
        #expect(store.loadQuarantineLog().entries.count == 1)
    }

    /// Every kind of damage at once to one job's records while wfd is stopped: garbage, a
    /// truncation, an empty file, a deletion, a directory where a file should be (unreadable even
    /// to root). wfd starts, keeps running the other job, runs the damaged one again, and every
    /// problem is either moved aside and reported or explained by `wfctl fsck`.
    @Test func everyKindOfDamageLeavesTheDaemonRunningTheOtherJobsAndTheDamagedOne() async throws {
        let dir = try TemporaryDirectory("damage")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write("jobs/victim.yaml", "schedule: '0 0 1 1 *'\nsteps:\n  - id: one\n    run: 'true'\n")
        try dir.write("jobs/healthy.yaml", "schedule: '* * * * * *'\nsteps:\n  - id: one\n    run: 'true'\n")
        let first = try await TestDaemon.start(dir)
        let state = StateDirectory(root: first.state)
        let store = RunStore(directory: state)
        let (victim, healthy) = (JobID("victim")!, JobID("healthy")!)
        for _ in 0..<2 { #expect(try await wfctl(["run", "victim", "--wait"], state: first.state).status == 0) }
        #expect(await eventually { store.runIDs(healthy).count >= 1 })
        await first.process.stop()

        let runs = store.runIDs(victim)
        try dir.write("state/jobs/victim/latest.json", "{{{ not json")
        // The healthy job's scheduling mark, cut in half: it must go on firing all the same.
        let schedule = state.jobDirectory(healthy) + "/schedule.json"
        let mark = try Data(contentsOf: URL(fileURLWithPath: schedule))
        try mark.prefix(mark.count / 2).write(to: URL(fileURLWithPath: schedule))
        try Data().write(to: URL(fileURLWithPath: state.runRecord(victim, runs[1])))
        try FileManager.default.removeItem(atPath: state.stepRecord(victim, runs[0], StepID("one")!))
        try FileManager.default.removeItem(atPath: state.jobInfo(victim))
        try FileManager.default.createDirectory(atPath: state.jobInfo(victim), withIntermediateDirectories: false)
        let index = try FileHandle(forWritingTo: URL(fileURLWithPath: state.runIndex(victim)))
        try index.seekToEnd()
        try index.write(contentsOf: Data("\u{0}\u{1}garbage\n{\"half\": ".utf8))
        try index.close()

        let healthyBefore = store.runIDs(healthy).count
        let daemon = try await TestDaemon.start(dir, log: "wfd-2.log")
        defer { Task { await daemon.process.stop() } }
        #expect(
            await eventually(timeout: .seconds(30)) { store.runIDs(healthy).count >= healthyBefore + 2 },
            "the other job keeps running")
        let again = try await wfctl(["run", "victim", "--wait"], state: daemon.state)
        #expect(again.status == 0, "the damaged job runs again: \(again.output)")
        #expect(isAlive(daemon.process.pid))
        let status = try await wfctl(["status"], state: daemon.state)
        #expect(status.status == 0, "\(status.output)")
        #expect(status.output.contains("victim") && status.output.contains("healthy"), "\(status.output)")
        let log = (try? String(contentsOfFile: dir.file("wfd-2.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("latest.json"), "the damaged latest.json is reported: \(log.suffix(3000))")
        let moved = try FileManager.default.contentsOfDirectory(atPath: state.jobDirectory(victim))
        #expect(moved.contains { $0.hasPrefix("latest.json.corrupt-") }, "\(moved)")
        let marks = try FileManager.default.contentsOfDirectory(atPath: state.jobDirectory(healthy))
        #expect(marks.contains { $0.hasPrefix("schedule.json.corrupt-") }, "\(marks)")

        let fsck = try await wfctl(["fsck"], state: daemon.state)
        for expected in [
            "runs/victim/\(runs[1])/run.json", "a damaged record wfd moved aside",
            "runs/victim/\(runs[0])/steps: the run succeeded but the records of one are gone",
            "jobs/victim/job.json: the record cannot be read",
        ] {
            #expect(fsck.output.contains(expected), "\(expected)\n\(fsck.output)")
        }
    }
}
