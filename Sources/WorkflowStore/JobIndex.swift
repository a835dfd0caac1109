import Foundation
import WorkflowCore

/// `jobs/<job>/job.json`: the job as wfd last loaded it, so `wfctl` can report on jobs without
/// reading `jobs.d` (which it may not be allowed to read).
public struct JobInfo: Sendable, Equatable, Codable {
    public static let currentVersion = 1

    public var version: Int
    public var job: JobID
    /// The job file it came from.
    public var file: String
    public var description: String?
    public var schedule: String?
    public var timezone: String?
    public var steps: [StepID]
    /// Problems in the file as it is now; when non-empty, the last valid version is what runs.
    public var errors: [Diagnostic]
    public var loadedAt: Date

    public init(job: Job, file: String, errors: [Diagnostic], loadedAt: Date) {
        version = Self.currentVersion
        self.job = job.id
        self.file = file
        description = job.description
        schedule = job.schedule?.description
        timezone = job.timezone
        steps = job.steps.map(\.id)
        self.errors = errors
        self.loadedAt = loadedAt
    }

    enum CodingKeys: String, CodingKey {
        case version, job, file, description, schedule, timezone, steps, errors
        case loadedAt = "loaded_at"
    }
}

/// `jobs/<job>/latest.json`: the newest finished run and the active one, so that status is
/// O(jobs), not O(history).
public struct LatestRuns: Sendable, Equatable, Codable {
    public static let currentVersion = 1

    public var version: Int
    public var job: JobID
    public var last: RunSummary?
    public var active: RunSummary?

    public init(job: JobID, last: RunSummary? = nil, active: RunSummary? = nil) {
        version = Self.currentVersion
        self.job = job
        self.last = last
        self.active = active
    }
}

/// The few facts about a run that status needs.
public struct RunSummary: Sendable, Equatable, Codable {
    public var id: RunID
    public var state: RunState
    public var trigger: Trigger
    public var startedAt: Date?
    public var endedAt: Date?
    public var error: String?

    public init(_ run: RunRecord) {
        id = run.id
        state = run.state
        trigger = run.trigger
        startedAt = run.startedAt ?? run.createdAt
        endedAt = run.endedAt
        error = run.error
    }

    enum CodingKeys: String, CodingKey {
        case id, state, trigger, error
        case startedAt = "started_at"
        case endedAt = "ended_at"
    }
}
