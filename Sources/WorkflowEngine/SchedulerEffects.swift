import CLinux
import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel
import RuntimeSupport
import WorkflowStore

/// The scheduler's hands: everything it does to the world. It performs the actions of
/// ``SchedulerState`` (reading jobs.d, starting and reaching runs under their job locks, writing
/// marks and the jobs' index, retention, telling systemd, logging, the one timer) and holds what
/// those need: the catalog of job files, the active runs' handles and locks.
struct SchedulerEffects {
    let store: RunStore
    let coordinator: RunCoordinator
    let clock: any WorkflowClock
    let reporter: any DaemonStatusReporter
    let logger: Logger
    /// Where events for the loop go (the ends of runs, the timer, the retention pass).
    let events: AsyncStream<SchedulerEvent>.Continuation
    let retention: RetentionPolicy
    private var catalog: JobCatalog
    private var indexer: JobIndexer
    private let marks: MarkWriter
    private let takeUp: RunTakeUp
    /// The active runs' handles and job locks (a lock is let go of with its entry).
    private var owned: [JobID: (handle: RunHandle, lock: FileLock)] = [:]
    private var timer: Task<Void, Never>?
    /// The indexed jobs' ids, sorted for status; emptied by every load, sorted when asked.
    private var sortedIDs: [JobID] = []
    /// Watches the files of the jobs' path triggers.
    private let paths: PathWatcher

    init(
        configuration: Scheduler.Configuration, coordinator: RunCoordinator, reporter: any DaemonStatusReporter,
        logger: Logger, events: AsyncStream<SchedulerEvent>.Continuation
    ) {
        store = coordinator.store
        self.coordinator = coordinator
        clock = coordinator.clock
        self.reporter = reporter
        self.logger = logger
        self.events = events
        retention = RetentionPolicy(daemon: configuration.retention)
        catalog = JobCatalog(directory: configuration.jobsDirectory)
        indexer = JobIndexer(store: store, clock: clock, logger: logger)
        marks = MarkWriter(store: store, clock: clock, logger: logger)
        takeUp = RunTakeUp(store: store, coordinator: coordinator, clock: clock, logger: logger)
        let (clockForPaths, store) = (clock, store)
        let cursors = store.directory
        paths = PathWatcher(
            logger: logger,
            seenUntil: { job in
                if let seen = PathCursor.load(job, in: cursors) { return seen }
                let now = clockForPaths.now()
                try? PathCursor.save(now, for: job, in: cursors)
                return now
            }
        ) { job, files in
            let now = clockForPaths.now()
            let source = files.count == 1 ? files[0] : "\(files[0]) and \(files.count - 1) more"
            let payload = JSONValue.object(["paths": .array(files.map(JSONValue.string))]).jsonText
            let pending = PendingTrigger(
                job: job, run: coordinator.makeRunID(at: now), sequence: TriggerSequence.next(), kind: .path,
                origin: TriggerOrigin(source: source, receivedAt: now), payload: payload)
            Self.take([pending], store: store, events: events, logger: logger)
        }
    }

