import Foundation
import JSONSchemaKit
import JobFormat
import RunModel

/// A tool as the model is shown it.
struct AgentToolDefinition: Sendable {
    let name: String
    let description: String
    /// The arguments' JSON Schema (an object's).
    let schema: JSONValue
}

/// The agent loop's conversations on both wire protocols: OpenAI tool calls and Anthropic
/// `tool_use`. Pure: the transcript in, a request body out; a response body in, a reply out. The
/// conversation is rebuilt from the transcript for every call, so a loop taken up after a crash
/// sends what it would have sent.
enum AgentProtocol {
    /// Said to the model on its last turn, when no tools are offered.
    static let lastTurnNotice = "You have no tool calls left. Give your final answer now."

    /// What the model answered.
    struct Reply: Equatable {
        struct ToolCall: Equatable {
            let id: String
            let name: String
            /// nil: the arguments were not JSON (``text`` holds them).
            let arguments: JSONValue?
            let text: String?
        }
        var text: String?
        var toolCalls: [ToolCall] = []
        /// Anthropic: the model called the answer tool (its id and input as sent).
        var answerCall: String?
        var answerInput: JSONValue?
        var inputTokens: Int?
        var outputTokens: Int?
        var truncated = false
    }

    /// The body of the next call: the instructions, every turn so far with its tool results and
    /// repairs, then the tools (none on the `last` turn).
    static func body(
        _ request: ModelRequest, tools: [AgentToolDefinition], turns: [AgentTurn], last: Bool
    ) -> JSONValue {
        var base = ModelProtocol.body(request, turns: [])
        guard case .object(var body) = base else { return base }
        let wrapped = request.schema.map(ModelProtocol.wrapsSchema) == true
        switch request.provider {
        case .openai:
            var messages: [JSONValue] = []
            if let system = request.system { messages.append(message("system", .string(system))) }
            messages.append(message("user", .string(request.prompt)))
            for turn in turns {
                if turn.last { messages.append(message("user", .string(lastTurnNotice))) }
                var assistant: [String: JSONValue] = [
                    "role": .string("assistant"), "content": turn.text.map(JSONValue.string) ?? .null,
                ]
                if !turn.toolCalls.isEmpty {
                    assistant["tool_calls"] = .array(
                        turn.toolCalls.map { call in
                            .object([
                                "id": .string(call.id), "type": .string("function"),
                                "function": .object([
                                    "name": .string(call.name),
                                    "arguments": .string(call.argumentsText ?? call.arguments?.jsonText ?? "{}"),
                                ]),
                            ])
                        })
                }
                messages.append(.object(assistant))
                for call in turn.toolCalls {
                    messages.append(
                        .object([
                            "role": .string("tool"), "tool_call_id": .string(call.id),
                            "content": .string(call.result ?? ""),
                        ]))
                }
                if let repair = turn.repair { messages.append(message("user", .string(repair))) }
            }
            if last { messages.append(message("user", .string(lastTurnNotice))) }
            body["messages"] = .array(messages)
            if !last, !tools.isEmpty {
                body["tools"] = .array(
                    tools.map { tool in
                        .object([
                            "type": .string("function"),
                            "function": .object([
                                "name": .string(tool.name), "description": .string(tool.description),
                                "parameters": tool.schema,
                            ]),
                        ])
                    })
            }
        case .anthropic:
            var messages: [JSONValue] = [message("user", .string(request.prompt))]
            // Anthropic's roles alternate: a turn's results, its repair and the last-turn notice
            // are one user message.
            var pending: [JSONValue] = []
            for turn in turns {
                if turn.last { pending.append(text(lastTurnNotice)) }
                if !pending.isEmpty { messages.append(message("user", .array(pending))) }
                pending = []
                var content: [JSONValue] = []
                if let said = turn.text, !said.isEmpty { content.append(text(said)) }
                for call in turn.toolCalls {
                    content.append(
                        .object([
                            "type": .string("tool_use"), "id": .string(call.id), "name": .string(call.name),
                            "input": call.arguments ?? .object([:]),
                        ]))
                }
                if let id = turn.answerCall {
                    content.append(
                        .object([
                            "type": .string("tool_use"), "id": .string(id), "name": .string(AgentSpec.answerToolName),
                            "input": turn.answerInput ?? .object([:]),
                        ]))
                }
                messages.append(message("assistant", .array(content.isEmpty ? [text("")] : content)))
                for call in turn.toolCalls {
                    var result: [String: JSONValue] = [
                        "type": .string("tool_result"), "tool_use_id": .string(call.id),
                        "content": .string(call.result ?? ""),
                    ]
                    if call.isError == true { result["is_error"] = .bool(true) }
                    pending.append(.object(result))
                }
                if let repair = turn.repair {
                    if let id = turn.answerCall {
                        pending.append(
                            .object([
                                "type": .string("tool_result"), "tool_use_id": .string(id), "is_error": .bool(true),
                                "content": .string(repair),
                            ]))
                    } else {
                        pending.append(text(repair))
                    }
                }
            }
            if last { pending.append(text(lastTurnNotice)) }
            if !pending.isEmpty { messages.append(message("user", .array(pending))) }
            body["messages"] = .array(messages)
            var offered: [JSONValue] = []
            if !last {
                offered = tools.map { tool in
                    .object([
                        "name": .string(tool.name), "description": .string(tool.description),
                        "input_schema": tool.schema,
                    ])
                }
            }
            if let schema = request.schema {
                let input =
                    wrapped
                    ? JSONValue.object([
                        "type": .string("object"), "properties": .object(["value": schema]),
                        "required": .array([.string("value")]),
                    ]) : schema
                offered.append(
                    .object([
                        "name": .string(AgentSpec.answerToolName),
                        "description": .string("Give your final answer as this tool's input, once you have it."),
                        "input_schema": input,
                    ]))
            }
            body["tools"] = offered.isEmpty ? nil : .array(offered)
            body["tool_choice"] =
                offered.isEmpty
                ? nil
                : last
                    ? .object(["type": .string("tool"), "name": .string(AgentSpec.answerToolName)])
                    : .object(["type": .string("auto")])
        }
        base = .object(body)
        return base
    }

