import Foundation

/// A run, its frozen job definition and its steps: what the state machine transforms.
public struct RunSnapshot: Sendable, Equatable {
    public var run: RunRecord
    /// The job as it was when the run was created (`spec.json`): later edits never change a run.
    public let spec: Job
    /// In the order the job file lists them.
    public var steps: [StepRecord]

    /// A fresh, queued run of `job` with every step pending.
    public init(job: Job, id: RunID, trigger: Trigger, scheduledFor: Date?, createdAt: Date) {
        run = RunRecord(job: job, id: id, trigger: trigger, scheduledFor: scheduledFor, createdAt: createdAt)
        spec = job
        steps = job.steps.map { StepRecord(job: job.id, run: id, step: $0) }
    }

    public init(run: RunRecord, spec: Job, steps: [StepRecord]) {
        self.run = run
        self.spec = spec
        self.steps = steps
    }

    public func step(_ id: StepID) -> StepRecord? { steps.first { $0.step == id } }
}

/// Something that happened to a run.
public enum RunEvent: Sendable, Equatable {
    /// The run may begin: its job lock is held.
    case start(at: Date)
    /// An attempt of a running step (or of item `item` of a `for_each` step) ended.
    case attemptEnded(StepID, AttemptResult, at: Date, item: Int? = nil)
    /// A person, a newer run or shutdown asked the run to stop.
    case cancel(reason: String, at: Date)
    /// wfd found the run unfinished at start-up: it died while the run was active.
    case recover(at: Date)
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
    /// so the intent is on disk first.
    case spawn(StepID, attempt: Int, item: Int? = nil)
    /// Work out the array of this `for_each` step and send ``RunEvent/expanded(_:items:at:)``.
    case expand(StepID)
    /// Stop the step's running attempts, its items' included (TERM, grace period, KILL).
    case terminate(StepID)
    /// Send ``RunEvent/retryDue(_:at:item:)`` for this step (item) at this time (persisted as `retry_at`).
    case scheduleRetry(StepID, at: Date, item: Int? = nil)
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
        try apply(snapshot, event, timedOut: false)
    }

    static func apply(_ snapshot: RunSnapshot, _ event: RunEvent, timedOut: Bool) throws(TransitionError) -> (
        RunSnapshot, [RunEffect]
    ) {
        var next = snapshot
        var effects: [RunEffect] = []
        switch event {
        case .start(let at):
            next.run.state = try runAfter(next.run, .start)
            next.run.startedAt = at
            effects.append(.persistRun)
            effects += settle(&next, at: at, startNew: true)
            effects += finishIfDone(&next, at: at)
        case .attemptEnded(let stepID, let result, let at, let item):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            let index = try stepIndex(next, stepID)
            var record = try slot(next.steps[index], item)
            try endAttempt(&record, result, at: at)
            if next.run.cancelReason == nil,
                let definition = next.spec.steps.first(where: { $0.id == stepID }),
                let due = retryTime(for: record, definition: definition, result: result, run: next.run.id, at: at)
            {
                record.state = .retryWait
                record.retryAt = due
                store(record, item, in: &next.steps[index])
                effects += [.persistStep(stepID), .scheduleRetry(stepID, at: due, item: item)]
                return (next, effects)
            }
            store(record, item, in: &next.steps[index])
            if item != nil { conclude(&next.steps[index]) }
            effects.append(.persistStep(stepID))
            effects += settle(&next, at: at, startNew: next.run.cancelReason == nil)
            effects += finishIfDone(&next, at: at)
        case .timeOut(let limit, let at):
            return try apply(snapshot, .cancel(reason: "the run timed out after \(limit)", at: at), timedOut: true)
        case .cancel(let reason, let at):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            guard next.run.cancelReason == nil else { return (snapshot, []) }  // asked twice: nothing new
            next.run.cancelReason = reason
            if timedOut { next.run.timedOut = true }
            effects.append(.persistRun)
            effects += stopSteps(&next, reason: reason)
            effects += finishIfDone(&next, at: at)
        case .retryDue(let stepID, let at, let item):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            let index = try stepIndex(next, stepID)
            guard next.run.cancelReason == nil else { return (snapshot, []) }
            var record = try slot(next.steps[index], item)
            record.state = try stepAfter(record, .start)
            record.retryAt = nil
            let number = record.attempts.count + 1
            record.attempts.append(Attempt(number: number, startedAt: at, log: record.logPath(attempt: number)))
            store(record, item, in: &next.steps[index])
            effects += [.persistStep(stepID), .spawn(stepID, attempt: number, item: item)]
        case .expanded(let stepID, let values, let at):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            let index = try stepIndex(next, stepID)
            guard next.steps[index].state == .running, next.steps[index].items == nil else {
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
            guard next.steps[index].state == .running, next.steps[index].items == nil else {
                throw TransitionError("step '\(stepID)' is not waiting for its items")
            }
            next.steps[index].state = .failed
            next.steps[index].error = error
            effects.append(.persistStep(stepID))
            effects += settle(&next, at: at, startNew: next.run.cancelReason == nil)
            effects += finishIfDone(&next, at: at)
        case .recover(let at):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            if next.run.state == .queued { return try apply(snapshot, .start(at: at)) }
            effects += recover(&next, at: at)
        case .retry(let request, let at):
            effects += try retry(&next, request, at: at)
            effects += settle(&next, at: at, startNew: true)
            effects += finishIfDone(&next, at: at)
        }
        return (next, effects)
    }

    static func stepIndex(_ snapshot: RunSnapshot, _ id: StepID) throws(TransitionError) -> Int {
        guard let index = snapshot.steps.firstIndex(where: { $0.step == id }) else {
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
    /// did, else as its first item that did not (interrupted before failed before cancelled).
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
        } else if let item = items.first(where: { $0.state != .succeeded }) {
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

    static func endAttempt(_ step: inout StepRecord, _ result: AttemptResult, at: Date) throws(TransitionError) {
        guard step.state == .running, var attempt = step.attempts.last, attempt.endedAt == nil else {
            throw TransitionError("step '\(step.step)' has no running attempt")
        }
        let transition: StepState.Transition =
            switch result.outcome {
            case .succeeded: .succeed
            case .cancelled: .cancel
            case .failed, .timedOut: .fail
            case .interrupted: .interrupt
            }
        step.state = try stepAfter(step, transition)
        attempt.endedAt = at
        attempt.outcome = result.outcome
        attempt.exitCode = result.exitCode
        attempt.signal = result.signal
        attempt.error = result.error
        attempt.output = result.outputFile
        attempt.durationMilliseconds = Int64((at.timeIntervalSince(attempt.startedAt) * 1000).rounded())
        step.attempts[step.attempts.count - 1] = attempt
        step.error = result.outcome == .succeeded ? nil : result.error
    }

    /// When the failed attempt `step` just ended should be tried again, or nil: the step's
    /// `retry` allows another attempt, the failure is one it retries (failed or timed out, and
    /// `on_exit_codes` when given), and the run goes on. The delay grows by `backoff` from `delay`
    /// up to `max_delay`, with full jitter drawn from a hash of run, step and attempt, so the
    /// function stays pure and a replay gives the same time.
    static func retryTime(
        for step: StepRecord, definition: StepDefinition, result: AttemptResult, run: RunID, at: Date
    ) -> Date? {
        let counted = step.attempts.dropFirst(step.attemptsBefore ?? 0).filter { $0.outcome != .interrupted }
        guard let policy = definition.retry, counted.count < policy.attempts,
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
        return at.addingTimeInterval(delay * fraction)
    }

    /// Settles the pending steps until nothing changes: starts those whose `when` is satisfied
    /// (when `startNew`), skips those that can no longer run, and leaves the rest waiting.
    ///
    /// `success` (the default, and template expressions until they are rendered): every need
    /// succeeded; skipped as soon as one did not. `always`: every need has ended, however.
    /// `failure`: every need has ended and one did not succeed; skipped when all succeeded.
    static func settle(_ snapshot: inout RunSnapshot, at: Date, startNew: Bool) -> [RunEffect] {
        guard snapshot.run.state == .running else { return [] }
        let when = Dictionary(snapshot.spec.steps.map { ($0.id, $0.when) }, uniquingKeysWith: { first, _ in first })
        let fanned = Set(snapshot.spec.steps.filter { $0.forEach != nil }.map(\.id))
        var effects: [RunEffect] = []
        // Processes running: a for_each step counts its running items, not itself.
        var running = snapshot.steps.reduce(0) { count, step in
            if let items = step.items { return count + items.filter { $0.state == .running }.count }
            return count + (step.state == .running && !fanned.contains(step.step) ? 1 : 0)
        }
        var changed = true
        while changed {
            changed = false
            let states = Dictionary(snapshot.steps.map { ($0.step, $0.state) }, uniquingKeysWith: { first, _ in first })
            for index in snapshot.steps.indices where snapshot.steps[index].state == .pending {
                let step = snapshot.steps[index]
                let needs = step.needs.map { ($0, states[$0] ?? .pending) }
                let unsuccessful = needs.first { $0.1.isTerminal && $0.1 != .succeeded }?.0
                let allEnded = needs.allSatisfy { $0.1.isTerminal }
                var skipReason: String?
                var start = false
                switch when[step.step] ?? .success {
                case .success, .expression:
                    if let cause = unsuccessful {
                        skipReason = "not started: step '\(cause)' did not succeed"
                    } else {
                        start = allEnded
                    }
                case .always:
                    start = allEnded
                case .failure:
                    guard allEnded else { continue }
                    if unsuccessful == nil {
                        skipReason = "not run: everything it needs succeeded (when: failure)"
                    } else {
                        start = true
                    }
                }
                if let skipReason {
                    snapshot.steps[index].state = .skipped
                    snapshot.steps[index].error = skipReason
                    effects.append(.persistStep(step.step))
                    changed = true
                } else if start && startNew && fanned.contains(step.step) {
                    snapshot.steps[index].state = .running  // its items start once they are known
                    effects += [.persistStep(step.step), .expand(step.step)]
                    changed = true
                } else if start && startNew && running < snapshot.spec.maxParallel {
                    running += 1
                    let number = step.attempts.count + 1
                    snapshot.steps[index].state = .running
                    snapshot.steps[index].attempts.append(
                        Attempt(number: number, startedAt: at, log: step.logPath(attempt: number)))
                    effects += [.persistStep(step.step), .spawn(step.step, attempt: number)]
                    changed = true
                }
            }
        }
        guard startNew else { return effects }
        for index in snapshot.steps.indices where snapshot.steps[index].state == .running {
            guard let items = snapshot.steps[index].items else { continue }
            for item in items.indices where items[item].state == .pending && running < snapshot.spec.maxParallel {
                running += 1
                let number = items[item].attempts.count + 1
                snapshot.steps[index].items?[item].state = .running
                snapshot.steps[index].items?[item].attempts.append(
                    Attempt(number: number, startedAt: at, log: items[item].logPath(attempt: number)))
                effects += [
                    .persistStep(snapshot.steps[index].step),
                    .spawn(snapshot.steps[index].step, attempt: number, item: item),
                ]
            }
        }
        return effects
    }

    /// Ends the run when no step is running or can start.
    static func finishIfDone(_ snapshot: inout RunSnapshot, at: Date) -> [RunEffect] {
        guard !snapshot.run.state.isTerminal,
            snapshot.steps.allSatisfy({ $0.state.isTerminal })
        else { return [] }
        let failed = snapshot.steps.first { $0.state == .failed }
        let interrupted = snapshot.steps.filter { $0.state == .interrupted }.map(\.step)
        let final: RunState
        if !interrupted.isEmpty {
            final = .failed
            snapshot.run.interrupted = true
            let list = interrupted.map { "'\($0)'" }.joined(separator: ", ")
            let skips = interrupted.map { "--skip \($0) --output FILE" }.joined(separator: " ")
            snapshot.run.error =
                "interrupted: wfd stopped while the effectful step\(interrupted.count == 1 ? "" : "s") \(list) ran; "
                + "whether \(interrupted.count == 1 ? "it" : "they") did \(interrupted.count == 1 ? "its" : "their") work is unknown. "
                + "Check, then `wfctl retry \(snapshot.run.id)` to run \(interrupted.count == 1 ? "it" : "them") again, "
                + "or `wfctl retry \(snapshot.run.id) \(skips)` to record \(interrupted.count == 1 ? "it" : "them") as done"
        } else if let reason = snapshot.run.cancelReason {
            final = snapshot.run.timedOut == true ? .timedOut : .cancelled
            snapshot.run.error = snapshot.run.timedOut == true ? reason : "cancelled: \(reason)"
        } else if let failed {
            final = .failed
            snapshot.run.error = "step '\(failed.step)' failed: \(failed.error ?? "no reason recorded")"
        } else if let cancelled = snapshot.steps.first(where: { $0.state == .cancelled }) {
            final = .cancelled
            snapshot.run.error = "step '\(cancelled.step)' was cancelled"
        } else {
            final = .succeeded
        }
        // Every path above is allowed from queued or running; the table tests pin that down.
        snapshot.run.state = final
        snapshot.run.endedAt = at
        return [.persistRun, .finished(final)]
    }

    /// Skips the pending steps and cancels those waiting to retry; running ones are asked to stop.
    static func stopSteps(_ next: inout RunSnapshot, reason: String) -> [RunEffect] {
        var effects: [RunEffect] = []
        let fanned = Set(next.spec.steps.filter { $0.forEach != nil }.map(\.id))
        /// Stops one record; true when it has a process to terminate.
        func stop(_ record: inout StepRecord) -> (changed: Bool, terminate: Bool) {
            switch record.state {
            case .pending:
                record.state = .skipped
                record.error = "not started: the run was cancelled (\(reason))"
                return (true, false)
            case .retryWait:
                record.state = .cancelled
                record.retryAt = nil
                record.error = "cancelled while waiting to retry: \(reason)"
                return (true, false)
            case .running: return (false, true)
            default: return (false, false)
            }
        }
        for index in next.steps.indices {
            let id = next.steps[index].step
            if next.steps[index].state == .running, fanned.contains(id) {
                guard var items = next.steps[index].items else {
                    next.steps[index].state = .cancelled  // its items were not known yet
                    next.steps[index].error = "cancelled before its items were known: \(reason)"
                    effects.append(.persistStep(id))
                    continue
                }
                var changed = false
                var terminate = false
                for item in items.indices {
                    let outcome = stop(&items[item])
                    changed = changed || outcome.changed
                    terminate = terminate || outcome.terminate
                }
                next.steps[index].items = items
                conclude(&next.steps[index])
                if changed || next.steps[index].state != .running { effects.append(.persistStep(id)) }
                if terminate { effects.append(.terminate(id)) }
                continue
            }
            let outcome = stop(&next.steps[index])
            if outcome.changed { effects.append(.persistStep(id)) }
            if outcome.terminate { effects.append(.terminate(id)) }
        }
        return effects
    }

    /// Takes up a run a previous wfd left active. Succeeded steps stay done. An attempt that was
    /// running ends `interrupted`; its step runs again as a new attempt when it is `pure` or
    /// `idempotent`, and becomes `interrupted` (waiting for a person) when it is `effectful`.
    /// Steps waiting to retry keep their due time. A run that was being cancelled ends.
    static func recover(_ next: inout RunSnapshot, at: Date) -> [RunEffect] {
        var effects: [RunEffect] = []
        let reason = "wfd stopped during this attempt"
        /// Takes up one record (a step's or an item's); true when it changed.
        func takeUp(_ record: inout StepRecord, effect: EffectClass, item: Int?) -> Bool {
            switch record.state {
            case .running:
                if record.attempts.last.map({ $0.endedAt == nil }) == true {
                    // Cannot throw: the record is running with an open attempt.
                    try? endAttempt(&record, AttemptResult(outcome: .interrupted, error: reason), at: at)
                }
                if effect == .effectful {
                    record.state = .interrupted
                    record.error =
                        "wfd stopped while it ran, and an effectful step is not run again without a person"
                } else {
                    record.state = .pending
                    record.error = nil
                }
                return true
            case .retryWait:
                effects.append(.scheduleRetry(record.step, at: max(record.retryAt ?? at, at), item: item))
                return false
            default:
                return false
            }
        }
        for index in next.steps.indices {
            let id = next.steps[index].step
            let definition = next.spec.steps.first { $0.id == id }
            let effect = definition?.effect ?? definition?.defaultEffect ?? .effectful
            if definition?.forEach != nil, next.steps[index].state == .running {
                guard var items = next.steps[index].items else {
                    next.steps[index].state = .pending  // its items are worked out again
                    effects.append(.persistStep(id))
                    continue
                }
                var changed = false
                for item in items.indices where takeUp(&items[item], effect: effect, item: item) { changed = true }
                next.steps[index].items = items
                conclude(&next.steps[index])
                if changed { effects.append(.persistStep(id)) }
            } else if takeUp(&next.steps[index], effect: effect, item: nil) {
                effects.append(.persistStep(id))
            }
        }
        if let cancel = next.run.cancelReason {
            effects += stopSteps(&next, reason: cancel)
        } else {
            effects += settle(&next, at: at, startNew: true)
        }
        effects += finishIfDone(&next, at: at)
        return effects
    }

    /// Resets the steps `request` runs again and marks those it skips as done by hand.
    static func retry(_ next: inout RunSnapshot, _ request: RetryRequest, at: Date) throws(TransitionError)
        -> [RunEffect]
    {
        let run = next.run
        guard run.state.isTerminal else {
            throw TransitionError("run \(run.id) is still \(run.state.rawValue): only an ended run can be retried")
        }
        let known = Set(next.steps.map(\.step))
        for id in [request.from].compactMap({ $0 }) + request.skip.keys.sorted() where !known.contains(id) {
            let names = next.steps.map(\.step.rawValue).joined(separator: ", ")
            throw TransitionError("run \(run.id) has no step '\(id)' (its steps: \(names))")
        }
        var roots = Set(next.steps.filter { $0.state != .succeeded }.map(\.step))
        if let from = request.from { roots.insert(from) }
        guard !roots.isEmpty else {
            throw TransitionError(
                "run \(run.id) succeeded: nothing to retry (name a step with --from to run it and what follows again)")
        }
        let downstream = StepGraph.downstream(of: next.spec.steps)
        var reset = roots
        for root in roots { reset.formUnion(downstream[root] ?? []) }
        for id in request.skip.keys.sorted() where !reset.contains(id) {
            throw TransitionError("step '\(id)' succeeded and is not run again: there is nothing to skip")
        }
        var effects: [RunEffect] = []
        let needs = Dictionary(next.spec.steps.map { ($0.id, $0.needs) }, uniquingKeysWith: { first, _ in first })
        for index in next.steps.indices where reset.contains(next.steps[index].step) {
            var step = next.steps[index]
            // A for_each step that only failed itself keeps its items: those that succeeded stay
            // done, the others run again. Named by --from or after a step that runs again, its
            // array is worked out anew.
            if var items = step.items, step.step != request.from, request.skip[step.step] == nil,
                StepGraph.upstream(of: step.step, needs: needs).isDisjoint(with: reset)
            {
                for item in items.indices where items[item].state != .succeeded {
                    items[item].state = try stepAfter(items[item], .reset)
                    items[item].error = nil
                    items[item].retryAt = nil
                    items[item].attemptsBefore = items[item].attempts.count
                }
                step.items = items
                step.state = .running
                step.error = nil
                next.steps[index] = step
                effects.append(.persistStep(step.step))
                continue
            }
            if request.skip[step.step] == nil { step.items = nil }
            step.state = try stepAfter(step, .reset)
            step.error = nil
            step.retryAt = nil
            step.attemptsBefore = step.attempts.count
            if let output = request.skip[step.step] {
                step.state = try stepAfter(step, .markDone)
                var attempt = Attempt(number: step.attempts.count + 1, startedAt: at, log: nil)
                attempt.endedAt = at
                attempt.outcome = .succeeded
                attempt.output = output
                attempt.durationMilliseconds = 0
                attempt.byHand = true
                step.attempts.append(attempt)
            }
            next.steps[index] = step
            effects.append(.persistStep(step.step))
        }
        next.run.state = try runAfter(run, .retry)
        next.run.endedAt = nil
        next.run.error = nil
        next.run.cancelReason = nil
        next.run.timedOut = nil
        next.run.interrupted = nil
        let order = next.steps.map(\.step)
        next.run.retries =
            (run.retries ?? []) + [
                RetryNote(
                    at: at, from: request.from, skipped: order.filter { request.skip.keys.contains($0) },
                    reset: order.filter { reset.contains($0) })
            ]
        return [.persistRun] + effects
    }
}
