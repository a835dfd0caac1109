import Foundation
import Logging
import WorkflowCore
import WorkflowStore

/// A run that is about to execute, and the handle to stop it.
public struct PreparedRun: Sendable {
    public let snapshot: RunSnapshot
    public let handle: RunHandle
    let events: AsyncStream<RunEvent>
}

/// Lets others (shutdown, later `wfctl cancel`) ask a run to stop.
public final class RunHandle: Sendable {
    public let job: JobID
    public let run: RunID
    let continuation: AsyncStream<RunEvent>.Continuation
    let clock: any WorkflowClock

    init(job: JobID, run: RunID, continuation: AsyncStream<RunEvent>.Continuation, clock: any WorkflowClock) {
        self.job = job
        self.run = run
        self.continuation = continuation
        self.clock = clock
    }

    /// Asks the run to stop: pending steps are skipped, running ones terminated (TERM, grace, KILL).
    public func cancel(reason: String) { continuation.yield(.cancel(reason: reason, at: clock.now())) }
}

/// Executes runs: feeds events to the pure ``RunMachine`` and carries out the effects it returns
/// (durable writes first, then spawns), so the records on disk always lead the processes.
public struct RunCoordinator: Sendable {
    public let store: RunStore
    public let executor: any StepExecutor
    public let clock: any WorkflowClock
    public let logger: Logger
    /// Steps run in this directory: the jobs directory, so `run: ./bin/tool` finds job-local tools.
    public let workingDirectory: String
    public let daemonEnvironment: [String: String]

    public init(
        store: RunStore, executor: any StepExecutor, clock: any WorkflowClock, logger: Logger,
        workingDirectory: String, daemonEnvironment: [String: String]
    ) {
        self.store = store
        self.executor = executor
        self.clock = clock
        self.logger = logger
        self.workingDirectory = workingDirectory
        self.daemonEnvironment = daemonEnvironment
    }

    /// Creates the run (in memory) and the handle that can cancel it.
    public func prepare(job: Job, trigger: Trigger, scheduledFor: Date?, params: [String: String] = [:]) -> PreparedRun
    {
        let now = clock.now()
        let id = RunID.make(at: now, suffix: UInt32.random(in: 0...0xFF_FFFF))
        var snapshot = RunSnapshot(job: job, id: id, trigger: trigger, scheduledFor: scheduledFor, createdAt: now)
        snapshot.run.params = params.isEmpty ? nil : params
        let (events, continuation) = AsyncStream.makeStream(of: RunEvent.self)
        return PreparedRun(
            snapshot: snapshot, handle: RunHandle(job: job.id, run: id, continuation: continuation, clock: clock),
            events: events)
    }

    /// Takes up a run that is on disk already (recovery, `wfctl retry`), with a handle to cancel it.
    public func resume(_ snapshot: RunSnapshot) -> PreparedRun {
        let (events, continuation) = AsyncStream.makeStream(of: RunEvent.self)
        return PreparedRun(
            snapshot: snapshot,
            handle: RunHandle(job: snapshot.run.job, run: snapshot.run.id, continuation: continuation, clock: clock),
            events: events)
    }

