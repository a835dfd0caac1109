import Foundation
import JobFormat
import Logging
import RunModel
import WorkflowStore

/// What the scheduler keeps of the jobs' `schedule.json` files: each job's last handled fire time,
/// and the decisions not yet written. The decisions already written stay on disk (``saveMarks``
/// reads a file back to add to it), so 10,000 jobs' decision histories cost no memory, and
/// start-up reads only each file's `last_fire_time`.
struct MarkBook {
    /// The last fire time handled, by job: where the planner's catch-up starts.
    private(set) var lastFireTimes: [JobID: Date] = [:]
    /// The notable decisions (see ``ScheduleMark/notable``) of the jobs that have any, for status.
    private(set) var notable: [JobID: [ScheduleMark.Decision]] = [:]
    private var unsaved: [JobID: ScheduleMarkUpdate] = [:]

    /// Records `decision`, moving the job's mark past its fire time.
    mutating func record(_ decision: ScheduleMark.Decision, for job: JobID) {
        if decision.trigger.isScheduled { advance(job, to: decision.fireTime) }
        unsaved[job, default: ScheduleMarkUpdate(job: job)].decisions.append(decision)
        if decision.isNotable {
            notable[job] = Array((notable[job, default: []] + [decision]).suffix(ScheduleMark.keepNotable))
        }
    }

    /// Moves the job's mark to `fireTime` if it is behind (a recovered run's fire time).
    mutating func advance(_ job: JobID, to fireTime: Date) {
        let last = max(lastFireTimes[job] ?? fireTime, fireTime)
        lastFireTimes[job] = last
        unsaved[job, default: ScheduleMarkUpdate(job: job)].lastFireTime = last
    }

    /// Sets the job's mark as read from disk at start-up (nothing to write).
    mutating func load(_ job: JobID, lastFireTime: Date?, notable: [ScheduleMark.Decision]) {
        lastFireTimes[job] = lastFireTime
        if !notable.isEmpty { self.notable[job] = notable }
    }

    /// The updates to write, leaving none.
    mutating func takeUnsaved() -> [ScheduleMarkUpdate] {
        defer { unsaved = [:] }
        return Array(unsaved.values)
    }
}

/// What to add to one job's `schedule.json`.
struct ScheduleMarkUpdate: Sendable {
    let job: JobID
    var lastFireTime: Date?
    var decisions: [ScheduleMark.Decision] = []
}

/// Writes the marks that moved (``MarkBook/takeUnsaved()``) to the jobs' `schedule.json` files.
struct MarkWriter: Sendable {
    let store: RunStore
    let clock: any WorkflowClock
    let logger: Logger

    /// Writes `updates` durably, concurrently on the I/O threads:
    /// each job's `schedule.json` is read back, given its new decisions, and written.
    func save(_ updates: [ScheduleMarkUpdate]) async {
        let (store, clock, directory) = (store, clock, store.directory)
        await withTaskGroup(of: Void.self) { group in
            for update in updates {
                group.addTask { [logger] in
                    let job = update.job
                    do {
                        try await BlockingIO.shared.run { () throws(StoreError) in
                            var mark: ScheduleMark
                            do throws(StoreError) {
                                mark = try store.loadScheduleMark(job)
                            } catch .missing {
                                mark = ScheduleMark(job: job)
                            } catch .corrupt(let path, let reason) {
                                Self.setAside(
                                    path, reason: reason, job: job, store: store, clock: clock, logger: logger)
                                mark = ScheduleMark(job: job)
                            }
                            if let last = update.lastFireTime {
                                mark.lastFireTime = max(mark.lastFireTime ?? last, last)
                            }
                            for decision in update.decisions { mark.record(decision) }
                            try RecordFile.makeDirectory(directory.jobDirectory(job))
                            try store.saveScheduleMark(mark)
                        }
                    } catch {
                        logger.error(
                            "cannot record the scheduling decision: \(error)",
                            metadata: [LogField.job: .string(job.rawValue)])
                    }
                }
            }
        }
    }

    /// Moves a damaged `schedule.json` into quarantine for a person; the job's catch-up then
    /// starts from its next fire time.
    static func setAside(
        _ path: String, reason: String, job: JobID, store: RunStore, clock: any WorkflowClock, logger: Logger
    ) {
        let moved = try? store.quarantine(path, reason: reason, at: clock.now())
        logger.error(
            "moved a damaged schedule.json aside as \(moved?.movedTo ?? "(failed)") (\(reason))",
            metadata: [
                LogField.job: .string(job.rawValue), LogField.messageID: .string(MessageID.recordQuarantined),
            ])
    }
}
