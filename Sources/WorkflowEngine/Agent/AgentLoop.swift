import Foundation
import JSONSchemaKit
import JobFormat
import RunModel

/// The agent's loop as state and decisions, no I/O: from its transcript, what to do next
/// (``next()``), and how each thing that happened changes the transcript. ``AgentStepExecutor``
/// does what it says and writes the transcript down after every change.
struct AgentLoop {
    /// A tool the model may call, as the loop needs it.
    struct Tool: Sendable {
        let schema: JSONSchema
        let effect: EffectClass
        let approve: Bool
    }

    /// What to do next.
    enum Next: Equatable {
        /// Call the model; `last`: its last turn, with no tools offered.
        case callModel(last: Bool)
        /// Tell the model call `call` of the last turn is refused, with why.
        case refuse(call: Int, String)
        /// Wait for a person to decide on call `call` of the last turn.
        case askApproval(call: Int)
        case runTool(call: Int)
        /// Call `call`, effectful, was running when wfd stopped: stop for a person.
        case interrupted(call: Int)
        /// The model's final answer (JSON with a schema, else a string).
        case answer(JSONValue)
        case fail(FailureKind, String)
    }

    var transcript: AgentTranscript
    let tools: [String: Tool]
    let schema: JSONSchema?
    let maxTurns: Int
    let repairAttempts: Int
    let maxTokens: Int

    func next() -> Next {
        guard let turn = transcript.turns.last else { return .callModel(last: maxTurns == 1) }
        if let answer = turn.answer { return .answer(answer) }
        // Tools asked for on the last turn (none were offered) are not run; after a retry the
        // turns start counting again, and they are.
        if turn.last, turn.number > before, turn.toolCalls.contains(where: { $0.state == .requested }) {
            return .fail(.maxTurns, "the agent still asked for tools on its last turn (max_turns \(maxTurns))")
        }
        for (index, call) in turn.toolCalls.enumerated() {
            switch call.state {
            case .requested:
                guard let tool = tools[call.name] else {
                    let names = tools.keys.sorted().joined(separator: ", ")
                    return .refuse(call: index, "There is no tool '\(call.name)'. The tools are: \(names).")
                }
                guard let arguments = call.arguments else {
                    return .refuse(call: index, "The arguments are not JSON: \(call.argumentsText?.prefix(200) ?? "")")
                }
                let problems = tool.schema.validate(arguments).map(\.description)
                if !problems.isEmpty {
                    return .refuse(
                        call: index,
                        "The arguments do not match the tool's schema:\n"
                            + problems.prefix(10).map { "- \($0)" }.joined(separator: "\n"))
                }
                return tool.approve ? .askApproval(call: index) : .runTool(call: index)
            case .awaitingApproval: return .askApproval(call: index)
            case .approved, .interrupted: return .runTool(call: index)
            case .running: return call.effect == .effectful ? .interrupted(call: index) : .runTool(call: index)
            case .succeeded, .failed, .refused, .rejected: continue
            }
        }
        if !turn.toolCalls.isEmpty { return .callModel(last: toolTurns + 1 >= maxTurns) }
        guard let repair = turn.repair else {
            return .fail(.invalidOutput, "the model gave no answer")
        }
        let repairs = transcript.turns.dropFirst(before).reversed().prefix { $0.repair != nil && $0.toolCalls.isEmpty }
            .count
        guard repairs <= repairAttempts else {
            let count = repairAttempts == 1 ? "1 repair" : "\(repairAttempts) repairs"
            return .fail(.invalidOutput, "the agent's answer does not match the schema after \(count): \(repair)")
        }
        return .callModel(last: turn.last && turn.number > before)
    }

    /// Turns before the last retry.
    var before: Int { transcript.turnsBefore ?? 0 }

    /// Turns since the last retry in which the model called tools.
    var toolTurns: Int { transcript.turns.dropFirst(before).filter { !$0.toolCalls.isEmpty }.count }

    /// `wfctl retry` (after `attempts` attempts) takes the loop up: its timeout and its turns
    /// count from now. True when that changed the transcript (once per retry).
    mutating func retried(after attempts: Int, at date: Date) -> Bool {
        guard attempts > 0, transcript.retryAfter != attempts, !transcript.turns.isEmpty else { return false }
        transcript.startedAt = date
        transcript.turnsBefore = transcript.turns.count
        transcript.retryAfter = attempts
        return true
    }

    /// The model answered: a new turn, and for a final answer its check against the schema.
    mutating func answered(_ reply: AgentProtocol.Reply, call: ModelCall, attempt: Int, last: Bool) {
        var turn = AgentTurn(number: transcript.turns.count + 1, attempt: attempt, call: call, last: last)
        turn.text = reply.text
        turn.answerCall = reply.answerCall
        turn.answerInput = reply.answerInput
        turn.toolCalls = reply.toolCalls.map { asked in
            var call = AgentToolCall(
                id: asked.id, name: asked.name, arguments: asked.arguments,
                effect: tools[asked.name]?.effect ?? .effectful)
            if asked.arguments == nil { call.argumentsText = asked.text }
            return call
        }
        if turn.toolCalls.isEmpty {
            let value: JSONValue? =
                if let input = reply.answerInput {
                    unwraps ? Self.wrappedValue(input) : input
                } else if schema != nil {
                    reply.text.flatMap(ModelProtocol.json(in:))
                } else {
                    .string(reply.text ?? "")
                }
            if let schema {
                let problems: [String]
                if let value {
                    problems = schema.validate(value).map(\.description)
                } else {
                    problems = [
                        reply.truncated
                            ? "the answer was cut at max_tokens (\(maxTokens)) before its JSON ended"
                            : "the answer is not JSON: '\((reply.text ?? "").prefix(80))'"
                    ]
                }
                if let value, problems.isEmpty {
                    turn.answer = value
                } else {
                    turn.repair =
                        "Your answer does not match the required JSON Schema:\n"
                        + problems.prefix(20).map { "- \($0)" }.joined(separator: "\n")
                        + "\nAnswer again with only the corrected answer."
                }
            } else {
                turn.answer = value
            }
        }
        transcript.turns.append(turn)
    }

    static func wrappedValue(_ input: JSONValue) -> JSONValue {
        guard case .object(let fields) = input else { return .null }
        return fields["value"] ?? .null
    }

    /// Whether the answer tool's input wraps a schema that is not an object's (`{value: …}`).
    var unwraps = false

    /// Changes call `index` of the last turn.
    mutating func update(call index: Int, _ change: (inout AgentToolCall) -> Void) {
        guard let last = transcript.turns.indices.last, transcript.turns[last].toolCalls.indices.contains(index) else {
            return
        }
        change(&transcript.turns[last].toolCalls[index])
    }

    /// The call of the last turn at `index`.
    func call(_ index: Int) -> AgentToolCall? {
        transcript.turns.last.flatMap { $0.toolCalls.indices.contains(index) ? $0.toolCalls[index] : nil }
    }

    /// A person decided on the call waiting for them (if it is still waiting).
    mutating func apply(_ decision: ToolDecision) {
        guard let last = transcript.turns.indices.last,
            let index = transcript.turns[last].toolCalls.firstIndex(where: {
                $0.id == decision.call && $0.state == .awaitingApproval
            })
        else { return }
        update(call: index) { call in
            call.decision = decision.decision
            if decision.decision.approved {
                call.state = .approved
            } else {
                call.state = .rejected
                call.isError = true
                let why = decision.decision.comment.map { ": \($0)" } ?? ""
                call.result = "A person refused this call\(why). Do not try it again the same way."
            }
        }
    }
}
