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
    /// An attempt of a running step ended.
    case attemptEnded(StepID, AttemptResult, at: Date)
    /// A person, a newer run or shutdown asked the run to stop.
    case cancel(reason: String, at: Date)
    /// wfd found the run unfinished at start-up: it died while the run was active.
    case recover(at: Date)
    /// The job's `timeout` for the whole run passed: stop it like a cancel, ending `timed_out`.
    case timeOut(after: String, at: Date)
    /// A step waiting in `retry_wait` is due for its next attempt.
    case retryDue(StepID, at: Date)
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
    /// Spawn this attempt of the step. Always preceded by its `persistStep`, so the intent is on disk first.
    case spawn(StepID, attempt: Int)
    /// Stop the step's running attempt (TERM, grace period, KILL).
    case terminate(StepID)
    /// Send ``RunEvent/retryDue(_:at:)`` for this step at this time (persisted as `retry_at`).
    case scheduleRetry(StepID, at: Date)
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
        case .attemptEnded(let stepID, let result, let at):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            guard let index = next.steps.firstIndex(where: { $0.step == stepID }) else {
                throw TransitionError("run \(next.run.id) has no step '\(stepID)'")
            }
            try endAttempt(&next.steps[index], result, at: at)
            if next.run.cancelReason == nil,
                let definition = next.spec.steps.first(where: { $0.id == stepID }),
                let due = retryTime(
                    for: next.steps[index], definition: definition, result: result, run: next.run.id, at: at)
            {
                next.steps[index].state = .retryWait
                next.steps[index].retryAt = due
                effects += [.persistStep(stepID), .scheduleRetry(stepID, at: due)]
                return (next, effects)
            }
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
        case .retryDue(let stepID, let at):
            guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
            guard let index = next.steps.firstIndex(where: { $0.step == stepID }) else {
                throw TransitionError("run \(next.run.id) has no step '\(stepID)'")
            }
            guard next.run.cancelReason == nil else { return (snapshot, []) }
            next.steps[index].state = try stepAfter(next.steps[index], .start)
            next.steps[index].retryAt = nil
            let number = next.steps[index].attempts.count + 1
            next.steps[index].attempts.append(
                Attempt(number: number, startedAt: at, log: "logs/\(stepID.rawValue).\(number).log"))
            effects += [.persistStep(stepID), .spawn(stepID, attempt: number)]
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
        var effects: [RunEffect] = []
        var running = snapshot.steps.filter { $0.state == .running }.count
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
                } else if start && startNew && running < snapshot.spec.maxParallel {
                    running += 1
                    let number = step.attempts.count + 1
                    snapshot.steps[index].state = .running
                    snapshot.steps[index].attempts.append(
                        Attempt(number: number, startedAt: at, log: "logs/\(step.step.rawValue).\(number).log"))
                    effects += [.persistStep(step.step), .spawn(step.step, attempt: number)]
                    changed = true
                }
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
        for index in next.steps.indices {
            switch next.steps[index].state {
            case .pending:
                next.steps[index].state = .skipped
                next.steps[index].error = "not started: the run was cancelled (\(reason))"
                effects.append(.persistStep(next.steps[index].step))
            case .running:
                effects.append(.terminate(next.steps[index].step))
            case .retryWait:
                next.steps[index].state = .cancelled
                next.steps[index].retryAt = nil
                next.steps[index].error = "cancelled while waiting to retry: \(reason)"
                effects.append(.persistStep(next.steps[index].step))
            default:
                break
            }
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
        for index in next.steps.indices {
            let id = next.steps[index].step
            switch next.steps[index].state {
            case .running:
                let definition = next.spec.steps.first { $0.id == id }
                let effect = definition?.effect ?? definition?.defaultEffect ?? .effectful
                if next.steps[index].attempts.last.map({ $0.endedAt == nil }) == true {
                    // Cannot throw: the step is running with an open attempt.
                    try? endAttempt(
                        &next.steps[index], AttemptResult(outcome: .interrupted, error: reason), at: at)
                }
                if effect == .effectful {
                    next.steps[index].state = .interrupted
                    next.steps[index].error =
                        "interrupted: wfd stopped while it ran, and an effectful step is not run again without a person"
                } else {
                    next.steps[index].state = .pending
                    next.steps[index].error = nil
                }
                effects.append(.persistStep(id))
            case .retryWait:
                effects.append(.scheduleRetry(id, at: max(next.steps[index].retryAt ?? at, at)))
            default:
                continue
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
        for index in next.steps.indices where reset.contains(next.steps[index].step) {
            var step = next.steps[index]
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
