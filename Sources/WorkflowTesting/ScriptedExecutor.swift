import Foundation
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
