#if canImport(Glibc)
    import Glibc
#endif

/// A `flock` on a file (exclusive, or shared with ``lock(_:shared:)``), held until this value is
/// released or deinitialised.
///
/// `flock` (not POSIX record locks) because a record lock is dropped when *any* descriptor of the
/// file is closed by the process. The kernel releases the lock if the process dies.
public final class FileLock: Sendable {
    public let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Takes the lock without waiting; nil when another open file description holds it.
    ///
    /// - Throws: ``StoreError/system(operation:path:errno:)`` when the file cannot be opened.
    public static func tryLock(_ path: String) throws(StoreError) -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw .system(operation: "flock", path: path, errno: code)
        }
        return FileLock(path: path, fd: fd)
    }

    /// Takes the lock, waiting for it: `shared` with other shared holders (appenders), or
    /// exclusive (a rebuild).
    ///
    /// - Throws: ``StoreError/system(operation:path:errno:)`` when the file cannot be opened or locked.
    public static func lock(_ path: String, shared: Bool) throws(StoreError) -> FileLock {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
        while flock(fd, shared ? LOCK_SH : LOCK_EX) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            throw .system(operation: "flock", path: path, errno: code)
        }
        return FileLock(path: path, fd: fd)
    }

    /// True when some process holds an exclusive lock on `path`. Probes with a shared lock, so it
    /// never blocks the holder; a missing or unreadable file counts as not held.
    public static func isHeld(_ path: String) -> Bool { probe(path) == .held }

    /// What a look at the lock on `path` found.
    public enum Probe: Sendable, Equatable {
        case held, free, missing
        /// The caller may not open the file, so cannot tell.
        case denied
    }

    /// Looks at the lock on `path` with a shared, non-blocking `flock`.
    public static func probe(_ path: String) -> Probe {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno == ENOENT ? .missing : .denied }
        defer { close(fd) }
        while flock(fd, LOCK_SH | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            return errno == EWOULDBLOCK ? .held : .free
        }
        return .free
    }
}
