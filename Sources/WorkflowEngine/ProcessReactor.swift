import CLinux
import Foundation
import RuntimeSupport

#if canImport(Glibc)
    import Glibc
#endif

/// One thread that waits, with epoll, on the output and the end of every step process.
///
/// For each process it reads stdout and stderr as they come and hands the bytes to `output`; when
/// the pidfd says the process ended it reaps it and calls `exited` (which kills whatever the step
/// left in its process group, so that the pipes reach their end); once the process is reaped and
/// both pipes are at their end it calls `finished`. A pipe still held open ``drainLimit`` after
/// the process ended (by a process that left the step's group) is closed and said so.
final class ProcessReactor: Sendable {
    /// The reactor of the engine.
    static let shared = ProcessReactor()

    enum Stream: String, Sendable {
        case stdout, stderr
    }

    struct Handlers: Sendable {
        /// Bytes the process wrote, in order per stream; called on the reactor's thread.
        let output: @Sendable ([UInt8], Stream) -> Void
        /// The process was reaped (its pipes may still be open).
        let exited: @Sendable () -> Void
        /// The end: how the process ended, and whether output was left unread in pipes still
        /// held by another process at the drain limit.
        let finished: @Sendable (ChildProcess.End, _ outputAbandoned: Bool) -> Void
    }

    private enum Source {
        case output(Stream)
        case exit
    }

    private struct Registration {
        let watch: Int
        let source: Source
        let fd: Int32
    }

    private struct Watch {
        let child: ChildProcess
        let handlers: Handlers
        var tokens: Set<UInt64> = []
        var openStreams: Set<Stream> = [.stdout, .stderr]
        var end: ChildProcess.End?
        var drainDeadline: ContinuousClock.Instant?
        var abandoned = false
    }

    private struct State {
        var nextWatch = 0
        var nextToken: UInt64 = 1
        var registrations: [UInt64: Registration] = [:]
        var watches: [Int: Watch] = [:]
    }

    /// How long the pipes of a process that ended may stay open before they are closed unread.
    let drainLimit: Duration
    private let epoll: Int32
    private let state = Locked(State())

    init(drainLimit: Duration = .seconds(2)) {
        self.drainLimit = drainLimit
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { return }  // every watch(…) then fails and says why
        let thread = Thread { [self] in loop() }
        thread.name = "wfd-processes"
        thread.start()
    }

    struct WatchError: Error, CustomStringConvertible {
        let description: String
    }

    /// Takes over `child`: its pipes and pidfd are the reactor's from now on, closed by it.
    ///
    /// Throws when the process cannot be watched (no epoll): the caller must then kill and reap it.
    func watch(_ child: ChildProcess, handlers: Handlers) throws(WatchError) {
        guard epoll >= 0 else {
            throw WatchError(description: "wfd cannot watch processes (epoll_create1 failed at start-up)")
        }
        let sources: [(Source, Int32)] = [
            (.output(.stdout), child.stdout), (.output(.stderr), child.stderr), (.exit, child.pidfd),
        ]
        let tokens: [UInt64] = state.withLock { state in
            let id = state.nextWatch
            state.nextWatch += 1
            var watch = Watch(child: child, handlers: handlers)
            var tokens: [UInt64] = []
            for (source, fd) in sources {
                let token = state.nextToken
                state.nextToken += 1
                state.registrations[token] = Registration(watch: id, source: source, fd: fd)
                watch.tokens.insert(token)
                tokens.append(token)
            }
            state.watches[id] = watch
            return tokens
        }
        for (token, (_, fd)) in zip(tokens, sources) {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.u64 = token
            guard epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0 else {
                let reason = errnoText()
                state.withLock { state in
                    for token in tokens {
                        if let fd = state.registrations.removeValue(forKey: token)?.fd {
                            _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
                        }
                    }
                    state.watches = state.watches.filter { $0.value.tokens.isDisjoint(with: tokens) }
                }
                throw WatchError(description: "wfd cannot watch the process: \(reason)")
            }
        }
    }

    private func loop() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = epoll_wait(epoll, &events, Int32(events.count), timeoutMilliseconds())
            if count < 0 {
                if errno != EINTR { usleep(10_000) }  // cannot happen with a valid epoll fd; never spin
                continue
            }
            for event in events.prefix(Int(count)) {
                handle(token: event.data.u64, buffer: &buffer)
            }
            expireDrains()
        }
    }

    private func handle(token: UInt64, buffer: inout [UInt8]) {
        // Only this thread closes registered descriptors, so `fd` stays valid outside the lock.
        guard let registration = state.withLock({ $0.registrations[token] }) else { return }
        switch registration.source {
        case .output(let stream):
            let count = buffer.withUnsafeMutableBytes { read(registration.fd, $0.baseAddress, $0.count) }
            if count > 0 {
                let handlers = state.withLock { $0.watches[registration.watch]?.handlers }
                handlers?.output(Array(buffer.prefix(count)), stream)
            } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                close(token)
            }
        case .exit:
            guard let pid = state.withLock({ $0.watches[registration.watch]?.child.pid }) else { return }
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == 0 { return }  // not yet (a spurious wake-up)
            let end: ChildProcess.End =
                reaped < 0 ? .lost : status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
            close(token)
            let handlers: Handlers? = state.withLock { state in
                guard var watch = state.watches[registration.watch] else { return nil }
                watch.end = end
                if !watch.openStreams.isEmpty { watch.drainDeadline = .now + drainLimit }
                state.watches[registration.watch] = watch
                return watch.handlers
            }
            handlers?.exited()
        }
        finishIfDone(registration.watch)
    }

    /// Stops watching the descriptor of `token` and closes it.
    private func close(_ token: UInt64) {
        let fd: Int32? = state.withLock { state in
            guard let registration = state.registrations.removeValue(forKey: token) else { return nil }
            if var watch = state.watches[registration.watch] {
                watch.tokens.remove(token)
                if case .output(let stream) = registration.source { watch.openStreams.remove(stream) }
                state.watches[registration.watch] = watch
            }
            return registration.fd
        }
        guard let fd else { return }
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
        _ = Glibc.close(fd)
    }

    private func finishIfDone(_ id: Int) {
        let done: (Watch, ChildProcess.End)? = state.withLock { state in
            guard let watch = state.watches[id], let end = watch.end, watch.tokens.isEmpty else { return nil }
            state.watches[id] = nil
            return (watch, end)
        }
        if let (watch, end) = done { watch.handlers.finished(end, watch.abandoned) }
    }

    private func timeoutMilliseconds() -> Int32 {
        let soonest = state.withLock { $0.watches.values.compactMap(\.drainDeadline).min() }
        guard let soonest else { return -1 }
        let left = ContinuousClock.now.duration(to: soonest)
        let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
        return Int32(clamping: max(0, milliseconds + 1))
    }

    /// Closes the pipes of processes that ended more than ``drainLimit`` ago.
    private func expireDrains() {
        let now = ContinuousClock.now
        let expired: [(Int, Set<UInt64>)] = state.withLock { state in
            var expired: [(Int, Set<UInt64>)] = []
            for (id, var watch) in state.watches {
                guard let deadline = watch.drainDeadline, deadline <= now else { continue }
                watch.abandoned = true
                watch.drainDeadline = nil
                state.watches[id] = watch
                expired.append((id, watch.tokens))
            }
            return expired
        }
        for (id, tokens) in expired {
            tokens.forEach(close)
            finishIfDone(id)
        }
    }
}
