import Foundation
import JSONSchemaKit
import JobFormat

/// Something that happened to a run.
public enum RunEvent: Sendable, Equatable {
    /// The run may begin: its job lock is held. `at` is when it is due (a run decided ahead of its
    /// fire time starts at the fire time; its first steps are launched then).
    case start(at: Date)
    /// wfd is about to begin the work of this open attempt (spawn its process, send its request).
    /// Refused when the run is ending (cancelled, timed out, wfd stopping) or the attempt is no
    /// longer open: then the work must not begin. Nothing is written: the start time goes to disk
    /// with the attempt's end.
    case launch(StepID, attempt: Int, at: Date, item: Int? = nil)
    /// An attempt of a running step (or of item `item` of a `for_each` step) ended.
    case attemptEnded(StepID, AttemptResult, at: Date, item: Int? = nil)
    /// A person, a newer run or shutdown asked the run to stop.
    case cancel(reason: String, at: Date)
    /// wfd found the run unfinished at start-up: it died while the run was active.
    case recover(at: Date, survivors: Set<StepSlot> = [])
    /// The job's `timeout` for the whole run passed: stop it like a cancel, ending `timed_out`.
    case timeOut(after: String, at: Date)
    /// A step (or item) waiting in `retry_wait` is due for its next attempt.
    case retryDue(StepID, at: Date, item: Int? = nil)
    /// The array of a `for_each` step is known: one item each.
    case expanded(StepID, items: [JSONValue], at: Date)
    /// The array of a `for_each` step could not be had: the step fails with `error`.
    case expansionFailed(StepID, error: String, at: Date)
    /// A person asked for the ended run to go on (`wfctl retry`).
    case retry(RetryRequest, at: Date)
    /// A person (or a waiting step's timeout) decided on a `waiting` step; `output` is where an
    /// approved approval's output was written, relative to the run directory.
    case decide(StepID, Decision, output: String?, at: Date, item: Int? = nil)
    /// The `when` condition of a pending step (or of item `item`) came out as `condition` says:
    /// true, it starts as soon as it may; false, it is skipped; an error fails it.
    case conditionEvaluated(StepID, ConditionRecord, item: Int? = nil)
}

/// What `wfctl retry` asks of a run that ended: every step that did not succeed runs again, and
/// with `from` that step too, with everything after them; `skip` records steps as done by hand.
public struct RetryRequest: Sendable, Equatable {
    public var from: StepID?
    /// Steps a person marks done, with their output (relative to the run directory) when given.
    public var skip: [StepID: String?]

    public init(from: StepID? = nil, skip: [StepID: String?] = [:]) {
        self.from = from
        self.skip = skip
    }
}

/// What the engine must do after a transition, in order.
public enum RunEffect: Sendable, Equatable {
    /// Write the run record durably.
    case persistRun
    /// Write this step's record durably.
    case persistStep(StepID)
    /// Spawn this attempt of the step (of its item `item`). Always preceded by its `persistStep`,
    /// so the intent is on disk first; the engine applies ``RunEvent/launch(_:attempt:at:item:)``
    /// right before the work begins, and begins it only if that is accepted.
    case spawn(StepID, attempt: Int, item: Int? = nil)
    /// Follow the open attempt the executor still knows from before a restart (its unit) to its
    /// end: nothing new starts. Applied like ``spawn(_:attempt:item:)`` (with the launch event).
    case reattach(StepID, attempt: Int, item: Int? = nil)
    /// Work out the array of this `for_each` step and send ``RunEvent/expanded(_:items:at:)``.
    case expand(StepID)
    /// Evaluate the `when` condition of this pending step (of its item `item`) and send
    /// ``RunEvent/conditionEvaluated(_:_:item:)``.
    case evaluateCondition(StepID, item: Int? = nil)
    /// Stop the step's running attempts, its items' included (TERM, grace period, KILL).
    case terminate(StepID)
    /// Send ``RunEvent/retryDue(_:at:item:)`` for this step (item) at this time (persisted as `retry_at`).
    case scheduleRetry(StepID, at: Date, item: Int? = nil)
    /// Send ``RunEvent/decide(_:_:output:at:item:)`` with the timeout's decision at this time,
    /// unless a person decides first.
    case scheduleDecision(StepID, at: Date, item: Int? = nil)
    /// The run reached a terminal state: release its lock, update indexes, log.
    case finished(RunState)
}

