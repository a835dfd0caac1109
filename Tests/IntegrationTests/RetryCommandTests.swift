import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// `wfctl retry` against the built wfd: a failed run goes on from its failed step, and a run
/// interrupted by a crash waits until a person runs or skips the step that was in flight.
@Suite struct RetryCommandTests {
    func wfctl(_ arguments: [String], state: String) async throws -> (status: Int32, output: String) {
        try await runProgram(
            try BuiltProducts.path("wfctl"), arguments + ["--state", state], environment: ["PATH": "/usr/bin:/bin"])
    }

    func waitForEnd(_ store: RunStore, _ job: JobID, _ run: RunID) async -> RunRecord? {
        var record: RunRecord?
        _ = await eventually(timeout: .seconds(30)) {
            record = try? store.loadRun(job, run)
            return record?.state.isTerminal == true
        }
        return record
    }

    @Test func aFailedRunIsRetriedFromItsFailedStepKeepingWhatSucceeded() async throws {
        let dir = try TemporaryDirectory("retry")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write(
            "jobs/report.yaml",
            """
            steps:
              - id: fetch
                run: |
                  echo fetched >> "$OUT/fetch.count"; echo '{"n": 3}'
                output: json
              - id: publish
                run: test -e "$OUT/ready" && echo "$WF_STEP_FETCH_OUTPUT" > "$OUT/published"
                needs: [fetch]
            env: { OUT: \(dir.path) }
            """)
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let state = daemon.state
        let store = RunStore(directory: StateDirectory(root: state))
        let job = JobID("report")!

        let started = try await wfctl(["run", "report", "--wait"], state: state)
        #expect(started.status == 1, "publish fails: \(started.output)")
        #expect(started.output.contains("publish: failed"), "--wait streams the steps: \(started.output)")
        let run = try #require(store.runIDs(job).last)

        let refused = try await wfctl(["retry", run.rawValue, "--from", "nosuch"], state: state)
        #expect(refused.status == 1)
        #expect(refused.output.contains("has no step 'nosuch' (its steps: fetch, publish)"), "\(refused.output)")

        try dir.write("ready", "")
        let retried = try await wfctl(["retry", run.rawValue, "--wait"], state: state)
        #expect(retried.status == 0, "\(retried.output)")
        #expect(retried.output.contains("retrying run \(run) of report from its failed steps"))
        let record = try store.loadRun(job, run)
        #expect(record.state == .succeeded)
        #expect(record.retries?.first?.reset == [StepID("publish")!])
        #expect(try String(contentsOfFile: dir.file("fetch.count"), encoding: .utf8) == "fetched\n", "fetch ran once")
        #expect(try String(contentsOfFile: dir.file("published"), encoding: .utf8) == "{\"n\": 3}\n")
        #expect(try store.loadStep(job, run, StepID("publish")!).attempts.count == 2)

        let again = try await wfctl(["retry", run.rawValue], state: state)
        #expect(again.status == 1)
        #expect(again.output.contains("succeeded: nothing to retry"), "\(again.output)")
        let fromFetch = try await wfctl(["retry", run.rawValue, "--from", "fetch", "--wait", "--json"], state: state)
        #expect(fromFetch.status == 0, "\(fromFetch.output)")
        #expect(fromFetch.output.contains("\"state\" : \"succeeded\""), "\(fromFetch.output)")
        #expect(try String(contentsOfFile: dir.file("fetch.count"), encoding: .utf8) == "fetched\nfetched\n")
    }

    @Test func anEffectfulStepCutByACrashWaitsForAPersonWhoSkipsIt() async throws {
        let dir = try TemporaryDirectory("interrupt")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write(
            "jobs/pay.yaml",
            """
            steps:
              - id: charge
                run: echo $$ > "$OUT/charge.pid"; exec sleep 60
              - id: receipt
                run: echo "$WF_STEP_CHARGE_OUTPUT" > "$OUT/receipt"
                needs: [charge]
            env: { OUT: \(dir.path) }
            """)
        let daemon = try await TestDaemon.start(dir)
        let state = daemon.state
        let store = RunStore(directory: StateDirectory(root: state))
        let job = JobID("pay")!
        #expect(try await wfctl(["run", "pay"], state: state).status == 0)
        #expect(await eventually { FileManager.default.fileExists(atPath: dir.file("charge.pid")) })
        daemon.process.send(SIGKILL)
        _ = await daemon.process.waitForExit()
        // Outside systemd the step outlives wfd; the next wfd kills it before anything runs.
        let pidText = try String(contentsOfFile: dir.file("charge.pid"), encoding: .utf8)
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(isAlive(pid))

        let restarted = try await TestDaemon.start(dir)
        defer { Task { await restarted.process.stop() } }
        #expect(!isAlive(pid), "the leftover step was killed during recovery")
        #expect(restarted.process.output.contains("which outlived the previous wfd"))
        let run = try #require(store.runIDs(job).last)
        let record = try #require(await waitForEnd(store, job, run))
        #expect(record.state == .failed)
        #expect(record.interrupted == true)
        #expect(
            record.error?.contains("wfctl retry \(run) --skip charge --output FILE") == true, "\(record.error ?? "")")
        #expect(try store.loadStep(job, run, StepID("charge")!).state == .interrupted)
        #expect(try store.loadStep(job, run, StepID("charge")!).attempts.count == 1, "not re-run by a guess")
        let status = try await wfctl(["status"], state: state)
        #expect(status.output.contains("failed (interrupted: see wfctl show)"), "\(status.output)")
        let shown = try await wfctl(["show", run.rawValue], state: state)
        #expect(shown.output.contains("failed (interrupted: waiting for wfctl retry)"), "\(shown.output)")

        try dir.write("charge-result.json", "ch_123")
        let skipped = try await wfctl(
            ["retry", run.rawValue, "--skip", "charge", "--output", dir.file("charge-result.json"), "--wait"],
            state: state)
        #expect(skipped.status == 0, "\(skipped.output)")
        #expect(try String(contentsOfFile: dir.file("receipt"), encoding: .utf8) == "ch_123\n")
        let charge = try store.loadStep(job, run, StepID("charge")!)
        #expect(charge.state == .succeeded && charge.attempts.last?.byHand == true)
    }
}
