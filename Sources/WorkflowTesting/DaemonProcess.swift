import Foundation
import RuntimeSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A built `wfd` (or any program) started by a test, with its stderr and stdout in a file. It dies
/// with the test process, however that ends (see ``TestProcesses``).
public final class DaemonProcess: Sendable {
    public let pid: Int32
    public let stderrPath: String
    private let exitStatus = ExitBox()
    private let exited: AsyncStream<Int32>

    /// Starts `executable` with exactly `environment` (nothing inherited but the sanitizers' settings).
    public init(executable: String, arguments: [String], environment: [String: String], stderrPath: String) throws {
        pid = try TestProcesses.spawn(
            executable, arguments, environment: environment, streams: .init(output: stderrPath))
        self.stderrPath = stderrPath
        Leftovers.killAtExit(pid)
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        exited = stream
        Task { [pid, exitStatus] in
            let code = await TestProcesses.exitStatus(of: pid)
            Leftovers.forget(pid)
            exitStatus.value.withLock { $0 = code }
            continuation.yield(code)
            continuation.finish()
        }
    }

    /// Sends `signal` to the process (unless it has been reaped: its PID may be another's now).
    public func send(_ signal: Int32) {
        if exitStatus.value.withLock({ $0 }) == nil { kill(pid, signal) }
    }

    /// Waits for the exit status (128 + the signal for a process killed by one, as a shell says),
    /// or nil after `timeout` (saying so on stderr).
    public func waitForExit(timeout: Duration = .seconds(30), fileID: String = #fileID, line: Int = #line) async
        -> Int32?
    {
        let stream = exited
        let status = exitStatus
        let code = await withTaskGroup(of: Int32?.self) { group in
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
        if code == nil {
            FileHandle.standardError.write(
                Data("waitForExit: process \(pid) still running at \(fileID):\(line) after \(timeout)\n".utf8))
        }
        return code
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

/// The exit status, once known, shared with the task that waits for it.
final class ExitBox: Sendable {
    let value = Locked<Int32?>(nil)
}
