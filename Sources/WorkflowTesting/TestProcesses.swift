import Foundation
import RuntimeSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Starts and waits for every program the tests run, without ever blocking a thread of the
/// concurrency pool (two on a two-core machine: one blocked wait there stalls half of the suite,
/// two stall all of it).
///
/// Every program is started by one thread that lives as long as the test process, under
/// `setpriv --pdeathsig KILL`: the kernel kills the program when the thread that started it ends,
/// so a crashed or killed test process leaves no daemon behind. (The "parent" of
/// `PR_SET_PDEATHSIG` is the thread that forked, and a pool thread may end at any time: that is
/// why it is a thread of its own.) Each wait for an exit happens on a thread of its own too.
public enum TestProcesses {
    /// What a program's standard streams are.
    public struct Streams: Sendable {
        /// stdout and stderr both go to this file (created or truncated).
        public var output: String
        /// Appended rather than truncated.
        public var append = false

        public init(output: String, append: Bool = false) {
            self.output = output
            self.append = append
        }
    }

    private static let spawner = Spawner()

    /// Starts `executable` with exactly `environment` (plus the sanitizers' settings); returns its PID.
    /// Blocks only for the hand-off to the spawner thread (the fork and exec of setpriv).
    public static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String], streams: Streams
    ) throws -> Int32 {
        let argv = ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--", executable] + arguments
        let envp = withSanitizerOptions(environment).map { "\($0.key)=\($0.value)" }
        let result = spawner.perform { () -> Result<Int32, TestKitError> in
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            let mode = O_WRONLY | O_CREAT | (streams.append ? O_APPEND : O_TRUNC)
            posix_spawn_file_actions_addopen(&actions, 1, streams.output, mode, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            let cArguments = argv.map { strdup($0) } + [nil]
            defer { cArguments.forEach { free($0) } }
            let cEnvironment = envp.map { strdup($0) } + [nil]
            defer { cEnvironment.forEach { free($0) } }
            var pid: pid_t = 0
            let code = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
            guard code == 0 else {
                return .failure(TestKitError("cannot run \(executable): \(String(cString: strerror(code)))"))
            }
            return .success(pid)
        }
        return try result.get()
    }

    /// Waits for `pid` to exit, on a thread of its own, and returns its status (128 + the signal
    /// for a program killed by one).
    public static func exitStatus(of pid: Int32) async -> Int32 {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var status: Int32 = 0
                var reaped: pid_t
                repeat { reaped = waitpid(pid, &status, 0) } while reaped < 0 && errno == EINTR
                guard reaped == pid else { return continuation.resume(returning: 255) }
                // WIFEXITED / WEXITSTATUS, which Swift does not import as macros.
                continuation.resume(returning: status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F))
            }
            thread.name = "test-wait-\(pid)"
            thread.start()
        }
    }
}

/// One thread that runs closures handed to it, one at a time, for as long as the process lives.
private final class Spawner: Sendable {
    private struct Queue {
        var work: [@Sendable () -> Void] = []
    }

    private let queue = Locked(Queue())
    private let ready = DispatchSemaphore(value: 0)

    init() {
        let thread = Thread { [self] in
            while true {
                ready.wait()
                let next = queue.withLock { $0.work.isEmpty ? nil : $0.work.removeFirst() }
                next?()
            }
        }
        thread.name = "test-spawner"
        thread.start()
    }

    /// Runs `body` on the spawner thread and returns its result.
    func perform<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Locked<T?>(nil)
        queue.withLock {
            $0.work.append {
                let value = body()
                result.withLock { $0 = value }
                done.signal()
            }
        }
        ready.signal()
        done.wait()
        guard let value = result.withLock({ $0 }) else { preconditionFailure("set before done was signalled") }
        return value
    }
}
