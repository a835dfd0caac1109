import RuntimeSupport
import WorkflowEngine

/// A ``DaemonStatusReporter`` that remembers what it was told, in order.
public final class RecordingReporter: DaemonStatusReporter {
    private let messages = Locked<[String]>([])
    public let watchdogInterval: Duration?

    public init(watchdogInterval: Duration? = nil) { self.watchdogInterval = watchdogInterval }

    /// Everything reported so far, like `READY=1 STATUS=…`.
    public var recorded: [String] { messages.withLock { $0 } }

    public func ready(status: String) { append("READY=1 STATUS=\(status)") }
    public func reloading(status: String) { append("RELOADING=1 STATUS=\(status)") }
    public func stopping(status: String) { append("STOPPING=1 STATUS=\(status)") }
    public func status(_ text: String) { append("STATUS=\(text)") }
    public func watchdog() { append("WATCHDOG=1") }

    private func append(_ message: String) { messages.withLock { $0.append(message) } }
}
