import Foundation
import JSONSchemaKit
import JobFormat

/// `runs/<job>/<run>/run.json`: one execution of a job.
public struct RunRecord: Sendable, Equatable, Codable {
    public static let currentVersion = 1

    public var version: Int
    public var job: JobID
    public var id: RunID
    public var trigger: Trigger
    public var state: RunState
    /// The fire time this run was started for, when scheduled.
    public var scheduledFor: Date?
    public var createdAt: Date
    public var startedAt: Date?
    public var endedAt: Date?
    /// Why the run failed or was cancelled, in one sentence.
    public var error: String?
    /// Set once a cancel was asked for; the run ends `cancelled` when its running steps have stopped.
    public var cancelReason: String?
    /// Set when the run's own `timeout` passed: it then ends `timed_out` rather than `cancelled`.
    public var timedOut: Bool?
    /// Set when the run failed because an `effectful` step was interrupted: it waits for a person.
    public var interrupted: Bool?
    /// Every `wfctl retry` of this run, oldest first.
    public var retries: [RetryNote]?
    /// The run's parameter values (given, or the job's defaults); nil when the job has none.
    public var params: [String: String]?
    /// For a run `on:` started: where it came from (its payload is `payload.json` beside).
    public var origin: TriggerOrigin?
    /// The run's OpenTelemetry trace id (32 hex digits): its spans, exported or not, are found by it.
    public var traceID: String?

    public init(job: Job, id: RunID, trigger: Trigger, scheduledFor: Date?, createdAt: Date) {
        version = Self.currentVersion
        self.job = job.id
        self.id = id
        self.trigger = trigger
        state = .queued
        self.scheduledFor = scheduledFor
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case version, job, id, trigger, state, error
        case scheduledFor = "scheduled_for"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case cancelReason = "cancel_reason"
        case timedOut = "timed_out"
        case interrupted, retries, params, origin
        case traceID = "trace_id"
    }
}

/// One `wfctl retry` of a run: when, from which step, and which steps a person marked done.
public struct RetryNote: Sendable, Equatable, Codable {
    public var at: Date
    public var from: StepID?
    public var skipped: [StepID]
    /// The steps run again.
    public var reset: [StepID]

    public init(at: Date, from: StepID?, skipped: [StepID], reset: [StepID]) {
        self.at = at
        self.from = from
        self.skipped = skipped
        self.reset = reset
    }
}

/// `runs/<job>/<run>/steps/<step>.json`: one step of a run, with every attempt.
public struct StepRecord: Sendable, Equatable, Codable {
    public static let currentVersion = 1

    public var version: Int
    public var job: JobID
    public var run: RunID
    public var step: StepID
    public var state: StepState
    public var needs: [StepID]
    public var attempts: [Attempt]
    /// Why the step failed, was skipped or cancelled, in one sentence.
    public var error: String?
    /// While `retry_wait`: when the next attempt is due.
    public var retryAt: Date?
    /// Attempts made before the last `wfctl retry`: the step's `retry.attempts` counts from here.
    public var attemptsBefore: Int?
    /// For a `for_each` step once its array is known: one record per item, each with its own
    /// state and attempts (the step itself is running until every item has ended).
    public var items: [StepRecord]?
    /// In an item's record: its position in the array.
    public var item: Int?
    /// In an item's record: the item (`WF_ITEM`).
    public var value: JSONValue?
    /// While `waiting`: for what, since when, until when.
    public var waiting: WaitInfo?
    /// A person let the step's next attempt pass its budget (`on_budget: approve`).
    public var budgetApproval: Decision?
    /// The last decision on an agent's tool call (``WaitInfo/call``), for the next attempt.
    public var toolDecision: ToolDecision?
    /// `when: ${{ … }}`: how its condition came out (for a `for_each` step, on each item).
    public var condition: ConditionRecord?
    /// Why a `skipped` step did not run.
    public var skipCause: SkipCause?

    public init(job: JobID, run: RunID, step: StepDefinition) {
        version = Self.currentVersion
        self.job = job
        self.run = run
        self.step = step.id
        state = .pending
        needs = step.needs
        attempts = []
    }

    enum CodingKeys: String, CodingKey {
        case version, job, run, step, state, needs, attempts, error
        case retryAt = "retry_at"
        case attemptsBefore = "attempts_before"
        case items, item, value, waiting
        case budgetApproval = "budget_approval"
        case toolDecision = "tool_decision"
        case condition
        case skipCause = "skip_cause"
    }

