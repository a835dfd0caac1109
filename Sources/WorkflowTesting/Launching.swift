import Foundation
import RunModel

extension RunSnapshot {
    /// The snapshot with every open attempt that has not begun launched at `at`, as the engine
    /// launches them when no fire time lies ahead: the machine then has processes to terminate.
    public func launched(at: Date) throws(TransitionError) -> RunSnapshot {
        var snapshot = self
        for step in steps {
            for record in step.items ?? [step] {
                guard record.state == .running, let open = record.attempts.last, open.startedAt == nil,
                    open.endedAt == nil
                else { continue }
                _ = try RunMachine.apply(
                    &snapshot, .launch(record.step, attempt: open.number, at: at, item: record.item))
            }
        }
        return snapshot
    }
}