    /// Runs `prepared` to its end and returns its final records. Never throws: problems become
    /// the run's recorded outcome.
    ///
    /// A new run begins with the start transition; a run from ``resume(_:)`` with `first`
    /// (``RunEvent/recover(at:)`` or ``RunEvent/retry(_:at:)``). `recorded` is called once the
    /// first transition is on disk, before anything else happens.
    ///
    /// With `notBefore`, every record (the intent of each first step included) is written durably
    /// first and the steps are spawned at `notBefore`: a run decided ahead of its fire time starts
    /// on the dot, and what is on disk still leads the processes.
    public func execute(
        _ prepared: PreparedRun, notBefore: Date? = nil, first: RunEvent? = nil,
        recorded: (@Sendable () -> Void)? = nil
    ) async -> RunSnapshot {
        var snapshot = prepared.snapshot
        let job = snapshot.spec
        let runLogger = logger.with([LogField.job: job.id.rawValue, LogField.runID: snapshot.run.id.rawValue])
        let continuation = prepared.handle.continuation
        var controls: [Slot: StepControl] = [:]
        var outputs = OutputCache(
            needs: Dictionary(job.steps.map { ($0.id, $0.needs) }, uniquingKeysWith: { first, _ in first }))
        var retryTimers: [Slot: Task<Void, Never>] = [:]
        var deadline: Task<Void, Never>?
        defer {
            retryTimers.values.forEach { $0.cancel() }
            deadline?.cancel()
        }
        if let limit = job.timeout {
            var since = max(clock.now(), notBefore ?? .distantPast)
            if case .recover = first, let started = snapshot.run.startedAt { since = started }
            let due = since.addingTimeInterval(Double(limit.milliseconds) / 1000)
            deadline = Task { [clock] in
                do {
                    try await clock.sleep(until: due)
                    continuation.yield(.timeOut(after: limit.description, at: clock.now()))
                } catch {}
            }
        }
        // The spec and the directories first; the run record follows with the start transition
        // (a crash in between leaves a directory no index points at, never a half-made run).
        let (store, spec, runID) = (store, snapshot.spec, snapshot.run.id)
        if first == nil {
            do {
                try await BlockingIO.shared.run { () throws(StoreError) in
                    // The steps/ directory comes with the first step record, logs/ with the first byte of output.
                    try store.saveSpec(spec, run: runID)
                }
            } catch {
                runLogger.error("cannot record the new run, not starting it: \(error)")
                snapshot.run.state = .failed
                snapshot.run.error = "wfd could not write the run record: \(error)"
                recorded?()
                return snapshot
            }
            runLogger.info(
                "run started (\(snapshot.run.trigger.rawValue))",
                metadata: [LogField.trigger: .string(snapshot.run.trigger.rawValue)])
        }

        await withTaskGroup(of: Void.self) { group in
            var queue: [RunEvent] = [first ?? .start(at: max(clock.now(), notBefore ?? .distantPast))]
            var announced = recorded
            var waitedForStart = notBefore == nil
            var iterator = prepared.events.makeAsyncIterator()
            loop: while true {
                while !queue.isEmpty {
                    let event = queue.removeFirst()
                    let effects: [RunEffect]
                    do {
                        (snapshot, effects) = try RunMachine.apply(snapshot, event)
                    } catch {
                        runLogger.error("ignoring an event that does not fit the run: \(error)")
                        if let first = announced {  // the run was never taken up: leave it as it is
                            first()
                            break loop
                        }
                        continue
                    }
                    if case .attemptEnded(let id, let result, _, let item) = event {
                        let slot = Slot(step: id, item: item)
                        controls[slot] = nil
                        if result.outcome == .succeeded { outputs.values[slot] = Data(result.stdout ?? []) }
                        logAttempt(slot, result, snapshot: snapshot, logger: runLogger)
                    }
                    var unrecorded: Set<StepID> = []
                    var written: Set<StepID> = []
                    for (position, effect) in effects.enumerated() {
                        switch effect {
                        case .persistRun:
                            let run = snapshot.run
                            await persist(runLogger) { () throws(StoreError) in try store.save(run) }
                        case .persistStep:
                            // Consecutive step writes go out together: they are independent files,
                            // and all are durable before the next effect (a spawn, the run record).
                            // Every effect writes the final snapshot, so each step is written once.
                            guard written.isEmpty || !isStepWrite(effects, position - 1) else { continue }
                            var batch: [StepRecord] = []
                            var next = position
                            while next < effects.count, case .persistStep(let id) = effects[next] {
                                if written.insert(id).inserted, let record = snapshot.step(id) { batch.append(record) }
                                next += 1
                            }
                            unrecorded.formUnion(await persist(batch, logger: runLogger))
                        case .spawn(let id, let attempt, let item):
                            if !waitedForStart, let notBefore {
                                waitedForStart = true
                                try? await clock.sleep(until: notBefore)
                            }
                            let slot = Slot(step: id, item: item)
                            // Never spawn what is not on disk: the intent write failed.
                            let launch: Launch =
                                unrecorded.contains(id)
                                ? .refused(
                                    AttemptResult(outcome: .failed, error: "wfd could not record the step's start"))
                                : prepareLaunch(
                                    slot, attempt: attempt, snapshot: snapshot, outputs: outputs, logger: runLogger)
                            switch launch {
                            case .refused(let result):
                                queue.append(.attemptEnded(id, result, at: clock.now(), item: item))
                            case .ready(let invocation, let definition, let stepLogger):
                                let control = StepControl()
                                controls[slot] = control
                                let paths = (store.directory, job.id, snapshot.run.id)
                                group.addTask {
                                    let raw = await executor.execute(invocation, control: control, logger: stepLogger)
                                    let result = await Self.recordOutput(
                                        raw, of: definition, item: item, in: paths, logger: stepLogger)
                                    continuation.yield(.attemptEnded(id, result, at: clock.now(), item: item))
                                }
                            }
                        case .expand(let id):
                            queue.append(expand(id, snapshot: snapshot, outputs: outputs, logger: runLogger))
                        case .scheduleRetry(let id, let due, let item):
                            let slot = Slot(step: id, item: item)
                            let record = snapshot.step(id).flatMap { try? RunMachine.slot($0, item) }
                            let attempts = record?.attempts.count ?? 0
                            let limit = job.steps.first { $0.id == id }?.retry?.attempts ?? attempts
                            runLogger.notice(
                                "step '\(slot)' will be tried again at \(Timestamp.rfc3339(due)) (attempt \(attempts + 1) of \(limit))",
                                metadata: [LogField.step: .string(id.rawValue)])
                            retryTimers[slot]?.cancel()
                            retryTimers[slot] = Task { [clock] in
                                do {
                                    try await clock.sleep(until: due)
                                    continuation.yield(.retryDue(id, at: clock.now(), item: item))
                                } catch {}
                            }
                        case .terminate(let id):
                            for (slot, control) in controls where slot.step == id {
                                control.terminate(reason: snapshot.run.cancelReason ?? "cancelled")
                            }
                        case .finished(let state):
                            let message = "run \(state.rawValue)" + (snapshot.run.error.map { ": \($0)" } ?? "")
                            let level: Logger.Level = state == .succeeded ? .info : .error
                            runLogger.log(
                                level: level, "\(message)", metadata: [LogField.state: .string(state.rawValue)])
                        }
                    }
                    announced?()
                    announced = nil
                }
                if snapshot.run.state.isTerminal { break }
                guard let event = await iterator.next() else { break }
                queue.append(event)
            }
        }
        continuation.finish()
        return snapshot
    }

