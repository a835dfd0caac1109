import Foundation
import Logging
import WorkflowCore

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

/// Runs step attempts. A failing step is a result, never a thrown error.
public protocol StepExecutor: Sendable {
    /// Runs the attempt to its end and reports how it ended. `control` may ask it to stop early.
    func execute(_ invocation: StepInvocation, control: StepControl, logger: Logger) async -> AttemptResult
}

/// Lets the run coordinator stop a running attempt (cancel, shutdown).
public final class StepControl: Sendable {
    private let stream: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation

    public init() {
        (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks the attempt to stop, for `reason`. Safe to call more than once or after it ended.
    public func terminate(reason: String) { continuation.yield(reason) }

    /// Waits until ``terminate(reason:)`` is called (its reason) or the task is cancelled (nil).
    public func waitForTermination() async -> String? {
        for await reason in stream { return reason }
        return nil
    }
}
