import Foundation
import WorkflowCore

/// `jobs/<job>/job.json`: the job as wfd last loaded it, so `wfctl` can report on jobs without
/// reading `jobs.d` (which it may not be allowed to read). A file that never loaded has no
/// schedule and steps but its errors; one that became invalid keeps its last valid version.
public struct JobInfo: Sendable, Equatable, Codable {
    public static let currentVersion = 1

    public var version: Int
    public var job: JobID
    /// The job file it came from.
    public var file: String
    public var description: String?
    public var schedules: [String]
    public var timezone: String?
    public var enabled: Bool
    public var steps: [StepID]
    /// `active`, `disabled` (`enabled: false`), or `invalid` (the file has errors; with a last
    /// valid version, that version is what runs).
    public var state: State
    /// Problems in the file as it is now; when non-empty, the last valid version is what runs.
    public var errors: [Diagnostic]
    public var loadedAt: Date

    /// What became of the job file at the last load. Stored as its raw string.
    public enum State: String, Sendable, Codable {
        case active, disabled, invalid
    }

    /// The index entry of `id` loaded from `file`: `job` is what runs (nil when no version of
    /// the file was ever valid), `errors` the problems of the file as it is now.
    public init(id: JobID, job: Job?, file: String, errors: [Diagnostic], loadedAt: Date) {
        version = Self.currentVersion
        self.job = id
        self.file = file
        description = job?.description
        schedules = job?.schedules.map(\.description) ?? []
        timezone = job?.timezone
        enabled = job?.enabled ?? false
        steps = job?.steps.map(\.id) ?? []
        state = !errors.isEmpty ? .invalid : (job?.enabled == false ? .disabled : .active)
        self.errors = errors
        self.loadedAt = loadedAt
    }

    enum CodingKeys: String, CodingKey {
        case version, job, file, description, schedules, timezone, enabled, steps, state, errors
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

/// The few facts about a run that status and `wfctl runs` need.
public struct RunSummary: Sendable, Equatable, Codable {
    /// Absent in summaries written before it was added.
    public var job: JobID?
    public var id: RunID
    public var state: RunState
    public var trigger: Trigger
    public var scheduledFor: Date?
    public var startedAt: Date?
    public var endedAt: Date?
    public var error: String?

    public init(_ run: RunRecord) {
        job = run.job
        id = run.id
        state = run.state
        trigger = run.trigger
        scheduledFor = run.scheduledFor
        startedAt = run.startedAt ?? run.createdAt
        endedAt = run.endedAt
        error = run.error
    }

    enum CodingKeys: String, CodingKey {
        case job, id, state, trigger, error
        case scheduledFor = "scheduled_for"
        case startedAt = "started_at"
        case endedAt = "ended_at"
    }
}