    private static func message(_ role: String, _ content: JSONValue) -> JSONValue {
        .object(["role": .string(role), "content": content])
    }

    private static func text(_ said: String) -> JSONValue {
        .object(["type": .string("text"), "text": .string(said)])
    }

    /// Reads a successful response: text, tool calls, the answer tool's input, usage.
    static func reply(_ provider: LLMProvider, _ body: Data, wrapped: Bool)
        -> Result<Reply, ModelProtocol.Unreadable>
    {
        let basic: ModelProtocol.Reply
        switch ModelProtocol.reply(provider, body, wrapped: wrapped) {
        case .success(let read): basic = read
        case .failure(let unreadable): return .failure(unreadable)
        }
        var reply = Reply(
            text: basic.text, inputTokens: basic.inputTokens, outputTokens: basic.outputTokens,
            truncated: basic.truncated)
        guard case .object(let root)? = JSONValue.parse(body) else { return .success(reply) }
        switch provider {
        case .openai:
            guard case .array(let choices)? = root["choices"], case .object(let first)? = choices.first,
                case .object(let message)? = first["message"], case .array(let calls)? = message["tool_calls"]
            else { return .success(reply) }
            for case .object(let call) in calls {
                guard case .object(let function)? = call["function"], let name = function["name"]?.stringValue
                else { continue }
                let text = function["arguments"]?.stringValue ?? "{}"
                reply.toolCalls.append(
                    Reply.ToolCall(
                        id: call["id"]?.stringValue ?? "call_\(reply.toolCalls.count)", name: name,
                        arguments: JSONValue.parse(Data(text.utf8)), text: text))
            }
        case .anthropic:
            guard case .array(let blocks)? = root["content"] else { return .success(reply) }
            for case .object(let block) in blocks where block["type"] == .string("tool_use") {
                let id = block["id"]?.stringValue ?? "toolu_\(reply.toolCalls.count)"
                guard let name = block["name"]?.stringValue else { continue }
                if name == AgentSpec.answerToolName {
                    reply.answerCall = id
                    reply.answerInput = block["input"]
                } else {
                    reply.toolCalls.append(Reply.ToolCall(id: id, name: name, arguments: block["input"], text: nil))
                }
            }
        }
        return .success(reply)
    }
}
