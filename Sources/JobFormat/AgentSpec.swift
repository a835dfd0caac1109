import JSONSchemaKit

/// `agent:` — a model with instructions and tools the job declares, called in a loop until it
/// answers (validated against `schema`) or a bound is hit: `max_turns`, the job's budgets, the
/// step's `timeout`.
public struct AgentSpec: Sendable, Equatable, Codable {
    public var provider: LLMProvider
    public var model: String
    public var baseURL: String?
    public var apiKeySecret: String?
    public var system: String?
    public var instructions: String
    public var temperature: Double?
    /// Each model call's `max_tokens`.
    public var maxTokens: Int?
    /// The most model calls the loop makes (repairs of the final answer aside).
    public var maxTurns: Int
    /// The final answer's JSON Schema; nil: the answer is text.
    public var schema: JSONValue?
    public var repairAttempts: Int
    public var tools: [AgentTool]
    /// The MCP servers whose tools (by their allowlists) the model may call.
    public var mcpServers: [MCPServerSpec]

    public static let defaultMaxTurns = 10
    /// The tool an Anthropic model gives its final answer through (when the agent has a schema).
    public static let answerToolName = "final_answer"

    public init(provider: LLMProvider, model: String, instructions: String, tools: [AgentTool] = []) {
        self.provider = provider
        self.model = model
        self.instructions = instructions
        maxTurns = Self.defaultMaxTurns
        repairAttempts = 2
        self.tools = tools
        mcpServers = []
    }

    /// The fields an agent shares with an `llm` step, taken from `call` (its prompt the
    /// instructions).
    public init(_ call: LLMCallSpec) {
        self.init(provider: call.provider, model: call.model, instructions: call.prompt)
        (baseURL, apiKeySecret, system) = (call.baseURL, call.apiKeySecret, call.system)
        (temperature, maxTokens, schema, repairAttempts) = (
            call.temperature, call.maxTokens, call.schema, call.repairAttempts
        )
    }

    /// Each model call of the loop as an `llm` step's call, the instructions its prompt.
    public var call: LLMCallSpec {
        var call = LLMCallSpec(provider: provider, model: model, prompt: instructions)
        (call.baseURL, call.apiKeySecret, call.system) = (baseURL, apiKeySecret, system)
        (call.temperature, call.maxTokens, call.schema, call.repairAttempts) = (
            temperature, maxTokens, schema, repairAttempts
        )
        return call
    }

    enum CodingKeys: String, CodingKey {
        case provider, model, system, instructions, temperature, schema, tools
        case baseURL = "base_url"
        case apiKeySecret = "api_key_secret"
        case maxTokens = "max_tokens"
        case maxTurns = "max_turns"
        case repairAttempts = "repair_attempts"
        case mcpServers = "mcp_servers"
    }
}

/// One tool of an agent: what it does is fixed in the job; the model gives only its arguments,
/// checked against ``schema`` (or ``derivedSchema``) before anything runs.
public struct AgentTool: Sendable, Equatable, Codable {
    public var name: String
    public var description: String?
    public var action: AgentToolAction
    /// The arguments' JSON Schema as the job gives it; nil: ``derivedSchema``.
    public var schema: JSONValue?
    /// What recovery may repeat; nil: the action's default (``defaultEffect``).
    public var effect: EffectClass?
    /// A person approves each call before it runs.
    public var approve: Bool

    public init(name: String, action: AgentToolAction) {
        self.name = name
        self.action = action
        approve = false
    }

    /// `effectful` for commands and requests that change things; `idempotent` for GET, HEAD,
    /// OPTIONS, requests with an idempotency key, and jobs.
    public var defaultEffect: EffectClass {
        switch action {
        case .http(let request):
            ["GET", "HEAD", "OPTIONS"].contains(request.method) || request.idempotencyKey != nil
                ? .idempotent : .effectful
        case .run: .effectful
        // Its run's id is fixed before it starts: taken up again, the call awaits that run.
        case .job: .idempotent
        }
    }

    /// The arguments an `http` tool's templates read (`${{ args.NAME }}`), each required, each
    /// a string, number or boolean; a `run` tool without `schema` takes none. A `job` tool's are
    /// its job's parameters (wfd reads them from the job as it is loaded when the step starts).
    public var derivedSchema: JSONValue {
        var names: [String] = []
        if case .http(let request) = action {
            let texts =
                [request.url, request.body ?? "", request.idempotencyKey ?? ""] + request.headers.values.sorted()
                + request.query.values.sorted() + (request.json?.strings ?? [])
            for text in texts {
                for case .args(let path) in (try? Template(parsing: text))?.references ?? [] {
                    if let name = path.first, !names.contains(name) { names.append(name) }
                }
            }
        }
        let scalar: JSONValue = .object([
            "type": .array([.string("string"), .string("number"), .string("integer"), .string("boolean")])
        ])
        return .object([
            "type": .string("object"),
            "properties": .object(Dictionary(uniqueKeysWithValues: names.map { ($0, scalar) })),
            "required": .array(names.sorted().map(JSONValue.string)),
            "additionalProperties": .bool(false),
        ])
    }

    enum CodingKeys: String, CodingKey {
        case name, description, action, schema, effect, approve
    }
}

/// What an agent's tool does.
public enum AgentToolAction: Sendable, Equatable, Codable {
    /// A request whose fields may read `${{ args.NAME }}`.
    case http(HTTPRequestSpec)
    /// A fixed command line; the arguments reach it only through its environment
    /// (`WF_ARGS` as JSON, `WF_ARG_<NAME>` for each top-level one).
    case run(String)
    /// Another job: a run of it started with the arguments as its parameters, and awaited; its
    /// final state and outputs are the result.
    case job(JobID)
}

/// `mcp_servers:` — an MCP server the agent starts (over stdio, as a child of wfd) and which of
/// its tools the model may call.
public struct MCPServerSpec: Sendable, Equatable, Codable {
    public var name: String
    /// The program and its arguments (no shell).
    public var command: [String]
    public var env: [String: String]
    /// The only tools offered to the model, by the server's names for them.
    public var tools: [String]
    /// The effect class of its tools; nil: effectful.
    public var effect: EffectClass?
    /// A person approves each call of its tools.
    public var approve: Bool

    public init(name: String, command: [String], tools: [String]) {
        self.name = name
        self.command = command
        env = [:]
        self.tools = tools
        approve = false
    }

    enum CodingKeys: String, CodingKey {
        case name, command, env, tools, effect, approve
    }
}
