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

/// Stage 1 to 3 on the release workflow: the shipped `jobs.d/release-agent.yaml` (one agent with
/// the release-aftermath's services as tools) runs on GitHub's signed release delivery against
/// loopback stand-ins, a person approving each close; `wfctl harden` turns the recorded run into
/// explicit steps; `wfctl promote` moves them in; the hardened job runs on the same delivery and
/// makes the same changes (the same closes, the same notes) with fewer model calls.
@Suite struct HardenTests {
    let tasks = [("github", "41"), ("canny", "T-4"), ("github", "42")]
    let notes = "v1.4 closes three tasks."

    /// The agent's turns: the commits, the closes it decided on, the notes, its answer.
    var turns: String {
        let closes = tasks.enumerated().map { index, task in
            task.0 == "github"
                ? #"{"name": "close_issue", "arguments": {"number": "\#(task.1)"}}"#
                : #"{"name": "close_post", "arguments": {"id": "\#(task.1)", "commit": "c0ffee\#(index)"}}"#
        }.joined(separator: ", ")
        return """
            [{"calls": [{"name": "list_commits", "arguments": {}}]},
             {"calls": [\(closes)]},
             {"calls": [{"name": "write_notes", "arguments": {"text": "\(notes)"}}]},
             {"answer": {"closed": ["41", "T-4", "42"]}}]
            """
    }

    /// The services, and the model: /v1 plays the agent, /v2 answers the hardened job's two
    /// model calls in turn (the closes it decides, the notes).
    var scenario: String {
        let commits = tasks.enumerated().map { index, task in
            #"{"sha": "c0ffee\#(index)", "commit": {"message": "Finish \#(task.1)"}}"#
        }.joined(separator: ", ")
        let calls = tasks.enumerated().map { index, task in
            task.0 == "github"
                ? #"{"tool": "close_issue", "number": "\#(task.1)"}"#
                : #"{"tool": "close_post", "id": "\#(task.1)", "commit": "c0ffee\#(index)"}"#
        }.joined(separator: ", ")
        return """
            {"routes": [
              {"method": "GET", "path": "/repos/acme/tolaria/commits", "responses": [{"json": [\(commits)]}]},
              {"method": "POST", "path": "/v1/chat/completions", "responses": [{"agent": {"turns": \(turns)}}]},
              {"method": "POST", "path": "/v2/chat/completions", "responses": [
                {"openai": {"content": {"calls": [\(calls)]}}},
                {"openai": {"content": "\(notes)"}}
              ]},
              {"method": "PATCH", "path": "/repos/acme/tolaria/issues/[0-9]+", "responses": [{"json": {"state": "closed"}}]},
              {"method": "POST", "path": "/api/v1/posts/change_status", "responses": [{"json": {"status": "complete"}}]}
            ]}
            """
    }

    /// The changes a run made: each close (method, path, body but the run's own id) in order.
    func changes(_ server: StandIn, after: Int) -> [String] {
        server.requests().dropFirst(after).filter { ["PATCH", "POST"].contains($0["method"]?.stringValue ?? "") }
            .filter { !($0["path"]?.stringValue ?? "").hasPrefix("/v") }
            .map { "\($0["method"]?.stringValue ?? "") \($0["path"]?.stringValue ?? "") \($0["body"]?.jsonText ?? "")" }
    }

    func modelCalls(_ server: StandIn, after: Int) -> Int {
        server.requests().dropFirst(after).filter { ($0["path"]?.stringValue ?? "").hasPrefix("/v") }.count
    }

    func approveAll(_ run: RunID, _ job: JobID, _ dir: TemporaryDirectory, store: RunStore) async throws -> Int {
        let wfctl = try BuiltProducts.path("wfctl")
        var approvals = 0
        while true {
            guard
                await eventually(
                    timeout: .seconds(60),
                    {
                        let state = (try? store.loadRun(job, run))?.state
                        return state == .waiting || state?.isTerminal == true
                    })
            else { throw TestKitError("run \(run) neither waits nor ends") }
            if try store.loadRun(job, run).state.isTerminal { return approvals }
            let step = try #require(try store.loadSnapshot(job, run).steps.first { $0.state == .waiting }?.step)
            let answer = try await runProgram(
                wfctl, ["approve", run.rawValue, step.rawValue, "--state", dir.file("state")])
            #expect(answer.status == 0, "\(answer.output)")
            approvals += 1
            _ = await eventually(timeout: .seconds(10)) { (try? store.loadRun(job, run))?.state != .waiting }
        }
    }

