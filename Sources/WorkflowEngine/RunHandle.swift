import Foundation
import JobFormat
import RunModel

/// What reaches a running run from outside its machine: events, and decisions on waiting steps
/// (which are checked and their output written before they become an event).
enum RunInput: Sendable {
    case event(RunEvent)
    case decision(DecisionRequest)
    /// One of the run's timers is due (``RunTimers``).
    case timersDue
    /// wfd is stopping: work that outlives it is left running and the run left active on disk,
    /// for the next wfd to follow; a run with no such work is cancelled.
    case detach
    /// The attempt of this slot was let go of (its work goes on without wfd).
    case detached(RunCoordinator.Slot)
}

/// A decision on a waiting step, and who hears how it went.
public struct DecisionRequest: Sendable {
    public var step: StepID
    public var item: Int?
    public var decision: Decision
    /// Called once the decision is on disk (nil), or with why it was refused.
    public var reply: @Sendable (String?) -> Void

    public init(step: StepID, item: Int? = nil, decision: Decision, reply: @escaping @Sendable (String?) -> Void) {
        self.step = step
        self.item = item
        self.decision = decision
        self.reply = reply
    }
}

/// Lets others (shutdown, `wfctl cancel`, `wfctl approve`) reach a run.
public final class RunHandle: Sendable {
    public let job: JobID
    public let run: RunID
    let continuation: AsyncStream<RunInput>.Continuation
    let clock: any WorkflowClock

    init(job: JobID, run: RunID, continuation: AsyncStream<RunInput>.Continuation, clock: any WorkflowClock) {
        self.job = job
        self.run = run
        self.continuation = continuation
        self.clock = clock
    }

    /// Asks the run to stop: pending steps are skipped, running ones terminated (TERM, grace, KILL).
    public func cancel(reason: String) { continuation.yield(.event(.cancel(reason: reason, at: clock.now()))) }

    /// Decides on a waiting step; the request's `reply` hears the result (also when the run
    /// ended before it got there).
    public func decide(_ request: DecisionRequest) {
        if case .terminated = continuation.yield(.decision(request)) { request.reply("the run has ended") }
    }

    /// wfd is stopping (see ``RunInput/detach``).
    public func detach() { continuation.yield(.detach) }

    func send(_ event: RunEvent) { continuation.yield(.event(event)) }
}
