import Foundation
import JobFormat
import RunModel
import WorkflowStore

/// A fire time the planner decided about.
public struct Firing: Sendable, Equatable {
    public var job: JobID
    /// The schedule's fire time.
    public var fireTime: Date
    /// `schedule` when on time, `catchup` for a fire time that was missed (wfd down, clock jumped).
    public var trigger: Trigger
    /// When its run should start: the fire time plus jitter; nil means at once.
    public var startAt: Date?
    /// Parameter values given by hand (`wfctl run --param`); scheduled runs take the defaults.
    public var params: [String: String]
    /// For a run `on:` started: the trigger in the job's inbox (its run id, origin and payload).
    public var pending: PendingTrigger?

    public init(
        job: JobID, fireTime: Date, trigger: Trigger, startAt: Date? = nil, params: [String: String] = [:]
    ) {
        self.job = job
        self.fireTime = fireTime
        self.trigger = trigger
        self.startAt = startAt
        self.params = params
    }

    /// The firing of a trigger taken into the inbox.
    public init(_ pending: PendingTrigger) {
        self.init(
            job: pending.job, fireTime: pending.origin.receivedAt, trigger: pending.kind, params: pending.params ?? [:])
        self.pending = pending
    }
}

/// What to do with a fire time. Every decision is logged and recorded (`schedule.json`).
public enum FiringDecision: Sendable, Equatable {
    /// Start a run now.
    case start(Firing)
    /// Drop it, for `reason` (still running, missed with `catchup: none`, queue full, …).
    case skip(Firing, reason: String)
    /// Start it when the active run ends (`concurrency: queue`, or `catchup: all`).
    case queue(Firing)
    /// Cancel the active run and start this one when it has stopped (`concurrency: cancel-previous`).
    case replace(Firing)

    public var firing: Firing {
        switch self {
        case .start(let firing), .skip(let firing, _), .queue(let firing), .replace(let firing): firing
        }
    }
}

/// The pure part of scheduling: given the time, the jobs and what is running, which fire times
/// to start, queue, skip or catch up, and when to wake next. No clock, no I/O: the scheduler
/// hands it `now` and carries out its decisions.
///
/// Fire times missed while wfd was down (from each job's mark, the last fire time handled) or
/// jumped over by the wall clock follow the job's `catchup` policy instead of firing a burst.
public struct SchedulePlanner: Sendable {
    struct Entry: Sendable {
        /// Held by reference: entries are copied whenever they are read (every turn of the loop
        /// looks at all of them, and so does `wfctl status`), and a `Job` is dozens of references.
        var definition: Definition
        var job: Job { definition.job }
        /// The next fire time not handled yet.
        var next: Date?
        /// The moment `next` is started: the fire time plus its jitter.
        var startAt: Date?
        var queue: [Firing] = []

        init(job: Job, queue: [Firing]) {
            definition = Definition(job)
            self.queue = queue
        }
    }

    final class Definition: Sendable {
        let job: Job

        init(_ job: Job) { self.job = job }
    }

    /// How late a fire time may be handled and still count as on time.
    public static let tolerance: TimeInterval = 5
    /// The fire times waiting for their job's active run to end, over every job.
    public var queuedCount: Int { entries.values.reduce(0) { $0 + $1.queue.count } }

    /// The most fire times `catchup: all` replays and `concurrency: queue` holds.
    public static let catchupCap = 100
    public static let queueCap = 10
    /// The most triggers (`on:`) `concurrency: queue` holds: they are on disk, and each was told
    /// it was accepted.
    public static let triggerQueueCap = 10_000

    let hostZone: TimeZone
    /// Draws the jitter for a fire time in [0, limit); injected so tests are deterministic.
    let jitter: @Sendable (TimeInterval) -> TimeInterval
    private(set) var entries: [JobID: Entry] = [:]

    public init(
        hostZone: TimeZone,
        jitter: @escaping @Sendable (TimeInterval) -> TimeInterval = { Double.random(in: 0..<max($0, 0.001)) }
    ) {
        self.hostZone = hostZone
        self.jitter = jitter
    }

