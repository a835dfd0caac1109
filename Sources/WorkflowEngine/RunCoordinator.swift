import Foundation
import JobFormat
import Logging
import RunModel
import Schedules
import WorkflowStore

/// A run that is about to execute, and the handle to stop it.
public struct PreparedRun: Sendable {
    public let snapshot: RunSnapshot
    public let handle: RunHandle
    let inputs: AsyncStream<RunInput>
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
    public var http: HTTPStepExecutor
    public var llm: LLMStepExecutor
    public var secrets: SecretStore
    /// The host's prices (a job's own `prices:` go over them).
    public var prices: PriceTable
    /// The account wfd runs as: whose `HOME`, `USER`, `LOGNAME` and `SHELL` a step without
    /// `user:` gets. Looked up once, like systemd looks up `User=` once per start.
    public var ownAccount: UserAccount?
    /// The random part of each new run id (24 bits); tests give a sequence of their own.
    public var runIDSuffix: @Sendable () -> UInt32 = { UInt32.random(in: 0...0xFF_FFFF) }

    public init(
        store: RunStore, executor: any StepExecutor, clock: any WorkflowClock, logger: Logger,
        workingDirectory: String, daemonEnvironment: [String: String], prices: PriceTable = PriceTable()
    ) {
        self.store = store
        self.executor = executor
        self.clock = clock
        self.logger = logger
        self.workingDirectory = workingDirectory
        self.daemonEnvironment = daemonEnvironment
        http = HTTPStepExecutor()
        llm = LLMStepExecutor()
        secrets = SecretStore(directory: daemonEnvironment["CREDENTIALS_DIRECTORY"])
        self.prices = prices
        ownAccount = UserAccount.own()
    }

    /// Creates the run (in memory) and the handle that can cancel it. Its id carries the time a
    /// person reads it as: the fire time of a scheduled run (decided ahead of it or caught up
    /// later), the moment of asking for any other.
    public func prepare(job: Job, trigger: Trigger, scheduledFor: Date?, params: [String: String] = [:]) -> PreparedRun
    {
        let now = clock.now()
        let id = RunID.make(at: scheduledFor ?? now, suffix: runIDSuffix() & 0xFF_FFFF)
        var snapshot = RunSnapshot(job: job, id: id, trigger: trigger, scheduledFor: scheduledFor, createdAt: now)
        snapshot.run.params = params.isEmpty ? nil : params
        let (inputs, continuation) = AsyncStream.makeStream(of: RunInput.self)
        return PreparedRun(
            snapshot: snapshot, handle: RunHandle(job: job.id, run: id, continuation: continuation, clock: clock),
            inputs: inputs)
    }

    /// Takes up a run that is on disk already (recovery, `wfctl retry`), with a handle to cancel it.
    public func resume(_ snapshot: RunSnapshot) -> PreparedRun {
        let (inputs, continuation) = AsyncStream.makeStream(of: RunInput.self)
        return PreparedRun(
            snapshot: snapshot,
            handle: RunHandle(job: snapshot.run.job, run: snapshot.run.id, continuation: continuation, clock: clock),
            inputs: inputs)
    }