    @Test func anAgentsRunHardensIntoStepsThatMakeTheSameChangesWithFewerModelCalls() async throws {
        let dir = try TemporaryDirectory("harden")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        let server = try await StandIn(scenario, in: dir)
        defer { Task { await server.stop() } }
        try dir.write(
            "jobs/release-agent.yaml",
            try ReleaseAftermathTests.shipped("release-agent.yaml", server: server, dir: dir))
        for name in ["github_token", "tracker_token", "openai_key"] {
            try dir.write("credentials/\(name)", "\(name)-0123456789abcdef\n")
            chmod(dir.file("credentials/\(name)"), 0o400)
        }
        let setup = try await WebhookTests.Setup.start(
            dir, arguments: ["--prices", BuiltProducts.packageRoot + "/config/prices.yaml"])
        defer { Task { await setup.daemon.process.stop() } }
        defer { Task { await setup.web.stop() } }
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        let wfctl = try BuiltProducts.path("wfctl")
        let state = ["--state", dir.file("state"), "--jobs", dir.file("jobs")]
        let release =
            #"{"action": "published", "release": {"tag_name": "v1.4"}, "repository": {"full_name": "acme/tolaria"}}"#

        // Stage 1: the agent, a person approving each close it asks for.
        let agentJob = try #require(JobID("release-agent"))
        let first = try await WebhookTests.deliver(
            setup.url, "/hooks/release-agent", ["--prefix", "a", "--body", release])
        let agentRun = try #require(first.first?.run.flatMap(RunID.init), "\(first)")
        #expect(try await approveAll(agentRun, agentJob, dir, store: store) == 3, "\(setup.daemon.process.output)")
        #expect(try store.loadRun(agentJob, agentRun).state == .succeeded, "\(setup.daemon.process.output)")
        let agentChanges = changes(server, after: 0)
        let agentModelCalls = modelCalls(server, after: 0)
        #expect(agentChanges.count == 3 && agentModelCalls == 4, "\(agentChanges) \(agentModelCalls)")
        let agentNotes = try String(contentsOfFile: dir.file("notes/v1.4.md"), encoding: .utf8)
        #expect(agentNotes == notes + "\n")
        try FileManager.default.removeItem(atPath: dir.file("notes/v1.4.md"))

        // Stage 2-3: harden the recorded run, read the draft, promote it.
        let hardened = try await runProgram(wfctl, ["harden", agentRun.rawValue] + state)
        #expect(hardened.status == 0, "\(hardened.output)")
        #expect(hardened.output.contains("a run makes 2 model calls where the agent made 4"), "\(hardened.output)")
        let draftPath = dir.file("jobs/pending/release-agent-hardened.yaml")
        var draft = try String(contentsOfFile: draftPath, encoding: .utf8)
        for line in [
            "# from turn 1: list_commits {}", "  - id: list_commits", "  - id: decide",
            #"    when: "${{ item.tool == \"close_issue\" }}""#, "  - id: approve_decide", "  - id: close_issue_each",
            "  - id: close_post_each", "  - id: write_notes_text", "  - id: write_notes", "      prompt: |-",
            "        Inputs:\n        list_commits: ${{ steps.list_commits.output }}\n",
            "      idempotency_key: \"${{ run.id }}-${{ item.number }}\"",
            #"export WF_ARG_TEXT=\"$WF_STEP_WRITE_NOTES_TEXT_OUTPUT\""#,
        ] {
            #expect(draft.contains(line), "the draft has \(line):\n\(draft)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("jobs/release-agent-hardened.yaml")))
        // The stand-in plays the hardened job's model at another path.
        draft = draft.replacingOccurrences(of: server.url("/v1"), with: server.url("/v2"))
        try draft.write(toFile: draftPath, atomically: true, encoding: .utf8)
        let promoted = try await runProgram(wfctl, ["promote", "release-agent-hardened", "--jobs", dir.file("jobs")])
        #expect(promoted.status == 0, "\(promoted.output)")
        let hardJob = try #require(JobID("release-agent-hardened"))
        #expect(await eventually(timeout: .seconds(20)) { (try? store.loadJobInfo(hardJob))?.job != nil })

        // The hardened job on the same delivery: the same changes (each tool's in the order the
        // agent made them).
        let before = server.requests().count
        let second = try await WebhookTests.deliver(
            setup.url, "/hooks/release-agent-hardened", ["--prefix", "h", "--body", release])
        let hardRun = try #require(second.first?.run.flatMap(RunID.init), "\(second)")
        #expect(try await approveAll(hardRun, hardJob, dir, store: store) == 1, "one approval for the decided closes")
        let final = try store.loadRun(hardJob, hardRun)
        #expect(final.state == .succeeded, "\(final.error ?? "") \(setup.daemon.process.output)")
        #expect(changes(server, after: before).sorted() == agentChanges.sorted())
        #expect(modelCalls(server, after: before) == 2)
        #expect(try String(contentsOfFile: dir.file("notes/v1.4.md"), encoding: .utf8) == agentNotes)

        // What cannot be hardened says why, and writes nothing.
        let again = try await runProgram(wfctl, ["harden", agentRun.rawValue] + state)
        #expect(again.status == 0, "a promoted draft leaves room for another: \(again.output)")
        let twice = try await runProgram(wfctl, ["harden", agentRun.rawValue] + state)
        #expect(twice.status == 1 && twice.output.contains("exists: give --replace"), "\(twice.output)")
        let json = try await runProgram(wfctl, ["harden", agentRun.rawValue, "--replace", "--json"] + state)
        guard case .object(let outcome)? = JSONValue.parse(Data(json.output.utf8)) else {
            Issue.record("not JSON: \(json.output)")
            return
        }
        #expect(outcome["valid"] == .bool(true) && outcome["model_calls"] == .number(2))
        #expect(outcome["agent_calls"] == .number(4) && outcome["diagnostics"] == .array([]))
        #expect(outcome["file"] == .string(dir.file("jobs/pending/release-agent-hardened.yaml")))
        let noAgent = try await runProgram(wfctl, ["harden", hardRun.rawValue] + state)
        #expect(noAgent.status == 1 && noAgent.output.contains("has no agent step"), "\(noAgent.output)")
        let wrongStep = try await runProgram(wfctl, ["harden", agentRun.rawValue, "close"] + state)
        #expect(
            wrongStep.status == 1
                && wrongStep.output.contains("has no agent step 'close' (its agent steps: aftermath)"),
            "\(wrongStep.output)")
        let notARun = try await runProgram(wfctl, ["harden", "yesterday"] + state)
        #expect(notARun.status == 1 && notARun.output.contains("no run yesterday in"), "\(notARun.output)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("jobs/pending/release-agent-hardened-hardened.yaml")))
    }
}
