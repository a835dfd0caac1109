import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// Approvals and budgets through the real wfd and wfctl.
@Suite struct ApprovalAndBudgetTests {
    let job = JobID("gate")!

    func wfctl(_ arguments: [String], _ dir: TemporaryDirectory) async throws -> (status: Int32, output: String) {
        try await runProgram(try BuiltProducts.path("wfctl"), arguments + ["--state", dir.file("state")])
    }

    func waitUntilWaiting(_ run: String, _ dir: TemporaryDirectory) async -> Bool {
        await eventually(timeout: .seconds(30)) {
            (try? await runProgram(try BuiltProducts.path("wfctl"), ["pending", "--state", dir.file("state")]))?.output
                .contains(run) == true
        }
    }

    func start(_ dir: TemporaryDirectory, job text: String) async throws -> (TestDaemon, String) {
        try dir.write("jobs/gate.yaml", text)
        let daemon = try await TestDaemon.start(dir)
        let started = try await wfctl(["run", "gate", "--json"], dir)
        let run = JSONValue.parse(Data(started.output.utf8)).flatMap {
            if case .object(let fields) = $0 { return fields["run"]?.stringValue }
            return nil
        }
        return (daemon, run ?? "(no run: \(started.output))")
    }

    func record(_ run: String, _ dir: TemporaryDirectory) throws -> RunRecord {
        guard let id = RunID(run) else { throw TestKitError("not a run id: \(run)") }
        return try RunStore(directory: StateDirectory(root: dir.file("state"))).loadRun(job, id)
    }