    /// Runs `prepared` to its end and returns its final records. Never throws: problems become
    /// the run's recorded outcome.
    ///
    /// A new run begins with the start transition; a run from ``resume(_:)`` with `first`
    /// (``RunEvent/recover(at:)`` or ``RunEvent/retry(_:at:)``). `recorded` is called once the
    /// first transition is on disk, before anything else happens.
    ///
    /// With `notBefore`, every record (the intent of each first step included) is written durably
    /// first and the steps are launched at `notBefore`: a run decided ahead of its fire time starts
    /// on the dot, and what is on disk still leads the processes. Inputs that arrive meanwhile are
    /// applied (a cancel ends the steps unlaunched: the machine refuses their launch).
    public func execute(
        _ prepared: PreparedRun, notBefore: Date? = nil, first: RunEvent? = nil,
        recorded: (@Sendable () -> Void)? = nil
    ) async -> RunSnapshot {
        var snapshot = prepared.snapshot
        let job = snapshot.spec
        let runLogger = logger.with([LogField.job: job.id.rawValue, LogField.runID: snapshot.run.id.rawValue])
        let handle = prepared.handle
        var controls: [Slot: StepControl] = [:]
        var outputs = OutputCache(steps: snapshot.steps)
        var retryTimers: [Slot: Task<Void, Never>] = [:]
        var decisionTimers: [Slot: Task<Void, Never>] = [:]
        var deadline: Task<Void, Never>?
        defer {
            retryTimers.values.forEach { $0.cancel() }
            decisionTimers.values.forEach { $0.cancel() }
            deadline?.cancel()
        }
        let context = context(for: snapshot, logger: runLogger)
        if let limit = job.timeout {
            var since = max(clock.now(), notBefore ?? .distantPast)
            if case .recover = first, let started = snapshot.run.startedAt { since = started }
            let due = since.addingTimeInterval(Double(limit.milliseconds) / 1000)
            deadline = Task { [clock] in
                do {
                    try await clock.sleep(until: due)
                    handle.send(.timeOut(after: limit.description, at: clock.now()))
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
        }
        // A new run is logged as started when its first work begins (at the fire time for a run
        // decided ahead of it), not when it was prepared.
        var unannounced = first == nil

        var iterator = prepared.inputs.makeAsyncIterator()
        await withTaskGroup(of: Void.self) { group in
            var queue: [RunEvent] = [first ?? .start(at: max(clock.now(), notBefore ?? .distantPast))]
            var announced = recorded
            var replies: [@Sendable () -> Void] = []
            // Attempts decided ahead of `notBefore`: launched when it comes, if the machine still
            // lets them (a cancel, a timeout or wfd stopping in between ends them unlaunched).
            var deferred: [(slot: Slot, attempt: Int, recorded: Bool)] = []
            var launchTimer: Task<Void, Never>?
            defer { launchTimer?.cancel() }
            // Attempts whose work goes on when wfd stops (units), and whether wfd is stopping
            // and leaving them to the next wfd (nothing more is applied or recorded then).
            var outliving: Set<Slot> = []
            var detaching = false

            /// Begins the work of `attempt` of `slot` if the machine accepts its launch now;
            /// `recorded`: its intent is on disk (else it fails at once, unspawned). With
            /// `reattach`, the work began under an earlier wfd: it is followed, whatever the run's
            /// state (a stop then reaches it like any running attempt).
            func launch(_ slot: Slot, attempt: Int, recorded: Bool, reattach: Bool = false) {
                let id = slot.step
                let item = slot.item
                let now = clock.now()
                do {
                    if !reattach {
                        _ = try RunMachine.apply(&snapshot, .launch(id, attempt: attempt, at: now, item: item))
                    }
                } catch {
                    // The machine says why: "not starting step 'a': the run is stopping (…)".
                    runLogger.info("\(error)", metadata: [LogField.step: .string(id.rawValue)])
                    return
                }
                if unannounced {
                    unannounced = false
                    runLogger.info(
                        "run started (\(snapshot.run.trigger.rawValue))",
                        metadata: [
                            LogField.trigger: .string(snapshot.run.trigger.rawValue),
                            LogField.messageID: .string(MessageID.runStarted),
                        ])
                }
                // Never spawn what is not on disk: the intent write failed.
                let launch: Launch =
                    !recorded
                    ? .ended(.failure(.start, "wfd could not record the step's start"))
                    : prepareLaunch(
                        slot, attempt: attempt, snapshot: snapshot, outputs: outputs, context: context,
                        logger: runLogger, reattach: reattach)
                switch launch {
                case .ended(let result):
                    queue.append(.attemptEnded(id, result, at: clock.now(), item: item))
                case .work(let work, let definition, let stepLogger):
                    let control = StepControl()
                    controls[slot] = control
                    if case .process(let invocation) = work, executor.outlivesDaemon(invocation) {
                        outliving.insert(slot)
                    }
                    let paths = (store.directory, job.id, snapshot.run.id)
                    group.addTask {
                        let raw = await run(work, context: context, control: control, logger: stepLogger)
                        if raw.detached {
                            handle.continuation.yield(.detached(Slot(step: id, item: item)))
                            return
                        }
                        let result = await Self.recordOutput(
                            raw, of: definition, item: item, in: paths, redactor: context.redactor,
                            logger: stepLogger)
                        handle.send(.attemptEnded(id, result, at: clock.now(), item: item))
                    }
                }
            }
            loop: while true {
                while !queue.isEmpty {
                    let event = queue.removeFirst()
                    let effects: [RunEffect]
                    do {
                        effects = try RunMachine.apply(&snapshot, event)
                    } catch {
                        runLogger.error("ignoring an event that does not fit the run: \(error)")
                        if let first = announced {  // the run was never taken up: leave it as it is
                            first()
                            break loop
                        }
                        continue
                    }
                    var ended: AttemptKey?
                    if case .attemptEnded(let id, let result, _, let item) = event, result.wait == nil {
                        let slot = Slot(step: id, item: item)
                        controls[slot] = nil
                        if result.outcome == .succeeded { outputs.values[slot] = Data(result.stdout ?? []) }
                        logAttempt(slot, result, snapshot: snapshot, logger: runLogger)
                        let number = snapshot.step(id).flatMap { try? RunMachine.slot($0, item) }?.attempts.last?.number
                        ended = number.map {
                            AttemptKey(job: job.id, run: snapshot.run.id, step: id, item: item, attempt: $0)
                        }
                    }
                    var unrecorded: Set<StepID> = []
                    var written: Set<StepID> = []
                    for (position, effect) in effects.enumerated() {
                        switch effect {
                        case .persistRun:
                            // Every effect writes the final snapshot: the run record is written
                            // once, at its last place, so that the step records it follows (a
                            // cancel that ends unlaunched steps) are on disk before it says it ended.
                            guard !effects[(position + 1)...].contains(.persistRun) else { continue }
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
                            let slot = Slot(step: id, item: item)
                            let recorded = !unrecorded.contains(id)
                            guard let notBefore, clock.now() < notBefore else {
                                launch(slot, attempt: attempt, recorded: recorded)
                                continue
                            }
                            deferred.append((slot, attempt, recorded))
                            if launchTimer == nil {
                                launchTimer = Task { [clock] in
                                    do {
                                        try await clock.sleep(until: notBefore)
                                        handle.continuation.yield(.launchDue)
                                    } catch {}
                                }
                            }
                        case .reattach(let id, let attempt, let item):
                            launch(Slot(step: id, item: item), attempt: attempt, recorded: true, reattach: true)
                        case .expand(let id):
                            queue.append(expand(id, snapshot: snapshot, outputs: outputs, logger: runLogger))
                        case .evaluateCondition(let id, let item):
                            let decided = ConditionDecision.event(
                                for: id, item: item, snapshot: snapshot,
                                output: { outputValue(of: $0, snapshot: snapshot, outputs: outputs) }, now: clock.now(),
                                logger: runLogger)
                            queue.append(decided)
                        case .scheduleRetry(let id, let due, let item):
                            let slot = Slot(step: id, item: item)
                            let record = snapshot.step(id).flatMap { try? RunMachine.slot($0, item) }
                            let attempts = record?.attempts.count ?? 0
                            let limit = job.steps.first { $0.id == id }?.effectiveRetry?.attempts ?? attempts
                            runLogger.notice(
                                "step '\(slot)' will be tried again at \(Timestamp.rfc3339(due)) (attempt \(attempts + 1) of \(limit))",
                                metadata: [LogField.step: .string(id.rawValue)])
                            retryTimers[slot]?.cancel()
                            retryTimers[slot] = Task { [clock] in
                                do {
                                    try await clock.sleep(until: due)
                                    handle.send(.retryDue(id, at: clock.now(), item: item))
                                } catch {}
                            }
                        case .scheduleDecision(let id, let due, let item):
                            let slot = Slot(step: id, item: item)
                            let approve = Self.timeoutApproves(job.steps.first { $0.id == id })
                            decisionTimers[slot]?.cancel()
                            decisionTimers[slot] = Task { [clock] in
                                do {
                                    try await clock.sleep(until: due)
                                    let decision = Decision(approved: approve, by: "timeout", at: clock.now())
                                    handle.decide(DecisionRequest(step: id, item: item, decision: decision) { _ in })
                                } catch {}
                            }
                        case .terminate(let id):
                            for (slot, control) in controls where slot.step == id {
                                control.terminate(reason: snapshot.run.cancelReason ?? "cancelled")
                            }
                        case .finished(let state):
                            let message = "run \(state.rawValue)" + (snapshot.run.error.map { ": \($0)" } ?? "")
                            let level: Logger.Level = state == .succeeded ? .info : .error
                            let id =
                                switch state {
                                case .succeeded: MessageID.runSucceeded
                                case .cancelled: MessageID.runCancelled
                                default: MessageID.runFailed
                                }
                            runLogger.log(
                                level: level, "\(message)",
                                metadata: [LogField.state: .string(state.rawValue), LogField.messageID: .string(id)])
                        }
                    }
                    announced?()
                    announced = nil
                    // Its end is on disk: what the executor kept for a later wfd (a unit) may go.
                    if let ended, !unrecorded.contains(ended.step) {
                        group.addTask { await executor.recorded(ended) }
                    }
                }
                replies.forEach { $0() }  // every decision taken is on disk now
                replies = []
                if snapshot.run.state.isTerminal { break }
                guard let input = await iterator.next() else { break }
                if detaching {
                    // Only the ends of the work still being let go of count now.
                    if case .event(.attemptEnded(let id, _, _, let item)) = input {
                        controls[Slot(step: id, item: item)] = nil
                    }
                    if case .detached(let slot) = input { controls[slot] = nil }
                    if controls.isEmpty { break }
                    continue
                }
                switch input {
                case .detach:
                    guard !outliving.isDisjoint(with: controls.keys) else {
                        queue.append(.cancel(reason: "wfd is stopping", at: clock.now()))
                        continue
                    }
                    // The run stays active on disk: the next wfd follows its units and recovers
                    // the rest by effect class, as after a crash.
                    detaching = true
                    launchTimer?.cancel()
                    deferred = []
                    runLogger.notice(
                        "wfd is stopping: \(outliving.intersection(controls.keys).count) steps go on in their units; the next wfd follows them"
                    )
                    for (slot, control) in controls {
                        if outliving.contains(slot) {
                            control.detach()
                        } else {
                            control.terminate(reason: "wfd is stopping")
                        }
                    }
                case .detached(let slot):
                    controls[slot] = nil
                case .event(let event):
                    queue.append(event)
                case .launchDue:
                    for (slot, attempt, recorded) in deferred { launch(slot, attempt: attempt, recorded: recorded) }
                    deferred = []
                case .decision(let request):
                    switch await accept(request, snapshot: snapshot, context: context, logger: runLogger) {
                    case .success(let event):
                        decisionTimers[Slot(step: request.step, item: request.item)]?.cancel()
                        queue.append(event)
                        replies.append { request.reply(nil) }
                    case .failure(let refusal):
                        request.reply(refusal.message)
                    }
                }
            }
        }
        handle.continuation.finish()
        // Decisions that arrived as the run ended hear so.
        while let input = await iterator.next() {
            if case .decision(let request) = input { request.reply("the run has ended") }
        }
        return snapshot
    }

    /// One process of a run: a step, or item `item` of a `for_each` step.
    struct Slot: Hashable, CustomStringConvertible {
        let step: StepID
        let item: Int?

        var description: String { item.map { "\(step)[\($0)]" } ?? step.rawValue }
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
        case .failed, .timedOut, .interrupted, .oom:
            let kind = Logger.MetadataValue.string(attempt?.errorKind?.rawValue ?? "unknown")
            stepLogger.error(
                "step failed\(took): \(result.error ?? "")",
                metadata: [LogField.messageID: .string(MessageID.stepFailed), "error_kind": kind])
        }
    }

    func isStepWrite(_ effects: [RunEffect], _ position: Int) -> Bool {
        guard effects.indices.contains(position), case .persistStep = effects[position] else { return false }
        return true
    }
}
