#if canImport(Glibc)
    import Glibc
#endif

/// A value only reached under a lock: `Synchronization.Mutex`'s `withLock`, over a pthread mutex.
///
/// ThreadSanitizer sees a pthread mutex (it intercepts `pthread_mutex_lock`), but not the atomics
/// of `Synchronization.Mutex` on Linux: with Swift 6.3.1 it reports every access made under one
/// as a race, even in a four-line program, which would make `make sanitize` useless.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock.
    public func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure)
        -> Result
    {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