    /// One process of a run: a step, or item `item` of a `for_each` step.
    struct Slot: Hashable, CustomStringConvertible {
        let step: StepID
        let item: Int?

        var description: String { item.map { "\(step)[\($0)]" } ?? step.rawValue }
    }

    enum Launch {
        case ready(StepInvocation, StepDefinition, Logger)
        /// The attempt ends at once with this result.
        case refused(AttemptResult)
    }

    /// The invocation of `attempt` of `slot`, or the failed result that stands for it when it
    /// cannot be started (not a shell step, an unknown user).
    func prepareLaunch(
        _ slot: Slot, attempt: Int, snapshot: RunSnapshot, outputs: OutputCache, logger: Logger
    ) -> Launch {
        guard let definition = snapshot.spec.steps.first(where: { $0.id == slot.step }) else {
            return .refused(AttemptResult(outcome: .failed, error: "the step is not in the run's definition"))
        }
        guard case .run(let command) = definition.kind else {
            return .refused(
                AttemptResult(
                    outcome: .failed,
                    error: "'\(definition.kind.name)' steps are not supported by this version of wfd yet"))
        }
        let run = snapshot.run
        let record = snapshot.step(slot.step).flatMap { try? RunMachine.slot($0, slot.item) }
        let relative = record?.attempts.last?.log ?? "logs/\(slot.step.rawValue).\(attempt).log"
        var environment = StepEnvironment.make(
            job: snapshot.spec, step: definition, run: run.id, attempt: attempt, params: run.params ?? [:],
            daemonEnvironment: daemonEnvironment
        )
        .merging(upstreamOutputs(of: definition, snapshot: snapshot, outputs: outputs)) { _, output in output }
        if let item = slot.item, let value = record?.value {
            environment["WF_ITEM"] = value.environmentText
            environment["WF_ITEM_INDEX"] = String(item)
        }
        var invocation = StepInvocation(
            job: run.job, run: run.id, step: slot.step, attempt: attempt, command: command,
            environment: environment, workingDirectory: workingDirectory(for: definition),
            timeout: definition.timeout?.duration,
            logFile: store.directory.runFile(run.job, run.id, relative: relative))
        invocation.item = slot.item
        invocation.processRecord = ProcessRecord.path(store.directory, run.job, run.id)
        if let user = definition.user {
            switch UserAccount.resolve(user) {
            case .success(let account):
                invocation.account = account
                invocation.environment["HOME"] = account.home
                invocation.environment["USER"] = account.name
                invocation.environment["LOGNAME"] = account.name
            case .failure(let problem):
                return .refused(AttemptResult(outcome: .failed, error: problem.message))
            }
        }
        var fields = [LogField.step: slot.step.rawValue, LogField.attempt: String(attempt)]
        if let item = slot.item { fields[LogField.item] = String(item) }
        let stepLogger = logger.with(fields)
        stepLogger.info("step started: \(command)")
        return .ready(invocation, definition, stepLogger)
    }