/// A transition the state machine refuses: the engine sent an event that does not fit the records.
public struct TransitionError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// The pure run state machine: `(snapshot, event) -> (snapshot, [effect])`. No I/O, no clock.
public enum RunMachine {
    /// Applies `event` to `snapshot`.
    ///
    /// - Throws: ``TransitionError`` when the event does not fit (a finished run, a step that is
    ///   not running); `snapshot` is then unchanged.
    public static func apply(_ snapshot: RunSnapshot, _ event: RunEvent) throws(TransitionError) -> (
        RunSnapshot, [RunEffect]
    ) {
        var next = snapshot
        let effects = try apply(&next, event)
        return (next, effects)
    }

    /// Applies `event` to `snapshot` in place: the same transition as ``apply(_:_:)-(RunSnapshot,_)``
    /// without copying the steps (the engine applies one event per step end).
    ///
    /// - Throws: ``TransitionError``; `snapshot` is then unchanged.
    public static func apply(_ snapshot: inout RunSnapshot, _ event: RunEvent) throws(TransitionError) -> [RunEffect] {
        switch event {
        case .retry, .decide:
            // These may refuse after a first change: they work on a copy (they are rare).
            var next = snapshot
            let effects = try transition(&next, event, timedOut: false)
            snapshot = next
            return effects
        default:
            // Every other transition checks all it refuses on before it changes anything.
            return try transition(&snapshot, event, timedOut: false)
        }
    }

    private static func transition(_ next: inout RunSnapshot, _ event: RunEvent, timedOut: Bool)
        throws(TransitionError) -> [RunEffect]
    {
        var effects: [RunEffect] = []
        switch event {
        case .start(let at):
            next.run.state = try runAfter(next.run, .start)
            next.run.startedAt = at
            effects.append(.persistRun)
            effects += settle(&next, at: at, startNew: true)
            effects += finishIfDone(&next, at: at)
        case .launch(let stepID, let number, let at, let item):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            if let reason = next.run.cancelReason {
                throw TransitionError("not starting step '\(stepID)': the run is stopping (\(reason))")
            }
            let index = try stepIndex(next, stepID)
            var record = try slot(next.steps[index], item)
            guard record.state == .running, let open = record.attempts.last, open.number == number,
                open.endedAt == nil, open.startedAt == nil
            else {
                throw TransitionError("not starting step '\(stepID)': it has no attempt \(number) waiting to start")
            }
            record.attempts[record.attempts.count - 1].startedAt = at
            store(record, item, in: &next.steps[index])
        case .attemptEnded(let stepID, let result, let at, let item):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            let index = try stepIndex(next, stepID)
            var record = try slot(next.steps[index], item)
            if let wait = result.wait, next.run.cancelReason == nil {
                try beginWaiting(&record, wait, result: result)
                store(record, item, in: &next.steps[index])
                effects.append(.persistStep(stepID))
                if let deadline = wait.deadline { effects.append(.scheduleDecision(stepID, at: deadline, item: item)) }
                effects += syncWaiting(&next)
                return effects
            }
            try endAttempt(&record, result, at: at)
            if next.run.cancelReason == nil,
                let definition = next.definition(of: stepID),
                let due = retryTime(for: record, definition: definition, result: result, run: next.run.id, at: at)
            {
                record.state = .retryWait
                record.retryAt = due
                store(record, item, in: &next.steps[index])
                effects += [.persistStep(stepID), .scheduleRetry(stepID, at: due, item: item)]
                return effects
            }
            effects += storeAndSettle(record, item, stepID, index, in: &next, at: at)
        case .timeOut(let limit, let at):
            return try transition(&next, .cancel(reason: "the run timed out after \(limit)", at: at), timedOut: true)
        case .cancel(let reason, let at):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            guard next.run.cancelReason == nil else { return [] }  // asked twice: nothing new
            next.run.cancelReason = reason
            if timedOut { next.run.timedOut = true }
            // A run decided ahead and stopped before its fire time never started.
            if let started = next.run.startedAt, started > at, !next.steps.contains(where: \.hasBegun) {
                next.run.startedAt = nil
            }
            effects.append(.persistRun)
            effects += stopSteps(&next, reason: reason, at: at)
            effects += finishIfDone(&next, at: at)
        case .retryDue(let stepID, let at, let item):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            let index = try stepIndex(next, stepID)
            guard next.run.cancelReason == nil else { return [] }
            var record = try slot(next.steps[index], item)
            record.state = try stepAfter(record, .start)
            record.retryAt = nil
            let number = record.attempts.count + 1
            record.attempts.append(attempt(number, of: record, in: next.plan, at: at))
            store(record, item, in: &next.steps[index])
            effects += [.persistStep(stepID), .spawn(stepID, attempt: number, item: item)]
        case .expanded(let stepID, let values, let at):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            let index = try stepIndex(next, stepID)
            guard next.plan.fanned[index], next.steps[index].state == .running, next.steps[index].items == nil else {
                throw TransitionError("step '\(stepID)' is not waiting for its items")
            }
            let parent = next.steps[index]
            next.steps[index].items = values.enumerated().map {
                StepRecord(item: $0.offset, of: parent, value: $0.element)
            }
            conclude(&next.steps[index])
            effects.append(.persistStep(stepID))
            effects += settle(&next, at: at, startNew: next.run.cancelReason == nil)
            effects += finishIfDone(&next, at: at)
        case .expansionFailed(let stepID, let error, let at):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            let index = try stepIndex(next, stepID)
            guard next.plan.fanned[index], next.steps[index].state == .running, next.steps[index].items == nil else {
                throw TransitionError("step '\(stepID)' is not waiting for its items")
            }
            next.steps[index].state = .failed
            next.steps[index].error = error
            effects.append(.persistStep(stepID))
            effects += settle(&next, at: at, startNew: next.run.cancelReason == nil)
            effects += finishIfDone(&next, at: at)
        case .recover(let at, let survivors):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            if next.run.state == .queued { return try transition(&next, .start(at: at), timedOut: false) }
            effects += recover(&next, at: at, survivors: survivors)
        case .retry(let request, let at):
            effects += try retry(&next, request, at: at)
            effects += settle(&next, at: at, startNew: true)
            effects += finishIfDone(&next, at: at)
        case .decide(let stepID, let decision, let output, let at, let item):
            effects += try decide(&next, stepID, decision, output: output, at: at, item: item)
        case .conditionEvaluated(let stepID, let condition, let item):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            let index = try stepIndex(next, stepID)
            var record = try slot(next.steps[index], item)
            next.askedConditions.remove(ConditionKey(step: stepID, item: item))
            // Stopped meanwhile (a cancel skips pending steps): nothing left to decide.
            guard record.state == .pending else { return [] }
            record.condition = condition
            let at = condition.at
            if condition.value == false {
                record.state = .skipped
                record.skipCause = .condition
                record.error = "its condition is false: ${{ \(condition.expression) }}"
            } else if let error = condition.error {
                record.state = .failed
                record.error = "its condition could not be evaluated: \(error)"
            }
            effects += storeAndSettle(record, item, stepID, index, in: &next, at: at)
        }
        return effects
    }

