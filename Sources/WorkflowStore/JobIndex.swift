import Foundation
import JobFormat
import RunModel

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
    /// What else starts its runs (`on:`), in a few words each; nil when nothing does.
    public var triggers: [String]?
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
        triggers = job?.triggers.map(\.descriptions).flatMap { $0.isEmpty ? nil : $0 }
        timezone = job?.timezone
        enabled = job?.enabled ?? false
        steps = job?.steps.map(\.id) ?? []
        state = !errors.isEmpty ? .invalid : (job?.enabled == false ? .disabled : .active)
        self.errors = errors
        self.loadedAt = loadedAt
    }

    enum CodingKeys: String, CodingKey {
        case version, job, file, description, schedules, triggers, timezone, enabled, steps, state, errors
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
    /// How the newest ended runs went (at most ``recentLimit``, newest last; a run that ended
    /// again after a retry counts once, as it ended last), so that status need not read the
    /// history. Absent in files written before it was added: then the index is read instead.
    public var recent: [RecentRun]?
    /// Of ``recent``, how many succeeded and how many there are: what start-up and status read
    /// (see ``LatestRunsHead``), without decoding ``recent`` itself.
    public var successRate: SuccessCounts?

    /// How many ended runs ``recent`` keeps.
    public static let recentLimit = 20

    /// One ended run of ``recent``.
    public struct RecentRun: Sendable, Equatable, Codable {
        public var id: RunID
        public var state: RunState

        public init(id: RunID, state: RunState) {
            self.id = id
            self.state = state
        }
    }

    public init(job: JobID, last: RunSummary? = nil, active: RunSummary? = nil) {
        version = Self.currentVersion
        self.job = job
        self.last = last
        self.active = active
    }

    /// Counts `run`, which has just ended, in ``recent``; `history` gives the newest ended runs of
    /// the index (newest first) when ``recent`` has not been kept yet.
    public mutating func noteEnded(_ run: RunRecord, history: () -> [RunIndex.Entry]) {
        var runs =
            recent ?? history().reversed().filter { $0.id != run.id }.map { RecentRun(id: $0.id, state: $0.state) }
        runs.removeAll { $0.id == run.id }
        runs.append(RecentRun(id: run.id, state: run.state))
        let kept = Array(runs.suffix(Self.recentLimit))
        recent = kept
        successRate = SuccessCounts(succeeded: kept.filter { $0.state == .succeeded }.count, ended: kept.count)
    }

    enum CodingKeys: String, CodingKey {
        case version, job, last, active, recent
        case successRate = "success_rate"
    }
}

/// How the newest ended runs of a job went.
public struct SuccessCounts: Sendable, Equatable, Codable {
    public var succeeded: Int
    public var ended: Int

    public init(succeeded: Int, ended: Int) {
        self.succeeded = succeeded
        self.ended = ended
    }
}

/// What start-up and status read of a `latest.json`: the runs and the counts, not the list of
/// recent outcomes (decoding twenty small objects costs more than the rest of the file).
public struct LatestRunsHead: Sendable, Decodable {
    public var last: RunSummary?
    public var active: RunSummary?
    /// Nil in files from before it was kept: then the run index tells.
    public var successRate: SuccessCounts?

    public init(last: RunSummary? = nil, active: RunSummary? = nil, successRate: SuccessCounts? = nil) {
        self.last = last
        self.active = active
        self.successRate = successRate
    }

    enum CodingKeys: String, CodingKey {
        case last, active
        case successRate = "success_rate"
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
