import Foundation
import JobFormat
import Logging
import RunModel
import WorkflowStore

/// A run to execute under its job lock: new (no `first` event), recovered or retried.
struct ReadyRun: Sendable {
    let job: JobID
    let prepared: PreparedRun
    let lock: FileLock
    /// ``RunEvent/recover(at:survivors:)`` or ``RunEvent/retry(_:at:)``; nil: the run starts.
    let first: RunEvent?
}

/// Taking up runs that are on disk already: those a previous wfd left active (at start-up, before
/// `READY=1`) and those a person retries (`wfctl retry`).
struct RunTakeUp {
    let store: RunStore
    let coordinator: RunCoordinator
    let clock: any WorkflowClock
    let logger: Logger

    /// Takes up every run a previous wfd left active (`latest`: the jobs whose latest.json names
    /// an active run or could not be read), each under its job lock, to be executed from
    /// ``RunEvent/recover(at:survivors:)``. Also returns the fire times those runs were started
    /// for (of those already ended too), so that catch-up does not start them a second time.
    func recover(
        _ latest: [(JobID, Result<LatestRunsHead, StoreError>)]
    ) async -> (runs: [ReadyRun], fireTimes: [JobID: Date]) {
        var recovered: [ReadyRun] = []
        var fireTimes: [JobID: Date] = [:]
        for (job, pointer) in latest {
            guard let summary = activeRun(of: job, pointer) else { continue }
            let runLogger = logger.with([LogField.job: job.rawValue, LogField.runID: summary.id.rawValue])
            guard let snapshot = loadForRecovery(job: job, summary: summary, logger: runLogger) else { continue }
            if let scheduled = snapshot.run.scheduledFor { fireTimes[job] = scheduled }
            guard !snapshot.run.state.isTerminal else {
                do { try store.save(snapshot.run) } catch {  // the pointer lagged behind: bring it up to date
                    runLogger.error("cannot update the job's latest.json: \(error)")
                }
                continue
            }
            let lock: FileLock?
            do {
                lock = try FileLock.tryLock(store.directory.jobLock(job))
            } catch {
                runLogger.error("cannot recover the unfinished run, its job lock cannot be taken: \(error)")
                continue
            }
            guard let lock else {
                runLogger.error("cannot recover the unfinished run: another process holds the job lock")
                continue
            }
            killLeftovers(of: snapshot, logger: runLogger)
            // Attempts whose units outlived the previous wfd are followed, not recovered.
            let open = Self.openAttempts(of: snapshot)
            let surviving = open.isEmpty ? [] : await coordinator.executor.survivors(of: open)
            let survivors = Set(surviving.map { StepSlot($0.step, item: $0.item) })
            for key in surviving.sorted(by: { "\($0.step)\($0.item ?? -1)" < "\($1.step)\($1.item ?? -1)" }) {
                runLogger.notice(
                    "step '\(key.step)' (attempt \(key.attempt)) outlived the previous wfd in unit \(UnitName.make(key)): following it",
                    metadata: [LogField.step: .string(key.step.rawValue)])
            }
            runLogger.warning("recovering the run a previous wfd left \(snapshot.run.state.rawValue)")
            recovered.append(
                ReadyRun(
                    job: job, prepared: coordinator.resume(snapshot), lock: lock,
                    first: .recover(at: clock.now(), survivors: survivors)))
        }
        return (recovered, fireTimes)
    }

    /// Kills the process groups of attempts that are still running from the previous wfd
    /// (outside systemd nothing else does; under systemd the unit's cgroup was killed already),
    /// so that nothing runs twice at once: the attempts then end `interrupted` as usual. A pid
    /// counts only if its start time matches the one noted at spawn (pids are reused).
    func killLeftovers(of snapshot: RunSnapshot, logger: Logger) {
        let noted = ProcessRecord.read(ProcessRecord.path(store.directory, snapshot.run.job, snapshot.run.id))
        guard !noted.isEmpty else { return }
        for record in snapshot.steps.flatMap({ [$0] + ($0.items ?? []) }) where record.state == .running {
            guard let attempt = record.attempts.last, attempt.endedAt == nil,
                let entry = noted.last(where: {
                    $0.step == record.step && $0.item == record.item && $0.attempt == attempt.number
                }),
                entry.startTime != 0, ProcessRecord.startTime(of: entry.pid) == entry.startTime
            else { continue }
            kill(-entry.pid, SIGKILL)  // the step's own session and process group
            kill(entry.pid, SIGKILL)
            for _ in 0..<200 where ProcessRecord.startTime(of: entry.pid) == entry.startTime { usleep(10_000) }
            logger.warning(
                "killed process group \(entry.pid) of step '\(record.step)' (attempt \(attempt.number)), which outlived the previous wfd",
                metadata: [LogField.step: .string(record.step.rawValue)])
        }
    }

    /// Lets go of units whose attempts' ends are on disk: a wfd that stopped between writing an
    /// attempt's end and letting its unit go left it loaded (harmless, but never collected).
    func releaseRecordedUnits() async {
        let store = store
        let released = await coordinator.executor.sweep { key in
            guard let snapshot = try? store.loadSnapshot(key.job, key.run),
                let step = snapshot.step(key.step), let record = try? RunMachine.slot(step, key.item),
                let attempt = record.attempts.first(where: { $0.number == key.attempt }), attempt.endedAt != nil
            else { return nil }
            return store.directory.runFile(
                key.job, key.run, relative: attempt.log ?? record.logPath(attempt: key.attempt))
        }
        for unit in released {
            logger.notice("let go of unit \(unit): its attempt's end was recorded before the previous wfd stopped")
        }
    }

