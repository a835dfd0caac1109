import Foundation
import JobFormat
import Logging
import RuntimeSupport
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

/// Captures an attempt's output: to the log file up to a limit, and line by line to the logger.
final class OutputSink: Sendable {
    private struct State {
        /// The log file, opened at the first byte: a step that prints nothing costs no file.
        var fd: Int32?
        var openFailed = false
        var written = 0
        var truncated = false
        var output: [UInt8] = []
        var outputTruncated = false
        /// The unfinished last line of each stream.
        var partial: [ProcessReactor.Stream: [UInt8]] = [:]
        /// The end of each stream not yet taken: it may be the start of a secret.
        var held: [ProcessReactor.Stream: [UInt8]] = [:]
        var abandoned = false
    }

    private let path: String
    private let limit: Int
    private let outputLimit: Int
    private let logger: Logger
    private let redactor: Redactor
    private let state = Locked(State())

    init(path: String, limit: Int, outputLimit: Int, logger: Logger, redactor: Redactor = .none) {
        self.path = path
        self.limit = limit
        self.outputLimit = outputLimit
        self.logger = logger
        self.redactor = redactor
    }

    /// Stdout up to the output limit, and whether there was more.
    var capturedOutput: ([UInt8], Bool) { state.withLock { ($0.output, $0.outputTruncated) } }

    private func capture(_ bytes: [UInt8]) {
        state.withLock {
            let room = max(0, outputLimit - $0.output.count)
            if bytes.count > room { $0.outputTruncated = true }
            $0.output += bytes.prefix(room)
        }
    }

    /// Takes bytes the step wrote to `stream`: into the log file and the output (both capped),
    /// and complete lines to the logger, until the log's limit is reached; secrets replaced.
    func consume(_ bytes: [UInt8], from stream: ProcessReactor.Stream) {
        guard !redactor.isEmpty else { return take(bytes, from: stream) }
        let ready: [UInt8] = state.withLock { state in
            let buffer = redactor.redact(state.held[stream, default: []] + bytes)
            let keep = min(buffer.count, redactor.longest - 1)
            state.held[stream] = Array(buffer.suffix(keep))
            return Array(buffer.dropLast(keep))
        }
        if !ready.isEmpty { take(ready, from: stream) }
    }

    private func take(_ bytes: [UInt8], from stream: ProcessReactor.Stream) {
        let logged = write(bytes)
        if stream == .stdout { capture(bytes) }
        let lines: [ArraySlice<UInt8>] = state.withLock { state in
            var partial = state.partial[stream, default: []]
            partial += bytes.prefix(logged)
            var lines: [ArraySlice<UInt8>] = []
            var start = partial.startIndex
            while let newline = partial[start...].firstIndex(of: UInt8(ascii: "\n")) {
                lines.append(partial[start..<newline])
                start = newline + 1
            }
            partial.removeSubrange(..<start)
            if partial.count > 16 * 1024 {  // a very long line: log it in pieces
                lines.append(partial[...])
                partial.removeAll()
            }
            state.partial[stream] = partial
            return lines
        }
        guard !lines.isEmpty else { return }
        let lineLogger = logger.with([LogField.stream: stream.rawValue])
        for line in lines { emit(line, logger: lineLogger) }
    }

    /// Pipes of the step were still held open by a process outside its group when it ended.
    func noteAbandonedOutput() {
        state.withLock { $0.abandoned = true }
    }

    /// Logs what is left of unfinished lines and notes a cut in the log file.
    func finish() {
        let held = state.withLock { state in
            defer { state.held = [:] }
            return state.held
        }
        for (stream, rest) in held.sorted(by: { $0.key.rawValue > $1.key.rawValue }) where !rest.isEmpty {
            take(redactor.redact(rest), from: stream)
        }
        let (partial, truncated, abandoned, fd) = state.withLock { state in
            defer { state.partial = [:] }
            return (state.partial, state.truncated, state.abandoned, state.fd)
        }
        for (stream, rest) in partial.sorted(by: { $0.key.rawValue > $1.key.rawValue }) where !rest.isEmpty {
            emit(rest[...], logger: logger.with([LogField.stream: stream.rawValue]))
        }
        var notes: [String] = []
        if truncated {
            notes.append("[wfd: output truncated at \(limit) bytes]")
            logger.warning("the step's output was cut at \(limit) bytes (in its log file and here)")
        }
        if abandoned {
            notes.append("[wfd: output after the step's end was not read: a process outside its group held the pipe]")
            logger.warning(
                "the step ended, but a process that left its process group kept its output open; stopped reading")
        }
        if let fd, !notes.isEmpty {
            let text = "\n" + notes.joined(separator: "\n") + "\n"
            Array(text.utf8).withUnsafeBytes { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
        }
    }

    func close() {
        state.withLock {
            if let fd = $0.fd { Glibc.close(fd) }
            $0.fd = nil
        }
    }

    private func emit(_ line: ArraySlice<UInt8>, logger: Logger) {
        logger.info("\(String(decoding: line, as: UTF8.self))")
    }

    /// Appends to the log file what fits under the limit; returns how many bytes that was.
    private func write(_ bytes: [UInt8]) -> Int {
        let (allowed, fd): (Int, Int32?) = state.withLock {
            let room = max(0, limit - $0.written)
            let take = min(room, bytes.count)
            $0.written += take
            if take < bytes.count { $0.truncated = true }
            if $0.fd == nil, !$0.openFailed, take > 0 {
                let flags = O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC
                var opened = open(path, flags, 0o640)
                if opened < 0, errno == ENOENT {  // the run's logs/ directory, made at its first output
                    try? RecordFile.makeDirectory(PathName.parent(path))
                    opened = open(path, flags, 0o640)
                }
                if opened >= 0 {
                    $0.fd = opened
                } else {
                    $0.openFailed = true
                    logger.error(
                        "cannot open the log file '\(path)': \(String(cString: strerror(errno))); the output goes to the journal only"
                    )
                }
            }
            return (take, $0.fd)
        }
        guard allowed > 0, let fd else { return allowed }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < allowed {
                let count = Glibc.write(fd, raw.baseAddress?.advanced(by: offset), allowed - offset)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return }
                offset += count
            }
        }
        return allowed
    }
}