    /// The record of item `index` of a `for_each` step.
    public init(item index: Int, of parent: StepRecord, value: JSONValue) {
        version = Self.currentVersion
        job = parent.job
        run = parent.run
        step = parent.step
        state = .pending
        needs = []
        attempts = []
        item = index
        self.value = value
    }

    /// True once the work of one of its attempts (or of one of its items' attempts) began.
    public var hasBegun: Bool {
        attempts.contains { $0.startedAt != nil } || (items ?? []).contains { $0.hasBegun }
    }

    /// The log of attempt `number`, relative to the run directory: `logs/<step>.<n>.log`, or
    /// `logs/<step>.<item>.<n>.log` for an item.
    public func logPath(attempt number: Int) -> String {
        "logs/\(step.rawValue).\(item.map { "\($0)." } ?? "")\(number).log"
    }
}

/// One try at running a step.
public struct Attempt: Sendable, Equatable, Codable {
    public var number: Int
    /// When the attempt was due: the fire time for a scheduled run's first steps, the moment its
    /// needs were met, the retry's due time. `started_at − planned_at` is how late it began.
    public var plannedAt: Date?
    /// When wfd really began its work (spawned its process, sent its request); nil until then, and
    /// for an attempt that was cancelled before it began. Written with the attempt's end (the
    /// record of a running step says when it was planned, not yet when it began).
    public var startedAt: Date?
    public var endedAt: Date?
    public var outcome: AttemptOutcome?
    public var exitCode: Int32?
    public var signal: Int32?
    public var error: String?
    /// The attempt's captured output, relative to the run directory: `logs/<step>.<attempt>.log`;
    /// nil for a step a person marked done.
    public var log: String?
    /// The step's output value (stdout), relative to the run directory: `outputs/<step>`.
    public var output: String?
    public var durationMilliseconds: Int64?
    /// True when a person recorded the step as done (`wfctl retry --skip`) instead of running it.
    public var byHand: Bool?
    /// What kind of failure, for statistics and for what may be retried.
    public var errorKind: FailureKind?
    /// `llm` steps: every call made to the model, in order.
    public var calls: [ModelCall]?
    /// `http` steps: the request made and what came back.
    public var http: HTTPExchange?
    /// `approval` steps, and budget approvals: who decided, when and how.
    public var decision: Decision?
    /// `run:` steps under the unit executor: the transient service the attempt ran as.
    public var unit: String?
    /// What the attempt's processes used (unit executor).
    public var usage: ResourceUsage?

    public init(number: Int, plannedAt: Date, startedAt: Date? = nil, log: String?) {
        self.number = number
        self.plannedAt = plannedAt
        self.startedAt = startedAt
        self.log = log
    }

    enum CodingKeys: String, CodingKey {
        case number, outcome, signal, error, log, output
        case plannedAt = "planned_at"
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case exitCode = "exit_code"
        case durationMilliseconds = "duration_ms"
        case byHand = "by_hand"
        case errorKind = "error_kind"
        case calls, http, decision, unit, usage
    }
}

/// One call to a model, as `wfctl show` and the budgets count it.
public struct ModelCall: Sendable, Equatable, Codable {
    public var provider: LLMProvider
    public var model: String
    /// SHA-256 of the request's messages (system, prompt, repairs), in hex.
    public var promptSHA256: String
    public var startedAt: Date
    public var latencyMilliseconds: Int64
    /// The HTTP status, when an answer came.
    public var status: Int?
    public var inputTokens: Int?
    public var outputTokens: Int?
    /// nil when the model has no price.
    public var costUSD: Double?
    /// `ok`, `invalid_output` (a repair follows, or the attempt fails), `http_error`, `transport_error`.
    public var result: String
    public var error: String?

    public init(provider: LLMProvider, model: String, promptSHA256: String, startedAt: Date) {
        self.provider = provider
        self.model = model
        self.promptSHA256 = promptSHA256
        self.startedAt = startedAt
        latencyMilliseconds = 0
        result = "transport_error"
    }

    enum CodingKeys: String, CodingKey {
        case provider, model, status, result, error
        case promptSHA256 = "prompt_sha256"
        case startedAt = "started_at"
        case latencyMilliseconds = "latency_ms"
        case inputTokens = "input_tokens"
        case outputTokens = "output_tokens"
        case costUSD = "cost_usd"
    }
}

/// What an `http` step sent and what came back (never a header: they may carry secrets).
public struct HTTPExchange: Sendable, Equatable, Codable {
    public var method: String
    public var url: String
    public var status: Int?
    public var idempotencyKey: String?
    public var latencyMilliseconds: Int64
    /// Bytes of the response body.
    public var responseBytes: Int?

