import Foundation
import RuntimeSupport

/// One reader for each followed log, however many follow it: it watches the attempt's folders,
/// reads each new line once, makes its event once and hands that to every follower. With 100
/// followers each reading and wrapping every line for itself (a watch, an open, a read and an
/// event apiece), a line cost wfd-web 36–40 µs of CPU per follower and reached them 4.9 ms after
/// it was written at p99; with one reader, 28–30 µs and 3.2–3.4 ms (BENCHMARKS.md, 2026-12-05,
/// sixth session).
///
/// A follower joins at its own offset. One behind the reader first gets what lies between from
/// the file (under the broadcast's lock, so no line falls between that and the next event); one
/// ahead of it gets only the part of each event past its offset. The reader starts at the start
/// of the line its first follower asked from, stops when its last follower leaves, and ends
/// everyone's stream with the `end` event when the attempt has ended.
final class LogBroadcast: Sendable {
    /// The broadcasts being read, by log path. Lock order: this table, then a broadcast's state.
    private static let live = Locked<[String: LogBroadcast]>([:])

    /// How many follow the log at `path` through its reader; nil when nobody reads it (for tests).
    static func followers(of path: String) -> Int? {
        live.withLock { $0[path] }?.state.withLock { $0.followers.count }
    }

    private struct Follower {
        let continuation: AsyncStream<Data>.Continuation
        /// The byte offset this follower has had everything before.
        var from: Int
    }

    private struct State {
        /// Where the reader's next read starts: each follower has had every line before it.
        var position: Int
        var followers: [UInt64: Follower] = [:]
        var next: UInt64 = 0
        /// Set (with the broadcast out of `live`) when the `end` event went out.
        var ended = false
        var reader: Task<Void, Never>?
    }

    private let log: LogFollow
    private let state: Locked<State>

    private init(_ log: LogFollow, first: Follower) {
        self.log = log
        // Its first follower is in it before its reader starts: a reader that finds the attempt
        // ended at once still has someone to tell.
        state = Locked(State(position: log.lineStart(atOrBefore: first.from), followers: [1: first], next: 1))
    }

    /// Adds a follower that has had the log's bytes before `offset`; returns what `leave` takes.
    static func join(
        _ log: LogFollow, from offset: Int, _ continuation: AsyncStream<Data>.Continuation
    ) -> (LogBroadcast, UInt64) {
        let follower = Follower(continuation: continuation, from: offset)
        while true {
            let (broadcast, started) = live.withLock { live in
                if let running = live[log.path] { return (running, false) }
                let started = LogBroadcast(log, first: follower)
                live[log.path] = started
                started.state.withLock { $0.reader = Task { await started.read() } }
                return (started, true)
            }
            if started { return (broadcast, 1) }
            let id: UInt64? = broadcast.state.withLock { state in
                // One that has just ended is out of `live`: the next turn starts a new one.
                guard !state.ended else { return nil }
                var from = offset
                while from < state.position {
                    let (lines, after, _) = log.completeLines(from: from, upTo: state.position)
                    if lines.isEmpty { break }
                    continuation.yield(LogFollow.event(lines, id: after))
                    from = after
                }
                state.next += 1
                state.followers[state.next] = Follower(continuation: continuation, from: max(from, state.position))
                return state.next
            }
            if let id { return (broadcast, id) }
        }
    }

    /// Removes a follower (its client went away); the last one out stops the reader.
    func leave(_ id: UInt64) {
        let reader: Task<Void, Never>? = Self.live.withLock { live in
            state.withLock { state in
                state.followers[id] = nil
                guard state.followers.isEmpty, !state.ended else { return nil }
                state.ended = true
                if live[log.path] === self { live[log.path] = nil }
                return state.reader
            }
        }
        reader?.cancel()
    }

    /// Hands `lines` (the log's bytes from `start` to `end`, complete lines) to every follower;
    /// one that has had some of them gets the rest.
    private func publish(_ lines: Data, from start: Int, to end: Int) {
        let event = LogFollow.event(lines, id: end)
        state.withLock { state in
            state.position = end
            for (id, follower) in state.followers where follower.from < end {
                if follower.from <= start {
                    follower.continuation.yield(event)
                } else {
                    let rest = lines.dropFirst(follower.from - start)
                    follower.continuation.yield(LogFollow.event(Data(rest), id: end))
                    state.followers[id]?.from = end
                }
            }
        }
    }

    private func toEveryone(_ event: Data) {
        state.withLock { state in
            for follower in state.followers.values { follower.continuation.yield(event) }
        }
    }

    /// The reader: new lines as they are written, a heartbeat while the log is quiet, and when
    /// the attempt has ended and its log is read to the end, the `end` event and every stream
    /// closed.
    private func read() async {
        let folders = [
            log.state.runDirectory(log.job, log.run), log.state.logsDirectory(log.job, log.run),
            log.state.stepsDirectory(log.job, log.run),
        ]
        // The run's folder too: logs/ appears in it when the first attempt starts, and until it
        // does the subscription is made again at each wake.
        var subscription = log.watcher.subscribe(folders)
        defer { log.watcher.cancel(subscription) }
        var position = state.withLock { $0.position }
        // Whether the step record may have changed since it was last read: at first, and when
        // steps/ (or the run's folder) changed or a wait timed out.
        var recordChanged = true
        // Whether the log may hold more than was read (at first, and after a full chunk); else
        // the file is read again only when the watcher says logs/ changed.
        var more = true
        while !Task.isCancelled {
            if more {
                let (lines, next, full) = log.completeLines(from: position)
                if !lines.isEmpty {
                    publish(lines, from: position, to: next)
                    position = next
                    more = full
                    if full { continue }
                }
            }
            if recordChanged, let ended = log.endOfAttempt() {
                // What it wrote before it ended is in the file now: the rest, then the end.
                while true {
                    let (rest, after, _) = log.completeLines(from: position, all: true)
                    if rest.isEmpty { break }
                    publish(rest, from: position, to: after)
                    position = after
                }
                finish(ended, at: position)
                return
            }
            recordChanged = false
            let changed = await log.watcher.wait(subscription, timeout: log.heartbeat)
            if changed.isEmpty { toEveryone(Data(": heartbeat\n\n".utf8)) }
            recordChanged = changed.isEmpty || !changed.isDisjoint(with: folders.filter { !$0.hasSuffix("/logs") })
            more = changed.isEmpty || changed.contains(log.state.logsDirectory(log.job, log.run)) || recordChanged
            if !subscription.complete {
                log.watcher.cancel(subscription)
                subscription = log.watcher.subscribe(folders)
                (recordChanged, more) = (true, true)
            }
        }
    }

    /// The `end` event to each follower and its stream closed; a follower that comes later
    /// starts a new reader, which finds the attempt ended.
    private func finish(_ ended: String, at position: Int) {
        let followers: [Follower] = Self.live.withLock { live in
            state.withLock { state in
                state.ended = true
                if live[log.path] === self { live[log.path] = nil }
                defer { state.followers = [:] }
                return Array(state.followers.values)
            }
        }
        for follower in followers {
            follower.continuation.yield(
                Data("event: end\nid: \(max(position, follower.from))\ndata: \(ended)\n\n".utf8))
            follower.continuation.finish()
        }
    }
}
