import Foundation
import JobFormat
import Logging
import RunModel
import RuntimeSupport
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `run:` steps: plain words as the program itself, anything else with `/bin/sh -c`, started by
/// CSpawn (`wfd_spawn`).
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
        var environment = invocation.environment
        for (name, value) in invocation.secrets { environment[StepEnvironmentNames.secretName(name)] = value }
        let request = ChildProcess.Request(
            program: program, arguments: arguments, environment: environment,
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
        if let stop { return stop.result(exitCode: exitCode, signal: signal) }
        return ended(exitCode: exitCode, signal: signal)
            ?? AttemptResult(outcome: .failed, error: "killed by an unknown signal")
    }

    /// How a process that ended by itself did: success, its exit status, or the signal that
    /// killed it (nil when neither is known). `meaning` explains a status.
    static func ended(
        exitCode: Int32?, signal: Int32?, meaning: (Int32) -> String? = { _ in nil }
    ) -> AttemptResult? {
        if exitCode == 0 { return .success }
        if let exitCode {
            let why = meaning(exitCode).map { ", which is \($0)" } ?? ""
            return AttemptResult(outcome: .failed, exitCode: exitCode, error: "exited with status \(exitCode)\(why)")
        }
        guard let signal else { return nil }
        return AttemptResult(outcome: .failed, signal: signal, error: "killed by \(signalName(signal))")
    }
}

extension ShellExecutor.StopReason {
    /// The attempt wfd stopped: timed out or cancelled, whatever its process's end said.
    func result(exitCode: Int32?, signal: Int32?) -> AttemptResult {
        switch self {
        case .timeout(let limit):
            AttemptResult(
                outcome: .timedOut, exitCode: exitCode, signal: signal,
                error: "timed out after \(StepDuration.format(limit))")
        case .terminated(let reason):
            AttemptResult(outcome: .cancelled, exitCode: exitCode, signal: signal, error: "cancelled: \(reason)")
        }
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
