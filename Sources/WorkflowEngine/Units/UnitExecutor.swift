import Foundation
import Logging
import RunModel
import RuntimeSupport
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

/// Runs `run:` steps as transient systemd services (``UnitName``) in `wfd.slice`, so that a step
/// gets the environment of an ordinary service (not wfd's hardening), its own sandbox and limits,
/// and outlives a restart of wfd.
///
/// The unit writes stdout and stderr to files in the run's directory; wfd follows them into the
/// attempt's log (secrets replaced), its output and the journal. `RemainAfterExit=yes` keeps the
/// unit — and its exit status — after its end until wfd has recorded it (``recorded(_:)`` then
/// lets systemd collect it), so no crash of wfd between the two loses the result. Stopping
/// (timeout, cancel) sends SIGTERM to the unit's whole cgroup, waits the grace period, then
/// SIGKILL; what the step left running is killed when the unit is let go. The outcome comes from
/// how the main process ended and from wfd's own stop, never from systemd's `Result` alone (a
/// service killed by SIGTERM is a clean success to systemd).
public final class UnitExecutor: StepExecutor {
    public let manager: any UnitManager
    public let gracePeriod: Duration
    public let maxLogBytes: Int
    public let maxOutputBytes: Int
    public let shell: String
    public let slice: String
    /// The files a unit loads its secrets from.
    let credentials: UnitCredentials
    /// How often live output is read and memory and tasks are sampled.
    public let sampleInterval: Duration
    private let leftovers = Locked([AttemptKey: Leftover]())

    /// What an ended attempt keeps until its end is recorded.
    private struct Leftover {
        let unit: String
        let output: UnitProperties.Output
        let credentials: String?
        /// How it ended: a failed unit is reset, an exited one stopped.
        let failed: Bool
    }

    public init(
        manager: any UnitManager, credentialsDirectory: String, gracePeriod: Duration = .seconds(10),
        maxLogBytes: Int = 16 << 20, maxOutputBytes: Int = 1 << 20, shell: String = "/bin/sh",
        slice: String = "wfd.slice", sampleInterval: Duration = .milliseconds(100)
    ) {
        self.manager = manager
        credentials = UnitCredentials(root: credentialsDirectory)
        self.gracePeriod = gracePeriod
        self.maxLogBytes = maxLogBytes
        self.maxOutputBytes = maxOutputBytes
        self.shell = shell
        self.slice = slice
        self.sampleInterval = sampleInterval
    }

