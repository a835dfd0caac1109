import Foundation
import JobFormat
import RunModel
import Schedules
import WorkflowStore

/// A step attempt's log as Server-Sent Events, live: each event carries the complete lines
/// written since the previous one (`data:` per line) with `id:` the byte offset after them, so
/// a client that reconnects with `Last-Event-ID` goes on where it was. A comment (`: heartbeat`)
/// every `heartbeat` keeps proxies from closing a quiet stream. When the attempt has ended and
/// its log is read to the end, an `end` event says how it ended, and the stream closes.
public struct LogFollow: Sendable {
    let state: StateDirectory
    let job: JobID
    let run: RunID
    let step: StepID
    let attempt: Int
    let heartbeat: Duration
    let watcher: DirectoryWatcher

    /// The attempt's log file (`logs/<step>.<n>.log`).
    var path: String { state.logsDirectory(job, run) + "/\(step.rawValue).\(attempt).log" }

    /// The events from byte `offset` of the log on.
    public func events(from offset: Int) -> AsyncStream<Data> {
        AsyncStream { continuation in
            let task = Task {
                // The run's folder too: logs/ appears in it when the first attempt starts, and
                // until it does the subscription is made again at each wake.
                let folders = [
                    state.runDirectory(job, run), state.logsDirectory(job, run), state.stepsDirectory(job, run),
                ]
                var subscription = watcher.subscribe(folders)
                defer { watcher.cancel(subscription) }
                continuation.yield(Data("retry: 2000\n\n".utf8))
                var position = offset
                // Whether the step record may have changed since it was last read: at first, and
                // when steps/ (or the run's folder) changed or a wait timed out. It is what costs:
                // 100 followers of a chatty step would otherwise read it at every line.
                var recordChanged = true
                // Whether the log may hold more than was read (at first, and after a full chunk);
                // else the file is read again only when the watcher says logs/ changed.
                var more = true
                while !Task.isCancelled {
                    // New lines go out at once.
                    if more {
                        let (lines, next, full) = completeLines(from: position, all: false)
                        if !lines.isEmpty {
                            continuation.yield(Self.event(lines, id: next))
                            position = next
                            more = full
                            if full { continue }
                        }
                    }
                    if recordChanged, let ended = endOfAttempt() {
                        // What it wrote before it ended is in the file now: the rest, then the end.
                        while true {
                            let (rest, after, _) = completeLines(from: position, all: true)
                            if rest.isEmpty { break }
                            continuation.yield(Self.event(rest, id: after))
                            position = after
                        }
                        continuation.yield(Data("event: end\nid: \(position)\ndata: \(ended)\n\n".utf8))
                        break
                    }
                    recordChanged = false
                    let changed = await watcher.wait(subscription, timeout: heartbeat)
                    if changed.isEmpty { continuation.yield(Data(": heartbeat\n\n".utf8)) }
                    recordChanged =
                        changed.isEmpty || !changed.isDisjoint(with: folders.filter { !$0.hasSuffix("/logs") })
                    more = changed.isEmpty || changed.contains(state.logsDirectory(job, run)) || recordChanged
                    if !subscription.complete {
                        watcher.cancel(subscription)
                        subscription = watcher.subscribe(folders)
                        (recordChanged, more) = (true, true)
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// One event: each line a `data:` field. Split on the bytes (a Swift String keeps `\r\n` as one
    /// character), and every `\r` dropped: in a field it would end the line, and let a log write
    /// events of its own.
    static func event(_ lines: Data, id: Int) -> Data {
        var event = Data("id: \(id)\n".utf8)
        for line in lines.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
            event += Data("data: ".utf8) + line.filter { $0 != UInt8(ascii: "\r") } + Data("\n".utf8)
        }
        return event + Data("\n".utf8)
    }

    /// The log's complete lines from `offset` (at most 256 KiB of them), the offset after them,
    /// and whether the chunk read was full (more may follow); with `all`, a last line without its
    /// newline too (one is added).
    func completeLines(from offset: Int, all: Bool) -> (Data, Int, Bool) {
        let chunkSize = 256 * 1024
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return (Data(), offset, false) }
        defer { close(fd) }
        var chunk = Data(count: chunkSize)
        let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, chunkSize, off_t(offset)) }
        guard count > 0 else { return (Data(), offset, false) }
        chunk.count = count
        let full = count == chunkSize
        if let last = chunk.lastIndex(of: UInt8(ascii: "\n")) {
            let lines = chunk[chunk.startIndex...last]
            return (Data(lines), offset + lines.count, full)
        }
        return all ? (chunk + Data("\n".utf8), offset + chunk.count, full) : (Data(), offset, full)
    }

    /// When the attempt has ended: its outcome and exit code as the `end` event's JSON.
    func endOfAttempt() -> String? {
        guard let record = try? RunStore(directory: state).loadStep(job, run, step),
            let attempt = record.attempts.first(where: { $0.number == self.attempt }), attempt.endedAt != nil
        else { return nil }
        var fields = [#""outcome":"\#(attempt.outcome?.rawValue ?? "")""#]
        if let code = attempt.exitCode { fields.append(#""exit_code":\#(code)"#) }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
