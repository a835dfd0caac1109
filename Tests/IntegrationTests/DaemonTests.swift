import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// The built `wfd` and `wfctl`, run as a user would, with `NOTIFY_SOCKET` pointing at a socket the
/// test bound.
@Suite struct DaemonTests {
    struct Daemon {
        let dir: TemporaryDirectory
        let socket: NotifySocket
        let process: DaemonProcess
        var state: StateDirectory { StateDirectory(root: dir.file("state")) }
    }

    func start(
        _ dir: TemporaryDirectory, socket: NotifySocket? = nil, extra: [String] = [],
        environment: [String: String] = [:]
    ) throws -> Daemon {
        let socket = try socket ?? NotifySocket()
        let process = try DaemonProcess(
            executable: try BuiltProducts.path("wfd"),
            arguments: [
                "--jobs", dir.file("jobs"), "--state", dir.file("state"), "--log-target", "stderr", "--stop-grace", "5",
            ]
                + extra,
            environment: ["NOTIFY_SOCKET": socket.address, "PATH": "/usr/bin:/bin", "HOME": "/root"].merging(
                environment
            ) {
                _, new in new
            },
            stderrPath: dir.file("wfd.\(UInt32.random(in: 0...UInt32.max)).log"))
        return Daemon(dir: dir, socket: socket, process: process)
    }

