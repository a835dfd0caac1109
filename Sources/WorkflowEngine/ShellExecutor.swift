import Foundation
import Logging
import WorkflowCore
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `run:` steps with `/bin/sh -c` through swift-subprocess.
///
/// Each attempt gets its own session (so its own process group), a clean environment, and its
/// output captured to the attempt's log file (capped at ``maxLogBytes``) and, line by line, to the
/// logger with `job`, `run_id`, `step` and `attempt` fields. Stopping (timeout, cancel, shutdown)
/// sends SIGTERM to the whole group, waits ``gracePeriod``, then SIGKILLs the group. When the
/// step's main process ends, anything it left running in its group is SIGKILLed.
public struct ShellExecutor: StepExecutor {
    public var gracePeriod: Duration
    public var maxLogBytes: Int
    /// How much of stdout is kept as the step's output (the log keeps up to ``maxLogBytes``).
    public var maxOutputBytes: Int
    public var shell: String

    public init(
        gracePeriod: Duration = .seconds(10), maxLogBytes: Int = 16 << 20, maxOutputBytes: Int = 1 << 20,
        shell: String = "/bin/sh"
    ) {
        self.gracePeriod = gracePeriod
        self.maxLogBytes = maxLogBytes
        self.maxOutputBytes = maxOutputBytes
        self.shell = shell
    }

    public func execute(_ invocation: StepInvocation, control: StepControl, logger: Logger) async -> AttemptResult {
        let sink = OutputSink(
            path: invocation.logFile, limit: maxLogBytes, outputLimit: maxOutputBytes, logger: logger,
            redactor: invocation.redactor)
        defer { sink.close() }
        let group = ProcessGroupSlot()
        let (program, arguments) =
            Self.directCommand(invocation.command, path: invocation.environment["PATH"])
            ?? (shell, ["-c", invocation.command])
        let request = ChildProcess.Request(
            program: program, arguments: arguments, environment: invocation.environment,
            workingDirectory: invocation.workingDirectory, account: invocation.account)

        enum Finished: Sendable {
            case process(ChildProcess.End?, spawnError: String?)
            case stopped(StopReason)
        }
        let grace = gracePeriod
        let finished: (ChildProcess.End?, String?, StopReason?) = await withTaskGroup(of: Finished?.self) { tasks in
            tasks.addTask {
                let child: ChildProcess
                switch ChildProcess.spawn(request) {
                case .success(let started): child = started
                case .failure(let error):
                    group.exited()
                    return .process(nil, spawnError: error.description)
                }
                group.started(child.pid)
                if let record = invocation.processRecord {
                    ProcessRecord.append(
                        ProcessRecord.Entry(
                            step: invocation.step, item: invocation.item, attempt: invocation.attempt, pid: child.pid,
                            startTime: ProcessRecord.startTime(of: child.pid) ?? 0),
                        to: record)
                }
                switch await Self.wait(for: child, group: group, sink: sink) {
                case .success(let end): return .process(end, spawnError: nil)
                case .failure(let error): return .process(nil, spawnError: error.description)
                }
            }
            tasks.addTask {
                guard let reason = await Self.waitForStop(control: control, timeout: invocation.timeout) else {
                    return nil
                }
                group.signal(SIGTERM)
                do {
                    try await Task.sleep(for: grace)
                    group.signal(SIGKILL)
                } catch {}
                return .stopped(reason)
            }
            var end: ChildProcess.End?
            var spawnError: String?
            var stop: StopReason?
            while let next = await tasks.next() {
                switch next {
                case .process(let result, let error)?:
                    (end, spawnError) = (result, error)
                    tasks.cancelAll()
                case .stopped(let reason)?: stop = reason
                case nil: break
                }
            }
            return (end, spawnError, stop)
        }
        sink.finish()
        var result = Self.result(end: finished.0, spawnError: finished.1, stop: finished.2)
        (result.stdout, result.stdoutTruncated) = sink.capturedOutput
        return result
    }

    /// Hands `child` to the reactor and returns how it ended, once its output is all read.
    static func wait(
        for child: ChildProcess, group: ProcessGroupSlot, sink: OutputSink
    ) async -> Result<ChildProcess.End, ProcessReactor.WatchError> {
        await withCheckedContinuation { continuation in
            let handlers = ProcessReactor.Handlers(
                output: { bytes, stream in sink.consume(bytes, from: stream) },
                exited: { group.exited() },
                finished: { end, abandoned in
                    if abandoned { sink.noteAbandonedOutput() }
                    continuation.resume(returning: .success(end))
                })
            do throws(ProcessReactor.WatchError) {
                try ProcessReactor.shared.watch(child, handlers: handlers)
            } catch {
                // Not watchable: end it here, so that nothing runs unobserved.
                kill(-child.pid, SIGKILL)
                var status: Int32 = 0
                while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
                group.exited()
                [child.pidfd, child.stdout, child.stderr].forEach { _ = close($0) }
                continuation.resume(returning: .failure(error))
            }
        }
    }

    enum StopReason: Sendable {
        case timeout(Duration)
        case terminated(String)
    }

