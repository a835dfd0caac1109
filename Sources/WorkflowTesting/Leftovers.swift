import RuntimeSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Processes a test started that must not outlive the test process: daemons whose clean-up runs
/// in a task the process may not wait for, and sandboxed systemd instances. At exit they get
/// SIGKILL (by their own PID only), and SIGPIPE is ignored so that a reader closing the test's
/// output early (`swift test | head`) cannot kill the test process before its clean-up.
public enum Leftovers {
    static let pids = Locked<Set<Int32>>([])
    static let installed = Locked(false)

    /// Kills `pid` when the test process exits, unless ``forget(_:)`` was called first.
    public static func killAtExit(_ pid: Int32) {
        installed.withLock { done in
            guard !done else { return }
            done = true
            signal(SIGPIPE, SIG_IGN)
            atexit { Leftovers.killAll() }
        }
        pids.withLock { _ = $0.insert(pid) }
    }

    /// `pid` has ended: nothing to do at exit.
    public static func forget(_ pid: Int32) { pids.withLock { _ = $0.remove(pid) } }

    static func killAll() {
        for pid in pids.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
}
