import Foundation
import Schedules

/// A validated job: what one file in `jobs.d/` asks wfd to do.
///
/// A `Job` is also the frozen definition kept with every run (`spec.json`), so it is `Codable`.
public struct Job: Sendable, Equatable, Codable {
    public var id: JobID
    public var description: String?
    /// Every expression fires the job; empty means it only runs when triggered by hand.
    public var schedules: [Schedule]
    /// An IANA zone name; nil means the host's zone.
    public var timezone: String?
    public var catchup: CatchupPolicy
    public var jitter: TimeSpan?
    public var concurrency: ConcurrencyPolicy
    /// The limit for a whole run.
    public var timeout: TimeSpan?
    public var budget: Budget?
    /// Caps over the LLM calls of all runs of the job in one UTC day.
    public var dailyBudget: Budget?
    /// What a call that could pass a budget does; nil means ``BudgetAction/fail``.
    public var onBudget: BudgetAction?
    /// Prices per model over the host's prices file.
    public var prices: [String: ModelPrice]?
    public var params: [String: ParamSpec]
    public var env: [String: String]
    /// Names of secrets, looked up in `$CREDENTIALS_DIRECTORY`.
    public var secrets: [String]
    public var enabled: Bool
    public var retention: Retention?
    /// How many steps of one run may run at once.
    public var maxParallel: Int
    /// Steps in the order they were written; `needs` decides the order they run in.
    public var steps: [StepDefinition]
    /// `executor:`; nil: the one wfd chose at start-up (units under systemd, else processes).
    public var executor: ExecutorKind?
    /// `sandbox:` and `resources:` for every `run:` step of the job (a step's own go over them).
    public var sandbox: Indirect<SandboxSettings>?
    public var resources: Indirect<ResourceSettings>?
    /// `on:`: webhooks, paths and other jobs that start runs; nil when only the schedule and people do.
    public var triggers: Triggers?

    public init(
        id: JobID, description: String? = nil, schedules: [Schedule] = [], timezone: String? = nil,
        env: [String: String] = [:], steps: [StepDefinition]
    ) {
        self.id = id
        self.description = description
        self.schedules = schedules
        self.timezone = timezone
        catchup = .latest
        jitter = nil
        concurrency = .skip
        timeout = nil
        budget = nil
        params = [:]
        self.env = env
        secrets = []
        enabled = true
        retention = nil
        maxParallel = 4
        self.steps = steps
    }

    enum CodingKeys: String, CodingKey {
        case id, description, schedules, timezone, catchup, jitter, concurrency, timeout, budget, params, env, secrets
        case enabled, retention, steps, prices, executor, sandbox, resources
        case triggers = "on"
        case maxParallel = "max_parallel"
        case dailyBudget = "daily_budget"
        case onBudget = "on_budget"
    }

    /// The zone the schedule is read in: the job's, else `hostZone`.
    public func resolvedTimeZone(hostZone: TimeZone) -> TimeZone {
        timezone.flatMap(TimeZone.init(identifier:)) ?? hostZone
    }

    /// The first fire time of any of the job's schedules strictly after `date`.
    public func nextFire(after date: Date, hostZone: TimeZone) -> Date? {
        let zone = resolvedTimeZone(hostZone: hostZone)
        return schedules.compactMap { $0.nextFire(after: date, in: zone) }.min()
    }
}

/// What happens to fire times missed while wfd was down. Stored as its raw string.
public enum CatchupPolicy: String, Sendable, Codable, CaseIterable {
    case none, latest, all
}

/// What a new run does while one is active. Stored as its raw string.
public enum ConcurrencyPolicy: String, Sendable, Codable, CaseIterable {
    case skip, queue
    case cancelPrevious = "cancel-previous"
}

/// Hard caps over the LLM steps of one run.
public struct Budget: Sendable, Equatable, Codable {
    public var usd: Double?
    public var tokens: Int?

    public init(usd: Double? = nil, tokens: Int? = nil) {
        self.usd = usd
        self.tokens = tokens
    }
}

/// What a model call that could pass a budget does. Stored as its raw string.
public enum BudgetAction: String, Sendable, Codable, CaseIterable {
    /// The step fails as `budget_exceeded` and is not retried.
    case fail
    /// The step waits for a person (`wfctl approve` lets the call be made).
    case approve
}

/// What a model's tokens cost, in US dollars per million.
public struct ModelPrice: Sendable, Equatable, Codable {
    public var input: Double
    public var output: Double

    public init(input: Double, output: Double) {
        self.input = input
        self.output = output
    }
}

/// A parameter a run can be given (`wfctl run JOB --param name=value`).
public struct ParamSpec: Sendable, Equatable, Codable {
    public var defaultValue: String?
    public var required: Bool
    public var description: String?

    public init(defaultValue: String? = nil, required: Bool = false, description: String? = nil) {
        self.defaultValue = defaultValue
        self.required = required
        self.description = description
    }

    enum CodingKeys: String, CodingKey {
        case required, description
        case defaultValue = "default"
    }
}

/// How much run history to keep.
public struct Retention: Sendable, Equatable, Codable {
    public var keepRuns: Int?
    public var keepDays: Int?

    public init(keepRuns: Int? = nil, keepDays: Int? = nil) {
        self.keepRuns = keepRuns
        self.keepDays = keepDays
    }

    enum CodingKeys: String, CodingKey {
        case keepRuns = "keep_runs"
        case keepDays = "keep_days"
    }
}

extension Job {
    /// The values of a run's parameters: `given` over the declared defaults.
    ///
    /// - Returns: the values, or why not, in one sentence: a name the job does not declare, or a
    ///   required parameter without a value.
    public func parameterValues(_ given: [String: String]) -> Result<[String: String], ParameterProblem> {
        for name in given.keys.sorted() where params[name] == nil {
            let declared = params.keys.sorted()
            let known = declared.isEmpty ? "it declares none" : "it declares \(declared.joined(separator: ", "))"
            return .failure(ParameterProblem(message: "job '\(id)' has no parameter '\(name)' (\(known))"))
        }
        var values: [String: String] = [:]
        for (name, spec) in params {
            if let value = given[name] ?? spec.defaultValue {
                values[name] = value
            } else if spec.required {
                return .failure(
                    ParameterProblem(
                        message: "parameter '\(name)' of job '\(id)' is required: give it with --param \(name)=VALUE"))
            }
        }
        return .success(values)
    }
}

/// Why a run cannot have the parameters it was given.
public struct ParameterProblem: Error, Sendable, Equatable {
    public let message: String
}
