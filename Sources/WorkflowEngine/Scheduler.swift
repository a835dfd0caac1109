import CLinux
import Foundation
import JobFormat
import Logging
import RunModel
import RuntimeSupport
import ServiceLifecycle
import WorkflowStore

/// The daemon's heart: loads jobs, recovers unfinished runs, sleeps until the next fire time (or a
/// command), starts runs under their job lock, and drains them on shutdown.
///
/// All mutable state lives inside ``run()``; other tasks talk to it through ``reload()`` and
/// ``shutdown()``, which only enqueue events.
public final class Scheduler: Service, Sendable {
    public struct Configuration: Sendable {
        public var jobsDirectory: String
        public var state: StateDirectory
        public var hostZone: TimeZone
        public var daemonEnvironment: [String: String]
        /// Retention for jobs that give none (and for deleted jobs).
        public var retention: Retention
        /// Model prices (a job's `prices:` go over them).
        public var prices = PriceTable()

        public init(
            jobsDirectory: String, state: StateDirectory, hostZone: TimeZone, daemonEnvironment: [String: String],
            retention: Retention = Scheduler.defaultRetention
        ) {
            self.jobsDirectory = jobsDirectory
            self.state = state
            self.hostZone = hostZone
            self.daemonEnvironment = daemonEnvironment
            self.retention = retention
        }
    }

    enum Event: Sendable {
        case wake
        /// Re-read jobs.d; `announce` tells the supervisor (RELOADING=1 … READY=1), as for SIGHUP;
        /// `done` hears the summary once the new jobs are in effect.
        /// `touched`: the job files that may have changed (nil: any of them).
        case reload(announce: Bool, touched: Set<String>?, done: (@Sendable (ReloadOutcome) -> Void)?)
        case shutdown
        case runEnded(JobID, RunSnapshot)
        /// The wall clock was set (NTP step, `date -s`): fire times are planned anew.
        case clockChanged
        /// Cancel the active run `run` (`wfctl cancel`); `done` hears whether it was active.
        case cancelRun(RunID, reason: String, done: @Sendable (Bool) -> Void)
        /// Start a run of the job now (`wfctl run`); `done` hears the run id or why not.
        case runNow(JobID, params: [String: String], done: @Sendable (Result<RunID, ManualRunRefusal>) -> Void)
        /// Run an ended run again from its failed steps (`wfctl retry`).
        case retryRun(RetryOrder)
        /// Decide on a waiting step of an active run (`wfctl approve`, `wfctl reject`).
        case decide(RunID, DecisionRequest)
        /// Hand what is known of the jobs to `wfctl status`.
        case snapshot(@Sendable (SchedulerSnapshot) -> Void)
        /// The hourly retention pass found these jobs over their limits.
        case retentionDue([JobID])
    }

    public let configuration: Configuration
    let clock: any WorkflowClock
    let executor: any StepExecutor
    let reporter: any DaemonStatusReporter
    let logger: Logger
    private let events: AsyncStream<Event>
    let continuation: AsyncStream<Event>.Continuation

    public init(
        configuration: Configuration, clock: any WorkflowClock, executor: any StepExecutor,
        reporter: any DaemonStatusReporter, logger: Logger
    ) {
        self.configuration = configuration
        self.clock = clock
        self.executor = executor
        self.reporter = reporter
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
    }

    /// Re-reads `jobs.d` (SIGHUP, `systemctl reload`), announced to the supervisor.
    public func reload() { continuation.yield(.reload(announce: true, touched: nil, done: nil)) }

    /// How a reload asked for went.
    public enum ReloadOutcome: Sendable, Equatable {
        /// In effect; what it found.
        case reloaded(summary: String)
        /// Not done, and why (wfd is stopping).
        case refused(reason: String)
    }

    /// Re-reads `jobs.d`, announced, and calls `done` once it is in effect (or with why not).
    public func reload(done: @escaping @Sendable (ReloadOutcome) -> Void) {
        continuation.yield(.reload(announce: true, touched: nil, done: done))
    }

    /// Re-reads `jobs.d` after a change seen on disk, without telling the supervisor.
    /// `touched`: the names of the files that changed, when the watcher knows them.
    public func reloadQuietly(touched: Set<String>? = nil) {
        continuation.yield(.reload(announce: false, touched: touched, done: nil))
    }

