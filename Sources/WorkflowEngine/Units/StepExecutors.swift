import JobFormat
import Logging
import RunModel

/// The executors of `run:` steps and which one a job gets: its `executor:`, else the one wfd chose
/// at start-up (``preferred``: units under systemd with the system bus, processes elsewhere).
public struct StepExecutors: StepExecutor {
    public let process: any StepExecutor
    public let unit: (any StepExecutor)?
    public let preferred: ExecutorKind
    /// Why there is no unit executor, for the errors of jobs that ask for one.
    public let unitUnavailable: String?

    public init(
        process: any StepExecutor, unit: (any StepExecutor)?, preferred: ExecutorKind, unitUnavailable: String?
    ) {
        self.process = process
        self.unit = unit
        self.preferred = unit == nil ? .process : preferred
        self.unitUnavailable = unitUnavailable
    }

    func kind(of invocation: StepInvocation) -> ExecutorKind { invocation.executor ?? preferred }

    public func execute(_ invocation: StepInvocation, control: StepControl, logger: Logger) async -> AttemptResult {
        switch kind(of: invocation) {
        case .unit:
            guard let unit else {
                return .failure(
                    .start,
                    "the job asks for 'executor: unit', which this wfd cannot use: \(unitUnavailable ?? "no systemd")",
                    retriable: false)
            }
            return await unit.execute(invocation, control: control, logger: logger)
        case .process:
            var asked: [String] = []
            if !invocation.sandbox.isEmpty { asked.append("'sandbox:'") }
            if !invocation.resources.isEmpty { asked.append("'resources:'") }
            guard asked.isEmpty else {
                let why = invocation.executor == .process ? "the job sets 'executor: process'" : (unitUnavailable ?? "")
                return .failure(
                    .start,
                    "the step has \(asked.joined(separator: " and ")), which only the unit executor applies, and it runs as a process (\(why))",
                    retriable: false)
            }
            return await process.execute(invocation, control: control, logger: logger)
        }
    }

    public func survivors(of attempts: [AttemptKey]) async -> Set<AttemptKey> {
        await unit?.survivors(of: attempts) ?? []
    }

    public func recorded(_ attempt: AttemptKey) async {
        await unit?.recorded(attempt)
    }

    public func sweep(recorded: @escaping @Sendable (AttemptKey) -> String?) async -> [String] {
        await unit?.sweep(recorded: recorded) ?? []
    }

    public func outlivesDaemon(_ invocation: StepInvocation) -> Bool {
        kind(of: invocation) == .unit && unit != nil
    }

    /// One line for `wfctl status` and `wfd --version`.
    public var summary: String {
        switch preferred {
        case .unit: "unit (run steps are transient services in wfd.slice)"
        case .process: "process (run steps are children of wfd\(unitUnavailable.map { ": \($0)" } ?? ""))"
        }
    }
}
