import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowTesting

/// Approvals, budget approvals, and what may be retried: the pure machine, no I/O.
@Suite struct WaitingAndDecisionTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    let confirm = StepID("confirm")!
    let close = StepID("close")!

    /// fetch → confirm (approval) → close; `side` runs beside confirm when `withSide`.
    func approvalRun(withSide: Bool = false, retry: RetryPolicy? = nil) throws -> RunSnapshot {
        var approval = StepDefinition(
            id: confirm, kind: .approval(ApprovalSpec(message: "Close them?", timeout: TimeSpan(milliseconds: 60_000))),
            needs: [StepID("fetch")!])
        approval.retry = retry
        var steps = [
            StepDefinition(id: StepID("fetch")!, run: "true"), approval,
            StepDefinition(id: close, run: "true", needs: [confirm]),
        ]
        if withSide { steps.append(StepDefinition(id: StepID("side")!, run: "sleep 1", needs: [StepID("fetch")!])) }
        let job = Job(id: JobID("release")!, steps: steps)
        var (snapshot, _) = try RunMachine.apply(
            RunSnapshot(
                job: job, id: RunID.make(at: t0, suffix: 7), trigger: .manual, scheduledFor: nil, createdAt: t0),
            .start(at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(StepID("fetch")!, .success, at: t0 + 1))
        return try snapshot.launched(at: t0 + 1)
    }

    func waitFor(approval message: String, deadline: Date?) -> AttemptResult {
        var result = AttemptResult(outcome: .succeeded)
        result.wait = WaitInfo(kind: .approval, since: t0 + 2, deadline: deadline, message: message)
        return result
    }

    @Test func anApprovalWaitsThenSucceedsWithItsOutputAndTheRunGoesOn() throws {
        var snapshot = try approvalRun()
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(
            snapshot, .attemptEnded(confirm, waitFor(approval: "Close 3 tasks?", deadline: t0 + 62), at: t0 + 2))
        #expect(snapshot.step(confirm)?.state == .waiting)
        #expect(snapshot.step(confirm)?.waiting?.message == "Close 3 tasks?")
        #expect(snapshot.step(confirm)?.attempts.last?.endedAt == nil, "the attempt stays open while it waits")
        #expect(snapshot.run.state == .waiting)
        #expect(effects == [.persistStep(confirm), .scheduleDecision(confirm, at: t0 + 62), .persistRun])

        let yes = Decision(approved: true, by: "uid 1000 (alice)", uid: 1000, at: t0 + 30, comment: "ship it")
        (snapshot, effects) = try RunMachine.apply(
            snapshot, .decide(confirm, yes, output: "outputs/confirm", at: t0 + 30))
        #expect(snapshot.run.state == .running)
        let step = try #require(snapshot.step(confirm))
        #expect(step.state == .succeeded && step.waiting == nil)
        #expect(step.attempts.last?.decision == yes)
        #expect(step.attempts.last?.output == "outputs/confirm")
        #expect(step.attempts.last?.durationMilliseconds == 29_000, "from its start (t0 + 1) to the decision")
        #expect(
            effects == [.persistRun, .persistStep(confirm), .persistStep(close), .spawn(close, attempt: 1)])
        #expect(throws: TransitionError.self, "a second decision does not fit") {
            try RunMachine.apply(snapshot, .decide(confirm, yes, output: nil, at: t0 + 31))
        }
    }

    @Test func aRejectionFailsTheStepForGoodEvenWithRetries() throws {
        var snapshot = try approvalRun(retry: RetryPolicy(attempts: 5))
        (snapshot, _) = try RunMachine.apply(
            snapshot, .attemptEnded(confirm, waitFor(approval: "Close?", deadline: nil), at: t0 + 2))
        let no = Decision(approved: false, by: "uid 1000 (alice)", uid: 1000, at: t0 + 9, comment: "wrong tasks")
        (snapshot, _) = try RunMachine.apply(snapshot, .decide(confirm, no, output: nil, at: t0 + 9))
        #expect(snapshot.step(confirm)?.state == .failed)
        #expect(snapshot.step(confirm)?.attempts.last?.errorKind == .rejected)
        #expect(snapshot.step(confirm)?.error == "rejected by uid 1000 (alice): wrong tasks")
        #expect(snapshot.step(close)?.state == .skipped)
        #expect(snapshot.run.state == .failed)
        #expect(snapshot.run.error == "step 'confirm' failed: rejected by uid 1000 (alice): wrong tasks")
    }

    @Test func theRunWaitsOnlyOnceNothingElseRuns() throws {
        var snapshot = try approvalRun(withSide: true)
        (snapshot, _) = try RunMachine.apply(
            snapshot, .attemptEnded(confirm, waitFor(approval: "Go?", deadline: nil), at: t0 + 2))
        #expect(snapshot.run.state == .running, "side still runs")
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(StepID("side")!, .success, at: t0 + 3))
        #expect(snapshot.run.state == .waiting)
    }

    @Test func cancellingAWaitingRunEndsTheWaitAsCancelled() throws {
        var snapshot = try approvalRun()
        (snapshot, _) = try RunMachine.apply(
            snapshot, .attemptEnded(confirm, waitFor(approval: "Go?", deadline: t0 + 62), at: t0 + 2))
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .cancel(reason: "by hand", at: t0 + 5))
        #expect(snapshot.step(confirm)?.state == .cancelled)
        #expect(snapshot.step(confirm)?.attempts.last?.outcome == .cancelled)
        #expect(snapshot.run.state == .cancelled)
        #expect(effects.last == .finished(.cancelled))
    }

    @Test func recoveryKeepsWaitingAndArmsTheDeadlineAgain() throws {
        var snapshot = try approvalRun()
        (snapshot, _) = try RunMachine.apply(
            snapshot, .attemptEnded(confirm, waitFor(approval: "Go?", deadline: t0 + 62), at: t0 + 2))
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .recover(at: t0 + 40))
        #expect(snapshot.step(confirm)?.state == .waiting)
        #expect(snapshot.run.state == .waiting)
        #expect(effects == [.scheduleDecision(confirm, at: t0 + 62)])
        (_, effects) = try RunMachine.apply(snapshot, .recover(at: t0 + 90))
        #expect(effects == [.scheduleDecision(confirm, at: t0 + 90)], "a deadline passed while wfd was down: at once")
    }

    @Test func anApprovedBudgetStartsTheNextAttemptAndARejectedOneFails() throws {
        let call = StepID("classify")!
        let llm = StepDefinition(
            id: call, kind: .llm(LLMCallSpec(provider: .openai, model: "m", prompt: "Match these")))
        let job = Job(id: JobID("ai")!, steps: [llm])
        var snapshot = try RunMachine.apply(
            RunSnapshot(
                job: job, id: RunID.make(at: t0, suffix: 9), trigger: .manual, scheduledFor: nil, createdAt: t0),
            .start(at: t0)
        ).0
        var over = AttemptResult.failure(.budgetExceeded, "could pass the budget")
        over.wait = WaitInfo(
            kind: .budget, since: t0 + 1, deadline: nil, message: "the call could cost $0.30 of $0.25 left")
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(call, over, at: t0 + 1))
        #expect(snapshot.step(call)?.state == .waiting && snapshot.run.state == .waiting)

        let allowed = Decision(approved: true, by: "uid 0 (root)", uid: 0, at: t0 + 5)
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .decide(call, allowed, output: nil, at: t0 + 5))
        #expect(effects == [.persistRun, .persistStep(call), .spawn(call, attempt: 2)])
        let step = try #require(snapshot.step(call))
        #expect(step.state == .running && step.budgetApproval == allowed)
        #expect(step.attempts.count == 2 && step.attempts[0].errorKind == .budgetExceeded)
        #expect(step.attempts[0].decision == allowed)

        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(call, over, at: t0 + 6))
        let no = Decision(approved: false, by: "uid 0 (root)", uid: 0, at: t0 + 7)
        (snapshot, _) = try RunMachine.apply(snapshot, .decide(call, no, output: nil, at: t0 + 7))
        #expect(snapshot.step(call)?.state == .failed)
        #expect(snapshot.step(call)?.attempts.last?.errorKind == .budgetExceeded)
        #expect(snapshot.run.state == .failed)
    }

    @Test func networkStepsRetryByDefaultNotWhenHopelessAndNotBeforeRetryAfter() throws {
        let get = StepID("fetch")!
        let job = Job(
            id: JobID("net")!,
            steps: [StepDefinition(id: get, kind: .http(HTTPRequestSpec(url: "https://api.example/items")))])
        let fresh = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 3), trigger: .manual, scheduledFor: nil, createdAt: t0)
        var snapshot = try RunMachine.apply(fresh, .start(at: t0)).0
        var busy = AttemptResult.failure(.transport, "the server answered 429")
        busy.retryAfter = 30
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(get, busy, at: t0 + 1))
        #expect(snapshot.step(get)?.state == .retryWait, "http steps retry without a retry: key")
        let due = try #require(snapshot.step(get)?.retryAt)
        #expect(due >= t0 + 31, "not before Retry-After")

        snapshot = try RunMachine.apply(fresh, .start(at: t0)).0
        let notFound = AttemptResult.failure(.httpStatus, "404 Not Found", retriable: false)
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(get, notFound, at: t0 + 1))
        #expect(snapshot.step(get)?.state == .failed, "a 404 does not get better")
        #expect(snapshot.step(get)?.attempts.last?.errorKind == .httpStatus)
    }
}
