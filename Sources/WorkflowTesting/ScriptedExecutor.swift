import Foundation
import JobFormat
import Logging
import RunModel
import RuntimeSupport
import WorkflowEngine

/// A step executor that runs nothing: each attempt ends as its script says, so a run's execution
/// is tested in process. Attempts are scripted by step id (or `step[item]` for one item of a
/// `for_each` step), one outcome per attempt in order; the last one repeats. A step without a
/// script succeeds with no output.
public final class ScriptedExecutor: StepExecutor {
    public enum Outcome: Sendable {
        /// Exits 0 having written this to stdout.
        case succeed(String)
        /// Exits with this status.
        case fail(Int32)
        /// Runs until wfd stops it (a cancel, a timeout): ends cancelled.
        case hang
    }

    private let script: Locked<[String: [Outcome]]>
    private let seen = Locked<[StepInvocation]>([])

    public init(_ script: [String: [Outcome]] = [:]) { self.script = Locked(script) }

    /// Every invocation, in the order they were made.
    public var invocations: [StepInvocation] { seen.withLock { $0 } }

    /// The invocations of one step (all items), in order.
    public func invocations(of step: String) -> [StepInvocation] {
        invocations.filter { $0.step.rawValue == step }
    }

    public func execute(_ invocation: StepInvocation, control: StepControl, logger: Logger) async -> AttemptResult {
        seen.withLock { $0.append(invocation) }
        let keys = [invocation.item.map { "\(invocation.step)[\($0)]" }, invocation.step.rawValue].compactMap { $0 }
        let outcome: Outcome = script.withLock { script in
            guard let key = keys.first(where: { script[$0] != nil }), var outcomes = script[key], !outcomes.isEmpty
            else { return .succeed("") }
            let next = outcomes.removeFirst()
            if !outcomes.isEmpty { script[key] = outcomes }
            return next
        }
        switch outcome {
        case .succeed(let text):
            return AttemptResult(outcome: .succeeded, exitCode: 0, stdout: Array(text.utf8))
        case .fail(let status):
            var result = AttemptResult(outcome: .failed, exitCode: status, error: "exited with status \(status)")
            result.errorKind = .exitStatus
            return result
        case .hang:
            let reason = await control.waitForTermination() ?? "the task was cancelled"
            return AttemptResult(outcome: .cancelled, error: "cancelled: \(reason)")
        }
    }
}

/// What code under test reports as it goes (a run's transitions, the scheduler's turns), to wait
/// on: hand ``observer`` to its `observe` hook, then wait for the report a test needs.
public final class Observations<Value: Sendable>: Sendable {
    private let stream: AsyncStream<Value>
    private let continuation: AsyncStream<Value>.Continuation

    public init() { (stream, continuation) = AsyncStream.makeStream(of: Value.self) }

    public var observer: @Sendable (Value) -> Void { { [continuation] in continuation.yield($0) } }

    /// The first report from now on for which `condition` holds, or the first for which `last`
    /// does (nothing more will come that could hold: a test then fails rather than waits).
    public func first(where condition: (Value) -> Bool, orLast last: (Value) -> Bool = { _ in false }) async
        -> Value?
    {
        for await value in stream where condition(value) || last(value) { return value }
        return nil
    }
}

/// The transitions of the runs a ``RunCoordinator`` executes.
public typealias RunTransitions = Observations<RunTransition>

extension Observations where Value == RunTransition {
    /// The first snapshot from now on for which `condition` holds (its effects are on disk), or
    /// the run's last one if it ended first.
    public func until(_ condition: (RunSnapshot) -> Bool) async -> RunSnapshot? {
        await first(where: { condition($0.snapshot) }, orLast: { $0.snapshot.run.state.isTerminal })?.snapshot
    }
}

/// The scheduler's turns: what status would show after each (its writes done).
public typealias SchedulerTurns = Observations<SchedulerSnapshot>

extension Observations where Value == SchedulerSnapshot {
    /// The first turn after which `job` is as `condition` wants it.
    public func until(_ job: JobID, _ condition: (SchedulerSnapshot.Job) -> Bool) async -> SchedulerSnapshot.Job? {
        await first { snapshot in
            snapshot.ids.firstIndex(of: job).flatMap { snapshot.job(at: $0) }.map(condition) ?? false
        }.flatMap { snapshot in snapshot.ids.firstIndex(of: job).flatMap { snapshot.job(at: $0) } }
    }
}
