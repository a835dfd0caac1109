import Foundation
import JSONSchemaKit
import JobFormat

/// `runs/<job>/<run>/agent/<step>[.<item>].json`: an agent step's loop, turn by turn, written
/// durably as it happens (each model answer before anything acts on it, each tool call before it
/// runs and when it ends), so a later attempt or a restarted wfd takes the loop up where it was:
/// recorded answers and results are replayed, never asked for again.
public struct AgentTranscript: Sendable, Equatable, Codable {
    public static let currentVersion = 1

    public var version: Int
    public var job: JobID
    public var run: RunID
    public var step: StepID
    public var item: Int?
    /// When the loop began, or was taken up by `wfctl retry`: the step's `timeout` runs from
    /// here, across attempts and restarts.
    public var startedAt: Date
    public var turns: [AgentTurn]
    /// The turns before the last `wfctl retry`: `max_turns` and the repairs count after them.
    public var turnsBefore: Int?
    /// The step's attempts before the `wfctl retry` that last took the loop up (its
    /// ``StepRecord/attemptsBefore``), so a retry resets the bounds once, even across a crash.
    public var retryAfter: Int?

    public init(job: JobID, run: RunID, step: StepID, item: Int?, startedAt: Date) {
        version = Self.currentVersion
        self.job = job
        self.run = run
        self.step = step
        self.item = item
        self.startedAt = startedAt
        turns = []
    }

    enum CodingKeys: String, CodingKey {
        case version, job, run, step, item, turns
        case startedAt = "started_at"
        case turnsBefore = "turns_before"
        case retryAfter = "retry_after"
    }
}

/// One model call of the loop and what came of it.
public struct AgentTurn: Sendable, Equatable, Codable {
    /// 1-based.
    public var number: Int
    /// The step's attempt that made the call.
    public var attempt: Int
    public var call: ModelCall
    /// The call was the last the loop allows (`max_turns`): no tools were offered.
    public var last: Bool
    public var text: String?
    public var toolCalls: [AgentToolCall]
    /// Anthropic: the id and input of the model's call of the answer tool.
    public var answerCall: String?
    public var answerInput: JSONValue?
    /// The final answer, when it met the schema.
    public var answer: JSONValue?
    /// Why the answer did not meet the schema: sent back for a repair.
    public var repair: String?

    public init(number: Int, attempt: Int, call: ModelCall, last: Bool) {
        self.number = number
        self.attempt = attempt
        self.call = call
        self.last = last
        toolCalls = []
    }

    enum CodingKeys: String, CodingKey {
        case number, attempt, call, last, text, answer, repair
        case toolCalls = "tool_calls"
        case answerCall = "answer_call"
        case answerInput = "answer_input"
    }
}

/// A tool call the model asked for, and its fate.
public struct AgentToolCall: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    /// As the model gave them; nil when they were not JSON (``argumentsText`` holds them).
    public var arguments: JSONValue?
    public var argumentsText: String?
    public var effect: EffectClass
    public var state: AgentToolState
    /// What the model is told: the tool's result, or why there is none.
    public var result: String?
    public var isError: Bool?
    public var startedAt: Date?
    public var endedAt: Date?
    public var latencyMilliseconds: Int64?
    /// A person's decision, for a tool that needs one.
    public var decision: Decision?
    /// A job tool's run.
    public var startedRun: RunID?

    public init(id: String, name: String, arguments: JSONValue?, effect: EffectClass) {
        self.id = id
        self.name = name
        self.arguments = arguments
        self.effect = effect
        state = .requested
    }

    enum CodingKeys: String, CodingKey {
        case id, name, arguments, effect, state, result, decision
        case argumentsText = "arguments_text"
        case isError = "is_error"
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case latencyMilliseconds = "latency_ms"
        case startedRun = "run"
    }
}

/// A person's decision on an agent's call of a tool that needs approval.
public struct ToolDecision: Sendable, Equatable, Codable {
    public var call: String
    public var decision: Decision

    public init(call: String, decision: Decision) {
        self.call = call
        self.decision = decision
    }
}

/// Where a tool call is. Stored as its raw string.
public enum AgentToolState: String, Sendable, Codable, CaseIterable {
    /// Asked for; not yet checked.
    case requested
    /// Its arguments were checked; it waits for a person.
    case awaitingApproval = "awaiting_approval"
    /// A person approved it; not yet started.
    case approved
    /// Started and not known to have ended: a later wfd finds it so after a crash.
    case running
    case succeeded
    /// It ran and failed (the model is told how).
    case failed
    /// Not run: an unknown tool, or arguments that break its schema.
    case refused
    /// A person refused it.
    case rejected
    /// Effectful and running when wfd stopped: not repeated until a person retries the run.
    case interrupted
}
