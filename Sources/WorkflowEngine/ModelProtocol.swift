import Foundation
import JSONSchemaKit
import JobFormat

/// One call of an `llm` step, its templates filled.
public struct ModelRequest: Sendable {
    public var provider: LLMProvider
    public var model: String
    public var baseURL: String?
    /// Never recorded.
    public var apiKey: String?
    public var system: String?
    public var prompt: String
    public var temperature: Double?
    public var maxTokens: Int
    public var schema: JSONValue?
    public var repairAttempts: Int
    /// Each call's limit.
    public var timeout: Duration
    public var price: ModelPrice?
    /// What a call that could pass a budget does.
    public var onBudget: BudgetAction
    /// A person let this attempt pass the budget.
    public var budgetOverride: Bool
    /// The attempt's trace: each call sends `traceparent` naming its own span.
    var trace: AttemptTrace?

    public init(provider: LLMProvider, model: String, prompt: String, timeout: Duration = .seconds(300)) {
        self.provider = provider
        self.model = model
        self.prompt = prompt
        maxTokens = ModelProtocol.defaultMaxTokens
        repairAttempts = 2
        self.timeout = timeout
        onBudget = .fail
        budgetOverride = false
    }
}

/// The wire protocols: OpenAI Chat Completions (and every server compatible with it) and
/// Anthropic Messages. Pure: bodies in, replies out.
public enum ModelProtocol {
    /// `max_tokens` when the step gives none (Anthropic requires one; budgets need one).
    public static let defaultMaxTokens = 4096
    /// The tool an Anthropic model is made to call with its structured answer.
    static let toolName = "output"

    /// A turn of the conversation after the prompt: the model's answer and the repair asked for.
    enum Turn: Equatable {
        case user(String)
        case assistant(String)
        /// Anthropic: the model called the output tool with `input`.
        case toolCall(id: String, input: JSONValue)
        /// Anthropic: the answer to that call, an error to fix.
        case toolError(id: String, message: String)
    }

    /// What came back.
    struct Reply: Equatable {
        var text: String?
        var toolInput: JSONValue?
        /// The tool input as the model sent it (wrapped in `value` when the schema was).
        var rawToolInput: JSONValue?
        var toolID: String?
        var inputTokens: Int?
        var outputTokens: Int?
        /// True when the model stopped at `max_tokens`.
        var truncated = false
    }

    /// The URL and headers of a call (the key goes in a header, never in a record).
    static func endpoint(_ request: ModelRequest) -> (url: String, headers: [String: String]) {
        var headers = ["Content-Type": "application/json", "Accept": "application/json"]
        switch request.provider {
        case .openai:
            let base = trimmed(request.baseURL ?? "https://api.openai.com/v1")
            if let key = request.apiKey { headers["Authorization"] = "Bearer \(key)" }
            return (base + "/chat/completions", headers)
        case .anthropic:
            let base = trimmed(request.baseURL ?? "https://api.anthropic.com")
            if let key = request.apiKey { headers["x-api-key"] = key }
            headers["anthropic-version"] = "2023-06-01"
            return (base + (base.hasSuffix("/v1") ? "" : "/v1") + "/messages", headers)
        }
    }

    private static func trimmed(_ url: String) -> String { url.hasSuffix("/") ? String(url.dropLast()) : url }

    /// Anthropic tools take an object schema: any other schema is wrapped as `{value: schema}`.
    static func wrapsSchema(_ schema: JSONValue) -> Bool {
        guard case .object(let members) = schema, case .string("object")? = members["type"] else { return true }
        return false
    }

