import Foundation
import JobFormat

/// Taking up a run after a crash, and running an ended run again (`wfctl retry`).
extension RunMachine {
    /// Takes up a run a previous wfd left active. Succeeded steps stay done. An open attempt
    /// among `survivors` (its executor still knows it: a unit that runs or kept its result) stays
    /// open and is followed to its end. Any other attempt that was running ends `interrupted`;
    /// its step runs again as a new attempt when it is `pure` or `idempotent`, and becomes
    /// `interrupted` (waiting for a person) when it is `effectful`. Steps waiting to retry keep
    /// their due time. A run that was being cancelled ends (stopping the survivors first).
    static func recover(_ next: inout RunSnapshot, at: Date, survivors: Set<StepSlot> = []) -> [RunEffect] {
        var effects: [RunEffect] = []
        let reason = "wfd stopped during this attempt"
        /// Takes up one record (a step's or an item's); true when it changed.
        func takeUp(_ record: inout StepRecord, effect: EffectClass, item: Int?) -> Bool {
            switch record.state {
            case .running
            where survivors.contains(StepSlot(record.step, item: item)) && record.attempts.last?.endedAt == nil:
                if let open = record.attempts.last {
                    effects.append(.reattach(record.step, attempt: open.number, item: item))
                }
                // Its work began (under the previous wfd; the unit says when, at its end): a stop
                // now must stop it, not end it as never started. Nothing to write meanwhile.
                record.attempts[record.attempts.count - 1].startedAt = record.attempts.last?.startedAt ?? at
                return false
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
            case .waiting:
                if let deadline = record.waiting?.deadline {
                    effects.append(.scheduleDecision(record.step, at: max(deadline, at), item: item))
                }
                return false
            default:
                return false
            }
        }
        for index in next.steps.indices {
            let id = next.steps[index].step
            let definition = next.definition(of: id)
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
            effects += stopSteps(&next, reason: cancel, at: at)
        } else {
            effects += settle(&next, at: at, startNew: true)
        }
        effects += syncWaiting(&next)
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
                // An item its condition skipped stays skipped: nothing it reads ran again.
                for item in items.indices where items[item].state != .succeeded && items[item].skipCause != .condition {
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
            step.condition = nil
            step.skipCause = nil
            step.retryAt = nil
            step.attemptsBefore = step.attempts.count
            if let output = request.skip[step.step] {
                step.state = try stepAfter(step, .markDone)
                var attempt = Attempt(number: step.attempts.count + 1, plannedAt: at, startedAt: at, log: nil)
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
        next.askedConditions = []
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