    /// Stops starting runs, cancels the active ones (TERM, grace, KILL), records them and returns.
    public func shutdown() { continuation.yield(.shutdown) }

    /// Tells the scheduler that the wall clock was set, so that it re-plans at once.
    public func clockChanged() { continuation.yield(.clockChanged) }

    /// Asks the active run `run` to stop (its steps get TERM, a grace period, KILL); `done` hears
    /// false when no such run is active.
    public func cancelRun(_ run: RunID, reason: String, done: @escaping @Sendable (Bool) -> Void) {
        continuation.yield(.cancelRun(run, reason: reason, done: done))
    }

    /// Starts a run of `job` now, triggered by hand; `done` hears its id or why it did not start.
    public func runNow(
        _ job: JobID, params: [String: String] = [:],
        done: @escaping @Sendable (Result<RunID, ManualRunRefusal>) -> Void
    ) {
        continuation.yield(.runNow(job, params: params, done: done))
    }

    /// Runs `run` of `job` again (`wfctl retry`): its failed steps and what follows them, or from
    /// `request.from`; skipped steps are marked done with `outputs`. `done` hears once the retry
    /// is on disk, or why it was refused.
    public func retryRun(
        _ run: RunID, of job: JobID, request: RetryRequest, outputs: [StepID: Data], by: String,
        done: @escaping @Sendable (Result<RunID, ManualRunRefusal>) -> Void
    ) {
        continuation.yield(
            .retryRun(RetryOrder(job: job, run: run, request: request, outputs: outputs, by: by, done: done)))
    }

    /// Decides on a waiting step of the active run `run`; the request's reply hears once the
    /// decision is on disk, or why it was refused.
    public func decide(_ run: RunID, _ request: DecisionRequest) {
        continuation.yield(.decide(run, request))
    }

