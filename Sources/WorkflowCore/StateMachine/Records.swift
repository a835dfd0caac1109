import Foundation

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
        case interrupted, retries, params
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
        case items, item, value
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

    /// The log of attempt `number`, relative to the run directory: `logs/<step>.<n>.log`, or
    /// `logs/<step>.<item>.<n>.log` for an item.
    public func logPath(attempt number: Int) -> String {
        "logs/\(step.rawValue).\(item.map { "\($0)." } ?? "")\(number).log"
    }
}

/// One try at running a step.
public struct Attempt: Sendable, Equatable, Codable {
    public var number: Int
    public var startedAt: Date
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

    public init(number: Int, startedAt: Date, log: String?) {
        self.number = number
        self.startedAt = startedAt
        self.log = log
    }

    enum CodingKeys: String, CodingKey {
        case number, outcome, signal, error, log, output
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case exitCode = "exit_code"
        case durationMilliseconds = "duration_ms"
        case byHand = "by_hand"
    }
}

/// How an attempt ended. Stored as its raw string.
public enum AttemptOutcome: String, Sendable, Codable, CaseIterable {
    case succeeded, failed, cancelled
    case timedOut = "timed_out"
    /// wfd itself stopped while the attempt ran.
    case interrupted
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
    }

    public static let success = AttemptResult(outcome: .succeeded, exitCode: 0)
}
