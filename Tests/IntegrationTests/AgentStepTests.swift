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

/// `agent:` steps through the real wfd and wfctl, against loopback stand-ins of both model wire
/// protocols (scripted by turn) and of the services the tools call.
@Suite struct AgentStepTests {
    let job = JobID("agent")!

    func wfctl(_ arguments: [String], _ dir: TemporaryDirectory) async throws -> (status: Int32, output: String) {
        try await runProgram(try BuiltProducts.path("wfctl"), arguments + ["--state", dir.file("state")])
    }

    func start(_ dir: TemporaryDirectory, job text: String) async throws -> (TestDaemon, String) {
        try dir.write("jobs/agent.yaml", text)
        let daemon = try await TestDaemon.start(dir)
        let started = try await wfctl(["run", "agent", "--json"], dir)
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

    func transcript(_ run: String, _ dir: TemporaryDirectory, step: String = "act") throws -> AgentTranscript? {
        guard let id = RunID(run), let step = StepID(step) else { throw TestKitError("bad ids") }
        return try RunStore(directory: StateDirectory(root: dir.file("state"))).loadTranscript(
            job, id, step, item: nil)
    }

    func ended(_ run: String, _ dir: TemporaryDirectory) async -> Bool {
        await eventually(timeout: .seconds(60)) { (try? record(run, dir))?.state.isTerminal == true }
    }

    func waitingFor(_ run: String, _ dir: TemporaryDirectory) async -> Bool {
        await eventually(timeout: .seconds(60)) { (try? record(run, dir))?.state == .waiting }
    }

    /// The stand-in: a model at /v1 (both protocols) playing `turns`, and a tracker with items.
    func standIn(_ turns: String, _ dir: TemporaryDirectory) async throws -> StandIn {
        try await StandIn(
            """
            {"routes": [
              {"method": "POST", "path": "/v1/(chat/completions|messages)", "responses": [{"agent": {"turns": \(turns)}}]},
              {"method": "GET", "path": "/items/[0-9]+", "responses": [{"json": {"id": 7, "title": "crash on start", "state": "open"}}]},
              {"method": "POST", "path": "/items/[0-9]+/close", "responses": [{"json": {"closed": true}}]}
            ]}
            """, in: dir)
    }

    func agentJob(_ provider: String, _ stub: StandIn, extra: String = "", schema: Bool = true) -> String {
        """
        steps:
          - id: act
            agent:
              provider: \(provider)
              model: stand-in
              base_url: \(stub.url("/v1"))
              instructions: "Look at item 7 and close it if it is a crash."
              max_tokens: 200
        \(schema ? "      schema: { type: object, required: [closed], properties: { closed: { type: array, items: { type: string } } } }" : "")
              tools:
                - name: lookup
                  description: Read an item of the tracker
                  http: { url: "\(stub.url("/items"))/${{ args.id }}" }
                - name: note
                  description: Write a note for the team
                  run: printf '%s\\n' "$WF_ARG_TEXT" >> notes.txt
                  schema: { type: object, required: [text], properties: { text: { type: string } } }
                - name: close
                  description: Close an item
                  http: { method: POST, url: "\(stub.url("/items"))/${{ args.id }}/close", json: { by: "${{ run.id }}" } }
                  approve: true
        \(extra)
        """
    }

    @Test(arguments: ["openai", "anthropic"])
    func anAgentCallsToolsWaitsForApprovalAndAnswers(provider: String) async throws {
        let dir = try TemporaryDirectory("agent-\(provider)")
        let stub = try await standIn(
            """
            [{"calls": [{"name": "lookup", "arguments": {"id": "7"}}]},
             {"calls": [{"name": "note", "arguments": {"text": "7 is a crash"}}, {"name": "close", "arguments": {"id": "7"}}]},
             {"answer": {"closed": ["7"]}}]
            """, dir)
        defer { Task { await stub.stop() } }
        let (daemon, run) = try await start(dir, job: agentJob(provider, stub))
        defer { Task { await daemon.process.stop() } }
        #expect(await waitingFor(run, dir), "\(daemon.process.output)")
        let pending = try await wfctl(["pending"], dir)
        #expect(pending.output.contains("the agent calls tool 'close'"), "\(pending.output)")
        #expect(!stub.requests().contains { $0["path"] == .string("/items/7/close") }, "nothing closed before approval")
        #expect(try String(contentsOfFile: dir.file("jobs/notes.txt"), encoding: .utf8) == "7 is a crash\n")
        let approved = try await wfctl(["approve", run, "act"], dir)
        #expect(approved.status == 0, "\(approved.output)")
        #expect(await ended(run, dir))
        let final = try record(run, dir)
        #expect(final.state == .succeeded, "\(final.error ?? "") \(daemon.process.output)")

        let requests = stub.requests()
        let model = requests.filter {
            $0["method"] == .string("POST") && $0["path"]?.stringValue?.hasPrefix("/v1/") == true
        }
        #expect(model.count == 3, "three model calls: \(model.count)")
        #expect(requests.filter { $0["path"] == .string("/items/7/close") }.count == 1)
        // The third call carries what the tools answered, in the protocol's own form.
        let third = model.last?["body"]?.jsonText ?? ""
        #expect(third.contains("crash on start"), "the lookup's result reaches the model")
        #expect(third.contains(provider == "openai" ? #""role":"tool""# : #""type":"tool_result""#), "\(third)")
        #expect(third.contains(provider == "openai" ? #""tool_calls""# : #""type":"tool_use""#))

        // Each call names its own span: the third is the first call of the second attempt.
        let context = final.trace
        let sent = model.last?["headers"]?.objectValue?["traceparent"]?.stringValue ?? ""
        let span = context.callSpanID(step: StepID("act")!, item: nil, attempt: 2, call: 0)
        #expect(sent == context.traceparent(span: span), "\(sent)")

        let trace = try #require(try transcript(run, dir))
        #expect(trace.turns.count == 3)
        #expect(trace.turns[1].toolCalls.map(\.state) == [.succeeded, .succeeded])
        #expect(trace.turns[1].toolCalls[1].decision?.approved == true)
        #expect(trace.turns[2].answer == .object(["closed": .array([.string("7")])]))

        let show = try await wfctl(["show", run], dir)
        #expect(show.output.contains("turn 1"), "\(show.output)")
        #expect(show.output.contains("lookup {\"id\":\"7\"}"), "\(show.output)")
        #expect(show.output.contains("close {\"id\":\"7\"} → succeeded, approved by"), "\(show.output)")
    }

    @Test func aRejectedCallIsToldToTheModelAndTheLoopGoesOn() async throws {
        let dir = try TemporaryDirectory("agent-reject")
        let stub = try await standIn(
            """
            [{"calls": [{"name": "close", "arguments": {"id": "7"}}]},
             {"answer": {"closd": []}},
             {"answer": {"closed": []}}]
            """, dir)
        defer { Task { await stub.stop() } }
        let (daemon, run) = try await start(dir, job: agentJob("anthropic", stub))
        defer { Task { await daemon.process.stop() } }
        #expect(await waitingFor(run, dir), "\(daemon.process.output)")
        #expect(try await wfctl(["reject", run, "act", "--comment", "not this one"], dir).status == 0)
        #expect(await ended(run, dir))
        #expect(try record(run, dir).state == .succeeded)
        #expect(!stub.requests().contains { $0["path"] == .string("/items/7/close") })
        let last = stub.requests().last { $0["path"] == .string("/v1/messages") }?["body"]?.jsonText ?? ""
        #expect(last.contains("A person refused this call: not this one"), "\(last)")
        // The answer off the schema went back through the answer tool's result, and was mended.
        #expect(last.contains(#""is_error":true"#) && last.contains("must have the property 'closed'"), "\(last)")
        let trace = try #require(try transcript(run, dir))
        #expect(trace.turns.map { $0.repair != nil } == [false, true, false])
        #expect(trace.turns.last?.answer == .object(["closed": .array([])]))
    }

    @Test func argumentsOffTheSchemaAreRefusedWithoutRunningAnything() async throws {
        let dir = try TemporaryDirectory("agent-refuse")
        let stub = try await standIn(
            """
            [{"calls": [{"name": "note", "arguments": {"txt": "typo"}}, {"name": "delete_everything", "arguments": {}}]},
             {"answer": {"closed": []}}]
            """, dir)
        defer { Task { await stub.stop() } }
        let (daemon, run) = try await start(dir, job: agentJob("openai", stub))
        defer { Task { await daemon.process.stop() } }
        #expect(await ended(run, dir))
        #expect(try record(run, dir).state == .succeeded, "\(daemon.process.output)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("jobs/notes.txt")))
        let trace = try #require(try transcript(run, dir))
        #expect(trace.turns[0].toolCalls.map(\.state) == [.refused, .refused])
        #expect(
            trace.turns[0].toolCalls[0].result?.contains("must have the property 'text'") == true, "\(trace.turns[0])")
        #expect(trace.turns[0].toolCalls[1].result?.contains("There is no tool 'delete_everything'") == true)
    }

