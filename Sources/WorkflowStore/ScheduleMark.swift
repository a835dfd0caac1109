import Foundation
import WorkflowCore

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

    /// One decision about one fire time.
    public struct Decision: Sendable, Equatable, Codable {
        public var fireTime: Date
        public var trigger: Trigger
        /// `started`, `skipped`, `queued`, `replaced` (cancel-previous).
        public var outcome: String
        public var reason: String?
        public var decidedAt: Date
        public var run: RunID?

        public init(fireTime: Date, trigger: Trigger, outcome: String, reason: String?, decidedAt: Date, run: RunID?) {
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
        lastFireTime = max(lastFireTime ?? decision.fireTime, decision.fireTime)
        recent.append(decision)
        if recent.count > Self.keep { recent.removeFirst(recent.count - Self.keep) }
    }

    enum CodingKeys: String, CodingKey {
        case version, job, recent
        case lastFireTime = "last_fire_time"
    }
}

extension RunStore {
    public func loadScheduleMark(_ job: JobID) throws(StoreError) -> ScheduleMark {
        try RecordFile.read(ScheduleMark.self, from: directory.scheduleMark(job))
    }

    /// Only the `last_fire_time` of the job's `schedule.json` (the seal is checked all the same):
    /// a quarter of the cost of ``loadScheduleMark(_:)``, which decodes every decision too.
    public func loadLastFireTime(_ job: JobID) throws(StoreError) -> Date? {
        try RecordFile.read(ScheduleMarkHead.self, from: directory.scheduleMark(job)).lastFireTime
    }

    public func saveScheduleMark(_ mark: ScheduleMark) throws(StoreError) {
        try RecordFile.write(mark, to: directory.scheduleMark(mark.job))
    }
}

private struct ScheduleMarkHead: Decodable {
    var lastFireTime: Date?

    enum CodingKeys: String, CodingKey {
        case lastFireTime = "last_fire_time"
    }
}
