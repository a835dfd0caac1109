import Foundation
import Logging
import WorkflowCore
import WorkflowStore

/// Carrying out the planner's decisions: starting runs under their job lock, recording every
/// decision in the job's `schedule.json`.
extension Scheduler {
    /// Carries out one of the planner's decisions, logs it with its reason, and records it in the
    /// job's `schedule.json` (which also moves the job's mark past that fire time).
    func decide(
        _ decision: FiringDecision, catalog: JobCatalog, store: RunStore, coordinator: RunCoordinator,
        active: inout [JobID: ActiveRun], marks: inout [JobID: ScheduleMark], group: inout TaskGroup<Void>
    ) {
        let firing = decision.firing
        let jobLogger = logger.with([LogField.job: firing.job.rawValue, LogField.trigger: firing.trigger.rawValue])
        let when = Timestamp.rfc3339(firing.fireTime)
        var outcome: String
        var reason: String?
        var run: RunID?
        switch decision {
        case .start:
            switch start(firing, catalog: catalog, coordinator: coordinator, active: &active, group: &group) {
            case .success(let id):
                (outcome, run) = ("started", id)
                if firing.trigger == .catchup { jobLogger.notice("catching up the missed fire time \(when)") }
            case .failure(let problem):
                (outcome, reason) = ("skipped", problem.reason)
                jobLogger.warning("skipping fire time \(when): \(problem.reason)")
            }
        case .skip(_, let why):
            (outcome, reason) = ("skipped", why)
            jobLogger.warning("skipping fire time \(when): \(why)")
        case .queue:
            outcome = "queued"
            jobLogger.info("queued fire time \(when) behind the active run")
        case .replace:
            outcome = "replaced"
            reason = "cancels the active run (concurrency: cancel-previous)"
            jobLogger.notice("fire time \(when) cancels the active run (concurrency: cancel-previous)")
            active[firing.job]?.handle.cancel(reason: "superseded by the fire time \(when)")
        }
        var mark = marks[firing.job] ?? ScheduleMark(job: firing.job)
        mark.record(
            ScheduleMark.Decision(
                fireTime: firing.fireTime, trigger: firing.trigger, outcome: outcome, reason: reason,
                decidedAt: clock.now(),
                run: run))
        marks[firing.job] = mark
    }

    /// Writes the marks of `jobs` durably, concurrently on the I/O threads.
    func saveMarks(_ jobs: Set<JobID>, _ marks: [JobID: ScheduleMark], _ store: RunStore) async {
        let directory = configuration.state
        await withTaskGroup(of: Void.self) { group in
            for job in jobs {
                guard let mark = marks[job] else { continue }
                group.addTask { [logger] in
                    do {
                        try await BlockingIO.shared.run { () throws(StoreError) in
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

    /// How far ahead of its fire time a run is decided and written, so it starts on the dot.
    static let lead: TimeInterval = 0.5

    struct StartProblem: Error {
        let reason: String
        /// For a manual run's refusal: `busy`, or `bad_request` for parameters that do not fit.
        var code = "busy"
    }

    func start(
        _ firing: Firing, catalog: JobCatalog, coordinator: RunCoordinator, active: inout [JobID: ActiveRun],
        group: inout TaskGroup<Void>
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
        active[id] = ActiveRun(handle: prepared.handle, lock: lock)
        let notBefore = firing.startAt
        group.addTask { [continuation] in
            let final = await coordinator.execute(prepared, notBefore: notBefore)
            continuation.yield(.runEnded(id, final))
        }
        return .success(prepared.snapshot.run.id)
    }
}
