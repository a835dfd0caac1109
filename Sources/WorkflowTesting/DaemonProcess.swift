import Foundation
import WorkflowCore

#if canImport(Glibc)
    import Glibc
#endif

/// A built `wfd` (or any program) started by a test, with its stderr in a file.
public final class DaemonProcess: Sendable {
    public let pid: Int32
    public let stderrPath: String
    private let process: Process
    private let exitStatus = ExitBox()
    private let exited: AsyncStream<Int32>

    /// Starts `executable` with exactly `environment` (nothing inherited but the sanitizers' settings).
    public init(executable: String, arguments: [String], environment: [String: String], stderrPath: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = withSanitizerOptions(environment)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let status = exitStatus
        process.terminationHandler = { finished in
            Leftovers.forget(finished.processIdentifier)
            status.value.withLock { $0 = finished.terminationStatus }
            continuation.yield(finished.terminationStatus)
            continuation.finish()
        }
        try process.run()
        self.process = process
        pid = process.processIdentifier
        Leftovers.killAtExit(pid)
        // It may have ended (and been forgotten) before it was registered.
        if status.value.withLock({ $0 }) != nil { Leftovers.forget(pid) }
        self.stderrPath = stderrPath
        exited = stream
    }

    /// Sends `signal` to the process.
    public func send(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the exit status, or nil after `timeout`.
    public func waitForExit(timeout: Duration = .seconds(30)) async -> Int32? {
        let stream = exited
        let status = exitStatus
        return await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await code in stream { return code }
                return status.value.withLock { $0 }
            }
            group.addTask {
                try? await Task.sleep(for: timeout * testTimeoutScale)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? status.value.withLock { $0 }
        }
    }

    /// What the process wrote to stderr and stdout so far.
    public var output: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Kills the process if it still runs (SIGKILL) and waits for it.
    public func stop() async {
        if exitStatus.value.withLock({ $0 }) == nil {
            kill(pid, SIGKILL)
            _ = await waitForExit(timeout: .seconds(5))
        }
    }
}

/// The exit status, once known, shared with the termination handler.
final class ExitBox: Sendable {
    let value = Locked<Int32?>(nil)
}