    @Test func maxTurnsBoundsTheLoopAndTheLastTurnOffersNoTools() async throws {
        let dir = try TemporaryDirectory("agent-turns")
        let stub = try await standIn(#"[{"calls": [{"name": "lookup", "arguments": {"id": "7"}}]}]"#, dir)
        defer { Task { await stub.stop() } }
        let text = agentJob("openai", stub).replacingOccurrences(
            of: "      max_tokens: 200", with: "      max_tokens: 200\n      max_turns: 3")
        let (daemon, run) = try await start(dir, job: text)
        defer { Task { await daemon.process.stop() } }
        #expect(await ended(run, dir))
        let final = try record(run, dir)
        #expect(final.state == .failed)
        #expect(
            final.error?.contains("still asked for tools on its last turn (max_turns 3)") == true,
            "\(final.error ?? "")")
        let model = stub.requests().filter { $0["path"] == .string("/v1/chat/completions") }
        #expect(model.count == 3, "\(model.count)")
        #expect(model.last?["body"]?.jsonText.contains(#""tools""#) == false, "the last turn offers no tools")
        #expect(model.last?["body"]?.jsonText.contains("You have no tool calls left") == true)
        #expect(model.dropLast().allSatisfy { $0["body"]?.jsonText.contains(#""tools""#) == true })
        #expect(!stub.requests().contains { $0["path"] == .string("/items/7") && model.count < 3 })
        let looked = stub.requests().filter { $0["path"] == .string("/items/7") }.count
        #expect(looked == 2, "the tools asked for on the last turn were not run: \(looked)")

        // wfctl retry takes the loop up with its turns counted anew: the last turn's calls run
        // now, and three more turns are made, none asked for twice.
        let retried = try await wfctl(["retry", run], dir)
        #expect(retried.status == 0, "\(retried.output)")
        #expect(await eventually(timeout: .seconds(60)) { (try? record(run, dir))?.retries?.count == 1 })
        #expect(await ended(run, dir))
        let again = try record(run, dir)
        #expect(again.state == .failed && again.error?.contains("max_turns 3") == true, "\(again.error ?? "")")
        #expect(stub.requests().filter { $0["path"] == .string("/v1/chat/completions") }.count == 6)
        #expect(stub.requests().filter { $0["path"] == .string("/items/7") }.count == 5)
        let trace = try #require(try transcript(run, dir))
        #expect(trace.turns.count == 6 && trace.turnsBefore == 3)
    }