    /// The request body for `turns` after the prompt.
    static func body(_ request: ModelRequest, turns: [Turn]) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(request.model), "max_tokens": .number(Double(request.maxTokens)),
        ]
        if let temperature = request.temperature { body["temperature"] = .number(temperature) }
        switch request.provider {
        case .openai:
            var messages: [JSONValue] = []
            if let system = request.system { messages.append(message("system", system)) }
            messages.append(message("user", request.prompt))
            for turn in turns {
                switch turn {
                case .user(let text): messages.append(message("user", text))
                case .assistant(let text): messages.append(message("assistant", text))
                case .toolCall, .toolError: break  // Anthropic's only
                }
            }
            body["messages"] = .array(messages)
            if let schema = request.schema {
                body["response_format"] = .object([
                    "type": .string("json_schema"),
                    "json_schema": .object(["name": .string("output"), "schema": schema, "strict": .bool(false)]),
                ])
            }
        case .anthropic:
            if let system = request.system { body["system"] = .string(system) }
            var messages: [JSONValue] = [message("user", request.prompt)]
            for turn in turns {
                switch turn {
                case .user(let text): messages.append(message("user", text))
                case .assistant(let text): messages.append(message("assistant", text))
                case .toolCall(let id, let input):
                    messages.append(
                        .object([
                            "role": .string("assistant"),
                            "content": .array([
                                .object([
                                    "type": .string("tool_use"), "id": .string(id), "name": .string(toolName),
                                    "input": input,
                                ])
                            ]),
                        ]))
                case .toolError(let id, let text):
                    messages.append(
                        .object([
                            "role": .string("user"),
                            "content": .array([
                                .object([
                                    "type": .string("tool_result"), "tool_use_id": .string(id), "is_error": .bool(true),
                                    "content": .string(text),
                                ])
                            ]),
                        ]))
                }
            }
            body["messages"] = .array(messages)
            if let schema = request.schema {
                let input =
                    wrapsSchema(schema)
                    ? JSONValue.object([
                        "type": .string("object"), "properties": .object(["value": schema]),
                        "required": .array([.string("value")]),
                    ]) : schema
                body["tools"] = .array([
                    .object([
                        "name": .string(toolName), "description": .string("Give your answer as this tool's input."),
                        "input_schema": input,
                    ])
                ])
                body["tool_choice"] = .object(["type": .string("tool"), "name": .string(toolName)])
            }
        }
        return .object(body)
    }

    private static func message(_ role: String, _ content: String) -> JSONValue {
        .object(["role": .string(role), "content": .string(content)])
    }

    /// Why an answer cannot be read.
    struct Unreadable: Error, Equatable {
        let reason: String
    }

    /// Reads a successful response, or says why it cannot be read.
    static func reply(_ provider: LLMProvider, _ body: Data, wrapped: Bool) -> Result<Reply, Unreadable> {
        guard case .object(let root)? = JSONValue.parse(body) else {
            return .failure(
                Unreadable(reason: "the answer is not JSON: \(String(decoding: body.prefix(120), as: UTF8.self))"))
        }
        var reply = Reply()
        switch provider {
        case .openai:
            guard case .array(let choices)? = root["choices"], case .object(let first)? = choices.first,
                case .object(let message)? = first["message"]
            else { return .failure(Unreadable(reason: "the answer has no choices[0].message")) }
            if case .string(let text)? = message["content"] {
                reply.text = text
            } else if case .string(let refusal)? = message["refusal"] {
                return .failure(Unreadable(reason: "the model refused: \(refusal)"))
            }
            reply.truncated = first["finish_reason"] == .string("length")
            if case .object(let usage)? = root["usage"] {
                reply.inputTokens = usage["prompt_tokens"]?.integerValue
                reply.outputTokens = usage["completion_tokens"]?.integerValue
            }
        case .anthropic:
            guard case .array(let blocks)? = root["content"] else {
                return .failure(Unreadable(reason: "the answer has no content"))
            }
            var texts: [String] = []
            for case .object(let block) in blocks {
                if block["type"] == .string("tool_use"), let input = block["input"] {
                    reply.toolID = block["id"]?.stringValue
                    reply.rawToolInput = input
                    if wrapped, case .object(let fields) = input {
                        reply.toolInput = fields["value"] ?? .null
                    } else {
                        reply.toolInput = input
                    }
                } else if block["type"] == .string("text"), let text = block["text"]?.stringValue {
                    texts.append(text)
                }
            }
            if !texts.isEmpty { reply.text = texts.joined() }
            reply.truncated = root["stop_reason"] == .string("max_tokens")
            if case .object(let usage)? = root["usage"] {
                reply.inputTokens = usage["input_tokens"]?.integerValue
                reply.outputTokens = usage["output_tokens"]?.integerValue
            }
        }
        return .success(reply)
    }

    /// The message of an error response (`{"error": {"message": …}}`), or the start of the body.
    static func errorMessage(_ body: Data) -> String {
        if case .object(let root)? = JSONValue.parse(body) {
            if case .object(let error)? = root["error"], let message = error["message"]?.stringValue { return message }
            if let message = root["error"]?.stringValue ?? root["message"]?.stringValue { return message }
        }
        return String(decoding: body.prefix(200), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
    }

    /// JSON inside a text answer: as it is, or inside a ``` fence (local models like to add one).
    static func json(in text: String) -> JSONValue? {
        if let value = JSONValue.parse(Data(text.utf8)) { return value }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("```"), trimmed.hasSuffix("```") else { return nil }
        var inner = trimmed.dropFirst(3).dropLast(3)
        if let newline = inner.firstIndex(of: "\n") { inner = inner[inner.index(after: newline)...] }
        return JSONValue.parse(Data(inner.utf8))
    }
}
