import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Testing

@testable import WorkflowEngine

/// The agent's loop and its wire bodies, pure: a transcript in, the next step or a body out.
@Suite struct AgentLoopTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func loop(maxTurns: Int = 4, repairs: Int = 1, schema: JSONValue? = nil, approve: Bool = false) throws -> AgentLoop
    {
        let arguments = try JSONSchema(
            .object([
                "type": .string("object"), "required": .array([.string("id")]),
                "properties": .object(["id": .object(["type": .string("string")])]),
            ]))
        return AgentLoop(
            transcript: AgentTranscript(
                job: JobID("j")!, run: RunID("r1")!, step: StepID("s")!, item: nil, startedAt: start),
            tools: [
                "look": AgentLoop.Tool(schema: arguments, effect: .idempotent, approve: false),
                "close": AgentLoop.Tool(schema: arguments, effect: .effectful, approve: approve),
            ], schema: try schema.map { try JSONSchema($0) }, maxTurns: maxTurns, repairAttempts: repairs,
            maxTokens: 100)
    }

    func call() -> ModelCall {
        ModelCall(provider: .openai, model: "m", promptSHA256: "x", startedAt: start)
    }

    func calls(_ named: (String, JSONValue?)...) -> AgentProtocol.Reply {
        var reply = AgentProtocol.Reply()
        reply.toolCalls = named.enumerated().map { index, pair in
            AgentProtocol.Reply.ToolCall(id: "c\(index)", name: pair.0, arguments: pair.1, text: nil)
        }
        return reply
    }

    let seven: JSONValue = .object(["id": .string("7")])

    @Test func toolCallsAreCheckedThenRunInOrderAndTheModelIsAskedAgain() throws {
        var loop = try loop()
        #expect(loop.next() == .callModel(last: false))
        loop.answered(
            calls(("look", seven), ("nope", .object([:])), ("close", .object(["id": .number(7)]))),
            call: call(), attempt: 1, last: false)
        #expect(loop.next() == .runTool(call: 0))
        loop.update(call: 0) { $0.state = .succeeded }
        guard case .refuse(1, let unknown) = loop.next() else { Issue.record("\(loop.next())"); return }
        #expect(unknown.contains("There is no tool 'nope'. The tools are: close, look."))
        loop.update(call: 1) { $0.state = .refused }
        guard case .refuse(2, let why) = loop.next() else { Issue.record("\(loop.next())"); return }
        #expect(why.contains("/id"), "\(why)")
        loop.update(call: 2) { $0.state = .refused }
        #expect(loop.next() == .callModel(last: false))
    }

    @Test func anApprovalWaitsAndTheDecisionDecides() throws {
        var loop = try loop(approve: true)
        loop.answered(calls(("close", seven)), call: call(), attempt: 1, last: false)
        #expect(loop.next() == .askApproval(call: 0))
        loop.update(call: 0) { $0.state = .awaitingApproval }
        #expect(loop.next() == .askApproval(call: 0), "still waiting after a restart")
        loop.apply(ToolDecision(call: "other", decision: Decision(approved: true, by: "ann", at: start)))
        #expect(loop.next() == .askApproval(call: 0), "a decision on another call changes nothing")
        var rejected = loop
        loop.apply(ToolDecision(call: "c0", decision: Decision(approved: true, by: "ann", at: start)))
        #expect(loop.next() == .runTool(call: 0))
        rejected.apply(
            ToolDecision(call: "c0", decision: Decision(approved: false, by: "bob", at: start, comment: "no")))
        #expect(rejected.call(0)?.state == .rejected)
        #expect(rejected.call(0)?.result?.contains("A person refused this call: no") == true)
        #expect(rejected.next() == .callModel(last: false))
    }

    @Test func anInFlightCallRunsAgainOnlyWhenItIsNotEffectful() throws {
        var loop = try loop()
        loop.answered(calls(("look", seven), ("close", seven)), call: call(), attempt: 1, last: false)
        loop.update(call: 0) { $0.state = .running }
        #expect(loop.next() == .runTool(call: 0))
        loop.update(call: 0) { $0.state = .succeeded }
        loop.update(call: 1) { $0.state = .running }
        #expect(loop.next() == .interrupted(call: 1))
        loop.update(call: 1) { $0.state = .interrupted }
        #expect(loop.next() == .runTool(call: 1), "after a person's retry it runs")
    }

    @Test func theLastTurnOffersNoToolsAndToolsThenFail() throws {
        var loop = try loop(maxTurns: 2)
        loop.answered(calls(("look", seven)), call: call(), attempt: 1, last: false)
        loop.update(call: 0) { $0.state = .succeeded }
        #expect(loop.next() == .callModel(last: true))
        loop.answered(calls(("look", seven)), call: call(), attempt: 1, last: true)
        #expect(loop.next() == .fail(.maxTurns, "the agent still asked for tools on its last turn (max_turns 2)"))
        #expect(loop.call(0)?.state == .requested, "not run: no tools were offered")
        // A retry counts the turns anew, once: the last turn's call runs, and two more turns may be made.
        let first = loop.retried(after: 2, at: start)
        let again = loop.retried(after: 2, at: start)
        #expect(first && !again, "once per retry, even taken up again after a crash")
        #expect(loop.next() == .runTool(call: 0))
        loop.update(call: 0) { $0.state = .succeeded }
        #expect(loop.next() == .callModel(last: false))
    }

    @Test func anAnswerOffTheSchemaIsRepairedThenFails() throws {
        let schema: JSONValue = .object(["type": .string("object"), "required": .array([.string("done")])])
        var loop = try loop(repairs: 1, schema: schema)
        var reply = AgentProtocol.Reply()
        reply.text = #"{"nearly": true}"#
        loop.answered(reply, call: call(), attempt: 1, last: false)
        #expect(loop.transcript.turns.last?.repair?.contains("'done'") == true)
        #expect(loop.next() == .callModel(last: false))
        loop.answered(reply, call: call(), attempt: 1, last: false)
        guard case .fail(.invalidOutput, let why) = loop.next() else { Issue.record("\(loop.next())"); return }
        #expect(why.hasPrefix("the agent's answer does not match the schema after 1 repair"))
        reply.text = "```json\n{\"done\": true}\n```"
        var mended = try self.loop(repairs: 1, schema: schema)
        mended.answered(reply, call: call(), attempt: 1, last: false)
        #expect(mended.next() == .answer(.object(["done": .bool(true)])))
    }

    @Test func openAIBodiesCarryToolCallsAndTheirResults() throws {
        var loop = try loop()
        loop.answered(calls(("look", seven)), call: call(), attempt: 1, last: false)
        loop.update(call: 0) { call in
            call.state = .succeeded
            call.result = "HTTP 200\n{}"
        }
        var request = ModelRequest(provider: .openai, model: "m", prompt: "Do it")
        request.system = "Be brief."
        let tools = [
            AgentToolDefinition(name: "look", description: "Look", schema: .object(["type": .string("object")]))
        ]
        let body = AgentProtocol.body(request, tools: tools, turns: loop.transcript.turns, last: false).jsonText
        #expect(body.contains(#""role":"system""#) && body.contains(#""content":"Do it""#))
        #expect(
            body.contains(
                #""tool_calls":[{"function":{"arguments":"{\"id\":\"7\"}","name":"look"},"id":"c0","type":"function"}]"#
            ), "\(body)")
        #expect(body.contains(#"{"content":"HTTP 200\n{}","role":"tool","tool_call_id":"c0"}"#), "\(body)")
        #expect(body.contains(#""tools":[{"function":{"description":"Look","name":"look""#))
        let last = AgentProtocol.body(request, tools: tools, turns: loop.transcript.turns, last: true).jsonText
        #expect(!last.contains(#""tools""#) && last.contains(AgentProtocol.lastTurnNotice))
    }

    @Test func anthropicBodiesAlternateRolesAndAnswerThroughTheAnswerTool() throws {
        var loop = try loop()
        loop.answered(calls(("look", seven), ("close", seven)), call: call(), attempt: 1, last: false)
        loop.update(call: 0) { call in
            call.state = .succeeded
            call.result = "ok"
        }
        loop.update(call: 1) { call in
            call.state = .refused
            call.isError = true
            call.result = "no"
        }
        var request = ModelRequest(provider: .anthropic, model: "m", prompt: "Do it")
        request.schema = .object(["type": .string("array")])
        let body = AgentProtocol.body(request, tools: [], turns: loop.transcript.turns, last: false)
        guard case .object(let fields) = body, case .array(let messages)? = fields["messages"] else {
            Issue.record("no messages")
            return
        }
        #expect(messages.count == 3, "user, assistant, user")
        let results = messages[2].jsonText
        #expect(results.contains(#""tool_use_id":"c0""#) && results.contains(#""is_error":true"#))
        let tools = fields["tools"]?.jsonText ?? ""
        #expect(tools.contains(#""name":"final_answer""#) && tools.contains(#""required":["value"]"#), "wrapped")
        #expect(fields["tool_choice"] == .object(["type": .string("auto")]))

        let reply = try AgentProtocol.reply(
            .anthropic,
            Data(
                #"{"content":[{"type":"text","text":"Done."},{"type":"tool_use","id":"t9","name":"final_answer","input":{"value":[1]}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}}"#
                    .utf8), wrapped: true
        ).get()
        #expect(reply.answerCall == "t9" && reply.toolCalls.isEmpty && reply.outputTokens == 4)
        var answering = try self.loop(schema: .object(["type": .string("array")]))
        answering.unwraps = true
        answering.answered(reply, call: call(), attempt: 1, last: false)
        #expect(answering.next() == .answer(.array([.number(1)])))
    }
}