    /// A new attempt of `record`; only a `run` step's attempt has a log (the others write none).
    static func attempt(_ number: Int, of record: StepRecord, in plan: StepPlan, at: Date) -> Attempt {
        let isProcess = plan.position[record.step].map { plan.isProcess[$0] } ?? true
        return Attempt(number: number, plannedAt: at, log: isProcess ? record.logPath(attempt: number) : nil)
    }

    static func stepIndex(_ snapshot: RunSnapshot, _ id: StepID) throws(TransitionError) -> Int {
        guard let index = snapshot.plan.position[id] else {
            throw TransitionError("run \(snapshot.run.id) has no step '\(id)'")
        }
        return index
    }

    /// The record an event is about: the step's own, or that of its item `item`.
    public static func slot(_ step: StepRecord, _ item: Int?) throws(TransitionError) -> StepRecord {
        guard let item else { return step }
        guard let items = step.items, items.indices.contains(item) else {
            throw TransitionError("step '\(step.step)' has no item \(item)")
        }
        return items[item]
    }

    static func store(_ record: StepRecord, _ item: Int?, in step: inout StepRecord) {
        if let item { step.items?[item] = record } else { step = record }
    }

    /// Ends a running `for_each` step once all its items have ended: succeeded when they all
    /// did (or were skipped by their condition), else as its first item that did not (interrupted before failed before cancelled).
    static func conclude(_ step: inout StepRecord) {
        guard step.state == .running, let items = step.items, items.allSatisfy({ $0.state.isTerminal }) else { return }
        func describe(_ item: StepRecord) -> String {
            "item \(item.item ?? 0) of \(items.count)" + (item.error.map { ": \($0)" } ?? "")
        }
        if let item = items.first(where: { $0.state == .interrupted }) {
            step.state = .interrupted
            step.error = describe(item)
        } else if let item = items.first(where: { $0.state == .failed }) {
            step.state = .failed
            step.error = describe(item)
        } else if let item = items.first(where: { $0.state != .succeeded && $0.skipCause != .condition }) {
            step.state = .cancelled
            step.error = describe(item)
        } else {
            step.state = .succeeded
            step.error = nil
        }
    }