    @Test func anApprovalAsksForInputChecksItAndHandsItOn() async throws {
        let dir = try TemporaryDirectory("approve")
        let (daemon, run) = try await start(
            dir,
            job: """
                steps:
                  - id: pick
                    approval:
                      message: "Which ticket?"
                      input: { type: object, required: [ticket], properties: { ticket: { type: string, pattern: "^T-" } } }
                  - id: use
                    needs: [pick]
                    run: printf '%s' "$WF_STEP_PICK_OUTPUT" > picked.json
                """)
        defer { Task { await daemon.process.stop() } }
        #expect(await waitUntilWaiting(run, dir), "\(daemon.process.output)")
        let missing = try await wfctl(["approve", run, "pick"], dir)
        #expect(missing.status == 1 && missing.output.contains("asks for input: give it with --input JSON"))
        let wrong = try await wfctl(["approve", run, "pick", "--input", #"{"ticket": "42"}"#], dir)
        #expect(
            wrong.status == 1 && wrong.output.contains("/ticket must match the regular expression ^T-"),
            "\(wrong.output)")
        let notJSON = try await wfctl(["approve", run, "pick", "--input", "T-42"], dir)
        #expect(notJSON.status == 65)
        let json = try await wfctl(["approve", run, "pick", "--input", #"{"ticket": "T-42"}"#, "--json"], dir)
        #expect(json.status == 0 && json.output.contains(#""ok":true"#), "\(json.output)")
        #expect(await eventually { (try? record(run, dir))?.state == .succeeded })
        #expect(try String(contentsOfFile: dir.file("jobs/picked.json"), encoding: .utf8) == #"{"ticket":"T-42"}"#)
    }

    @Test func aWaitSurvivesAKillAndARejectionFailsTheRun() async throws {
        let dir = try TemporaryDirectory("reject")
        var (daemon, run) = try await start(
            dir,
            job: """
                steps:
                  - id: confirm
                    approval: { message: "Ship it?", timeout: 1h }
                  - id: ship
                    needs: [confirm]
                    run: "true"
                """)
        defer { Task { [daemon] in await daemon.process.stop() } }
        #expect(await waitUntilWaiting(run, dir))
        #expect(try record(run, dir).state == .waiting)
        daemon.process.send(SIGKILL)
        _ = await daemon.process.waitForExit()
        #expect(try await wfctl(["approve", run, "confirm"], dir).status == 69, "no wfd to decide")
        #expect(
            try await wfctl(["pending"], dir).output.contains("wfctl approve \(run) confirm"),
            "pending is read from disk")

        daemon = try await TestDaemon.start(dir, log: "wfd-2.log")
        #expect(try record(run, dir).state == .waiting, "still waiting after the restart")
        // Another user may not decide, even when it can reach the socket: wfd checks who calls.
        let state = StateDirectory(root: dir.file("state"))
        for (path, mode) in [
            (dir.path, 0o755), (state.root, 0o755), (state.daemonLock, 0o644), (state.daemonInfo, 0o644),
            (state.file("control.sock"), 0o666),
        ] as [(String, mode_t)] {
            chmod(path, mode)
        }
        let stranger = try await runProgram(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", try BuiltProducts.path("wfctl"), "reject", run,
                "confirm", "--state", dir.file("state"),
            ])
        #expect(stranger.status == 77, "\(stranger.output)")
        #expect(stranger.output.contains("permission denied: uid 65534 is not root"), "\(stranger.output)")
        let rejected = try await wfctl(["reject", run, "confirm", "--comment", "not today"], dir)
        #expect(rejected.status == 0, "\(rejected.output)")
        #expect(await eventually { (try? record(run, dir))?.state.isTerminal == true })
        let final = try record(run, dir)
        #expect(final.state == .failed)
        #expect(
            final.error?.hasPrefix("step 'confirm' failed: rejected by uid \(getuid())") == true, "\(final.error ?? "")"
        )
        #expect(final.error?.hasSuffix(": not today") == true)
        let shown = try await wfctl(["show", run], dir).output
        #expect(
            shown.contains("attempt 1: failed (rejected)") && shown.contains("ship (needs confirm): skipped"),
            "\(shown)")
    }

    @Test func aTimeoutDecidesAsTheJobSays() async throws {
        let dir = try TemporaryDirectory("timeout")
        let (daemon, run) = try await start(
            dir,
            job: """
                steps:
                  - id: confirm
                    approval: { message: "Proceed?", timeout: 1s, on_timeout: approve }
                  - id: after
                    needs: [confirm]
                    run: printf '%s' "$WF_STEP_CONFIRM_OUTPUT" > decided.json
                """)
        defer { Task { await daemon.process.stop() } }
        #expect(await eventually(timeout: .seconds(30)) { (try? record(run, dir))?.state == .succeeded })
        #expect(
            try String(contentsOfFile: dir.file("jobs/decided.json"), encoding: .utf8)
                == #"{"approved":true,"by":"timeout"}"#)
        let step = try RunStore(directory: StateDirectory(root: dir.file("state"))).loadStep(
            job, try #require(RunID(run)), StepID("confirm")!)
        #expect(step.attempts.last?.decision?.by == "timeout")
    }

    /// A model that answers every call with 50 prompt tokens and 450 of answer.
    static let modelAnswers =
        #"{"routes": [{"method": "POST", "path": "/v1/chat/completions", "responses": [{"openai": {"content": "ok", "prompt_tokens": 50, "completion_tokens": 450}}]}]}"#

    /// Two calls of up to 500 tokens under a 900-token cap (~30 of prompt and 500 of answer
    /// each): the cap allows one, and the second waits for a person. `more`: lines of the job's own.
    static func budgetJob(_ server: StandIn, more: String = "") -> String {
        """
        budget: { tokens: 900 }
        on_budget: approve
        \(more)
        steps:
          - id: first
            llm: { provider: openai, base_url: "\(server.url("/v1"))", model: m, prompt: "one", max_tokens: 500 }
          - id: second
            needs: [first]
            llm: { provider: openai, base_url: "\(server.url("/v1"))", model: m, prompt: "two", max_tokens: 500 }

        """
    }

    @Test func aRunWhoseNextCallWouldPassItsBudgetStopsBeforeTheCall() async throws {
        let dir = try TemporaryDirectory("budget")
        let server = try await StandIn(Self.modelAnswers, in: dir)
        defer { Task { await server.stop() } }
        let (daemon, run) = try await start(dir, job: Self.budgetJob(server))
        defer { Task { await daemon.process.stop() } }
        #expect(await waitUntilWaiting(run, dir), "\(daemon.process.output)")
        #expect(server.requests().count == 1, "the second call was not made")
        let pending = try await wfctl(["pending"], dir).output
        #expect(
            pending.contains("budget, since") && pending.contains("of the run budget of 900 tokens are left"),
            "\(pending)")
        let shown = try await wfctl(["show", run], dir).output
        #expect(shown.contains("spent $0.0000, 500 of 900 tokens, in 1 model call"), "\(shown)")

        #expect(try await wfctl(["approve", run, "second", "--comment", "worth it"], dir).status == 0)
        #expect(await eventually { (try? record(run, dir))?.state == .succeeded })
        #expect(server.requests().count == 2, "allowed by a person, the call was made")
        let after = try await wfctl(["show", run], dir).output
        #expect(after.contains("spent $0.0000, 1000 of 900 tokens, in 2 model calls"), "\(after)")
        #expect(after.contains("attempt 1: failed (budget_exceeded)") && after.contains("approved by uid"))
    }
}
