import Foundation

/// A validated job: what one file in `jobs.d/` asks wfd to do.
///
/// A `Job` is also the frozen definition kept in every run record, so it is `Codable`.
public struct Job: Sendable, Equatable, Codable {
    public var id: JobID
    public var description: String?
    public var schedule: Schedule?
    /// An IANA zone name; nil means the host's zone.
    public var timezone: String?
    public var env: [String: String]
    /// Steps in the order they were written; `needs` decides the order they run in.
    public var steps: [StepDefinition]

    public init(
        id: JobID, description: String? = nil, schedule: Schedule? = nil, timezone: String? = nil,
        env: [String: String] = [:], steps: [StepDefinition]
    ) {
        self.id = id
        self.description = description
        self.schedule = schedule
        self.timezone = timezone
        self.env = env
        self.steps = steps
    }

    /// The zone the schedule is read in: the job's, else `hostZone`.
    public func resolvedTimeZone(hostZone: TimeZone) -> TimeZone {
        timezone.flatMap(TimeZone.init(identifier:)) ?? hostZone
    }
}

/// One node of a job's DAG.
public struct StepDefinition: Sendable, Equatable, Codable {
    public var id: StepID
    /// A shell command line, run with `/bin/sh -c`.
    public var run: String
    public var needs: [StepID]
    /// Milliseconds; nil means no step timeout.
    public var timeoutMilliseconds: Int64?
    public var env: [String: String]

    public init(
        id: StepID, run: String, needs: [StepID] = [], timeout: Duration? = nil, env: [String: String] = [:]
    ) {
        self.id = id
        self.run = run
        self.needs = needs
        self.timeoutMilliseconds = timeout.map {
            $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000
        }
        self.env = env
    }

    /// The step timeout, if any.
    public var timeout: Duration? { timeoutMilliseconds.map { .milliseconds($0) } }

    enum CodingKeys: String, CodingKey {
        case id, run, needs, env
        case timeoutMilliseconds = "timeout_ms"
    }
}
