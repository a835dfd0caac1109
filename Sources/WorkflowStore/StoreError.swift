/// Why the state directory could not be read or written. Carries the path and the system's reason.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call failed on `path`.
    case system(operation: String, path: String, errno: Int32)
    /// A record exists but is not valid JSON of the expected shape.
    case corrupt(path: String, reason: String)
    /// The record does not exist.
    case missing(path: String)
    /// A lock is held by another process.
    case locked(path: String)

    public var description: String {
        switch self {
        case .system(let operation, let path, let code):
            "\(operation) '\(path)': \(String(cString: strerror(code)))"
        case .corrupt(let path, let reason): "record '\(path)' is unreadable: \(reason)"
        case .missing(let path): "'\(path)' does not exist"
        case .locked(let path): "'\(path)' is locked by another process"
        }
    }
}

#if canImport(Glibc)
    import Glibc
#endif