    @Test func theBudgetStopsTheLoopBeforeTheCallThatCouldPassIt() async throws {
        let dir = try TemporaryDirectory("agent-budget")
        let stub = try await standIn(
            #"[{"calls": [{"name": "lookup", "arguments": {"id": "7"}}], "prompt_tokens": 400}]"#, dir)
        defer { Task { await stub.stop() } }
        // Each call uses 405 tokens and reserves its input estimate (growing) and all 200 of
        // max_tokens first: the third or fourth could pass 1500.
        let text = "budget: { tokens: 1500 }\n" + agentJob("openai", stub)
        let (daemon, run) = try await start(dir, job: text)
        defer { Task { await daemon.process.stop() } }
        #expect(await ended(run, dir))
        let final = try record(run, dir)
        #expect(final.state == .failed)
        #expect(final.error?.contains("the model was not called") == true, "\(final.error ?? "")")
        let calls = stub.requests().filter { $0["path"] == .string("/v1/chat/completions") }.count
        let trace = try #require(try transcript(run, dir))
        #expect(calls == trace.turns.count && calls >= 2 && calls <= 3, "calls \(calls)")
        #expect(trace.turns.allSatisfy { $0.toolCalls.first?.state == .succeeded }, "tools ran between the calls")
        let spend = try RunStore(directory: StateDirectory(root: dir.file("state"))).loadRunSpend(job, RunID(run)!)
        #expect(spend.calls == calls)
        #expect(spend.tokens <= 1500)
    }

    @Test func anAgentUsesTheAllowlistedToolsOfARealMCPServer() async throws {
        let dir = try TemporaryDirectory("agent-mcp")
        let stub = try await standIn(
            """
            [{"calls": [{"name": "convert_time", "arguments": {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}}]},
             {"calls": [{"name": "get_current_time", "arguments": {"timezone": "UTC"}}]},
             {"answer": {"closed": []}}]
            """, dir)
        defer { Task { await stub.stop() } }
        let python = BuiltProducts.packageRoot + "/.build-tools/python"
        let text = agentJob(
            "anthropic", stub,
            extra: """
                      mcp_servers:
                        - name: time
                          command: [python3, -m, mcp_server_time, --local-timezone, UTC]
                          env: { PYTHONPATH: "\(python)" }
                          tools: [convert_time]
                          effect: pure
                """)
        let (daemon, run) = try await start(dir, job: text)
        defer { Task { await daemon.process.stop() } }
        #expect(await ended(run, dir))
        #expect(try record(run, dir).state == .succeeded, "\(daemon.process.output)")
        let trace = try #require(try transcript(run, dir))
        let converted = try #require(trace.turns.first?.toolCalls.first)
        #expect(converted.state == .succeeded)
        #expect(
            converted.result?.contains("Asia/Tokyo") == true && converted.result?.contains("21:00") == true,
            "\(converted.result ?? "")")
        // get_current_time is the server's, but not on the allowlist: the model never saw it.
        let refused = try #require(trace.turns[1].toolCalls.first)
        #expect(refused.state == .refused && refused.result?.contains("There is no tool 'get_current_time'") == true)
        let first = stub.requests().first { $0["path"] == .string("/v1/messages") }?["body"]?.jsonText ?? ""
        #expect(first.contains(#""name":"convert_time""#) && !first.contains(#""name":"get_current_time""#))
    }