    /// Start-up, before `READY=1`: reads every job's marks and latest runs (on every core),
    /// recovers the runs a previous wfd left active (returning once their recovery is on disk),
    /// loads jobs.d and indexes it. Returns the state the loop starts from.
    mutating func startUp(hostZone: TimeZone, _ group: inout DiscardingTaskGroup) async -> SchedulerState {
        var marks = MarkBook()
        var runs: [JobID: JobRuns] = [:]
        var unfinished: [(JobID, Result<LatestRunsHead, StoreError>)] = []
        let (store, clock, logger) = (store, clock, logger)
        let known = store.knownJobs()
        let heads = known.concurrentMap { job in
            let mark = Result { () throws(StoreError) in
                var head = try store.loadScheduleMarkHead(job)
                // A file from before `notable` was kept: read in full, once.
                if head.notable == nil { head.notable = try store.loadScheduleMark(job).notable }
                return head
            }
            return (mark: mark, latest: Result { () throws(StoreError) in try store.loadLatestHead(job) })
        }
        for (job, head) in zip(known, heads) {
            do {
                let mark = try head.mark.get()
                marks.load(job, lastFireTime: mark.lastFireTime, notable: mark.notable ?? [])
            } catch .corrupt(let path, let reason) {
                MarkWriter.setAside(path, reason: reason, job: job, store: store, clock: clock, logger: logger)
            } catch {}
            if case .success(let pointer) = head.latest {
                runs[job] = JobRuns(pointer)
                if pointer.active == nil { continue }
            }
            unfinished.append((job, head.latest))
        }
        let recovered = await recover(unfinished, &group)
        await takeUp.releaseRecordedUnits()
        for (job, fireTime) in recovered { marks.advance(job, to: fireTime) }
        await self.marks.save(marks.takeUnsaved())
        let changes = catalog.reload()
        await indexer.apply(changes, catalog: catalog, initial: true)
        var planner = SchedulePlanner(hostZone: hostZone)
        planner.update(jobs: catalog.entries.values.compactMap(\.job), now: clock.now(), marks: marks.lastFireTimes)
        // Loading thousands of files on every core leaves freed memory in each thread's malloc
        // arena; give it back rather than carry it as resident memory for the daemon's life.
        malloc_trim(0)
        let state = SchedulerState(
            jobsDirectory: catalog.directory, retention: retention,
            watchdogHalf: reporter.watchdogInterval.map {
                (Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) / 2
            }, catalog: catalog, planner: planner, marks: marks, runs: runs,
            active: owned.mapValues { SchedulerState.ActiveRun(run: $0.handle.run) })
        // The inbox first: a path trigger taken there moves its job's cursor before the watcher
        // looks for what changed while wfd was down (else its files would be taken twice).
        takeUpInbox()
        paths.watch(catalog.pathTriggers)
        paths.start()
        reporter.ready(status: state.statusLine(now: clock.now()))
        logger.info("ready: \(catalog.jobCount) jobs loaded from \(catalog.directory), \(owned.count) runs recovered")
        return state
    }

    /// The triggers a previous wfd took and did not start: offered again, in the order they came
    /// (each after the start-up, as the loop's first events). One whose run is on disk already
    /// (wfd stopped between writing the run and letting go of the trigger) is let go of.
    private func takeUpInbox() {
        let directory = store.directory
        let (store, clock, logger) = (store, clock, logger)
        let pending = TriggerInbox.load(in: directory) { path, error in
            _ = try? store.quarantine(path, reason: "\(error)", at: clock.now())
            logger.error("moved a damaged trigger aside: \(path) (\(error))")
        }
        for trigger in pending {
            if FileManager.default.fileExists(atPath: directory.runRecord(trigger.job, trigger.run)) {
                TriggerInbox.remove(trigger.job, trigger.run, in: directory)
                continue
            }
            if trigger.kind == .path,
                (PathCursor.load(trigger.job, in: directory) ?? .distantPast) < trigger.origin.receivedAt
            {
                try? PathCursor.save(trigger.origin.receivedAt, for: trigger.job, in: directory)
            }
            if trigger.kind == .webhook, let delivery = trigger.origin.delivery,
                TriggerInbox.delivery(delivery, of: trigger.job, in: directory) == nil
            {
                try? TriggerInbox.recordDelivery(delivery, run: trigger.run, of: trigger.job, in: directory)
            }
            events.yield(.triggered(trigger, reply: { _ in }))
        }
        if !pending.isEmpty { logger.notice("taking up \(pending.count) triggers a previous wfd had not started") }
    }

    /// Executes the runs a previous wfd left active and waits until each one's recovery
    /// transition is on disk. Returns the fire times of the runs found, for the marks.
    private mutating func recover(
        _ unfinished: [(JobID, Result<LatestRunsHead, StoreError>)], _ group: inout DiscardingTaskGroup
    ) async -> [JobID: Date] {
        let (recovered, fireTimes) = await takeUp.recover(unfinished)
        let (signals, signal) = AsyncStream.makeStream(of: Void.self)
        for run in recovered { execute(run, recorded: { signal.yield() }, &group) }
        var iterator = signals.makeAsyncIterator()
        for _ in recovered { _ = await iterator.next() }
        signal.finish()
        return fireTimes
    }

