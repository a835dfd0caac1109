import Foundation
import Logging
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

/// Durable writes that meet a full disk wait for space instead of failing what they record.
///
/// A record write is atomic (``RecordFile``): when the file system is full the temporary file is
/// removed and the record on disk keeps its previous version. A run's progress is such a write, so
/// rather than failing a step that did its work, the run waits at that write and tries it again
/// until space returns; nothing after it (a spawn, the next record) happens before it succeeds.
enum FullDisk {
    /// How often a write refused for want of space is tried again.
    static let retryInterval: Duration = .seconds(1)
    /// How often a wait that goes on is logged again.
    static let reminderInterval: Duration = .seconds(60)

    static func isFull(_ error: StoreError) -> Bool {
        guard case .system(_, _, let code) = error else { return false }
        return code == ENOSPC || code == EDQUOT
    }

    /// Runs `write` on an I/O thread. While it fails with ENOSPC or EDQUOT it is tried again every
    /// second (logged when the wait starts, every minute it lasts and when it ends); any other
    /// error, or the task's cancellation, ends it with the last error.
    static func write(_ logger: Logger, _ write: @escaping @Sendable () throws(StoreError) -> Void)
        async throws(StoreError)
    {
        var waitingSince: ContinuousClock.Instant?
        var lastReminder = ContinuousClock.now
        while true {
            do {
                try await BlockingIO.shared.run(write)
                if let since = waitingSince {
                    let waited = since.duration(to: .now).components.seconds
                    logger.notice(
                        "space in the state directory is back: the record was written after waiting \(waited) s, the run goes on"
                    )
                }
                return
            } catch {
                guard isFull(error), !Task.isCancelled else { throw error }
                if waitingSince == nil || lastReminder.duration(to: .now) >= reminderInterval {
                    logger.error(
                        "the state directory is full (\(error)): the record on disk keeps its previous version and the run waits here, trying again every second; free space on that file system and it goes on"
                    )
                    lastReminder = .now
                }
                if waitingSince == nil { waitingSince = .now }
                try? await Task.sleep(for: retryInterval)
            }
        }
    }
}
