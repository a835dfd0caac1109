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

    /// The events from byte `offset` of the log on, from the log's one reader (``LogBroadcast``).
    public func events(from offset: Int) -> AsyncStream<Data> {
        AsyncStream { continuation in
            continuation.yield(Data("retry: 2000\n\n".utf8))
            let (broadcast, id) = LogBroadcast.join(self, from: offset, continuation)
            continuation.onTermination = { _ in broadcast.leave(id) }
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

    /// The log's complete lines from `offset` (at most 256 KiB of them, none past `limit`), the
    /// offset after them, and whether the chunk read was full (more may follow); with `all`, a
    /// last line without its newline too (one is added, not counted in the offset).
    func completeLines(from offset: Int, upTo limit: Int = .max, all: Bool = false) -> (Data, Int, Bool) {
        let chunkSize = 256 * 1024
        let read: Data? =
            withLog { fd, size in
                let wanted = min(size, limit) - offset
                guard wanted > 0 else { return nil }
                var chunk = Data(count: min(wanted, chunkSize))
                let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
                guard count > 0 else { return nil }
                chunk.count = count
                return chunk
            } ?? nil
        guard let chunk = read else { return (Data(), offset, false) }
        let full = chunk.count == chunkSize
        if let last = chunk.lastIndex(of: UInt8(ascii: "\n")) {
            let lines = chunk[chunk.startIndex...last]
            return (Data(lines), offset + lines.count, full)
        }
        return all ? (chunk + Data("\n".utf8), offset + chunk.count, full) : (Data(), offset, full)
    }

    /// Where the line holding byte `offset` starts (the file's end, when `offset` is past it): a
    /// reader started there reads whole lines, whatever offset its first follower came with.
    func lineStart(atOrBefore offset: Int) -> Int {
        withLog { fd, size in
            var end = min(offset, size)
            var block = [UInt8](repeating: 0, count: 4096)
            while end > 0 {
                let start = max(0, end - block.count)
                let count = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress, end - start, off_t(start)) }
                guard count == end - start else { return 0 }
                if let last = block[..<count].lastIndex(of: UInt8(ascii: "\n")) { return start + last + 1 }
                end = start
            }
            return 0
        } ?? 0
    }

    /// `body` with the log open and its size; nil when it cannot be opened.
    private func withLog<T>(_ body: (Int32, Int) -> T) -> T? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        return body(fd, Int(status.st_size))
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
