import Foundation
import Logging
import WorkflowEngine

/// Chooses how `run:` steps start: as transient units when wfd was started by systemd and the
/// system bus answers, else as child processes.
public enum UnitExecutorSetup {
    public enum Choice: String, Sendable, CaseIterable {
        case auto, process, unit
    }

    /// Why units cannot be used here, or nil when they can (connecting only to check).
    public static func obstacle(choice: Choice, environment: [String: String]) -> String? {
        if choice == .process { return "wfd was started with --executor process" }
        if choice == .auto, environment["INVOCATION_ID"] == nil {
            return "wfd was not started by systemd"
        }
        switch SystemdBus.reachable(address: SystemdBus.preferredAddress(environment: environment)) {
        case .success: return nil
        case .failure(let error): return "systemd cannot be reached over D-Bus: \(error)"
        }
    }

    /// The executors for the daemon: the unit executor over a new bus connection when it can be
    /// had (with `--executor unit` it must be), else the process executor alone.
    public static func make(
        choice: Choice, environment: [String: String], gracePeriod: Duration, logger: Logger? = nil
    ) async -> Result<StepExecutors, UnitError> {
        let process = ShellExecutor(gracePeriod: gracePeriod)
        if let obstacle = obstacle(choice: choice, environment: environment) {
            if choice == .unit { return .failure(UnitError(name: "", message: obstacle)) }
            return .success(StepExecutors(process: process, unit: nil, preferred: .process, unitUnavailable: obstacle))
        }
        do {
            let bus = try await SystemdBus.connect(
                address: SystemdBus.preferredAddress(environment: environment), logger: logger)
            let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first.map(String.init) ?? "/run/wfd"
            let unit = UnitExecutor(
                manager: bus, credentialsDirectory: runtime + "/credentials", gracePeriod: gracePeriod)
            return .success(StepExecutors(process: process, unit: unit, preferred: .unit, unitUnavailable: nil))
        } catch {
            if choice == .unit { return .failure(error) }
            return .success(
                StepExecutors(
                    process: process, unit: nil, preferred: .process,
                    unitUnavailable: "systemd cannot be reached over D-Bus: \(error)"))
        }
    }
}
