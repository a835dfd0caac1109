import Foundation

/// What kind of failure ended an attempt. Stored as its raw string.
public enum FailureKind: String, Sendable, Codable, CaseIterable {
    /// A process exited with a non-zero status.
    case exitStatus = "exit_status"
    /// A process was killed by a signal it did not ask for.
    case signal
    case timeout
    /// The step could not be started (no such program, user, working directory, secret…).
    case start
    /// Its output broke `output: json` or the output limit.
    case output
    /// A template could not be filled.
    case template
    /// An HTTP status outside `expect`.
    case httpStatus = "http_status"
    /// The connection failed, the server answered 429 or 5xx, or it did not answer in time.
    case transport
    /// The model's output did not match the schema after every repair.
    case invalidOutput = "invalid_output"
    /// The next model call could have passed a budget.
    case budgetExceeded = "budget_exceeded"
    /// An agent asked for tools after its last turn (`max_turns`).
    case maxTurns = "max_turns"
    /// A person (or the approval's timeout) rejected it.
    case rejected
    case cancelled
    case interrupted
    /// Killed by the kernel for passing `resources.memory_max`.
    case oom
}

/// What an attempt's processes used, from its unit: CPU time exactly (systemd keeps it past the
/// end), memory and tasks as the highest of samples taken while it ran.
public struct ResourceUsage: Sendable, Equatable, Codable {
    public var cpuNanoseconds: UInt64?
    /// The highest memory of the unit's cgroup seen (`memory.peak` where the kernel has it, else
    /// the sum of its processes' resident memory), sampled every 100 ms.
    public var memoryPeakBytes: UInt64?
    /// The most processes and threads seen at once, sampled alike.
    public var tasksPeak: Int?

    public init(cpuNanoseconds: UInt64? = nil, memoryPeakBytes: UInt64? = nil, tasksPeak: Int? = nil) {
        self.cpuNanoseconds = cpuNanoseconds
        self.memoryPeakBytes = memoryPeakBytes
        self.tasksPeak = tasksPeak
    }

    enum CodingKeys: String, CodingKey {
        case cpuNanoseconds = "cpu_ns"
        case memoryPeakBytes = "memory_peak_bytes"
        case tasksPeak = "tasks_peak"
    }
}