    public func execute(_ invocation: StepInvocation, control: StepControl, logger: Logger) async -> AttemptResult {
        let key = AttemptKey(invocation)
        let name = UnitName.make(key)
        let output = UnitProperties.Output(logFile: invocation.logFile)
        let (states, continuation) = AsyncStream.makeStream(of: UnitStatus.self, bufferingPolicy: .bufferingNewest(1))
        let changed: @Sendable (UnitStatus) -> Void = { continuation.yield($0) }
        var startedAt: Date?
        var secrets: String?
        var followed = invocation.reattach
        if !invocation.reattach {
            let prepared = prepare(invocation, name: name, output: output)
            let properties: [UnitProperty]
            switch prepared {
            case .failure(let failure): return failure.result
            case .success(let made): (properties, secrets) = made
            }
            do {
                try await manager.start(name, properties: properties, changed: changed)
                logger.debug("started unit \(name)")
            } catch  where error.name == UnitError.unitExists {
                followed = true  // started by an earlier wfd: follow it instead
            } catch {
                self.credentials.remove(secrets)
                var result = AttemptResult.failure(.start, "systemd did not start the step's unit \(name): \(error)")
                result.unit = name
                return result
            }
        }
        if followed {
            // The log is made again from the unit's output files, from their start.
            unlink(invocation.logFile)
            do {
                guard let now = try await manager.follow(name, changed: changed) else {
                    var result = AttemptResult(
                        outcome: .interrupted,
                        error:
                            "the step's unit \(name) is gone (collected, or the machine restarted): its end is unknown")
                    result.unit = name
                    return result
                }
                startedAt = now.startedAt
            } catch {
                return AttemptResult.failure(.start, "cannot follow the step's unit \(name): \(error)")
            }
            logger.notice("following unit \(name), started by an earlier wfd")
        }
        let secretsDirectory = secrets ?? credentials.directory(of: name)
        let sink = OutputSink(
            path: invocation.logFile, limit: maxLogBytes, outputLimit: maxOutputBytes, logger: logger,
            redactor: invocation.redactor)
        defer { sink.close() }
        let follower = OutputFollower(output: output, sink: sink)
        let sampler = UsageSampler()
        // The unit's cgroup: its slice's, then its own name (a slice without '-' is not nested,
        // and systemd escapes neither name).
        let group = "/\(slice)/\(name)"
        let watch = Task { [sampleInterval] in
            while !Task.isCancelled {
                follower.read()
                sampler.sample(controlGroup: group)
                try? await Task.sleep(for: sampleInterval)
            }
        }

        // The deadline counts from the unit's real start, under whichever wfd started it.
        var deadline: ContinuousClock.Instant?
        if let timeout = invocation.timeout {
            var elapsed = Duration.zero
            if let startedAt {
                elapsed = .milliseconds(Int64(max(0, Date().timeIntervalSince(startedAt)) * 1000))
            }
            deadline = .now + timeout - elapsed
        }
        let end = await waitForEnd(
            name: name, states: states, control: control, deadline: deadline, timeout: invocation.timeout)
        let ending: UnitStatus?
        switch end {
        case .ended(_, let status): ending = status
        case .detached: ending = nil
        }
        await manager.forget(name)
        continuation.finish()
        watch.cancel()
        _ = await watch.value
        let stop: ShellExecutor.StopReason?
        switch end {
        case .detached:
            follower.close()
            var result = AttemptResult(outcome: .interrupted)
            result.detached = true
            return result
        case .ended(let reason, _): stop = reason
        }
        var status: UnitStatus
        do {
            // The change signals carried how the main process ended; only the CPU time is read
            // (systemd sends no signal for it). Without them (a dropped connection), all is read.
            if let ending, ending.mainCode != 0 {
                status = ending
                status.cpuNanoseconds = try await manager.cpuUsage(name)
            } else {
                status = try await manager.status(name)
            }
        } catch {
            follower.read()
            sink.finish()
            var result = AttemptResult(
                outcome: .interrupted,
                error: "the step's unit \(name) ended, but its exit status cannot be read: \(error)")
            result.unit = name
            return result
        }
        follower.read()
        follower.close()
        sink.finish()
        var result = Self.result(status, stop: stop)
        (result.stdout, result.stdoutTruncated) = sink.capturedOutput
        result.unit = name
        result.usage = ResourceUsage(
            cpuNanoseconds: status.cpuNanoseconds, memoryPeakBytes: sampler.memoryPeak, tasksPeak: sampler.tasksPeak)
        if followed { result.startedAt = status.startedAt ?? startedAt }
        // Its duration runs from its main process's start to its exit, both as systemd kept them
        // (a unit that ended while no wfd ran is recorded later; wfd's own start stamp is taken
        // after the unit started, and would shorten it by that much).
        if let exited = status.exitedAt, let started = status.startedAt ?? result.startedAt, exited >= started {
            result.finishedAt = exited
            result.startedAt = started
        }
        let failed = status.state.activeState == "failed"
        leftovers.withLock {
            $0[key] = Leftover(unit: name, output: output, credentials: secretsDirectory, failed: failed)
        }
        return result
    }

    /// Waits for the unit's main process to end; on a stop request or at the deadline, stops it
    /// (SIGTERM to all its processes, the grace period, SIGKILL) and still waits for its end.
    private enum End {
        /// The main process ended, stopped by wfd for this reason or not; how it stood then.
        case ended(ShellExecutor.StopReason?, UnitStatus?)
        /// wfd is stopping and leaves the unit running.
        case detached
    }

    private func waitForEnd(
        name: String, states: AsyncStream<UnitStatus>, control: StepControl, deadline: ContinuousClock.Instant?,
        timeout: Duration?
    ) async -> End {
        enum Event: Sendable {
            case ended(UnitStatus?)
            case detached
            case stop(ShellExecutor.StopReason)
        }
        let manager = manager
        let grace = gracePeriod
        return await withTaskGroup(of: Event?.self) { group in
            group.addTask {
                for await status in states where status.state.hasEnded { return .ended(status) }
                return .ended(nil)  // the connection went: the status read next says so
            }
            group.addTask { await control.waitForDetach() ? .detached : nil }
            group.addTask {
                let remaining = deadline.map { ContinuousClock.now.duration(to: $0) }
                guard let reason = await ShellExecutor.waitForStop(control: control, timeout: remaining) else {
                    return nil
                }
                if case .timeout = reason, let timeout { return .stop(.timeout(timeout)) }
                return .stop(reason)
            }
            var stop: ShellExecutor.StopReason?
            while let event = await group.next() {
                switch event {
                case .ended(let status)?:
                    group.cancelAll()
                    return .ended(stop, status)
                case .detached?:
                    group.cancelAll()
                    return .detached
                case .stop(let reason)?:
                    stop = reason
                    try? await manager.kill(name, signal: SIGTERM)
                    group.addTask {
                        do {
                            try await Task.sleep(for: grace)
                            try? await manager.kill(name, signal: SIGKILL)
                        } catch {}
                        return nil
                    }
                case nil: continue
                }
            }
            return .ended(stop, nil)
        }
    }