    /// Performs `action`; returns what it found out, for the state.
    mutating func perform(_ action: SchedulerAction, _ group: inout DiscardingTaskGroup) async -> SchedulerEvent? {
        switch action {
        case .loadCatalog(let touched, let announce, let done):
            if announce { reporter.reloading(status: "reloading \(catalog.directory)") }
            let changes = catalog.reload(touched: touched)
            await indexer.apply(changes, catalog: catalog)
            sortedIDs = []
            return .loaded(catalog, changes: changes, announce: announce, done: done)
        case .start(let firing, let job, let params, let recorded):
            return .started(firing, start(firing, job, params: params, recorded: recorded, &group), reply: recorded)
        case .retry(let order):
            switch takeUp.retry(order) {
            case .success(let run):
                let (id, done) = (order.run, order.done)
                execute(run, recorded: { done(.success(id)) }, &group)
                return .retried(order.job, id)
            case .failure(let refusal):
                order.done(.failure(refusal))
            }
        case .dropTrigger(let pending):
            TriggerInbox.remove(pending.job, pending.run, in: store.directory)
            if let delivery = pending.origin.delivery, pending.kind == .webhook {
                TriggerInbox.forgetDelivery(delivery, of: pending.job, in: store.directory)
            }
        case .follow(let final, let followers):
            follow(final, followers: followers)
        case .watchPaths(let triggers):
            paths.watch(triggers)
        case .cancel(let job, let reason): owned[job]?.handle.cancel(reason: reason)
        case .decide(let job, let request): owned[job]?.handle.decide(request)
        case .detachAll: for run in owned.values { run.handle.detach() }
        case .release(let job): owned[job] = nil
        case .saveMarks(let updates): await marks.save(updates)
        case .enforceRetention(let job, let keepRuns, let keepDays, let force):
            RetentionPolicy.enforce(
                job, keepRuns: keepRuns, keepDays: keepDays, force: force, store: store, now: clock.now(),
                logger: logger)
        case .findRetentionDue(let limits):
            RetentionPolicy.findDue(limits, store: store, now: clock.now()) { [events] in
                events.yield(.retentionDue($0))
            }
        case .snapshot(let done, let parts):
            if sortedIDs.isEmpty { sortedIDs = indexer.indexed.keys.sorted() }
            done(SchedulerSnapshot(ids: sortedIDs, indexed: indexer.indexed, parts: parts))
        case .reply(let reply): reply()
        case .log(let level, let message, let job, let run, let trigger):
            var metadata: Logger.Metadata = [:]
            if let job { metadata[LogField.job] = .string(job.rawValue) }
            if let run { metadata[LogField.runID] = .string(run.rawValue) }
            if let trigger { metadata[LogField.trigger] = .string(trigger.rawValue) }
            logger.log(level: level, "\(message)", metadata: metadata)
        case .report(let report):
            switch report {
            case .ready(let status): reporter.ready(status: status)
            case .reloading(let status): reporter.reloading(status: status)
            case .stopping(let status): reporter.stopping(status: status)
            case .status(let status): reporter.status(status)
            case .watchdog: reporter.watchdog()
            }
        case .sleep(let deadline):
            timer?.cancel()
            timer = Task { [clock, events] in
                do {
                    try await clock.sleep(until: deadline)
                    events.yield(.wake)
                } catch {}
            }
        case .stop:
            timer?.cancel()
        }
        return nil
    }

