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
/// A thin loop: every decision is taken by the pure ``SchedulerState`` (events in, actions out)
/// and every action carried out by ``SchedulerEffects``. All mutable state lives inside ``run()``;
/// other tasks talk to it through the methods here (``reload()``, ``shutdown()``, ``runNow(_:params:done:)``
/// …), which only enqueue events.
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
        /// Hears, after every turn of the loop, what status would show (tests wait on it).
        public var observeTurns: (@Sendable (SchedulerSnapshot) -> Void)?
        /// Hears every transition of every run once its effects are performed: wfd counts them for
        /// its metrics (`DaemonMetrics`), tests wait on them.
        public var observeRuns: (@Sendable (RunTransition) -> Void)?

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

    public let configuration: Configuration
    let clock: any WorkflowClock
    let executor: any StepExecutor
    let reporter: any DaemonStatusReporter
    let logger: Logger
    private let events: AsyncStream<SchedulerEvent>
    let continuation: AsyncStream<SchedulerEvent>.Continuation

    public init(
        configuration: Configuration, clock: any WorkflowClock, executor: any StepExecutor,
        reporter: any DaemonStatusReporter, logger: Logger
    ) {
        self.configuration = configuration
        self.clock = clock
        self.executor = executor
        self.reporter = reporter
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: SchedulerEvent.self)
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

    /// Offers a trigger that is in its job's inbox: its run starts, waits or is dropped by the
    /// job's `concurrency:`; `reply` hears which.
    public func trigger(_ pending: PendingTrigger, reply: @escaping TriggerReply) {
        continuation.yield(.triggered(pending, reply: reply))
    }

    /// Calls `done` with the job as loaded now, or why it is not loaded.
    public func definition(of job: JobID, done: @escaping @Sendable (Result<Job, ManualRunRefusal>) -> Void) {
        continuation.yield(.definition(job, done: done))
    }

    /// What runs use (the store, the model client, the secrets, the prices, the clock), for
    /// model calls outside runs: `wfctl eval` (``StepEval``) and `wfctl draft` (``JobDraft``).
    public func coordinator() -> RunCoordinator {
        RunCoordinator(
            store: RunStore(directory: configuration.state), executor: executor, clock: clock, logger: logger,
            workingDirectory: configuration.jobsDirectory, daemonEnvironment: configuration.daemonEnvironment,
            prices: configuration.prices)
    }

    /// Calls `done` with what the scheduler knows of its jobs, from its loop.
    public func snapshot(done: @escaping @Sendable (SchedulerSnapshot) -> Void) {
        continuation.yield(.snapshot(done))
    }

    /// Why a manual run or a retry did not start.
    public struct ManualRunRefusal: Error, Sendable {
        public enum Code: Sendable, Equatable {
            case noSuchJob, noSuchRun, notRetryable, badRequest, busy, failed
        }

        public let code: Code
        public let message: String
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await loop()
        } onGracefulShutdown: {
            self.shutdown()
        }
    }

    /// The global default, for jobs that say nothing and for deleted jobs.
    public static let defaultRetention = Retention(keepRuns: 1000, keepDays: 30)

    /// The loop: start-up, then every event is one turn (the event, the fire times due, settling)
    /// handled by the pure ``SchedulerState`` and carried out by ``SchedulerEffects``.
    private func loop() async throws {
        var coordinator = RunCoordinator(
            store: RunStore(directory: configuration.state), executor: executor, clock: clock, logger: logger,
            workingDirectory: configuration.jobsDirectory, daemonEnvironment: configuration.daemonEnvironment,
            prices: configuration.prices)
        coordinator.observe = configuration.observeRuns
        coordinator.jobs = JobLink(
            start: { [continuation, configuration] pending in
                do {
                    try await BlockingIO.shared.run { () throws(StoreError) in
                        try TriggerInbox.put(pending, in: configuration.state)
                    }
                } catch {
                    return .refused("cannot put the run in job \(pending.job)'s inbox: \(error)")
                }
                return await withCheckedContinuation { answer in
                    continuation.yield(.triggered(pending, reply: { answer.resume(returning: $0) }))
                }
            },
            definition: { [continuation] job in
                await withCheckedContinuation { answer in
                    continuation.yield(.definition(job, done: { answer.resume(returning: try? $0.get()) }))
                }
            })
        var effects = SchedulerEffects(
            configuration: configuration, coordinator: coordinator, reporter: reporter, logger: logger,
            events: continuation)
        try RecordFile.makeDirectory(configuration.state.jobsRoot)
        try RecordFile.makeDirectory(configuration.state.runsRoot)
        // Discarding: a run's task is let go of as soon as it ends (a plain task group keeps every
        // finished child until its result is awaited: ~45 KiB a run, 500 MiB a day at 100 runs a
        // minute).
        await withDiscardingTaskGroup { group in
            var state = await effects.startUp(hostZone: configuration.hostZone, &group)
            var iterator = events.makeAsyncIterator()
            var next: SchedulerEvent? = .wake
            while let event = next {
                for phase in [event, .tick, .settle] { await turn(phase, &state, &effects, &group) }
                if let observe = configuration.observeTurns { await turn(.snapshot(observe), &state, &effects, &group) }
                if state.stopped { break }
                next = await iterator.next()
            }
            effects.stop()
        }
        logger.notice("stopped")
    }

    /// Hands `event` to the state and performs its actions; what an action finds out is handled
    /// at once, before the next action.
    private func turn(
        _ event: SchedulerEvent, _ state: inout SchedulerState, _ effects: inout SchedulerEffects,
        _ group: inout DiscardingTaskGroup
    ) async {
        for action in state.handle(event, now: clock.now()) {
            if let found = await effects.perform(action, &group) { await turn(found, &state, &effects, &group) }
        }
    }
}
