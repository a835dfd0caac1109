import Foundation
import JobFormat
import Logging
import RunModel
import Schedules
import WorkflowStore

/// Carrying out the planner's decisions: starting runs under their job lock, recording every
/// decision in the job's `schedule.json`.
extension Scheduler {
    /// Carries out one of the planner's decisions, logs it with its reason, and records it in the
    /// job's `schedule.json` (which also moves the job's mark past that fire time).
    func decide(
        _ decision: FiringDecision, catalog: JobCatalog, store: RunStore, coordinator: RunCoordinator,
        active: inout [JobID: ActiveRun], marks: inout MarkBook, group: inout DiscardingTaskGroup
    ) {
        let firing = decision.firing
        let jobLogger = logger.with([LogField.job: firing.job.rawValue, LogField.trigger: firing.trigger.rawValue])
        let when = Timestamp.rfc3339(firing.fireTime)
        var outcome: ScheduleMark.Outcome
        var reason: String?
        var run: RunID?
        switch decision {
        case .start:
            switch start(firing, catalog: catalog, coordinator: coordinator, active: &active, group: &group) {
            case .success(let id):
                (outcome, run) = (.started, id)
                if firing.trigger == .catchup { jobLogger.notice("catching up the missed fire time \(when)") }
            case .failure(let problem):
                (outcome, reason) = (.skipped, problem.reason)
                jobLogger.warning("skipping fire time \(when): \(problem.reason)")
            }
        case .skip(_, let why):
            (outcome, reason) = (.skipped, why)
            jobLogger.warning("skipping fire time \(when): \(why)")
        case .queue:
            outcome = .queued
            jobLogger.info("queued fire time \(when) behind the active run")
        case .replace:
            outcome = .replaced
            reason = "cancels the active run (concurrency: cancel-previous)"
            jobLogger.notice("fire time \(when) cancels the active run (concurrency: cancel-previous)")
            active[firing.job]?.handle.cancel(reason: "superseded by the fire time \(when)")
        }
        marks.record(
            ScheduleMark.Decision(
                fireTime: firing.fireTime, trigger: firing.trigger, outcome: outcome, reason: reason,
                decidedAt: clock.now(),
                run: run),
            for: firing.job)
    }

    /// Writes every mark that moved since the last call durably, concurrently on the I/O threads:
    /// each job's `schedule.json` is read back, given its new decisions, and written.
    func saveMarks(_ marks: inout MarkBook, _ store: RunStore) async {
        let directory = configuration.state
        let clock = clock
        await withTaskGroup(of: Void.self) { group in
            for update in marks.takeUnsaved() {
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
                                Self.setMarkAside(
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
    static func setMarkAside(
        _ path: String, reason: String, job: JobID, store: RunStore, clock: any WorkflowClock, logger: Logger
    ) {
        let moved = try? store.quarantine(path, reason: reason, at: clock.now())
        logger.error(
            "moved a damaged schedule.json aside as \(moved?.movedTo ?? "(failed)") (\(reason))",
            metadata: [
                LogField.job: .string(job.rawValue), LogField.messageID: .string(MessageID.recordQuarantined),
            ])
    }

    /// How far ahead of its fire time a run is decided and written, so it starts on the dot.
    static let lead: TimeInterval = 0.5

    struct StartProblem: Error {
        let reason: String
        /// For a manual run's refusal: `busy`, or `bad_request` for parameters that do not fit.
        var code = "busy"
    }

    /// Starts a run of `firing`'s job; `recorded` hears of it once the run is on disk (a person's
    /// `wfctl run` is answered then, so the run can be read the moment its id is known).
    func start(
        _ firing: Firing, catalog: JobCatalog, coordinator: RunCoordinator, active: inout [JobID: ActiveRun],
        group: inout DiscardingTaskGroup, recorded: (@Sendable (RunID) -> Void)? = nil
    ) -> Result<RunID, StartProblem> {
        let id = firing.job
        guard let job = catalog.entries[id]?.job else { return .failure(StartProblem(reason: "the job is gone")) }
        if let running = active[id] {
            return .failure(StartProblem(reason: "run \(running.handle.run) is still running"))
        }
        let lock: FileLock?
        do {
            try RecordFile.makeDirectory(configuration.state.jobDirectory(id))
            lock = try FileLock.tryLock(configuration.state.jobLock(id))
        } catch {
            return .failure(StartProblem(reason: "cannot take the job lock: \(error)"))
        }
        guard let lock else { return .failure(StartProblem(reason: "the job lock is held by another process")) }
        let params: [String: String]
        switch job.parameterValues(firing.params) {
        case .success(let values): params = values
        case .failure(let problem): return .failure(StartProblem(reason: problem.message, code: "bad_request"))
        }
        let prepared = coordinator.prepare(
            job: job, trigger: firing.trigger, scheduledFor: firing.trigger == .manual ? nil : firing.fireTime,
            params: params)
        let notBefore = firing.startAt
        active[id] = ActiveRun(handle: prepared.handle, lock: lock, startsAt: notBefore)
        let run = prepared.snapshot.run.id
        var announce: (@Sendable () -> Void)?
        if let recorded { announce = { recorded(run) } }
        group.addTask { [continuation, announce] in
            let final = await coordinator.execute(prepared, notBefore: notBefore, recorded: announce)
            continuation.yield(.runEnded(id, final))
        }
        return .success(run)
    }
}

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
        advance(job, to: decision.fireTime)
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
