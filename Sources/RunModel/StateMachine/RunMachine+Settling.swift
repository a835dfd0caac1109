import Foundation
import JobFormat

/// After each event: which steps start, which are skipped, and when the run ends.
extension RunMachine {
    /// Settles the pending steps until nothing changes: starts those whose `when` is satisfied
    /// (when `startNew`), skips those that can no longer run, and leaves the rest waiting.
    ///
    /// `success` (the default): every need succeeded; skipped as soon as one did not. `always`:
    /// every need has ended, however. `failure`: every need has ended and one did not succeed;
    /// skipped when all succeeded. An expression: asked for (``RunEffect/evaluateCondition(_:item:)``)
    /// once every need succeeded, or once every need ended when it reads a step's state; the step
    /// starts once it came out true. A `for_each` step's expression is asked of each item.
    static func settle(_ snapshot: inout RunSnapshot, at: Date, startNew: Bool) -> [RunEffect] {
        guard snapshot.run.state == .running else { return [] }
        let plan = snapshot.plan
        var effects: [RunEffect] = []
        // Processes running: a for_each step counts its running items, not itself.
        var running = 0
        for index in snapshot.steps.indices {
            if let items = snapshot.steps[index].items {
                for item in items where item.state == .running { running += 1 }
            } else if snapshot.steps[index].state == .running && !plan.fanned[index] {
                running += 1
            }
        }
        var changed = true
        while changed {
            changed = false
            for index in snapshot.steps.indices where snapshot.steps[index].state == .pending {
                var unsuccessful: Int?
                var allEnded = true
                for need in plan.needs[index] {
                    guard let need, snapshot.steps[need].state.isTerminal else {
                        allEnded = false
                        continue
                    }
                    if unsuccessful == nil && snapshot.steps[need].state != .succeeded { unsuccessful = need }
                }
                var skipReason: String?
                var skipCause = SkipCause.need
                var start = false
                let id = snapshot.steps[index].step
                switch plan.when[index] {
                case .success:
                    if let cause = unsuccessful {
                        skipReason = "not started: step '\(snapshot.steps[cause].step)' did not succeed"
                    } else {
                        start = allEnded
                    }
                case .expression:
                    if let cause = unsuccessful, !plan.conditionReadsStates[index] {
                        skipReason = "not started: step '\(snapshot.steps[cause].step)' did not succeed"
                    } else if allEnded, plan.fanned[index] || snapshot.steps[index].condition?.value == true {
                        start = true
                    } else if allEnded, startNew, snapshot.steps[index].condition == nil,
                        snapshot.askedConditions.insert(ConditionKey(step: id, item: nil)).inserted
                    {
                        effects.append(.evaluateCondition(id))
                    }
                case .always:
                    start = allEnded
                case .failure:
                    guard allEnded else { continue }
                    if unsuccessful == nil {
                        skipReason = "not run: everything it needs succeeded (when: failure)"
                        skipCause = .condition
                    } else {
                        start = true
                    }
                }
                if let skipReason {
                    snapshot.steps[index].state = .skipped
                    snapshot.steps[index].skipCause = skipCause
                    snapshot.steps[index].error = skipReason
                    effects.append(.persistStep(id))
                    changed = true
                } else if start && startNew && plan.fanned[index] {
                    snapshot.steps[index].state = .running  // its items start once they are known
                    effects += [.persistStep(id), .expand(id)]
                    changed = true
                } else if start && startNew && running < snapshot.spec.maxParallel {
                    running += 1
                    let number = snapshot.steps[index].attempts.count + 1
                    let attempt = attempt(number, of: snapshot.steps[index], in: plan, at: at)
                    snapshot.steps[index].state = .running
                    snapshot.steps[index].attempts.append(attempt)
                    effects += [.persistStep(id), .spawn(id, attempt: number)]
                    changed = true
                }
            }
        }
        guard startNew else { return effects }
        for index in snapshot.steps.indices where snapshot.steps[index].state == .running {
            guard let items = snapshot.steps[index].items else { continue }
            for item in items.indices where items[item].state == .pending && running < snapshot.spec.maxParallel {
                if case .expression = plan.when[index], items[item].condition?.value != true {
                    let key = ConditionKey(step: snapshot.steps[index].step, item: item)
                    if items[item].condition == nil, snapshot.askedConditions.insert(key).inserted {
                        effects.append(.evaluateCondition(key.step, item: item))
                    }
                    continue
                }
                running += 1
                let number = items[item].attempts.count + 1
                let attempt = attempt(number, of: items[item], in: plan, at: at)
                snapshot.steps[index].items?[item].state = .running
                snapshot.steps[index].items?[item].attempts.append(attempt)
                effects += [
                    .persistStep(snapshot.steps[index].step),
                    .spawn(snapshot.steps[index].step, attempt: number, item: item),
                ]
            }
        }
        return effects
    }

    /// Stores a slot's changed record, ends its `for_each` step if it was the last item, and lets
    /// the run move on: what follows an attempt's end or a condition's answer.
    static func storeAndSettle(
        _ record: StepRecord, _ item: Int?, _ stepID: StepID, _ index: Int, in next: inout RunSnapshot, at: Date
    ) -> [RunEffect] {
        store(record, item, in: &next.steps[index])
        if item != nil { conclude(&next.steps[index]) }
        var effects: [RunEffect] = [.persistStep(stepID)]
        effects += settle(&next, at: at, startNew: next.run.cancelReason == nil)
        effects += syncWaiting(&next)
        effects += finishIfDone(&next, at: at)
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
    static func stopSteps(_ next: inout RunSnapshot, reason: String, at: Date) -> [RunEffect] {
        var effects: [RunEffect] = []
        /// Stops one record; true when it has a process to terminate.
        func stop(_ record: inout StepRecord) -> (changed: Bool, terminate: Bool) {
            switch record.state {
            case .pending:
                record.state = .skipped
                record.skipCause = .cancelled
                record.error = "not started: the run was cancelled (\(reason))"
                return (true, false)
            case .retryWait:
                record.state = .cancelled
                record.retryAt = nil
                record.error = "cancelled while waiting to retry: \(reason)"
                return (true, false)
            case .waiting:
                closeAttempt(&record, .failure(.cancelled, "cancelled while waiting: \(reason)"), at: at)
                record.attempts[record.attempts.count - 1].outcome = .cancelled
                record.state = .cancelled
                record.waiting = nil
                record.error = "cancelled while waiting for a decision: \(reason)"
                return (true, false)
            case .running where record.attempts.last.map({ $0.startedAt == nil && $0.endedAt == nil }) == true:
                // Its intent is on disk but its work never began (a run decided ahead of its fire
                // time): it ends here, and the engine will not launch it.
                closeAttempt(&record, .failure(.cancelled, "cancelled before it started: \(reason)"), at: at)
                record.attempts[record.attempts.count - 1].outcome = .cancelled
                record.state = .cancelled
                record.error = "cancelled before it started: \(reason)"
                return (true, false)
            case .running: return (false, true)
            default: return (false, false)
            }
        }
        for index in next.steps.indices {
            let id = next.steps[index].step
            if next.steps[index].state == .running, next.plan.fanned[index] {
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
}