    /// Starts a run of `firing`'s job under its job lock. A person's `recorded` hears of it once
    /// the run is on disk (so it can be read the moment its id is known).
    private mutating func start(
        _ firing: Firing, _ job: Job, params: [String: String], recorded: ManualReply?,
        _ group: inout DiscardingTaskGroup
    ) -> Result<RunID, StartProblem> {
        let id = firing.job
        if let running = owned[id] {
            return .failure(StartProblem(reason: "run \(running.handle.run) is still running"))
        }
        let lock: FileLock?
        do {
            try RecordFile.makeDirectory(store.directory.jobDirectory(id))
            lock = try FileLock.tryLock(store.directory.jobLock(id))
        } catch {
            return .failure(StartProblem(reason: "cannot take the job lock: \(error)"))
        }
        guard let lock else { return .failure(StartProblem(reason: "the job lock is held by another process")) }
        let prepared = coordinator.prepare(
            job: job, trigger: firing.trigger, scheduledFor: firing.trigger.isScheduled ? firing.fireTime : nil,
            params: params, pending: firing.pending)
        let run = prepared.snapshot.run.id
        var announce: (@Sendable () -> Void)?
        if let recorded { announce = { recorded(.success(run)) } }
        if let pending = firing.pending {
            // Its run is on disk: the inbox lets go of it.
            let directory = store.directory
            announce = { TriggerInbox.remove(pending.job, pending.run, in: directory) }
        }
        execute(
            ReadyRun(job: id, prepared: prepared, lock: lock, first: nil), notBefore: firing.startAt,
            recorded: announce, &group)
        return .success(run)
    }

    /// Executes a run in a task of the group, holding its handle and job lock until it ends.
    private mutating func execute(
        _ run: ReadyRun, notBefore: Date? = nil, recorded: (@Sendable () -> Void)?,
        _ group: inout DiscardingTaskGroup
    ) {
        owned[run.job] = (run.prepared.handle, run.lock)
        // The task must not hold the lock: `.release` lets go of it when the run's end is
        // handled, and the next run (a queued fire time) takes it at once. A task that captured
        // the whole ReadyRun kept it until the task was freed, after that: the start failed ("the
        // job lock is held by another process") and the queue waited for an end that never came.
        let (job, prepared, first) = (run.job, run.prepared, run.first)
        group.addTask { [coordinator, events] in
            let end = await coordinator.carryOut(prepared, notBefore: notBefore, first: first, recorded: recorded)
            events.yield(.runEnded(job, end.snapshot, latest: end.latest.map(JobRuns.init)))
        }
    }

    /// A run ended as `final`: each follower (`on: { job: … }`) gets a trigger carrying the run's
    /// id, state and outputs, put in its inbox off the loop and then offered to the scheduler.
    private func follow(_ final: RunSnapshot, followers: [JobID]) {
        var outputs: [String: JSONValue] = [:]
        let cache = RunCoordinator.OutputCache(steps: final.steps)
        for record in final.steps where record.state == .succeeded {
            outputs[record.step.rawValue] = coordinator.outputValue(of: record, snapshot: final, outputs: cache)
        }
        let payload = JSONValue.object([
            "job": .string(final.run.job.rawValue), "run": .string(final.run.id.rawValue),
            "state": .string(final.run.state.rawValue), "outputs": .object(outputs),
        ]).jsonText
        let now = clock.now()
        let triggers = followers.map { follower in
            PendingTrigger(
                job: follower, run: coordinator.makeRunID(at: now), sequence: TriggerSequence.next(),
                kind: .job,
                origin: TriggerOrigin(source: "job \(final.run.job)", delivery: final.run.id.rawValue, receivedAt: now),
                payload: payload)
        }
        Self.take(triggers, store: store, events: events, logger: logger)
    }

    /// Puts `triggers` in their jobs' inboxes (durably, off the loop), then offers each to the
    /// scheduler; one that cannot be written is logged and dropped.
    static func take(
        _ triggers: [PendingTrigger], store: RunStore, events: AsyncStream<SchedulerEvent>.Continuation,
        logger: Logger
    ) {
        Task {
            for pending in triggers {
                do {
                    try await BlockingIO.shared.run { () throws(StoreError) in
                        try TriggerInbox.put(pending, in: store.directory)
                        // The files it carries are seen: a restart does not take them again.
                        if pending.kind == .path {
                            try PathCursor.save(pending.origin.receivedAt, for: pending.job, in: store.directory)
                        }
                    }
                } catch {
                    logger.error(
                        "cannot take the \(pending.kind.rawValue) trigger (\(pending.origin.source)): \(error)",
                        metadata: [LogField.job: .string(pending.job.rawValue)])
                    continue
                }
                events.yield(.triggered(pending, reply: { _ in }))
            }
        }
    }

    /// The loop ended: nothing is left sleeping.
    func stop() {
        timer?.cancel()
        paths.stop()
    }
}
