import Foundation
import JobFormat
import Logging
import RunModel
import RuntimeSupport
import Schedules
import WorkflowStore

/// One run being carried out: the interpreter of ``RunMachine``. It applies each event to the
/// snapshot and performs the effects the machine returns (durable writes first, then the launch
/// of steps), owns the run's timers and its running steps, and takes in what reaches the run from
/// outside (``RunInput``). Everything it needs from the world comes through ``RunCoordinator``:
/// the clock, the executors, the store; so a run is tested in process on a manual clock.
struct RunExecution {
    typealias Slot = RunCoordinator.Slot

    let coordinator: RunCoordinator
    let handle: RunHandle
    let logger: Logger
    let context: RunCoordinator.RunContext
    private let writer: DurableWriter
    /// The fire time a run decided ahead of it launches its first steps at.
    let notBefore: Date?
    private(set) var snapshot: RunSnapshot
    /// The job's `latest.json` as the run's last record left it, once the run has ended.
    private(set) var latest: LatestRuns?
    private var job: Job { snapshot.spec }
    private var controls: [Slot: StepControl] = [:]
    private var outputs: RunCoordinator.OutputCache
    private var timers: RunTimers
    /// Events to apply, in order.
    private var queue: [RunEvent] = []
    /// Hears once the first transition is on disk.
    private var announced: (@Sendable () -> Void)?
    /// Decisions accepted, answered once they are on disk.
    private var replies: [@Sendable () -> Void] = []
    /// Attempts decided ahead of `notBefore`: launched when it comes, if the machine still lets
    /// them (a cancel, a timeout or wfd stopping in between ends them unlaunched).
    private var deferred: [(slot: Slot, attempt: Int, recorded: Bool)] = []
    /// Attempts whose work goes on when wfd stops (units), and whether wfd is stopping and
    /// leaving them to the next wfd (nothing more is applied or recorded then).
    private var outliving: Set<Slot> = []
    private var detaching = false
    /// A new run is logged as started when its first work begins, not when it was prepared.
    private var unannounced: Bool

    init(
        _ prepared: PreparedRun, coordinator: RunCoordinator, notBefore: Date?, first: RunEvent?,
        recorded: (@Sendable () -> Void)?
    ) {
        self.coordinator = coordinator
        snapshot = prepared.snapshot
        handle = prepared.handle
        logger = coordinator.logger.with([
            LogField.job: prepared.snapshot.spec.id.rawValue, LogField.runID: prepared.snapshot.run.id.rawValue,
        ])
        context = coordinator.context(for: prepared.snapshot, logger: logger)
        writer = DurableWriter(store: coordinator.store, logger: logger)
        self.notBefore = notBefore
        outputs = RunCoordinator.OutputCache(steps: prepared.snapshot.steps)
        let handle = prepared.handle
        timers = RunTimers(clock: coordinator.clock) { handle.continuation.yield(.timersDue) }
        announced = recorded
        unannounced = first == nil
        let clock = coordinator.clock
        queue = [first ?? .start(at: max(clock.now(), notBefore ?? .distantPast))]
        if let limit = prepared.snapshot.spec.timeout {
            var since = max(clock.now(), notBefore ?? .distantPast)
            if case .recover = first, let started = prepared.snapshot.run.startedAt { since = started }
            timers.set(.deadline, at: since.addingTimeInterval(Double(limit.milliseconds) / 1000))
        }
    }

    private var clock: any WorkflowClock { coordinator.clock }

    /// Applies the queued events and performs their effects. False when the run was never taken
    /// up (its first event did not fit): it is left as it is.
    mutating func drain(_ group: inout TaskGroup<Void>) async -> Bool {
        while !queue.isEmpty {
            let event = queue.removeFirst()
            let effects: [RunEffect]
            do {
                effects = try RunMachine.apply(&snapshot, event)
            } catch {
                logger.error("ignoring an event that does not fit the run: \(error)")
                if let first = announced {
                    first()
                    return false
                }
                continue
            }
            var ended: AttemptKey?
            if case .attemptEnded(let id, let result, _, let item) = event, result.wait == nil {
                ended = attemptEnded(Slot(step: id, item: item), result)
            }
            let unrecorded = await perform(effects, &group)
            announced?()
            announced = nil
            coordinator.observe?(RunTransition(event: event, snapshot: snapshot))
            // Its end is on disk: what the executor kept for a later wfd (a unit) may go.
            if let ended, !unrecorded.contains(ended.step) {
                let executor = coordinator.executor
                group.addTask { await executor.recorded(ended) }
            }
        }
        replies.forEach { $0() }  // every decision taken is on disk now
        replies = []
        return true
    }