    static func runAfter(_ run: RunRecord, _ transition: RunState.Transition) throws(TransitionError) -> RunState {
        guard let state = run.state.after(transition) else {
            throw TransitionError("run \(run.id) cannot \(transition.rawValue) from \(run.state.rawValue)")
        }
        return state
    }

    static func stepAfter(_ step: StepRecord, _ transition: StepState.Transition) throws(TransitionError) -> StepState {
        guard let state = step.state.after(transition) else {
            throw TransitionError("step '\(step.step)' cannot \(transition.rawValue) from \(step.state.rawValue)")
        }
        return state
    }

    /// Ends the open attempt of a running (or waiting) step with `result`.
    static func endAttempt(_ step: inout StepRecord, _ result: AttemptResult, at: Date) throws(TransitionError) {
        guard step.state == .running || step.state == .waiting, let attempt = step.attempts.last,
            attempt.endedAt == nil
        else {
            throw TransitionError("step '\(step.step)' has no running attempt")
        }
        let transition: StepState.Transition =
            switch result.outcome {
            case .succeeded: step.state == .waiting ? .resume : .succeed
            case .cancelled: .cancel
            case .failed, .timedOut, .oom: .fail
            case .interrupted: .interrupt
            }
        step.state = try stepAfter(step, transition)
        closeAttempt(&step, result, at: at)
        step.waiting = nil
        step.error = result.outcome == .succeeded ? nil : result.error
    }

    /// Writes how the open attempt ended, without moving the step.
    static func closeAttempt(_ step: inout StepRecord, _ result: AttemptResult, at: Date) {
        guard var attempt = step.attempts.last else { return }
        attempt.endedAt = at
        attempt.outcome = result.outcome
        attempt.exitCode = result.exitCode
        attempt.signal = result.signal
        attempt.error = result.error
        attempt.output = result.outputFile
        attempt.errorKind = result.errorKind ?? failureKind(of: result)
        attempt.calls = result.calls ?? attempt.calls
        attempt.http = result.http ?? attempt.http
        attempt.startedAt = result.startedAt ?? attempt.startedAt
        attempt.unit = result.unit ?? attempt.unit
        attempt.usage = result.usage ?? attempt.usage
        let end = result.finishedAt ?? at
        attempt.durationMilliseconds = attempt.startedAt.map { Int64((end.timeIntervalSince($0) * 1000).rounded()) }
        step.attempts[step.attempts.count - 1] = attempt
    }

    /// The kind of a failure an executor did not name: from its outcome, exit status or signal.
    static func failureKind(of result: AttemptResult) -> FailureKind? {
        switch result.outcome {
        case .succeeded: nil
        case .timedOut: .timeout
        case .cancelled: .cancelled
        case .interrupted: .interrupted
        case .oom: .oom
        case .failed:
            if let code = result.exitCode, code != 0 {
                .exitStatus
            } else if result.signal != nil {
                .signal
            } else {
                nil
            }
        }
    }

    /// When the failed attempt `step` just ended should be tried again, or nil: the step's
    /// `retry` allows another attempt, the failure is one it retries (failed or timed out, and
    /// `on_exit_codes` when given, not one the executor calls hopeless), and the run goes on;
    /// never sooner than a server's `Retry-After`. The delay grows by `backoff` from `delay`
    /// up to `max_delay`, with full jitter drawn from a hash of run, step and attempt, so the
    /// function stays pure and a replay gives the same time.
    static func retryTime(
        for step: StepRecord, definition: StepDefinition, result: AttemptResult, run: RunID, at: Date
    ) -> Date? {
        let counted = step.attempts.dropFirst(step.attemptsBefore ?? 0).filter { $0.outcome != .interrupted }
        guard let policy = definition.effectiveRetry, counted.count < policy.attempts, result.retriable,
            result.outcome == .failed || result.outcome == .timedOut
        else { return nil }
        if !policy.onExitCodes.isEmpty {
            guard let code = result.exitCode, policy.onExitCodes.contains(Int(code)) else { return nil }
        }
        let base = Double(policy.delay?.milliseconds ?? 1000) / 1000
        var delay = base * pow(policy.backoff, Double(counted.count - 1))
        if let cap = policy.maxDelay { delay = min(delay, Double(cap.milliseconds) / 1000) }
        var hash: UInt64 = 14_695_981_039_346_656_037  // FNV-1a of "run/step/attempt"
        for byte in "\(run.rawValue)/\(step.step.rawValue)/\(step.attempts.count)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 1_099_511_628_211
        }
        let fraction = Double(hash % 1_000_000) / 1_000_000
        return at.addingTimeInterval(max(delay * fraction, result.retryAfter ?? 0))
    }
}
