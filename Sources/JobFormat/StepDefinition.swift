import JSONSchemaKit

/// One node of a job's DAG.
public struct StepDefinition: Sendable, Equatable, Codable {
    public var id: StepID
    public var needs: [StepID]
    /// What the step does: exactly one kind.
    public var kind: StepKind
    public var output: OutputMode
    public var retry: RetryPolicy?
    public var timeout: TimeSpan?
    public var env: [String: String]
    /// Secrets of the job that the step's process gets as `WF_SECRET_<NAME>`; nil: none.
    public var secrets: [String]?
    /// Relative paths are relative to the jobs directory; nil means the jobs directory.
    public var workdir: String?
    public var user: String?
    /// What recovery may re-run; nil means the kind's default (``defaultEffect``).
    public var effect: EffectClass?
    /// A template yielding a JSON array: the step runs once per item.
    public var forEach: String?
    public var when: WhenCondition
    /// `sandbox:` and `resources:` of the step, over the job's (unit executor only).
    public var sandbox: Indirect<SandboxSettings>?
    public var resources: Indirect<ResourceSettings>?

    public init(
        id: StepID, run: String, needs: [StepID] = [], timeout: Duration? = nil, env: [String: String] = [:]
    ) {
        self.init(id: id, kind: .run(run), needs: needs, timeout: timeout.map(TimeSpan.init), env: env)
    }

    public init(
        id: StepID, kind: StepKind, needs: [StepID] = [], timeout: TimeSpan? = nil, env: [String: String] = [:]
    ) {
        self.id = id
        self.needs = needs
        self.kind = kind
        output = .text
        retry = nil
        self.timeout = timeout
        self.env = env
        workdir = nil
        user = nil
        effect = nil
        forEach = nil
        when = .success
    }

    /// The effect class recovery assumes when the file gives none: `effectful` for shell steps and
    /// HTTP methods that change things, `idempotent` for GET/HEAD/OPTIONS, `pure` for LLM calls.
    public var defaultEffect: EffectClass {
        switch kind {
        case .run, .approval: .effectful
        case .http(let request):
            ["GET", "HEAD", "OPTIONS"].contains(request.method) || request.idempotencyKey != nil
                ? .idempotent : .effectful
        case .llm: .pure
        // The loop takes up from its transcript; its tools' effects are each held to their own.
        case .agent: .idempotent
        }
    }

    /// The retry policy in force: the step's own, else for `http` and `llm` steps three
    /// attempts, 2 s apart and doubling up to a minute (connections fail, servers answer 429 and
    /// 5xx, models answer off-schema), else none.
    public var effectiveRetry: RetryPolicy? {
        if let retry { return retry }
        switch kind {
        case .http, .llm, .agent:
            return RetryPolicy(
                attempts: 3, delay: TimeSpan(milliseconds: 2000), backoff: 2, maxDelay: TimeSpan(milliseconds: 60_000))
        case .run, .approval:
            return nil
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, needs, kind, output, retry, timeout, env, workdir, user, effect, when, secrets, sandbox, resources
        case forEach = "for_each"
    }
}

/// The five kinds of step. The specs of the larger kinds are kept out of line (`indirect`):
/// inline, every step of every job was as large as an LLM call's spec, ~170 bytes for a `run`.
public enum StepKind: Sendable, Equatable, Codable {
    /// A shell command line, run with `/bin/sh -c`.
    case run(String)
    indirect case http(HTTPRequestSpec)
    indirect case llm(LLMCallSpec)
    indirect case approval(ApprovalSpec)
    indirect case agent(AgentSpec)

    /// The job-file key of this kind.
    public var name: String {
        switch self {
        case .run: "run"
        case .http: "http"
        case .llm: "llm"
        case .approval: "approval"
        case .agent: "agent"
        }
    }
}

/// `http:` — one request.
public struct HTTPRequestSpec: Sendable, Equatable, Codable {
    public var method: String
    public var url: String
    public var headers: [String: String]
    public var query: [String: String]
    public var json: JSONValue?
    public var body: String?
    public var timeout: TimeSpan?
    /// Status codes that count as success; empty means any 2xx.
    public var expect: [Int]
    public var idempotencyKey: String?