    /// Replaces the set of scheduled jobs (disabled and unscheduled ones are left out).
    ///
    /// An unchanged job keeps its next fire time. Otherwise a job with a mark (the last fire time
    /// handled, from `schedule.json`) continues after the mark, so fire times missed while wfd was
    /// down come due at once and meet the catch-up policy; a job without one starts after `now`.
    public mutating func update(jobs: [Job], now: Date, marks: [JobID: Date] = [:]) {
        var updated: [JobID: Entry] = [:]
        for job in jobs where job.enabled && (!job.schedules.isEmpty || job.isTriggered) {
            if var existing = entries[job.id], existing.job.schedules == job.schedules,
                existing.job.timezone == job.timezone,
                existing.job.jitter == job.jitter
            {
                existing.definition = Definition(job)
                updated[job.id] = existing
                continue
            }
            var entry = Entry(job: job, queue: entries[job.id]?.queue ?? [])
            let after = marks[job.id].map { min($0, now) } ?? now
            entry.next = job.nextFire(after: after, hostZone: hostZone)
            entry.startAt = startTime(of: entry)
            updated[job.id] = entry
        }
        entries = updated
    }

    /// After the wall clock was set: a fire time now in the past comes due (and meets the
    /// catch-up policy); after a step back, jobs fire from the new time on rather than going quiet.
    public mutating func clockChanged(now: Date) {
        for (id, entry) in entries {
            guard let next = entry.next, let fresh = entry.job.nextFire(after: now, hostZone: hostZone), fresh < next
            else { continue }
            var moved = entry
            moved.next = fresh
            moved.startAt = startTime(of: moved)
            entries[id] = moved
        }
    }

    /// Decides about every fire time due at `now`, given the jobs with an active run.
    ///
    /// With a `lead`, fire times up to `lead` ahead are decided early, so that their runs can be
    /// written durably before the fire time and start on the dot (``Firing/startAt``); a job whose
    /// run is still active is decided only when its time has come, so that the overlap policy
    /// sees the real situation.
    public mutating func takeDue(now realNow: Date, active: Set<JobID>, lead: TimeInterval = 0) -> [FiringDecision] {
        var decisions: [FiringDecision] = []
        // One pass finds the due jobs (few, of possibly thousands); only they are sorted.
        let ahead = realNow.addingTimeInterval(lead)
        var dueJobs: [JobID] = []
        for (id, entry) in entries {
            guard let startAt = entry.startAt, startAt <= ahead else { continue }
            if startAt <= realNow || !active.contains(id) { dueJobs.append(id) }
        }
        for id in dueJobs.sorted() {
            guard var entry = entries[id], let next = entry.next, let startAt = entry.startAt else { continue }
            guard startAt <= (active.contains(id) ? realNow : realNow.addingTimeInterval(lead)) else { continue }
            let now = max(realNow, startAt)
            // Every fire time from `next` up to now, oldest first (bounded).
            var due: [Date] = [next]
            while due.count <= Self.catchupCap,
                let later = entry.job.nextFire(after: due[due.count - 1], hostZone: hostZone),
                later <= now
            {
                due.append(later)
            }
            entry.next = entry.job.nextFire(after: max(now, due[due.count - 1]), hostZone: hostZone)
            entry.startAt = startTime(of: entry)
            let latest = due[due.count - 1]
            let onTime =
                now.timeIntervalSince(latest) <= Self.tolerance
                + (entry.job.jitter.map { Double($0.milliseconds) / 1000 } ?? 0)
            var wanted: [Firing] = []
            switch entry.job.catchup {
            case .none:
                for missed in due.dropLast() {
                    decisions.append(
                        .skip(
                            Firing(job: id, fireTime: missed, trigger: .catchup), reason: "missed, and catchup is none")
                    )
                }
                if onTime {
                    wanted = [
                        Firing(job: id, fireTime: latest, trigger: .schedule, startAt: latest == next ? startAt : nil)
                    ]
                } else {
                    decisions.append(
                        .skip(
                            Firing(job: id, fireTime: latest, trigger: .catchup), reason: "missed, and catchup is none")
                    )
                }
            case .latest:
                for missed in due.dropLast() {
                    decisions.append(
                        .skip(
                            Firing(job: id, fireTime: missed, trigger: .catchup),
                            reason: "missed; catchup latest runs only the newest"))
                }
                wanted = [
                    Firing(
                        job: id, fireTime: latest, trigger: onTime ? .schedule : .catchup,
                        startAt: onTime && latest == next ? startAt : nil)
                ]
            case .all:
                let replay = due.suffix(Self.catchupCap)
                for dropped in due.dropLast(replay.count) {
                    decisions.append(
                        .skip(
                            Firing(job: id, fireTime: dropped, trigger: .catchup),
                            reason: "beyond the catch-up cap of \(Self.catchupCap)"))
                }
                wanted = replay.map {
                    Firing(job: id, fireTime: $0, trigger: $0 == latest && onTime ? .schedule : .catchup)
                }
            }
            // Concurrency: the first wanted firing meets the policy; the rest of a catch-up replays queue behind it.
            var running = active.contains(id) || !entry.queue.isEmpty
            for (index, firing) in wanted.enumerated() {
                if !running {
                    decisions.append(.start(firing))
                    running = true
                    continue
                }
                let replaying = entry.job.catchup == .all && index > 0
                switch replaying ? .queue : entry.job.concurrency {
                case .skip:
                    decisions.append(.skip(firing, reason: "the previous run is still running"))
                case .queue:
                    let cap = replaying ? Self.catchupCap : Self.queueCap
                    if entry.queue.count < cap {
                        entry.queue.append(firing)
                        decisions.append(.queue(firing))
                    } else {
                        decisions.append(.skip(firing, reason: "the queue is full (\(cap) waiting)"))
                    }
                case .cancelPrevious:
                    entry.queue = [firing]
                    decisions.append(.replace(firing))
                }
            }
            entries[id] = entry
        }
        return decisions
    }