    /// Why a manual run or a retry did not start.
    public struct ManualRunRefusal: Error, Sendable {
        /// `no_such_job`, `no_such_run`, `not_retryable`, `bad_request`, `busy` or `failed`.
        public let code: String
        public let message: String
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await loop()
        } onGracefulShutdown: {
            self.shutdown()
        }
    }

    /// How often retention looks at every job.
    static let retentionInterval: TimeInterval = 3600

    struct ActiveRun {
        let handle: RunHandle
        let lock: FileLock
        /// For a run decided ahead of its fire time: when its first steps are launched.
        var startsAt: Date?
    }

    private func loop() async throws {
        let store = RunStore(directory: configuration.state)
        let coordinator = RunCoordinator(
            store: store, executor: executor, clock: clock, logger: logger,
            workingDirectory: configuration.jobsDirectory, daemonEnvironment: configuration.daemonEnvironment,
            prices: configuration.prices)
        try RecordFile.makeDirectory(configuration.state.jobsRoot)
        try RecordFile.makeDirectory(configuration.state.runsRoot)

        var catalog = JobCatalog(directory: configuration.jobsDirectory)
        var planner = SchedulePlanner(hostZone: configuration.hostZone)
        var indexed: [JobID: JobInfo] = [:]
        var sortedIDs: [JobID] = []  // of `indexed`, for status; emptied by every load, sorted when asked
        var marks = MarkBook()
        // Every job's schedule.json and latest.json, read once on every core: recovery looks for
        // unfinished runs in the latter, status keeps their newest ended run. What only start-up
        // needs is gone before the loop starts.
        var runs: [JobID: JobRuns] = [:]
        var unfinished: [(JobID, Result<LatestRunsHead, StoreError>)] = []
        do {
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
                    Self.setMarkAside(path, reason: reason, job: job, store: store, clock: clock, logger: logger)
                } catch {}
                if case .success(let pointer) = head.latest {
                    runs[job] = JobRuns(pointer)
                    if pointer.active == nil { continue }
                }
                unfinished.append((job, head.latest))
            }
        }
        var active: [JobID: ActiveRun] = [:]
        var timer: Task<Void, Never>?
        var stopping = false
        var nextRetention = Date.distantPast  // the first pass right after start-up
        let watchdogHalf = reporter.watchdogInterval.map { $0 / 2 }

        // Discarding: a run's task is let go of as soon as it ends (a plain task group keeps every
        // finished child until its result is awaited: ~45 KiB a run, 500 MiB a day at 100 runs a
        // minute).
        await withDiscardingTaskGroup { group in
            let recovered = await recoverRuns(
                unfinished, store, coordinator: coordinator, active: &active, group: &group)
            unfinished = []
            await releaseRecordedUnits(store, executor: coordinator.executor)
            for (job, fireTime) in recovered { marks.advance(job, to: fireTime) }
            await saveMarks(&marks, store)
            await apply(
                catalog.reload(), catalog: catalog, planner: &planner, indexed: &indexed, marks: marks, store: store,
                initial: true)
            sortedIDs = []
            // Loading thousands of files on every core leaves freed memory in each thread's malloc
            // arena; give it back rather than carry it as resident memory for the daemon's life.
            malloc_trim(0)
            reporter.ready(status: statusLine(catalog: catalog, planner: planner, active: active.count))
            logger.info(
                "ready: \(catalog.jobCount) jobs loaded from \(configuration.jobsDirectory), \(active.count) runs recovered"
            )

            var iterator = events.makeAsyncIterator()
            var pending: Event? = .wake
            while let event = pending {
                switch event {
                case .wake:
                    break
                case .reload(let announce, let touched, let done) where !stopping:
                    if announce { reporter.reloading(status: "reloading \(configuration.jobsDirectory)") }
                    await apply(
                        catalog.reload(touched: touched), catalog: catalog, planner: &planner, indexed: &indexed,
                        marks: marks,
                        store: store)
                    sortedIDs = []
                    // A run decided ahead for a job that is gone now does not start.
                    let now = clock.now()
                    for (id, run) in active where catalog.entries[id]?.job == nil && (run.startsAt ?? now) > now {
                        logger.notice(
                            "cancelling run \(run.handle.run) before its fire time: its job was removed",
                            metadata: [LogField.job: .string(id.rawValue)])
                        run.handle.cancel(reason: "its job was removed before its fire time")
                    }
                    if announce {
                        reporter.ready(status: statusLine(catalog: catalog, planner: planner, active: active.count))
                    }
                    let summary =
                        "reloaded: \(catalog.jobCount) jobs, \(catalog.diagnostics.count) problems "
                        + "(\(catalog.parsedAtLastLoad) of \(catalog.entries.count) files read; the rest unchanged)"
                    logger.info("\(summary)")
                    done?(.reloaded(summary: summary))
                case .reload(_, _, let done):
                    done?(.refused(reason: "not reloaded: wfd is stopping"))
                case .shutdown:
                    if !stopping {
                        stopping = true
                        reporter.stopping(status: "stopping: \(active.count) runs to finish")
                        logger.notice("stopping: \(active.count) active runs to cancel or leave to their units")
                        // A run whose steps go on in units is left for the next wfd; others are cancelled.
                        for run in active.values { run.handle.detach() }
                    }
                case .runEnded(let job, let final):
                    active[job] = nil  // releases the job lock
                    if let latest = try? store.loadLatestHead(job) { runs[job] = JobRuns(latest) }
                    enforceRetention(job, retention: final.spec.retention, store: store)
                    if !stopping, let queued = planner.runEnded(job) {
                        decide(
                            .start(queued), catalog: catalog, store: store, coordinator: coordinator, active: &active,
                            marks: &marks, group: &group)
                        await saveMarks(&marks, store)
                    }
                case .clockChanged:
                    logger.notice("the wall clock was set: planning fire times anew")
                    planner.clockChanged(now: clock.now())
                case .cancelRun(let run, let reason, let done):
                    guard let target = active.values.first(where: { $0.handle.run == run }) else {
                        done(false)
                        break
                    }
                    logger.notice(
                        "cancelling run \(run): \(reason)",
                        metadata: [LogField.job: .string(target.handle.job.rawValue)])
                    target.handle.cancel(reason: reason)
                    done(true)
                case .retentionDue(let jobs) where !stopping:
                    for job in jobs where active[job] == nil {
                        enforceRetention(
                            job, retention: catalog.entries[job]?.job?.retention, store: store, force: true)
                    }
                case .retentionDue:
                    break
                case .snapshot(let done):
                    if sortedIDs.isEmpty { sortedIDs = indexed.keys.sorted() }
                    done(
                        snapshot(
                            ids: sortedIDs, indexed: indexed, planner: planner, runs: runs, marks: marks,
                            active: active))
                case .decide(let run, let request):
                    guard let target = active.values.first(where: { $0.handle.run == run }) else {
                        request.reply(
                            "run \(run) is not active: only a run that waits can be decided on (see wfctl pending)")
                        break
                    }
                    target.handle.decide(request)
                case .retryRun(let order):
                    guard !stopping else {
                        order.done(.failure(ManualRunRefusal(code: "failed", message: "wfd is stopping")))
                        break
                    }
                    retry(order, store: store, coordinator: coordinator, active: &active, group: &group)
                case .runNow(let id, let params, let done):
                    guard !stopping else {
                        done(.failure(ManualRunRefusal(code: "failed", message: "wfd is stopping")))
                        break
                    }
                    guard catalog.entries[id]?.job != nil else {
                        let known = catalog.jobs.map(\.id.rawValue).joined(separator: ", ")
                        let message: String
                        if let entry = catalog.entries[id], let problem = entry.diagnostics.first {
                            let more = entry.diagnostics.count > 1 ? " (and \(entry.diagnostics.count - 1) more)" : ""
                            message =
                                "job '\(id)' is not loaded: its file is invalid: \(problem)\(more); "
                                + "check it with wfctl validate \(entry.file)"
                        } else {
                            message =
                                "no job '\(id)' is loaded (jobs: \(known.isEmpty ? "none" : known)); "
                                + "a job is a file \(id).yaml in \(configuration.jobsDirectory)"
                        }
                        done(.failure(ManualRunRefusal(code: "no_such_job", message: message)))
                        break
                    }
                    let firing = Firing(job: id, fireTime: clock.now(), trigger: .manual, params: params)
                    let started = start(
                        firing, catalog: catalog, coordinator: coordinator, active: &active, group: &group,
                        recorded: { done(.success($0)) })
                    switch started {
                    case .success(let run):
                        logger.info(
                            "run started by hand",
                            metadata: [LogField.job: .string(id.rawValue), LogField.runID: .string(run.rawValue)])
                    case .failure(let problem):
                        done(.failure(ManualRunRefusal(code: problem.code, message: "not started: \(problem.reason)")))
                    }
                }
                if stopping {
                    if active.isEmpty { break }
                    reporter.status("stopping: \(active.count) runs to finish")
                } else {
                    let now = clock.now()
                    if now >= nextRetention || now < nextRetention.addingTimeInterval(-2 * Self.retentionInterval) {
                        findRetentionDue(catalog: catalog, store: store)
                        nextRetention = now.addingTimeInterval(Self.retentionInterval)
                    }
                    let decisions = planner.takeDue(now: now, active: Set(active.keys), lead: Self.lead)
                    for decision in decisions {
                        decide(
                            decision, catalog: catalog, store: store, coordinator: coordinator, active: &active,
                            marks: &marks, group: &group)
                    }
                    // Recorded once every run has started, all at once, so no start waits for a mark.
                    await saveMarks(&marks, store)
                    reporter.status(statusLine(catalog: catalog, planner: planner, active: active.count))
                    var deadline = min(
                        planner.nextWake(lead: Self.lead, active: Set(active.keys)) ?? nextRetention, nextRetention)
                    if let half = watchdogHalf {
                        let ping = now.addingTimeInterval(
                            Double(half.components.seconds) + Double(half.components.attoseconds) / 1e18)
                        deadline = min(deadline, ping)
                    }
                    timer?.cancel()
                    timer = Task { [clock, continuation, deadline] in
                        do {
                            try await clock.sleep(until: deadline)
                            continuation.yield(.wake)
                        } catch {}
                    }
                }
                if watchdogHalf != nil { reporter.watchdog() }
                pending = await iterator.next()
            }
            timer?.cancel()
        }
        logger.notice("stopped")
    }
}