    @Test func aJobToolStartsARunOfAnotherJobWithTheArgumentsAsParametersAndAwaitsIt() async throws {
        let dir = try TemporaryDirectory("agent-job")
        let stub = try await standIn(
            """
            [{"calls": [{"name": "greet", "arguments": {}}]},
             {"calls": [{"name": "greet", "arguments": {"name": "ann"}}]},
             {"answer": {"closed": []}}]
            """, dir)
        defer { Task { await stub.stop() } }
        try dir.write(
            "jobs/greet.yaml",
            """
            params: { name: { required: true, description: Who to greet } }
            steps:
              - id: say
                run: printf 'hello %s' "$WF_PARAM_NAME"
            """)
        let text = agentJob("openai", stub).replacingOccurrences(
            of: "      tools:\n",
            with: "      tools:\n        - { name: greet, description: Greet someone, job: greet }\n")
        let (daemon, run) = try await start(dir, job: text)
        defer { Task { await daemon.process.stop() } }
        #expect(await ended(run, dir))
        #expect(try record(run, dir).state == .succeeded, "\(daemon.process.output)")
        let trace = try #require(try transcript(run, dir))
        let refused = try #require(trace.turns.first?.toolCalls.first)
        #expect(refused.state == .refused && refused.result?.contains("must have the property 'name'") == true)
        let greeted = try #require(trace.turns[1].toolCalls.first)
        #expect(greeted.state == .succeeded, "\(greeted)")
        let started = try #require(greeted.startedRun)
        #expect(greeted.result?.contains(#""state":"succeeded""#) == true, "\(greeted.result ?? "")")
        #expect(greeted.result?.contains(#""say":"hello ann""#) == true, "\(greeted.result ?? "")")
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        let greet = try store.loadRun(JobID("greet")!, started)
        #expect(greet.params == ["name": "ann"] && greet.trigger == .job)
        #expect(greet.origin?.source == "agent step act of job agent" && greet.origin?.delivery == run)
        // The model saw the job's parameters as the tool's arguments.
        let first = stub.requests().first { $0["path"] == .string("/v1/chat/completions") }?["body"]?.jsonText ?? ""
        #expect(first.contains(#""description":"Who to greet""#), "\(first)")
    }

