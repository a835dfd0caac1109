import Foundation
import JobFormat
import RunModel
import WorkflowEngine

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