    /// Works out the array of the `for_each` step `id` from what has run so far.
    func expand(_ id: StepID, snapshot: RunSnapshot, outputs: OutputCache, logger: Logger) -> RunEvent {
        guard let text = snapshot.spec.steps.first(where: { $0.id == id })?.forEach else {
            return .expansionFailed(id, error: "the step has no for_each", at: clock.now())
        }
        var values = TemplateValues(
            outputs: [:], params: snapshot.run.params ?? [:], run: snapshot.run.id, trigger: snapshot.run.trigger,
            job: snapshot.run.job)
        for record in snapshot.steps where record.state == .succeeded {
            values.outputs[record.step] = outputValue(of: record, snapshot: snapshot, outputs: outputs)
        }
        switch ForEachExpansion.items(text, values: values) {
        case .success(let items):
            logger.info(
                "step '\(id)' fans out over \(items.count) items", metadata: [LogField.step: .string(id.rawValue)])
            return .expanded(id, items: items, at: clock.now())
        case .failure(let problem):
            return .expansionFailed(id, error: problem.message, at: clock.now())
        }
    }

    /// The outputs of the steps that succeeded while this wfd ran the run, and each step's direct
    /// needs: what a spawn needs to build its environment without reading every upstream file.
    struct OutputCache {
        var values: [Slot: Data] = [:]
        let needs: [StepID: [StepID]]
    }

    /// The output bytes of a succeeded step or item: from the cache, else from its output file;
    /// empty when it printed nothing.
    func outputData(of record: StepRecord, snapshot: RunSnapshot, outputs: OutputCache) -> Data {
        if let cached = outputs.values[Slot(step: record.step, item: record.item)] { return cached }
        guard let relative = record.attempts.last?.output else { return Data() }
        return
            (try? RecordFile.readData(store.directory.runFile(snapshot.run.job, snapshot.run.id, relative: relative)))
            ?? Data()
    }

    /// A succeeded step's output as a value: parsed for `output: json`, a string for text, and
    /// for a `for_each` step the array of its items' outputs.
    func outputValue(of record: StepRecord, snapshot: RunSnapshot, outputs: OutputCache) -> JSONValue {
        if let items = record.items, record.attempts.last?.byHand != true {
            return .array(items.map { outputValue(of: $0, snapshot: snapshot, outputs: outputs) })
        }
        let data = outputData(of: record, snapshot: snapshot, outputs: outputs)
        let json = snapshot.spec.steps.first { $0.id == record.step }?.output == .json
        return json ? (JSONValue.parse(data) ?? .null) : .string(String(decoding: data, as: UTF8.self))
    }

    /// `WF_STEP_<ID>_OUTPUT_FILE` for every succeeded step `step` needs (directly or not) that has
    /// an output file, and `WF_STEP_<ID>_OUTPUT` with the value itself when it fits an
    /// environment variable (empty for a step that printed nothing; the JSON array of its items'
    /// outputs for a `for_each` step).
    func upstreamOutputs(of step: StepDefinition, snapshot: RunSnapshot, outputs: OutputCache) -> [String: String] {
        let upstream = StepGraph.upstream(of: step.id, needs: outputs.needs)
        var environment: [String: String] = [:]
        for record in snapshot.steps where upstream.contains(record.step) && record.state == .succeeded {
            let name = StepEnvironment.outputName(of: record.step)
            let text: String
            if record.items != nil, record.attempts.last?.byHand != true {
                text = outputValue(of: record, snapshot: snapshot, outputs: outputs).environmentText
            } else {
                if let relative = record.attempts.last?.output {
                    environment[name + "_FILE"] = store.directory.runFile(
                        snapshot.run.job, snapshot.run.id, relative: relative)
                }
                text = String(decoding: outputData(of: record, snapshot: snapshot, outputs: outputs), as: UTF8.self)
            }
            if text.utf8.count <= StepEnvironment.maximumValue, !text.utf8.contains(0) { environment[name] = text }
        }
        return environment
    }