    static func waitForStop(control: StepControl, timeout: Duration?) async -> StopReason? {
        await withTaskGroup(of: StopReason?.self) { race in
            race.addTask { await control.waitForTermination().map(StopReason.terminated) }
            if let timeout {
                race.addTask {
                    do {
                        try await Task.sleep(for: timeout)
                        return .timeout(timeout)
                    } catch {
                        return nil
                    }
                }
            }
            let first = await race.next() ?? nil
            race.cancelAll()
            return first
        }
    }

    static func result(end: ChildProcess.End?, spawnError: String?, stop: StopReason?) -> AttemptResult {
        var exitCode: Int32?
        var signal: Int32?
        switch end {
        case .exited(let code)?: exitCode = code
        case .signaled(let number)?: signal = number
        case .lost?:
            return AttemptResult(
                outcome: .failed, error: "wfd lost track of the step's process; its exit status is unknown")
        case nil: break
        }
        if let spawnError { return AttemptResult(outcome: .failed, error: "could not start the step: \(spawnError)") }
        switch stop {
        case .timeout(let limit)?:
            return AttemptResult(
                outcome: .timedOut, exitCode: exitCode, signal: signal,
                error: "timed out after \(StepDuration.format(limit))")
        case .terminated(let reason)?:
            return AttemptResult(outcome: .cancelled, exitCode: exitCode, signal: signal, error: "cancelled: \(reason)")
        case nil: break
        }
        if exitCode == 0 { return .success }
        if let exitCode {
            return AttemptResult(outcome: .failed, exitCode: exitCode, error: "exited with status \(exitCode)")
        }
        let name = signal.map(signalName) ?? "an unknown signal"
        return AttemptResult(outcome: .failed, signal: signal, error: "killed by \(name)")
    }
}

func signalName(_ number: Int32) -> String {
    let names: [Int32: String] = [
        SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGABRT: "SIGABRT",
        SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM",
        SIGTERM: "SIGTERM", SIGBUS: "SIGBUS", SIGUSR1: "SIGUSR1", SIGUSR2: "SIGUSR2",
    ]
    return names[number] ?? "signal \(number)"
}

/// The process group of a running attempt, so that signals never reach a group id after its
/// leader was reaped (the id could be reused).
final class ProcessGroupSlot: Sendable {
    private struct State {
        var pid: pid_t?
        var pendingSignal: Int32?
        var exited = false
    }

    private let state = Locked(State())

    /// The leader started; deliver a signal that was asked for before it existed.
    func started(_ pid: pid_t) {
        let pending: Int32? = state.withLock {
            $0.pid = pid
            return $0.pendingSignal
        }
        if let pending { kill(-pid, pending) }
    }

    /// The leader was reaped: kill whatever it left behind in its group (a background child that
    /// ignored SIGTERM, say), then send no more signals.
    func exited() {
        let leftover: pid_t? = state.withLock {
            $0.exited = true
            return $0.pid
        }
        if let leftover { kill(-leftover, SIGKILL) }
    }

    /// Signals the whole group, or remembers the signal until the leader has started.
    func signal(_ number: Int32) {
        let target: pid_t? = state.withLock {
            guard !$0.exited else { return nil }
            guard let pid = $0.pid else {
                $0.pendingSignal = number
                return nil
            }
            return pid
        }
        if let target { kill(-target, number) }
    }
}

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
                    try? RecordFile.makeDirectory((path as NSString).deletingLastPathComponent)
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

extension ShellExecutor {
    /// Shell words that mean something else when run as a program of that name.
    static let shellOnly: Set<String> = [
        ".", ":", "alias", "break", "cd", "command", "continue", "eval", "exec", "exit", "export", "getopts",
        "hash", "local", "read", "readonly", "return", "set", "shift", "source", "times", "trap", "type", "ulimit",
        "umask", "unalias", "unset", "wait", "echo", "pwd", "if", "then", "else", "elif", "fi", "for", "while",
        "until", "do", "done", "case", "esac", "function", "!", "{", "}",
    ]

    /// The program and arguments of `command` when the shell would do nothing but run it: plain
    /// words (no quotes, expansions, redirections, globs, operators or assignments) whose first is
    /// a program found in `path`. Running it directly spares starting a shell; anything else goes
    /// through `sh -c`, with identical results.
    public static func directCommand(_ command: String, path: String?) -> (String, [String])? {
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+,-")
        guard command.allSatisfy({ plain.contains($0) || $0 == " " }) else { return nil }
        let words = command.split(separator: " ").map(String.init)
        guard let first = words.first, !shellOnly.contains(first), !first.contains("=") else { return nil }
        let candidates =
            first.contains("/")
            ? [first] : (path ?? "/usr/bin:/bin").split(separator: ":").map { "\($0)/\(first)" }
        func isProgram(_ path: String) -> Bool {
            var info = stat()
            return path.hasPrefix("/") && stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
                && access(path, X_OK) == 0
        }
        guard let program = candidates.first(where: isProgram) else {
            return nil
        }
        return (program, Array(words.dropFirst()))
    }
}
