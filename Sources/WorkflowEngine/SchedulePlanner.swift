import Foundation
import WorkflowCore

/// The pure part of scheduling: given the time, which jobs are due and when to wake next.
///
/// It holds each job's next fire time. Fire times missed while the loop was not looking (a long
/// sleep, a busy machine) are collapsed into one firing; catch-up policies come later.
public struct SchedulePlanner: Sendable {
    struct Entry: Sendable {
        var job: Job
        var next: Date?
    }

    let hostZone: TimeZone
    private(set) var entries: [JobID: Entry] = [:]

    public init(hostZone: TimeZone) { self.hostZone = hostZone }

    /// Replaces the set of scheduled jobs (disabled and unscheduled ones are left out). A job whose
    /// schedules and zone are unchanged keeps its next fire time; a new or changed one fires next
    /// strictly after `now`.
    public mutating func update(jobs: [Job], now: Date) {
        var updated: [JobID: Entry] = [:]
        for job in jobs where job.enabled && !job.schedules.isEmpty {
            if let existing = entries[job.id], existing.job.schedules == job.schedules,
                existing.job.timezone == job.timezone
            {
                updated[job.id] = Entry(job: job, next: existing.next)
            } else {
                updated[job.id] = Entry(job: job, next: job.nextFire(after: now, hostZone: hostZone))
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
            entries[id]?.next = entry.job.nextFire(after: now, hostZone: hostZone)
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