    @Test func aToolOfAJobThatIsNotLoadedFailsTheStepSayingSo() async throws {
        let dir = try TemporaryDirectory("agent-nojob")
        let stub = try await standIn(#"[{"answer": {"closed": []}}]"#, dir)
        defer { Task { await stub.stop() } }
        let text = agentJob("openai", stub).replacingOccurrences(
            of: "      tools:\n", with: "      tools:\n        - { name: greet, job: nobody }\n")
        let (daemon, run) = try await start(dir, job: text)
        defer { Task { await daemon.process.stop() } }
        #expect(await ended(run, dir))
        let final = try record(run, dir)
        #expect(final.state == .failed)
        #expect(final.error?.contains("tool 'greet': job 'nobody' is not loaded") == true, "\(final.error ?? "")")
        #expect(stub.requests().isEmpty, "no model call was paid for a step that cannot run")
    }

    @Test func aJobToolTakenUpAfterAKillAwaitsTheSameRun() async throws {
        let dir = try TemporaryDirectory("agent-job-kill")
        let stub = try await standIn(
            """
            [{"calls": [{"name": "slow", "arguments": {}}]},
             {"answer": {"closed": []}}]
            """, dir)
        defer { Task { await stub.stop() } }
        try dir.write(
            "jobs/slow.yaml",
            """
            steps:
              - id: wait
                run: sleep 1.5; echo done
                effect: idempotent
            """)
        let text = agentJob("openai", stub).replacingOccurrences(
            of: "      tools:\n", with: "      tools:\n        - { name: slow, job: slow }\n")
        var (daemon, run) = try await start(dir, job: text)
        defer { Task { [daemon] in await daemon.process.stop() } }
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? transcript(run, dir))?.turns.first?.toolCalls.first?.state == .running
                    && ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("state/runs/slow"))) ?? []).count
                        == 1
            }, "killed while the job's run runs")
        daemon.process.send(SIGKILL)
        _ = await daemon.process.waitForExit()
        daemon = try await TestDaemon.start(dir, log: "wfd-2.log")
        #expect(await ended(run, dir))
        #expect(try record(run, dir).state == .succeeded, "\(daemon.process.output)")
        let call = try #require(try transcript(run, dir)?.turns.first?.toolCalls.first)
        #expect(call.state == .succeeded && call.result?.contains(#""wait":"done""#) == true, "\(call)")
        let runs = try FileManager.default.contentsOfDirectory(atPath: dir.file("state/runs/slow"))
        #expect(runs == [call.startedRun?.rawValue ?? ""], "one run of the job, the one the call named: \(runs)")
    }

    @Test func theStepsTimeoutBoundsTheWholeLoop() async throws {
        let dir = try TemporaryDirectory("agent-timeout")
        let stub = try await standIn(
            #"[{"calls": [{"name": "note", "arguments": {"text": "slow"}}]}, {"answer": {"closed": []}}]"#, dir)
        defer { Task { await stub.stop() } }
        let text = agentJob("openai", stub)
            .replacingOccurrences(
                of: "  - id: act\n", with: "  - id: act\n    timeout: 2s\n    retry: { attempts: 1 }\n"
            )
            .replacingOccurrences(of: #"run: printf '%s\n' "$WF_ARG_TEXT" >> notes.txt"#, with: "run: sleep 30")
        let (daemon, run) = try await start(dir, job: text)
        defer { Task { await daemon.process.stop() } }
        #expect(await ended(run, dir))
        let final = try record(run, dir)
        #expect(final.state == .failed, "\(daemon.process.output)")
        #expect(
            final.error?.contains("the agent did not finish within its timeout (2s)") == true, "\(final.error ?? "")")
        let trace = try #require(try transcript(run, dir))
        let call = try #require(trace.turns.first?.toolCalls.first)
        #expect(call.state == .failed && (call.latencyMilliseconds ?? 0) < 10_000, "the command was stopped: \(call)")
        #expect(trace.turns.count == 1, "no model call after the deadline")
    }

    /// Every model call and tool call waits on the attempt's control: a cancel after several of
    /// them still reaches the one in flight.
    @Test func aCancelStopsTheToolCallInFlightAfterEarlierCalls() async throws {
        let dir = try TemporaryDirectory("agent-cancel")
        let stub = try await standIn(
            """
            [{"calls": [{"name": "lookup", "arguments": {"id": "7"}}]},
             {"calls": [{"name": "lookup", "arguments": {"id": "8"}}]},
             {"calls": [{"name": "note", "arguments": {"text": "slow"}}]},
             {"answer": {"closed": []}}]
            """, dir)
        defer { Task { await stub.stop() } }
        let text = agentJob("openai", stub).replacingOccurrences(
            of: #"run: printf '%s\n' "$WF_ARG_TEXT" >> notes.txt"#, with: "run: sleep 30")
        let (daemon, run) = try await start(dir, job: text)
        defer { Task { await daemon.process.stop() } }
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? transcript(run, dir))?.turns.last?.toolCalls.first?.state == .running
                    && (try? transcript(run, dir))?.turns.count == 3
            })
        let cancelled = try await wfctl(["cancel", run], dir)
        #expect(cancelled.status == 0, "\(cancelled.output)")
        let asked = Date()
        #expect(await ended(run, dir))
        #expect(Date().timeIntervalSince(asked) < 20, "the sleep was stopped, not waited for")
        #expect(try record(run, dir).state == .cancelled, "\(daemon.process.output)")
    }

    /// A `for_each` agent step runs a loop per item, each with its own transcript and `item`.
    @Test func eachItemOfAForEachAgentHasItsOwnLoop() async throws {
        let dir = try TemporaryDirectory("agent-items")
        let stub = try await standIn(
            """
            [{"calls": [{"name": "lookup", "arguments": {"id": "7"}}]},
             {"answer": {"closed": ["7"]}}]
            """, dir)
        defer { Task { await stub.stop() } }
        let text = agentJob("openai", stub)
            .replacingOccurrences(of: "  - id: act\n", with: "  - id: act\n    for_each: ${{ params.items }}\n")
            .replacingOccurrences(
                of: "Look at item 7 and close it if it is a crash.", with: "Look at ${{ item.name }}.")
        let items = #"params: { items: { default: '[{"name": "a"}, {"name": "b"}]' } }"#
        let (daemon, run) = try await start(dir, job: items + "\n" + text)
        defer { Task { await daemon.process.stop() } }
        #expect(await ended(run, dir))
        #expect(try record(run, dir).state == .succeeded, "\(daemon.process.output)")
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        for (index, name) in ["a", "b"].enumerated() {
            let transcript = try #require(try store.loadTranscript(job, RunID(run)!, StepID("act")!, item: index))
            #expect(transcript.item == index && transcript.turns.count == 2)
            #expect(transcript.turns.last?.answer == .object(["closed": .array([.string("7")])]))
            let asked = stub.requests().filter { ($0["body"]?.jsonText ?? "").contains("Look at \(name).") }
            #expect(asked.count == 2, "item \(name)'s own conversation: \(asked.count)")
        }
        let show = try await wfctl(["show", run], dir)
        #expect(show.output.components(separatedBy: "turn 2 (").count == 3, "both items' turns: \(show.output)")
    }
}