    /// The attempts of `snapshot` that were running (open) when the previous wfd stopped.
    static func openAttempts(of snapshot: RunSnapshot) -> [AttemptKey] {
        snapshot.steps.flatMap { [$0] + ($0.items ?? []) }.compactMap { record in
            guard record.state == .running, let attempt = record.attempts.last, attempt.endedAt == nil else {
                return nil
            }
            return AttemptKey(
                job: snapshot.run.job, run: snapshot.run.id, step: record.step, item: record.item,
                attempt: attempt.number)
        }
    }

    /// The run `latest.json` names active. A damaged `latest.json` is moved aside and the
    /// newest run of the job, if it has not ended, is taken as the active one.
    private func activeRun(of job: JobID, _ latest: Result<LatestRunsHead, StoreError>) -> RunSummary? {
        do {
            return try latest.get().active
        } catch .corrupt(let path, let reason) {
            do {
                let entry = try store.quarantine(path, reason: reason, at: clock.now())
                logger.error(
                    "moved a damaged latest.json aside as \(entry.movedTo) (\(reason))",
                    metadata: [
                        LogField.job: .string(job.rawValue), LogField.messageID: .string(MessageID.recordQuarantined),
                    ])
            } catch {
                logger.error("cannot move a damaged latest.json aside: \(error)")
                return nil
            }
            guard let newest = store.runIDs(job).last else { return nil }
            if let record = try? store.loadRun(job, newest) {
                return record.state.isTerminal ? nil : RunSummary(record)
            }
            guard let spec = try? store.loadSpec(job, newest) else { return nil }
            return RunSummary(
                RunRecord(job: spec, id: newest, trigger: .schedule, scheduledFor: nil, createdAt: clock.now()))
        } catch {
            return nil
        }
    }

    /// The run `summary` points at, with its steps, damaged or missing records rebuilt (see
    /// ``RunStore/loadForRecovery(_:summary:at:)``); without a frozen definition the pointer is dropped.
    private func loadForRecovery(job: JobID, summary: RunSummary, logger: Logger) -> RunSnapshot? {
        do {
            let (snapshot, moved) = try store.loadForRecovery(job, summary: summary, at: clock.now())
            for entry in moved {
                logger.error(
                    "moved a damaged record aside as \(entry.movedTo) (\(entry.reason)); rebuilt it",
                    metadata: [
                        LogField.job: .string(job.rawValue), LogField.messageID: .string(MessageID.recordQuarantined),
                    ])
            }
            return snapshot
        } catch {
            logger.error("cannot recover the unfinished run, forgetting it: \(error)")
            var latest = (try? store.loadLatest(job)) ?? LatestRuns(job: job)
            latest.active = nil
            do { try store.saveLatest(latest) } catch { logger.error("cannot update the job's latest.json: \(error)") }
            return nil
        }
    }

    /// Checks a retry and prepares it: the run must have ended; the outputs of skipped steps are
    /// written durably first. Returns the run to execute from `first`, under its job lock, or why not.
    func retry(_ order: RetryOrder) -> Result<ReadyRun, ManualRunRefusal> {
        func refuse(_ code: ManualRunRefusal.Code, _ message: String) -> Result<ReadyRun, ManualRunRefusal> {
            .failure(ManualRunRefusal(code: code, message: message))
        }
        let job = order.job
        let snapshot: RunSnapshot
        do {
            snapshot = try store.loadSnapshot(job, order.run)
        } catch .missing {
            return refuse(.noSuchRun, "no run \(order.run) of job '\(job)' in \(store.directory.root)")
        } catch {
            return refuse(.failed, "cannot read run \(order.run): \(error)")
        }
        var request = order.request
        for (step, data) in order.outputs {
            guard request.skip.keys.contains(step) else {
                return refuse(.badRequest, "an output was given for '\(step)', which is not skipped")
            }
            if snapshot.definition(of: step)?.output == .json,
                (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) == nil
            {
                return refuse(
                    .badRequest, "the output given for '\(step)' is not valid JSON, and the step has output: json")
            }
            request.skip[step] = "outputs/\(step.rawValue)"
        }
        let at = clock.now()
        do {
            _ = try RunMachine.apply(snapshot, .retry(request, at: at))
        } catch {
            return refuse(.notRetryable, error.description)
        }
        let lock: FileLock?
        do {
            lock = try FileLock.tryLock(store.directory.jobLock(job))
            for (step, data) in order.outputs {
                try RecordFile.write(
                    data, to: store.directory.runFile(job, order.run, relative: "outputs/\(step.rawValue)"))
            }
        } catch {
            return refuse(.failed, "cannot prepare the retry: \(error)")
        }
        guard let lock else { return refuse(.busy, "another process holds the lock of job '\(job)'") }
        let what = request.from.map { "from step '\($0)'" } ?? "from its failed steps"
        logger.notice(
            "run retried \(what) by \(order.by)",
            metadata: [LogField.job: .string(job.rawValue), LogField.runID: .string(order.run.rawValue)])
        return .success(
            ReadyRun(job: job, prepared: coordinator.resume(snapshot), lock: lock, first: .retry(request, at: at)))
    }
}