    public init(method: String = "GET", url: String) {
        self.method = method
        self.url = url
        headers = [:]
        query = [:]
        expect = []
    }

    enum CodingKeys: String, CodingKey {
        case method, url, headers, query, json, body, timeout, expect
        case idempotencyKey = "idempotency_key"
    }
}

/// `llm:` — one call to a model, its output validated against `schema` when given.
public struct LLMCallSpec: Sendable, Equatable, Codable {
    public var provider: LLMProvider
    public var model: String
    public var baseURL: String?
    public var apiKeySecret: String?
    public var system: String?
    public var prompt: String
    public var temperature: Double?
    public var maxTokens: Int?
    public var schema: JSONValue?
    public var repairAttempts: Int

    public init(provider: LLMProvider, model: String, prompt: String) {
        self.provider = provider
        self.model = model
        self.prompt = prompt
        repairAttempts = 2
    }

    enum CodingKeys: String, CodingKey {
        case provider, model, system, prompt, temperature, schema
        case baseURL = "base_url"
        case apiKeySecret = "api_key_secret"
        case maxTokens = "max_tokens"
        case repairAttempts = "repair_attempts"
    }
}

/// The wire protocols wfd speaks to models. Stored as its raw string.
public enum LLMProvider: String, Sendable, Codable, CaseIterable {
    case openai, anthropic
}

/// `approval:` — a person must approve before the run goes on.
public struct ApprovalSpec: Sendable, Equatable, Codable {
    public var message: String
    public var timeout: TimeSpan?
    /// What the timeout decides; nil means reject.
    public var onTimeout: ApprovalTimeoutAction?
    /// A JSON Schema for data the approver gives (`wfctl approve --input`), the step's output.
    public var input: JSONValue?

    public init(message: String, timeout: TimeSpan? = nil) {
        self.message = message
        self.timeout = timeout
    }

    enum CodingKeys: String, CodingKey {
        case message, timeout, input
        case onTimeout = "on_timeout"
    }
}

/// What an approval's timeout decides. Stored as its raw string.
public enum ApprovalTimeoutAction: String, Sendable, Codable, CaseIterable {
    case reject, approve
}

/// `retry:` — how failed attempts are tried again.
public struct RetryPolicy: Sendable, Equatable, Codable {
    public var attempts: Int
    public var delay: TimeSpan?
    public var backoff: Double
    public var maxDelay: TimeSpan?
    /// Only these exit codes are retried; empty means every failure.
    public var onExitCodes: [Int]

    public init(
        attempts: Int, delay: TimeSpan? = nil, backoff: Double = 1, maxDelay: TimeSpan? = nil, onExitCodes: [Int] = []
    ) {
        self.attempts = attempts
        self.delay = delay
        self.backoff = backoff
        self.maxDelay = maxDelay
        self.onExitCodes = onExitCodes
    }

    enum CodingKeys: String, CodingKey {
        case attempts, delay, backoff
        case maxDelay = "max_delay"
        case onExitCodes = "on_exit_codes"
    }
}

/// How a step's stdout becomes its output. Stored as its raw string.
public enum OutputMode: String, Sendable, Codable, CaseIterable {
    case text, json
}

/// What recovery may do with a step that was in flight when wfd died. Stored as its raw string.
public enum EffectClass: String, Sendable, Codable, CaseIterable {
    case pure, idempotent, effectful
}

/// When a step runs, given how the steps it needs ended.
public enum WhenCondition: Sendable, Equatable, Codable {
    /// Only if everything it needs succeeded (the default).
    case success
    /// Whatever happened before: clean-up and notifications.
    case always
    /// Only if something it needs (or the run so far) failed.
    case failure
    /// A template expression, true when it renders to a non-empty value other than `false`/`0`.
    case expression(String)

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        switch text {
        case "success": self = .success
        case "always": self = .always
        case "failure": self = .failure
        default: self = .expression(text)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .success: try container.encode("success")
        case .always: try container.encode("always")
        case .failure: try container.encode("failure")
        case .expression(let text): try container.encode(text)
        }
    }
}