    /// How the attempt ended: wfd's own stop first, then the kernel's OOM kill, then the main
    /// process's exit status or signal.
    static func result(_ status: UnitStatus, stop: ShellExecutor.StopReason?) -> AttemptResult {
        var exitCode: Int32?
        var signal: Int32?
        switch status.mainCode {
        case 1: exitCode = status.mainStatus
        case 2, 3: signal = status.mainStatus
        default: break
        }
        if let stop { return stop.result(exitCode: exitCode, signal: signal) }
        if status.result == "oom-kill" {
            var result = AttemptResult(
                outcome: .oom, exitCode: exitCode, signal: signal,
                error: "killed by the kernel: it used more memory than its resources.memory_max allows")
            result.errorKind = .oom
            return result
        }
        // systemd exits with its own statuses when it cannot set the process up; a program may too.
        let meaning: (Int32) -> String? = { code in
            status.result == "exit-code" ? systemdExitStatus[code].map { "systemd's \($0)" } : nil
        }
        return ShellExecutor.ended(exitCode: exitCode, signal: signal, meaning: meaning)
            ?? AttemptResult(
                outcome: .failed,
                error: "the step's unit ended without running it (systemd's result: \(status.result))")
    }

    /// systemd's own exit statuses for a process it could not set up (systemd.exec(5)).
    static let systemdExitStatus: [Int32: String] = [
        200: "CHDIR: the working directory is missing or not reachable", 203: "EXEC: the program cannot be run",
        209: "STDOUT: the output file cannot be opened", 216: "GROUP: no such group",
        217: "USER: no such user", 226: "NAMESPACE: the sandbox could not be set up",
        243: "CREDENTIALS: a secret could not be loaded",
    ]

    // MARK: Starting

    private struct PrepareFailure: Error {
        let result: AttemptResult
    }

    /// The unit's properties, with the credential files of its secrets written.
    private func prepare(_ invocation: StepInvocation, name: String, output: UnitProperties.Output) -> Result<
        ([UnitProperty], String?), PrepareFailure
    > {
        func failed(_ message: String) -> Result<([UnitProperty], String?), PrepareFailure> {
            .failure(PrepareFailure(result: .failure(.start, message)))
        }
        let logs = (invocation.logFile as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        } catch {
            return failed("cannot create the log directory \(logs): \(error.localizedDescription)")
        }
        // Output of an earlier try of this very name (a start refused before it ran) is not this one's.
        unlink(output.stdout)
        unlink(output.stderr)
        var pairs: [UnitProperty.Pair] = []
        var directory: String?
        if !invocation.secrets.isEmpty {
            directory = credentials.directory(of: name)
            do {
                pairs = try credentials.write(invocation.secrets, for: name)
            } catch {
                credentials.remove(directory)
                return failed("cannot hand the step its secrets: \(error)")
            }
        }
        let (program, arguments) =
            ShellExecutor.directCommand(invocation.command, path: invocation.environment["PATH"])
            ?? (shell, ["-c", invocation.command])
        var trimmed = invocation
        guard let environment = UnitProperties.environment(invocation.environment) else {
            credentials.remove(directory)
            return failed(
                "the step's environment is over \(UnitProperties.maximumEnvironment >> 10) KiB, more than a unit can carry "
                    + "(systemd re-reads it from /run/systemd/transient with a 1 MiB line limit): shorten its env values"
            )
        }
        trimmed.environment = environment
        let properties = UnitProperties.make(
            trimmed, program: program, arguments: arguments, output: output, credentials: pairs, slice: slice,
            stopTimeout: gracePeriod)
        return .success((properties, directory))
    }

    // MARK: After the end

    public func outlivesDaemon(_ invocation: StepInvocation) -> Bool { true }

    public func survivors(of attempts: [AttemptKey]) async -> Set<AttemptKey> {
        var alive: Set<AttemptKey> = []
        for key in attempts {
            do {
                _ = try await manager.status(UnitName.make(key))
                alive.insert(key)
            } catch {
                continue  // NoSuchUnit: collected, never started, or the machine restarted
            }
        }
        return alive
    }

    public func sweep(recorded: @escaping @Sendable (AttemptKey) -> String?) async -> [String] {
        guard let units = try? await manager.list(matching: UnitName.prefix + "*" + UnitName.suffix) else { return [] }
        var released: [String] = []
        for unit in units where unit.state.hasEnded {
            guard let key = UnitProperties.attemptKey(description: unit.description), UnitName.make(key) == unit.name,
                let log = recorded(key)
            else { continue }
            do {
                try await manager.release(unit.name, failed: nil)
            } catch {
                continue
            }
            released.append(unit.name)
            let output = UnitProperties.Output(logFile: log)
            unlink(output.stdout)
            unlink(output.stderr)
            credentials.remove(credentials.directory(of: unit.name))
        }
        return released
    }

    public func recorded(_ attempt: AttemptKey) async {
        guard let leftover = leftovers.withLock({ $0.removeValue(forKey: attempt) }) else { return }
        try? await manager.release(leftover.unit, failed: leftover.failed)
        unlink(leftover.output.stdout)
        unlink(leftover.output.stderr)
        credentials.remove(leftover.credentials)
    }
}
