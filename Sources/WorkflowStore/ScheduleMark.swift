import Foundation
import JobFormat
import RunModel

/// `jobs/<job>/schedule.json`: the last fire time handled, so that fire times missed while wfd
/// was down are caught up (or not) by the job's policy, and the latest scheduling decisions, so
/// that `wfctl status` can say why a fire time did not run.
public struct ScheduleMark: Sendable, Equatable, Codable {
    public static let currentVersion = 1
    /// How many decisions are kept.
    public static let keep = 20

    public var version: Int
    public var job: JobID
    public var lastFireTime: Date?
    /// The newest last.
    public var recent: [Decision]
    /// The newest ``keepNotable`` decisions that were not a plain on-time start (skipped, queued,
    /// replaced, caught up), kept apart from ``recent`` so that status reads them without
    /// decoding every decision, and so that they outlive twenty plain starts.
    public var notable: [Decision] = []
    public static let keepNotable = 3

    /// What became of a fire time. Stored as its raw string.
    public enum Outcome: String, Sendable, Codable, CaseIterable {
        case started, skipped, queued
        /// It cancelled the active run (`concurrency: cancel-previous`).
        case replaced
    }

    /// One decision about one fire time.
    public struct Decision: Sendable, Equatable, Codable {
        public var fireTime: Date
        public var trigger: Trigger
        public var outcome: Outcome
        public var reason: String?
        public var decidedAt: Date
        public var run: RunID?

        /// Whether a person looking at status should hear of it: anything but an on-time start.
        public var isNotable: Bool { outcome != .started || trigger == .catchup }

        public init(fireTime: Date, trigger: Trigger, outcome: Outcome, reason: String?, decidedAt: Date, run: RunID?) {
            self.fireTime = fireTime
            self.trigger = trigger
            self.outcome = outcome
            self.reason = reason
            self.decidedAt = decidedAt
            self.run = run
        }

        enum CodingKeys: String, CodingKey {
            case trigger, outcome, reason, run
            case fireTime = "fire_time"
            case decidedAt = "decided_at"
        }
    }

    public init(job: JobID) {
        version = Self.currentVersion
        self.job = job
        recent = []
    }

    /// Adds a decision, moving the mark forward.
    public mutating func record(_ decision: Decision) {
        if decision.trigger.isScheduled { lastFireTime = max(lastFireTime ?? decision.fireTime, decision.fireTime) }
        recent.append(decision)
        if recent.count > Self.keep { recent.removeFirst(recent.count - Self.keep) }
        if decision.isNotable { notable = Array((notable + [decision]).suffix(Self.keepNotable)) }
    }

    enum CodingKeys: String, CodingKey {
        case version, job, recent, notable
        case lastFireTime = "last_fire_time"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(Int.self, forKey: .version)
        job = try container.decode(JobID.self, forKey: .job)
        lastFireTime = try container.decodeIfPresent(Date.self, forKey: .lastFireTime)
        recent = try container.decode([Decision].self, forKey: .recent)
        // Files from before `notable` was kept: what their recent decisions hold of it.
        notable =
            try container.decodeIfPresent([Decision].self, forKey: .notable)
            ?? Array(recent.filter(\.isNotable).suffix(Self.keepNotable))
    }
}

extension RunStore {
    public func loadScheduleMark(_ job: JobID) throws(StoreError) -> ScheduleMark {
        try RecordFile.read(ScheduleMark.self, from: directory.scheduleMark(job))
    }

    /// Only `last_fire_time` and the notable decisions of the job's `schedule.json` (the seal is
    /// checked all the same): a fraction of the cost of ``loadScheduleMark(_:)``, which decodes
    /// every decision. A file from before `notable` was kept gives none.
    public func loadScheduleMarkHead(_ job: JobID) throws(StoreError) -> ScheduleMarkHead {
        try RecordFile.read(
            ScheduleMarkHead.self, from: directory.scheduleMark(job), keys: ["last_fire_time", "notable"])
    }

    public func saveScheduleMark(_ mark: ScheduleMark) throws(StoreError) {
        try RecordFile.write(mark, to: directory.scheduleMark(mark.job))
    }
}

/// What start-up and status read of a `schedule.json`.
public struct ScheduleMarkHead: Sendable, Decodable {
    public var lastFireTime: Date?
    public var notable: [ScheduleMark.Decision]?

    enum CodingKeys: String, CodingKey {
        case notable
        case lastFireTime = "last_fire_time"
    }
}