    /// Takes in one input. False once nothing more is to be done (wfd let go of the run's work).
    mutating func receive(_ input: RunInput, _ group: inout TaskGroup<Void>) async -> Bool {
        if detaching {
            // Only the ends of the work still being let go of count now.
            if case .event(.attemptEnded(let id, _, _, let item)) = input { controls[Slot(step: id, item: item)] = nil }
            if case .detached(let slot) = input { controls[slot] = nil }
            return !controls.isEmpty
        }
        switch input {
        case .detach: detach()
        case .detached(let slot): controls[slot] = nil
        case .event(let event): queue.append(event)
        case .timersDue:
            for timer in timers.take(now: clock.now()) { await fire(timer, &group) }
        case .decision(let request): await decide(request)
        }
        return true
    }

    /// Leaves nothing sleeping.
    mutating func finish() { timers.stop() }

    private mutating func fire(_ timer: RunTimers.Timer, _ group: inout TaskGroup<Void>) async {
        let now = clock.now()
        switch timer {
        case .deadline:
            queue.append(.timeOut(after: job.timeout?.description ?? "", at: now))
        case .launch:
            for (slot, attempt, recorded) in deferred { launch(slot, attempt: attempt, recorded: recorded, &group) }
            deferred = []
        case .retry(let slot):
            queue.append(.retryDue(slot.step, at: now, item: slot.item))
        case .decision(let slot):
            let approve = RunCoordinator.timeoutApproves(job.steps.first { $0.id == slot.step })
            let decision = Decision(approved: approve, by: "timeout", at: now)
            await decide(DecisionRequest(step: slot.step, item: slot.item, decision: decision) { _ in })
        }
    }

    private mutating func decide(_ request: DecisionRequest) async {
        switch await coordinator.accept(request, snapshot: snapshot, context: context, logger: logger) {
        case .success(let event):
            timers.cancel(.decision(Slot(step: request.step, item: request.item)))
            queue.append(event)
            replies.append { request.reply(nil) }
        case .failure(let refusal):
            request.reply(refusal.message)
        }
    }

    /// wfd is stopping: work that outlives it is let go of and the run left active on disk (the
    /// next wfd follows its units and recovers the rest by effect class, as after a crash); a run
    /// with no such work is cancelled.
    private mutating func detach() {
        guard !outliving.isDisjoint(with: controls.keys) else {
            queue.append(.cancel(reason: "wfd is stopping", at: clock.now()))
            return
        }
        detaching = true
        timers.stop()
        deferred = []
        logger.notice(
            "wfd is stopping: \(outliving.intersection(controls.keys).count) steps go on in their units; the next wfd follows them"
        )
        for (slot, control) in controls {
            if outliving.contains(slot) { control.detach() } else { control.terminate(reason: "wfd is stopping") }
        }
    }

    /// Bookkeeping of an attempt that ended: its output kept for later steps, its end logged.
    private mutating func attemptEnded(_ slot: Slot, _ result: AttemptResult) -> AttemptKey? {
        controls[slot] = nil
        if result.outcome == .succeeded { outputs.values[slot] = Data(result.stdout ?? []) }
        coordinator.logAttempt(slot, result, snapshot: snapshot, logger: logger)
        let record = snapshot.step(slot.step).flatMap { try? RunMachine.slot($0, slot.item) }
        return record?.attempts.last.map {
            AttemptKey(job: job.id, run: snapshot.run.id, step: slot.step, item: slot.item, attempt: $0.number)
        }
    }

