import Foundation
import JobFormat
import Logging
import RunModel
import RuntimeSupport

/// Everything needed to run one attempt of a step.
public struct StepInvocation: Sendable {
    public var job: JobID
    public var run: RunID
    public var step: StepID
    public var attempt: Int
    /// The shell command line, run as `/bin/sh -c command`. Values are never spliced into it.
    public var command: String
    /// The complete environment of the child: nothing is inherited.
    public var environment: [String: String]
    public var workingDirectory: String
    public var timeout: Duration?
    /// Where stdout and stderr are captured.
    public var logFile: String
    /// The account the step runs as (`user:`); nil: wfd's own.
    public var account: UserAccount?
    /// For a `for_each` item: its index.
    public var item: Int?
    /// Where the spawned process is noted (``ProcessRecord``), so a later wfd can find it.
    public var processRecord: String?
    /// Replaces the job's secrets in what the step writes.
    public var redactor: Redactor = .none
    /// The job's `executor:`; nil: the one wfd chose.
    public var executor: ExecutorKind?
    /// The step's `sandbox:` and `resources:` over the job's (unit executor only).
    public var sandbox = SandboxSettings()
    public var resources = ResourceSettings()
    /// The secrets the step lists, by name: `$WF_SECRET_<NAME>` in its environment (never in
    /// ``environment``, which a unit's properties show to anyone).
    public var secrets: [String: String] = [:]
    /// Follow the work a previous wfd began for this attempt (its unit) to its end; start nothing.
    public var reattach = false

    public init(
        job: JobID, run: RunID, step: StepID, attempt: Int, command: String, environment: [String: String],
        workingDirectory: String, timeout: Duration?, logFile: String
    ) {
        self.job = job
        self.run = run
        self.step = step
        self.attempt = attempt
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
        self.logFile = logFile
    }
}

/// One attempt of one step (or item) of one run.
public struct AttemptKey: Sendable, Hashable {
    public var job: JobID
    public var run: RunID
    public var step: StepID
    public var item: Int?
    public var attempt: Int

    public init(job: JobID, run: RunID, step: StepID, item: Int?, attempt: Int) {
        self.job = job
        self.run = run
        self.step = step
        self.item = item
        self.attempt = attempt
    }

    public init(_ invocation: StepInvocation) {
        self.init(
            job: invocation.job, run: invocation.run, step: invocation.step, item: invocation.item,
            attempt: invocation.attempt)
    }
}

/// Runs step attempts. A failing step is a result, never a thrown error.
public protocol StepExecutor: Sendable {
    /// Runs the attempt to its end and reports how it ended. `control` may ask it to stop early.
    func execute(_ invocation: StepInvocation, control: StepControl, logger: Logger) async -> AttemptResult

    /// Which of `attempts`, left open by a previous wfd, are still known to the executor (running,
    /// or ended with their result kept): those are followed again (``StepInvocation/reattach``),
    /// the others recovered by their effect class.
    func survivors(of attempts: [AttemptKey]) async -> Set<AttemptKey>

    /// The end of `attempt` is on disk: what kept it for a later wfd may go.
    func recorded(_ attempt: AttemptKey) async

    /// Lets go of what ended attempts left behind when wfd stopped between recording their end
    /// and letting it go (a unit kept for its exit status): those whose end `recorded` finds on
    /// disk (it returns the attempt's log file, nil for an attempt not ended or not of this
    /// state directory). Returns what it let go of.
    func sweep(recorded: @escaping @Sendable (AttemptKey) -> String?) async -> [String]

    /// Whether `invocation`'s work goes on when wfd stops (a unit), so that stopping wfd detaches
    /// it rather than cancelling it.
    func outlivesDaemon(_ invocation: StepInvocation) -> Bool
}

extension StepExecutor {
    public func survivors(of attempts: [AttemptKey]) async -> Set<AttemptKey> { [] }
    public func recorded(_ attempt: AttemptKey) async {}
    public func outlivesDaemon(_ invocation: StepInvocation) -> Bool { false }
    public func sweep(recorded: @escaping @Sendable (AttemptKey) -> String?) async -> [String] { [] }
}

/// Lets the run coordinator stop a running attempt (cancel, shutdown), or let it go on without
/// wfd (shutdown, for work that outlives wfd). Each can be waited for any number of times, one
/// wait after another or at once (an agent races every model call and tool call against it): a
/// request made before a wait is seen by it, and a wait that is cancelled leaves the others be.
public final class StepControl: Sendable {
    private struct State {
        var reason: String?
        var detached = false
        var next = 0
        var terminationWaiters: [Int: CheckedContinuation<String?, Never>] = [:]
        var detachWaiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Locked(State())

    public init() {}

    /// wfd is stopping: stop following the attempt and leave its work running (an executor whose
    /// work outlives wfd returns at once, with ``AttemptResult/detached``).
    public func detach() {
        let waiters = state.withLock { state in
            state.detached = true
            defer { state.detachWaiters = [:] }
            return Array(state.detachWaiters.values)
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Waits until ``detach()`` is called (true) or the task is cancelled (false).
    public func waitForDetach() async -> Bool {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { waiter in
                let now: Bool? = state.withLock { state in
                    if state.detached { return true }
                    if Task.isCancelled { return false }
                    state.detachWaiters[id] = waiter
                    return nil
                }
                if let now { waiter.resume(returning: now) }
            }
        } onCancel: {
            state.withLock { $0.detachWaiters.removeValue(forKey: id) }?.resume(returning: false)
        }
    }

    /// Asks the attempt to stop, for `reason`. Safe to call more than once or after it ended (the
    /// first reason stands).
    public func terminate(reason: String) {
        let (waiters, first) = state.withLock { state in
            if state.reason == nil { state.reason = reason }
            defer { state.terminationWaiters = [:] }
            return (Array(state.terminationWaiters.values), state.reason ?? reason)
        }
        for waiter in waiters { waiter.resume(returning: first) }
    }

    /// Waits until ``terminate(reason:)`` is called (its reason) or the task is cancelled (nil).
    public func waitForTermination() async -> String? {
        let id = state.withLock { state in
            defer { state.next += 1 }
            return state.next
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { waiter in
                let now: String?? = state.withLock { state in
                    if let reason = state.reason { return .some(reason) }
                    if Task.isCancelled { return .some(nil) }
                    state.terminationWaiters[id] = waiter
                    return .none
                }
                if let now { waiter.resume(returning: now) }
            }
        } onCancel: {
            state.withLock { $0.terminationWaiters.removeValue(forKey: id) }?.resume(returning: nil)
        }
    }
}
