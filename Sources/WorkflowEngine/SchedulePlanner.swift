import Foundation
import WorkflowCore

/// The pure part of scheduling: given the time, which jobs are due and when to wake next.
///
/// It holds each job's next fire time. Fire times missed while the loop was not looking (a long
/// sleep, a busy machine) are collapsed into one firing; catch-up policies come later.
public struct SchedulePlanner: Sendable {
    struct Entry: Sendable {
        var schedule: Schedule
        var timeZone: TimeZone
        var next: Date?
    }

    private(set) var entries: [JobID: Entry] = [:]

    public init() {}

    /// Replaces the set of scheduled jobs. A job whose schedule and zone are unchanged keeps its
    /// next fire time; a new or changed one fires next strictly after `now`.
    public mutating func update(jobs: [Job], now: Date, hostZone: TimeZone) {
        var updated: [JobID: Entry] = [:]
        for job in jobs {
            guard let schedule = job.schedule else { continue }
            let zone = job.resolvedTimeZone(hostZone: hostZone)
            if let existing = entries[job.id], existing.schedule == schedule, existing.timeZone == zone {
                updated[job.id] = existing
            } else {
                updated[job.id] = Entry(
                    schedule: schedule, timeZone: zone, next: schedule.nextFire(after: now, in: zone))
            }
        }
        entries = updated
    }

    /// The jobs whose fire time is at or before `now`, with that fire time, sorted by job; each one's
    /// next fire time moves past `now`.
    public mutating func takeDue(now: Date) -> [(job: JobID, fireTime: Date)] {
        var due: [(job: JobID, fireTime: Date)] = []
        for (id, entry) in entries {
            guard let next = entry.next, next <= now else { continue }
            due.append((id, next))
            entries[id]?.next = entry.schedule.nextFire(after: now, in: entry.timeZone)
        }
        return due.sorted { $0.job < $1.job }
    }

    /// The earliest next fire time of any job, or nil when nothing is scheduled.
    public var nextWake: Date? { entries.values.compactMap(\.next).min() }

    /// The next fire time of `job`.
    public func nextFire(of job: JobID) -> Date? { entries[job]?.next }

    /// The job that fires soonest, with its time.
    public var soonest: (job: JobID, at: Date)? {
        entries.compactMap { id, entry in entry.next.map { (id, $0) } }.min { $0.1 < $1.1 }
    }
}