    /// Performs the effects of one transition, in order; returns the steps whose records could
    /// not be written (their launch then fails, unspawned).
    private mutating func perform(_ effects: [RunEffect], _ group: inout TaskGroup<Void>) async -> Set<StepID> {
        let store = coordinator.store
        var unrecorded: Set<StepID> = []
        var written: Set<StepID> = []
        for (position, effect) in effects.enumerated() {
            switch effect {
            case .persistRun:
                // Every effect writes the final snapshot: the run record is written once, at its
                // last place, so that the step records it follows (a cancel that ends unlaunched
                // steps) are on disk before it says it ended.
                guard !effects[(position + 1)...].contains(.persistRun) else { continue }
                let run = snapshot.run
                let written = Locked<LatestRuns?>(nil)
                _ = await writer.persist { () throws(StoreError) in
                    let latest = try store.save(run)
                    written.withLock { $0 = latest }
                }
                if run.state.isTerminal { latest = written.withLock { $0 } }
            case .persistStep:
                // Consecutive step writes go out together: they are independent files, and all
                // are durable before the next effect (a spawn, the run record). Every effect
                // writes the final snapshot, so each step is written once.
                guard written.isEmpty || !Self.isStepWrite(effects, position - 1) else { continue }
                var batch: [StepRecord] = []
                var next = position
                while next < effects.count, case .persistStep(let id) = effects[next] {
                    if written.insert(id).inserted, let record = snapshot.step(id) { batch.append(record) }
                    next += 1
                }
                unrecorded.formUnion(await writer.persist(batch))
            case .spawn(let id, let attempt, let item):
                let slot = Slot(step: id, item: item)
                let recorded = !unrecorded.contains(id)
                guard let notBefore, clock.now() < notBefore else {
                    launch(slot, attempt: attempt, recorded: recorded, &group)
                    continue
                }
                deferred.append((slot, attempt, recorded))
                timers.set(.launch, at: notBefore)
            case .reattach(let id, let attempt, let item):
                launch(Slot(step: id, item: item), attempt: attempt, recorded: true, reattach: true, &group)
            case .expand(let id):
                queue.append(coordinator.expand(id, snapshot: snapshot, outputs: outputs, logger: logger))
            case .evaluateCondition(let id, let item):
                let (snapshot, outputs, coordinator) = (snapshot, outputs, coordinator)
                queue.append(
                    ConditionDecision.event(
                        for: id, item: item, snapshot: snapshot,
                        output: { coordinator.outputValue(of: $0, snapshot: snapshot, outputs: outputs) },
                        now: clock.now(), logger: logger))
            case .scheduleRetry(let id, let due, let item):
                let slot = Slot(step: id, item: item)
                let attempts = snapshot.step(id).flatMap { try? RunMachine.slot($0, item) }?.attempts.count ?? 0
                let limit = job.steps.first { $0.id == id }?.effectiveRetry?.attempts ?? attempts
                logger.notice(
                    "step '\(slot)' will be tried again at \(Timestamp.rfc3339(due)) (attempt \(attempts + 1) of \(limit))",
                    metadata: [LogField.step: .string(id.rawValue)])
                timers.set(.retry(slot), at: due)
            case .scheduleDecision(let id, let due, let item):
                timers.set(.decision(Slot(step: id, item: item)), at: due)
            case .terminate(let id):
                for (slot, control) in controls where slot.step == id {
                    control.terminate(reason: snapshot.run.cancelReason ?? "cancelled")
                }
            case .finished(let state):
                coordinator.logFinish(state, snapshot: snapshot, logger: logger)
            }
        }
        return unrecorded
    }

    /// Begins the work of `attempt` of `slot` if the machine accepts its launch now; `recorded`:
    /// its intent is on disk (else it fails at once, unspawned). With `reattach`, the work began
    /// under an earlier wfd: it is followed, whatever the run's state (a stop then reaches it like
    /// any running attempt).
    private mutating func launch(
        _ slot: Slot, attempt: Int, recorded: Bool, reattach: Bool = false, _ group: inout TaskGroup<Void>
    ) {
        let (id, item) = (slot.step, slot.item)
        do {
            if !reattach {
                _ = try RunMachine.apply(&snapshot, .launch(id, attempt: attempt, at: clock.now(), item: item))
            }
        } catch {
            // The machine says why: "not starting step 'a': the run is stopping (…)".
            logger.info("\(error)", metadata: [LogField.step: .string(id.rawValue)])
            return
        }
        if unannounced {
            unannounced = false
            logger.info(
                "run started (\(snapshot.run.trigger.rawValue))",
                metadata: [
                    LogField.trigger: .string(snapshot.run.trigger.rawValue),
                    LogField.messageID: .string(MessageID.runStarted),
                ])
        }
        // Never spawn what is not on disk: the intent write failed.
        let launch: RunCoordinator.Launch =
            !recorded
            ? .ended(.failure(.start, "wfd could not record the step's start"))
            : coordinator.prepareLaunch(
                slot, attempt: attempt, snapshot: snapshot, outputs: outputs, context: context, logger: logger,
                reattach: reattach)
        switch launch {
        case .ended(let result):
            queue.append(.attemptEnded(id, result, at: clock.now(), item: item))
        case .work(let work, let definition, let stepLogger):
            let control = StepControl()
            controls[slot] = control
            if case .process(let invocation) = work, coordinator.executor.outlivesDaemon(invocation) {
                outliving.insert(slot)
            }
            let (coordinator, context, handle) = (coordinator, context, handle)
            let paths = (coordinator.store.directory, job.id, snapshot.run.id)
            group.addTask {
                let raw = await coordinator.run(work, context: context, control: control, logger: stepLogger)
                if raw.detached {
                    handle.continuation.yield(.detached(slot))
                    return
                }
                let result = await RunCoordinator.recordOutput(
                    raw, of: definition, item: item, in: paths, redactor: context.redactor, logger: stepLogger)
                handle.send(.attemptEnded(id, result, at: coordinator.clock.now(), item: item))
            }
        }
    }

    private static func isStepWrite(_ effects: [RunEffect], _ position: Int) -> Bool {
        guard effects.indices.contains(position), case .persistStep = effects[position] else { return false }
        return true
    }
}

/// One step of a run's execution, for those who watch it (tests; later, events): the event the
/// machine applied and the records after it, once its effects are performed (on disk).
public struct RunTransition: Sendable {
    public let event: RunEvent
    public let snapshot: RunSnapshot
}
