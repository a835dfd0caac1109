import Foundation
import ServiceLifecycle

/// Runs `body` on a thread of its own until it returns, calling `stop` on graceful shutdown or
/// cancellation; `body` must notice within a moment (the callers poll a flag every 100 ms).
///
/// For services whose work is blocking system calls (inotify reads, accept), which must never
/// occupy a thread of the concurrency pool.
public func runOnOwnThread(
    named name: String, stop: @escaping @Sendable () -> Void, _ body: @escaping @Sendable () -> Void
) async {
    await withGracefulShutdownHandler {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    body()
                    done.resume()
                }
                thread.name = name
                thread.start()
            }
        } onCancel: {
            stop()
        }
    } onGracefulShutdown: {
        stop()
    }
}