    public init(method: String, url: String, idempotencyKey: String?) {
        self.method = method
        self.url = url
        self.idempotencyKey = idempotencyKey
        latencyMilliseconds = 0
    }

    enum CodingKeys: String, CodingKey {
        case method, url, status
        case idempotencyKey = "idempotency_key"
        case latencyMilliseconds = "latency_ms"
        case responseBytes = "response_bytes"
    }
}

/// A person's decision on an approval (or on a budget), or its timeout's.
public struct Decision: Sendable, Equatable, Codable {
    public var approved: Bool
    /// Who: `uid 1000 (alice)`, or `timeout`.
    public var by: String
    public var uid: UInt32?
    public var at: Date
    public var comment: String?
    /// The data the approver gave (`approval.input`).
    public var input: JSONValue?

    public init(
        approved: Bool, by: String, uid: UInt32? = nil, at: Date, comment: String? = nil, input: JSONValue? = nil
    ) {
        self.approved = approved
        self.by = by
        self.uid = uid
        self.at = at
        self.comment = comment
        self.input = input
    }
}

/// Why a step is `waiting`, and until when.
public struct WaitInfo: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// An `approval` step.
        case approval
        /// A model call that could pass a budget, with `on_budget: approve`.
        case budget
        /// An agent's call of a tool with `approve: true`.
        case tool
    }

    public var kind: Kind
    public var since: Date
    /// When the approval's timeout decides; nil: never.
    public var deadline: Date?
    /// What the person is asked, rendered.
    public var message: String
    /// For a tool call: its id in the agent's transcript.
    public var call: String?

    public init(kind: Kind, since: Date, deadline: Date?, message: String) {
        self.kind = kind
        self.since = since
        self.deadline = deadline
        self.message = message
    }
}

/// How an attempt ended. Stored as its raw string.
public enum AttemptOutcome: String, Sendable, Codable, CaseIterable {
    case succeeded, failed, cancelled
    case timedOut = "timed_out"
    /// wfd itself stopped while the attempt ran.
    case interrupted
    /// The kernel killed it for passing its `resources.memory_max`.
    case oom
}

/// The result an executor reports for one attempt: data, not an error.
public struct AttemptResult: Sendable, Equatable {
    public var outcome: AttemptOutcome
    public var exitCode: Int32?
    public var signal: Int32?
    /// A one-sentence explanation for anything but success.
    public var error: String?
    /// What the step wrote to stdout (up to the executor's cap), for its output.
    public var stdout: [UInt8]?
    /// True when stdout was longer than the cap.
    public var stdoutTruncated: Bool
    /// Where the output value was written, relative to the run directory.
    public var outputFile: String?
    public var errorKind: FailureKind?
    /// False for a failure that trying again cannot mend (a 4xx status, a rejected budget).
    public var retriable: Bool
    /// The server asked to wait this long before trying again (`Retry-After`), in seconds.
    public var retryAfter: TimeInterval?
    public var calls: [ModelCall]?
    public var http: HTTPExchange?
    /// The attempt stops here, open, until a person decides: the step becomes `waiting`.
    public var wait: WaitInfo?
    /// When the work really began, when the executor knows better than the launch (a unit
    /// followed again after wfd restarted began under the previous wfd).
    public var startedAt: Date?
    /// When the work really ended, when the executor knows (a unit's main process exit, which may
    /// be long before a restarted wfd records it): the attempt's duration runs to it.
    public var finishedAt: Date?
    public var unit: String?
    public var usage: ResourceUsage?
    /// wfd stopped following the attempt, whose work goes on (a unit): nothing is recorded, and
    /// the next wfd follows it again.
    public var detached = false

    public init(
        outcome: AttemptOutcome, exitCode: Int32? = nil, signal: Int32? = nil, error: String? = nil,
        stdout: [UInt8]? = nil, stdoutTruncated: Bool = false
    ) {
        self.outcome = outcome
        self.exitCode = exitCode
        self.signal = signal
        self.error = error
        self.stdout = stdout
        self.stdoutTruncated = stdoutTruncated
        retriable = true
    }

    /// A failure of `kind`, said in one sentence.
    public static func failure(_ kind: FailureKind, _ error: String, retriable: Bool = true) -> AttemptResult {
        var result = AttemptResult(outcome: .failed, error: error)
        result.errorKind = kind
        result.retriable = retriable
        return result
    }

    public static let success = AttemptResult(outcome: .succeeded, exitCode: 0)
}