    /// A trigger of `firing.job` came (`on:`): whether its run starts now, waits, replaces the
    /// active one, or is dropped by the job's `concurrency:`. With `replace`, the queued firings it
    /// pushed out are returned too, for their triggers to be dropped.
    public mutating func offer(_ firing: Firing, active: Set<JobID>) -> (FiringDecision, dropped: [Firing]) {
        guard var entry = entries[firing.job] else {
            return (.skip(firing, reason: "the job is not loaded, or disabled"), [])
        }
        defer { entries[firing.job] = entry }
        guard active.contains(firing.job) || !entry.queue.isEmpty else { return (.start(firing), []) }
        switch entry.job.concurrency {
        case .skip:
            return (.skip(firing, reason: "the previous run is still running (concurrency: skip)"), [])
        case .queue:
            guard entry.queue.count < Self.triggerQueueCap else {
                return (.skip(firing, reason: "the queue is full (\(Self.triggerQueueCap) waiting)"), [])
            }
            entry.queue.append(firing)
            return (.queue(firing), [])
        case .cancelPrevious:
            let dropped = entry.queue
            entry.queue = [firing]
            return (.replace(firing), dropped)
        }
    }

    /// The run of `job` ended: the next queued fire time to start, if any.
    public mutating func runEnded(_ job: JobID) -> Firing? {
        guard var entry = entries[job], !entry.queue.isEmpty else { return nil }
        let next = entry.queue.removeFirst()
        entries[job] = entry
        return next
    }

    /// When the loop must wake next: the earliest start time of any job.
    public var nextWake: Date? { nextWake(lead: 0, active: []) }

    /// When the loop must wake to decide `lead` ahead (at the time itself for jobs with an active run).
    public func nextWake(lead: TimeInterval, active: Set<JobID>) -> Date? {
        var soonest: Date?
        for (id, entry) in entries {
            guard let startAt = entry.startAt else { continue }
            let wake = active.contains(id) ? startAt : startAt.addingTimeInterval(-lead)
            if soonest.map({ wake < $0 }) ?? true { soonest = wake }
        }
        return soonest
    }

    /// The next fire time of `job`.
    public func nextFire(of job: JobID) -> Date? { entries[job]?.next }

    /// Whether `job` is planned here (enabled, with a schedule or `on:`).
    public func plans(_ job: JobID) -> Bool { entries[job] != nil }

    /// The fire times waiting for `job`'s active run to end.
    public func queued(_ job: JobID) -> [Firing] { entries[job]?.queue ?? [] }

    /// The job that fires soonest, with its time.
    public var soonest: (job: JobID, at: Date)? {
        var soonest: (job: JobID, at: Date)?
        for (id, entry) in entries {
            guard let startAt = entry.startAt else { continue }
            if soonest.map({ startAt < $0.at }) ?? true { soonest = (id, startAt) }
        }
        return soonest
    }

    private func startTime(of entry: Entry) -> Date? {
        guard let next = entry.next else { return nil }
        guard let limit = entry.job.jitter, limit.milliseconds > 0 else { return next }
        return next.addingTimeInterval(jitter(Double(limit.milliseconds) / 1000))
    }
}