    /// Turns a successful attempt's stdout into its output: validated for `output: json`, written
    /// durably to `outputs/<step>` before the step is recorded as succeeded.
    static func recordOutput(
        _ raw: AttemptResult, of step: StepDefinition, item: Int? = nil, in paths: (StateDirectory, JobID, RunID),
        logger: Logger
    ) async -> AttemptResult {
        var result = raw
        result.stdout = nil
        guard raw.outcome == .succeeded, var value = raw.stdout else { return result }
        func fail(_ message: String) -> AttemptResult {
            AttemptResult(outcome: .failed, exitCode: raw.exitCode, error: message)
        }
        if value.last == UInt8(ascii: "\n") { value.removeLast() }  // echo's newline is not part of the value
        switch step.output {
        case .json:
            if raw.stdoutTruncated {
                return fail("its output is larger than the output limit; write big data to a file and output its path")
            }
            do {
                _ = try JSONSerialization.jsonObject(with: Data(value), options: [.fragmentsAllowed])
            } catch {
                let preview = String(decoding: value.prefix(80), as: UTF8.self)
                return fail("its stdout is not valid JSON (output: json): '\(preview)'")
            }
        case .text:
            if raw.stdoutTruncated { logger.warning("output cut at the output limit (output: text)") }
        }
        result.stdout = value  // the value, for the run's output cache
        if value.isEmpty { return result }  // nothing printed: no file, an empty output
        let (directory, job, run) = paths
        let relative = "outputs/\(step.id.rawValue)" + (item.map { ".\($0)" } ?? "")
        let file = directory.runFile(job, run, relative: relative)
        let data = Data(value)
        do {
            try await BlockingIO.shared.run { () throws(StoreError) in try RecordFile.write(data, to: file) }
        } catch {
            return fail("wfd could not record its output: \(error)")
        }
        result.outputFile = relative
        return result
    }

    /// The step's `workdir`, relative ones resolved against the jobs directory.
    func workingDirectory(for step: StepDefinition) -> String {
        guard let workdir = step.workdir else { return workingDirectory }
        return workdir.hasPrefix("/") ? workdir : "\(workingDirectory)/\(workdir)"
    }

    func logAttempt(_ slot: Slot, _ result: AttemptResult, snapshot: RunSnapshot, logger: Logger) {
        let record = snapshot.step(slot.step).flatMap { try? RunMachine.slot($0, slot.item) }
        let attempt = record?.attempts.last
        var fields = [LogField.step: slot.step.rawValue, LogField.attempt: String(attempt?.number ?? 0)]
        if let item = slot.item { fields[LogField.item] = String(item) }
        let stepLogger = logger.with(fields)
        let took = attempt?.durationMilliseconds.map { " in \($0) ms" } ?? ""
        switch result.outcome {
        case .succeeded: stepLogger.info("step succeeded\(took)")
        case .cancelled: stepLogger.warning("step cancelled\(took): \(result.error ?? "")")
        case .failed, .timedOut, .interrupted: stepLogger.error("step failed\(took): \(result.error ?? "")")
        }
    }

    func isStepWrite(_ effects: [RunEffect], _ position: Int) -> Bool {
        guard effects.indices.contains(position), case .persistStep = effects[position] else { return false }
        return true
    }

    /// Writes `records` durably, at the same time on the I/O threads; returns the steps whose
    /// write failed (logged; their records on disk keep the previous version).
    func persist(_ records: [StepRecord], logger: Logger) async -> Set<StepID> {
        let store = store
        return await withTaskGroup(of: StepID?.self) { group in
            for record in records {
                group.addTask {
                    await persist(logger, { () throws(StoreError) in try store.save(record) }) ? nil : record.step
                }
            }
            var failed: Set<StepID> = []
            for await id in group { if let id { failed.insert(id) } }
            return failed
        }
    }

    /// Runs a durable write on an I/O thread; a failure is logged (the records on disk stay at
    /// their last version).
    @discardableResult
    func persist(_ logger: Logger, _ write: @escaping @Sendable () throws(StoreError) -> Void) async -> Bool {
        do {
            try await BlockingIO.shared.run(write)
            return true
        } catch {
            logger.error("cannot write state, the record on disk keeps its previous version: \(error)")
            return false
        }
    }
}
