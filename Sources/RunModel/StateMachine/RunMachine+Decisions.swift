import Foundation
import JobFormat

/// Steps that wait for a person: approvals, and model calls that could pass a budget.
extension RunMachine {
    /// A running step's attempt stops, open, until someone decides: the step is `waiting`.
    static func beginWaiting(_ step: inout StepRecord, _ wait: WaitInfo, result: AttemptResult) throws(TransitionError)
    {
        guard step.state == .running, let attempt = step.attempts.last, attempt.endedAt == nil else {
            throw TransitionError("step '\(step.step)' has no running attempt")
        }
        step.state = try stepAfter(step, .wait)
        step.waiting = wait
        if let calls = result.calls { step.attempts[step.attempts.count - 1].calls = calls }
    }

    /// Applies a decision to a waiting step.
    ///
    /// An approval approved succeeds with `output`; rejected (or timed out with `on_timeout:
    /// reject`) it fails as `rejected`, and is not retried. A budget approved ends the waiting
    /// attempt and starts the next at once, allowed past the budget; rejected, the step fails as
    /// `budget_exceeded`. An agent's tool call, approved or rejected, ends the waiting attempt and
    /// starts the next at once, which runs the call or tells the model it was refused.
    static func decide(
        _ next: inout RunSnapshot, _ id: StepID, _ decision: Decision, output: String?, at: Date, item: Int?
    ) throws(TransitionError) -> [RunEffect] {
        guard !next.run.state.isTerminal else { throw TransitionError("run \(next.run.id) has already ended") }
        let index = try stepIndex(next, id)
        var record = try slot(next.steps[index], item)
        guard record.state == .waiting, let waiting = record.waiting else {
            throw TransitionError("step '\(id)' of run \(next.run.id) is not waiting for a decision")
        }
        var effects: [RunEffect] = []
        if next.run.state == .waiting {
            next.run.state = try runAfter(next.run, .resume)
            effects.append(.persistRun)
        }
        let who = decision.by == "timeout" ? "its timeout" : decision.by
        let note = decision.comment.map { ": \($0)" } ?? ""
        var start: Int?
        switch (waiting.kind, decision.approved) {
        case (.approval, true):
            var result = AttemptResult(outcome: .succeeded)
            result.outputFile = output
            try endAttempt(&record, result, at: at)
        case (.approval, false):
            try endAttempt(&record, .failure(.rejected, "rejected by \(who)\(note)", retriable: false), at: at)
        case (.budget, false):
            try endAttempt(
                &record, .failure(.budgetExceeded, "\(waiting.message); rejected by \(who)\(note)", retriable: false),
                at: at)
        case (.budget, true), (.tool, _):
            if waiting.kind == .budget {
                closeAttempt(
                    &record,
                    .failure(.budgetExceeded, "\(waiting.message); allowed by \(who)\(note)", retriable: false), at: at)
                record.budgetApproval = decision
            } else {
                // The loop goes on in a new attempt, which runs the call or tells the model no; the
                // paused one ended well (the decision is kept on it).
                closeAttempt(&record, AttemptResult(outcome: .succeeded), at: at)
                record.toolDecision = waiting.call.map { ToolDecision(call: $0, decision: decision) }
            }
            record.waiting = nil
            record.state = try stepAfter(record, .start)
            let number = record.attempts.count + 1
            record.attempts.append(attempt(number, of: record, in: next.plan, at: at))
            start = number
        }
        record.attempts[record.attempts.count - (start == nil ? 1 : 2)].decision = decision
        store(record, item, in: &next.steps[index])
        if item != nil { conclude(&next.steps[index]) }
        effects.append(.persistStep(id))
        if let start { effects.append(.spawn(id, attempt: start, item: item)) }
        effects += settle(&next, at: at, startNew: next.run.cancelReason == nil)
        effects += syncWaiting(&next)
        effects += finishIfDone(&next, at: at)
        return effects
    }

    /// Keeps the run `waiting` exactly while a step waits for a person and nothing else runs or
    /// waits to retry (so `wfctl status` says what the run is blocked on).
    static func syncWaiting(_ next: inout RunSnapshot) -> [RunEffect] {
        var waiting = false
        var active = false
        func note(_ state: StepState) {
            if state == .waiting { waiting = true }
            if state == .running || state == .retryWait { active = true }
        }
        for index in next.steps.indices {
            if let items = next.steps[index].items {
                for item in items { note(item.state) }
            } else {
                note(next.steps[index].state)
            }
        }
        switch next.run.state {
        case .running where waiting && !active:
            next.run.state = .waiting
            return [.persistRun]
        case .waiting where !waiting || active:
            next.run.state = .running
            return [.persistRun]
        default:
            return []
        }
    }
}