    func wfctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runProgram(try BuiltProducts.path("wfctl"), arguments, environment: ["PATH": "/usr/bin:/bin"])
    }

    func finishedRuns(_ state: StateDirectory, _ job: String) -> [RunRecord] {
        let store = RunStore(directory: state)
        return store.runIDs(JobID(job)!).compactMap { try? store.loadRun(JobID(job)!, $0) }.filter {
            $0.state.isTerminal
        }
    }

    /// Every record under `state/` must be complete JSON (locks and logs aside); once wfd has
    /// stopped (`stopped`), no temporary file may be left either (while it runs, one exists for
    /// the instant between its creation and its rename).
    func assertEveryRecordParses(_ root: String, stopped: Bool) throws {
        let files = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        var checked = 0
        for file in files where file.hasSuffix(".json") {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(file)"))
            #expect((try? JSONSerialization.jsonObject(with: data)) != nil, "\(file) parses")
            checked += 1
        }
        #expect(checked > 0)
        if stopped { #expect(!files.contains { $0.hasSuffix(".tmp") }, "no temporary files left") }
    }

    @Test func readyRunsReloadsAndStopsGracefully() async throws {
        let dir = try TemporaryDirectory("daemon")
        try dir.write("jobs/tick.yaml", "schedule: '* * * * * *'\nsteps:\n  - {id: say, run: 'echo tick $WF_RUN_ID'}\n")
        let daemon = try start(dir)
        defer { Task { await daemon.process.stop() } }

        // READY=1 once jobs are loaded.
        let ready = await daemon.socket.waitFor { $0.contains("READY=1") }
        #expect(ready != nil, "READY=1 arrives; wfd said: \(daemon.process.output)")
        #expect(daemon.socket.messages[ready ?? 0].contains("STATUS=1 jobs, 0 running"))

        // A job scheduled every second runs at least twice within 5 s.
        #expect(await eventually(timeout: .seconds(30)) { finishedRuns(daemon.state, "tick").count >= 2 })
        let runs = finishedRuns(daemon.state, "tick")
        #expect(runs.allSatisfy { $0.state == .succeeded }, "\(runs.map(\.state))")
        let log = try String(
            contentsOfFile: daemon.state.runFile(JobID("tick")!, runs[0].id, relative: "logs/say.1.log"),
            encoding: .utf8)
        #expect(log == "tick \(runs[0].id)\n")
        try assertEveryRecordParses(daemon.state.root, stopped: false)

        // wfctl status --json reports it.
        let status = try await wfctl(["status", "--json", "--state", daemon.state.root])
        #expect(status.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
        #expect((json["daemon"] as? [String: Any])?["running"] as? Bool == true)
        let jobs = try #require(json["jobs"] as? [[String: Any]])
        #expect(jobs.first?["job"] as? String == "tick")
        #expect(jobs.first?["schedules"] as? [String] == ["* * * * * *"])
        #expect(jobs.first?["state"] as? String == "active")
        #expect(jobs.first?["next_fire"] is String)
        #expect((jobs.first?["last_run"] as? [String: Any])?["state"] as? String == "succeeded")

        // SIGHUP: RELOADING=1 (with MONOTONIC_USEC) then READY=1, and a new job is picked up.
        try dir.write(
            "jobs/slow.yaml", "schedule: '* * * * * *'\nsteps:\n  - {id: nap, run: 'echo napping; sleep 30'}\n")
        let before = daemon.socket.messages.count
        daemon.process.send(SIGHUP)
        let reloading = await daemon.socket.waitFor(from: before) { $0.contains("RELOADING=1") }
        #expect(reloading != nil)
        #expect(daemon.socket.messages[reloading ?? 0].contains("MONOTONIC_USEC="))
        #expect(await daemon.socket.waitFor(from: (reloading ?? 0) + 1) { $0.contains("READY=1") } != nil)

        // SIGTERM while `sleep 30` runs: STOPPING=1, exit 0, the step recorded as cancelled.
        let store = RunStore(directory: daemon.state)
        let slow = JobID("slow")!
        #expect(
            await eventually(timeout: .seconds(30)) {
                guard let active = try? store.loadLatest(slow).active else { return false }
                let log = daemon.state.runFile(slow, active.id, relative: "logs/nap.1.log")
                return (try? String(contentsOfFile: log, encoding: .utf8))?.contains("napping") == true
            })
        let activeRun = try #require(try store.loadLatest(slow).active?.id)
        let stopFrom = daemon.socket.messages.count
        daemon.process.send(SIGTERM)
        #expect(await daemon.socket.waitFor(from: stopFrom) { $0.contains("STOPPING=1") } != nil)
        #expect(await daemon.process.waitForExit(timeout: .seconds(15)) == 0, "wfd said: \(daemon.process.output)")
        let final = try store.loadSnapshot(slow, activeRun)
        #expect(final.run.state == .cancelled)
        #expect(final.steps[0].state == .cancelled)
        #expect(final.steps[0].attempts.last?.outcome == .cancelled)
        #expect(final.steps[0].attempts.last?.signal == SIGTERM)
        try assertEveryRecordParses(daemon.state.root, stopped: true)

        // wfctl still answers from disk once wfd is gone.
        let after = try await wfctl(["status", "--state", daemon.state.root])
        #expect(after.status == 0)
        #expect(after.output.contains("wfd is not running"))
        #expect(after.output.contains("slow") && after.output.contains("cancelled"))
    }

    @Test func aSecondDaemonOnTheSameStateIsRefused() async throws {
        let dir = try TemporaryDirectory("second")
        try dir.write("jobs/idle.yaml", "schedule: '0 0 1 1 *'\nsteps: [{id: a, run: 'true'}]\n")
        let first = try start(dir)
        defer { Task { await first.process.stop() } }
        #expect(await first.socket.waitFor { $0.contains("READY=1") } != nil)
        let second = try start(dir)
        #expect(await second.process.waitForExit(timeout: .seconds(10)) == 1)
        #expect(second.process.output.contains("another wfd is running on the state directory"))
        #expect(second.socket.messages.allSatisfy { !$0.contains("READY=1") })
        first.process.send(SIGTERM)
        #expect(await first.process.waitForExit() == 0)
    }

    /// A state directory written by a newer wfd: this one refuses to start, saying why, and
    /// touches nothing.
    @Test func aStateDirectoryOfANewerFormatIsRefused() async throws {
        let dir = try TemporaryDirectory("newer-state")
        try dir.write("jobs/idle.yaml", "schedule: '0 0 1 1 *'\nsteps: [{id: a, run: 'true'}]\n")
        let newer = #"{"format": 99, "written_by": "wfd 9.0.0"}"#
        try dir.write("state/format.json", newer)
        let daemon = try start(dir)
        #expect(await daemon.process.waitForExit(timeout: .seconds(10)) == 1)
        #expect(daemon.process.output.contains("format 99, written by wfd 9.0.0"), "\(daemon.process.output)")
        #expect(daemon.socket.messages.allSatisfy { !$0.contains("READY=1") })
        #expect(try String(contentsOfFile: dir.file("state/format.json"), encoding: .utf8) == newer)
        #expect(!FileManager.default.fileExists(atPath: dir.file("state/jobs")), "nothing was written")
        let status = try await wfctl(["status", "--state", dir.file("state")])
        #expect(status.status == 65, "wfctl does not misread it either: \(status.output)")
        #expect(status.output.contains("format 99, written by wfd 9.0.0"))
    }

    @Test func aBadJobFileIsReportedWithItsPositionAndTheOthersRun() async throws {
        let dir = try TemporaryDirectory("badfile")
        try dir.write("jobs/good.yaml", "schedule: '* * * * * *'\nsteps: [{id: a, run: 'echo ok'}]\n")
        try dir.write("jobs/bad.yaml", "schedule: '* * * * * *'\nsteps:\n  - id: a\n    runn: 'echo never'\n")
        let daemon = try start(dir)
        defer { Task { await daemon.process.stop() } }
        #expect(await daemon.socket.waitFor { $0.contains("READY=1") } != nil)
        #expect(await eventually { finishedRuns(daemon.state, "good").count >= 1 })
        #expect(
            daemon.process.output.contains(
                "\(dir.file("jobs/bad.yaml")):4:5: unknown key 'runn' in a step (did you mean 'run'?)"))
        #expect(finishedRuns(daemon.state, "bad").isEmpty)
        daemon.process.send(SIGTERM)
        #expect(await daemon.process.waitForExit() == 0)
    }

    @Test func aFailingStepFailsTheRunAndSkipsWhatNeedsIt() async throws {
        let dir = try TemporaryDirectory("failing")
        try dir.write(
            "jobs/broken.yaml",
            """
            schedule: '* * * * * *'
            steps:
              - {id: first, run: 'echo about to fail >&2; exit 3'}
              - {id: second, needs: [first], run: 'echo never'}
            """)
        let daemon = try start(dir)
        defer { Task { await daemon.process.stop() } }
        #expect(await eventually(timeout: .seconds(30)) { finishedRuns(daemon.state, "broken").count >= 1 })
        let run = try #require(finishedRuns(daemon.state, "broken").first)
        let snapshot = try RunStore(directory: daemon.state).loadSnapshot(JobID("broken")!, run.id)
        #expect(snapshot.run.state == .failed)
        #expect(snapshot.run.error == "step 'first' failed: exited with status 3")
        #expect(snapshot.steps.map(\.state) == [.failed, .skipped])
        #expect(snapshot.steps[0].attempts[0].exitCode == 3)
        daemon.process.send(SIGTERM)
        #expect(await daemon.process.waitForExit() == 0)
    }

    @Test func theWatchdogIsPingedAtHalfItsIntervalFromTheSchedulerLoop() async throws {
        let dir = try TemporaryDirectory("watchdog")
        try dir.write("jobs/idle.yaml", "schedule: '0 0 1 1 *'\nsteps: [{id: a, run: 'true'}]\n")
        // 600 ms: the loop must wake about every 300 ms though no job is due for months.
        let daemon = try start(dir, environment: ["WATCHDOG_USEC": "600000"])
        defer { Task { await daemon.process.stop() } }
        guard let ready = await daemon.socket.waitFor({ $0.contains("READY=1") }) else {
            Issue.record("no READY=1: \(daemon.process.output)")
            return
        }
        let pings = await daemon.socket.waitFor(from: ready) { _ in
            daemon.socket.messages[ready...].filter { $0 == "WATCHDOG=1" }.count >= 4
        }
        #expect(pings != nil, "at least 4 pings after READY=1: \(daemon.socket.messages)")
        daemon.process.send(SIGTERM)
        #expect(await daemon.process.waitForExit() == 0)
    }

    @Test func aFireTimeThatFindsTheJobStillRunningIsSkippedAndLogged() async throws {
        let dir = try TemporaryDirectory("overlap")
        try dir.write("jobs/long.yaml", "schedule: '* * * * * *'\nsteps: [{id: a, run: 'sleep 2.5'}]\n")
        let daemon = try start(dir)
        defer { Task { await daemon.process.stop() } }
        #expect(await eventually(timeout: .seconds(30)) { daemon.process.output.contains("skipping fire time") })
        #expect(daemon.process.output.contains("is still running"))
        let status = try await wfctl(["status", "--state", daemon.state.root])
        #expect(status.output.contains("long: skipped fire time"), "\(status.output)")
        #expect(status.output.contains("the previous run is still running"))
        #expect(await eventually(timeout: .seconds(30)) { finishedRuns(daemon.state, "long").count >= 1 })
        // One run at a time: no run starts before the one before it has ended.
        let store = RunStore(directory: daemon.state)
        #expect(await eventually(timeout: .seconds(30)) { store.runIDs(JobID("long")!).count >= 2 })
        let runs = store.runIDs(JobID("long")!).compactMap { try? store.loadRun(JobID("long")!, $0) }
            .sorted { ($0.startedAt ?? .distantFuture) < ($1.startedAt ?? .distantFuture) }
        for (earlier, later) in zip(runs, runs.dropFirst()) {
            guard let started = later.startedAt else { continue }
            #expect(earlier.endedAt.map { $0 <= started } == true, "\(earlier.id) overlaps \(later.id)")
        }
        daemon.process.send(SIGTERM)
        #expect(await daemon.process.waitForExit() == 0)
    }

    /// wfd stopped for a few seconds: on restart the fire times missed meanwhile are not fired
    /// in a burst; with `catchup: latest` (the default) the newest runs and the others are
    /// recorded as skipped, with the reason, in schedule.json (the planner tests cover the
    /// `catchup` trigger of a fire time that is no longer on time).
    @Test func firesMissedWhileStoppedAreNotFiredInABurst() async throws {
        let dir = try TemporaryDirectory("catchup")
        try dir.write("jobs/tick.yaml", "schedule: '* * * * * *'\nsteps: [{id: a, run: 'true'}]\n")
        let first = try start(dir)
        #expect(await eventually(timeout: .seconds(30)) { finishedRuns(first.state, "tick").count >= 1 })
        // Fire times that come due while wfd drains after SIGTERM are missed too.
        let stoppedAt = Date().addingTimeInterval(-1)
        first.process.send(SIGTERM)
        #expect(await first.process.waitForExit() == 0)
        let store = RunStore(directory: first.state)
        let before = Set(store.runIDs(JobID("tick")!))
        try await Task.sleep(for: .seconds(3))
        let second = try start(dir)
        defer { Task { await second.process.stop() } }
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? store.loadScheduleMark(JobID("tick")!))?.recent.contains {
                    $0.reason?.contains("catchup latest") == true
                } == true
            })
        let restartedAt = Date()
        second.process.send(SIGTERM)
        #expect(await second.process.waitForExit() == 0)
        let mark = try store.loadScheduleMark(JobID("tick")!)
        let skipped = mark.recent.filter {
            $0.outcome == .skipped && $0.reason == "missed; catchup latest runs only the newest"
        }
        #expect(skipped.count >= 2, "\(mark.recent)")
        #expect(skipped.allSatisfy { $0.fireTime > stoppedAt && $0.fireTime < restartedAt })
        // At most one run per fire time after the restart: no run for a skipped one.
        let newRuns = store.runIDs(JobID("tick")!).filter { !before.contains($0) }.compactMap {
            try? store.loadRun(JobID("tick")!, $0)
        }
        #expect(!newRuns.contains { run in skipped.contains { $0.fireTime == run.scheduledFor } })
    }
}
