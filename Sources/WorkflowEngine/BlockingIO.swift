import Foundation

/// Threads of their own for blocking file work (durable writes: fsync), so it never occupies
/// the concurrency pool (two threads on a two-core machine) and concurrent writes overlap, letting
/// the file system commit their fsyncs together.
public final class BlockingIO: Sendable {
    /// The pool the engine uses.
    public static let shared = BlockingIO(threads: 16)

    private let condition = NSCondition()
    // Guarded by `condition`; only touched with it locked.
    nonisolated(unsafe) private var pending: [@Sendable () -> Void] = []
    // The next of `pending` to run (taking from the front of an array would be O(n)).
    nonisolated(unsafe) private var next = 0

    init(threads: Int) {
        for index in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "wfd-io-\(index)"
            thread.start()
        }
    }

    /// Runs `body` on an I/O thread and returns its result.
    public func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            condition.lock()
            pending.append {
                do throws(E) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            condition.signal()
            condition.unlock()
        }
        return try result.get()
    }

    private func work() {
        while true {
            condition.lock()
            while next == pending.count { condition.wait() }
            let job = pending[next]
            next += 1
            if next == pending.count || (next >= 256 && next * 2 >= pending.count) {
                pending.removeFirst(next)  // amortized O(1): at least half of what it moves is gone
                next = 0
            }
            condition.unlock()
            job()
        }
    }
}
