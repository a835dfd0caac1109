import Foundation
import RuntimeSupport

/// Wakes tasks when something changes in a directory (a file in it created, written, closed or
/// renamed into it), through one inotify descriptor and one thread for the whole process. A
/// subscription keeps which of its directories changed since its last wait, so nothing that
/// happens between a reader's last read and its wait is missed, and the reader learns where; a
/// wait also ends at its deadline. A directory is watched while a subscription holds it.
public final class DirectoryWatcher: Sendable {
    public static let shared = DirectoryWatcher()

    /// Interest in some directories, from ``subscribe(_:)`` until ``cancel(_:)``.
    public struct Subscription: Sendable, Hashable {
        fileprivate let id: UInt64
        /// Whether every directory asked for is watched (one that does not exist yet is not).
        public let complete: Bool
    }

    private struct Subscriber {
        let paths: [String]
        let descriptors: [Int32]
        /// The directories that changed since the last wait.
        var pending: Set<String> = []
        var waiter: (deadline: ContinuousClock.Instant, continuation: CheckedContinuation<Set<String>, Never>)?
    }

    private struct Table {
        var watches: [String: (descriptor: Int32, users: Int)] = [:]
        var subscribers: [UInt64: Subscriber] = [:]
        var next: UInt64 = 0
    }

    private let descriptor: Int32
    private let table = Locked(Table())

    init() {
        descriptor = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        let thread = Thread { [self] in self.loop() }
        thread.name = "wfd-web-watch"
        thread.start()
    }

    /// Starts watching `directories`. One that cannot be watched (it does not exist yet) is left
    /// out: waits then only end at their deadline for it.
    public func subscribe(_ directories: [String]) -> Subscription {
        let mask = UInt32(IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO)
        return table.withLock { table in
            var paths: [String] = []
            var descriptors: [Int32] = []
            for path in directories {
                if let watch = table.watches[path] {
                    table.watches[path] = (watch.descriptor, watch.users + 1)
                    (paths, descriptors) = (paths + [path], descriptors + [watch.descriptor])
                    continue
                }
                let wd = inotify_add_watch(descriptor, path, mask)
                guard wd >= 0 else { continue }
                table.watches[path] = (wd, 1)
                (paths, descriptors) = (paths + [path], descriptors + [wd])
            }
            table.next += 1
            table.subscribers[table.next] = Subscriber(paths: paths, descriptors: descriptors)
            return Subscription(id: table.next, complete: paths.count == directories.count)
        }
    }

    /// Waits until something changed in the subscription's directories since its last wait (at
    /// once if it already has) or `timeout` passes; returns the directories that changed (none:
    /// the timeout).
    public func wait(_ subscription: Subscription, timeout: Duration) async -> Set<String> {
        let deadline = ContinuousClock.now + timeout
        return await withCheckedContinuation { continuation in
            let now: Set<String>? = table.withLock { table in
                guard var subscriber = table.subscribers[subscription.id] else { return [] }
                if !subscriber.pending.isEmpty {
                    let changed = subscriber.pending
                    subscriber.pending = []
                    table.subscribers[subscription.id] = subscriber
                    return changed
                }
                subscriber.waiter = (deadline, continuation)
                table.subscribers[subscription.id] = subscriber
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    public func cancel(_ subscription: Subscription) {
        let waiter = table.withLock { table in
            guard let subscriber = table.subscribers.removeValue(forKey: subscription.id) else {
                return nil as CheckedContinuation<Set<String>, Never>?
            }
            for path in subscriber.paths {
                guard let watch = table.watches[path] else { continue }
                if watch.users > 1 {
                    table.watches[path] = (watch.descriptor, watch.users - 1)
                } else {
                    table.watches[path] = nil
                    inotify_rm_watch(descriptor, watch.descriptor)
                }
            }
            return subscriber.waiter?.continuation
        }
        waiter?.resume(returning: [])
    }

    /// Reads events and wakes their subscribers; every 20 ms wakes those whose deadline passed.
    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            // Without inotify (its limits reached), waits end at their deadlines only.
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            if descriptor < 0 || poll(&poller, 1, 20) < 0 { usleep(20_000) }
            var changed: Set<Int32> = []
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                guard count > 0 else { break }
                var offset = 0
                while offset + 16 <= count {
                    // struct inotify_event { int wd; uint32_t mask, cookie, len; char name[]; }
                    let (wd, length) = buffer.withUnsafeBytes { bytes in
                        (
                            bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self),
                            Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                        )
                    }
                    changed.insert(wd)
                    offset += 16 + length
                }
            }
            let now = ContinuousClock.now
            let woken: [(CheckedContinuation<Set<String>, Never>, Set<String>)] = table.withLock { table in
                var woken: [(CheckedContinuation<Set<String>, Never>, Set<String>)] = []
                for (key, var subscriber) in table.subscribers {
                    let touched = Set(
                        zip(subscriber.paths, subscriber.descriptors).filter { changed.contains($0.1) }.map(\.0))
                    if let waiter = subscriber.waiter, !touched.isEmpty || waiter.deadline <= now {
                        subscriber.waiter = nil
                        woken.append((waiter.continuation, touched))
                    } else if !touched.isEmpty {
                        subscriber.pending.formUnion(touched)
                    } else {
                        continue
                    }
                    table.subscribers[key] = subscriber
                }
                return woken
            }
            for (continuation, touched) in woken { continuation.resume(returning: touched) }
        }
    }
}
