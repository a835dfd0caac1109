import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowTesting

/// What start-up recovery and `wfctl retry` do to a run, one transition at a time.
@Suite struct RecoveryAndRetryTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Steps as (id, needs, effect).
    func fresh(_ steps: [(String, [String], EffectClass?)], retry: RetryPolicy? = nil) -> RunSnapshot {
        let job = Job(
            id: JobID("demo")!,
            steps: steps.map { id, needs, effect in
                var step = StepDefinition(id: StepID(id)!, run: "true", needs: needs.map { StepID($0)! })
                step.effect = effect
                step.retry = retry
                return step
            })
        return RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 7), trigger: .manual, scheduledFor: nil, createdAt: t0)
    }

    func id(_ name: String) -> StepID { StepID(name)! }
    let failure = AttemptResult(outcome: .failed, exitCode: 1, error: "exited with status 1")

    @Test func anInFlightEffectfulStepIsInterruptedAndTheRunWaitsForAPerson() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh([("fetch", [], .pure), ("charge", ["fetch"], nil), ("mail", ["charge"], nil)]), .start(at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("fetch"), .success, at: t0 + 1))
        #expect(snapshot.step(id("charge"))?.state == .running)

        let effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .recover(at: t0 + 5))
        let charge = try #require(snapshot.step(id("charge")))
        #expect(charge.state == .interrupted)
        #expect(charge.attempts.count == 1, "never re-run by a guess")
        #expect(charge.attempts[0].outcome == .interrupted && charge.attempts[0].endedAt == t0 + 5)
        #expect(snapshot.step(id("fetch"))?.attempts.count == 1, "a step that succeeded is never run again")
        #expect(snapshot.step(id("mail"))?.state == .skipped)
        #expect(snapshot.run.state == .failed)
        #expect(snapshot.run.interrupted == true)
        #expect(snapshot.run.error?.contains("wfctl retry \(snapshot.run.id) --skip charge --output FILE") == true)
        #expect(!effects.contains { if case .spawn = $0 { true } else { false } })
        #expect(effects.last == .finished(.failed))
    }

    @Test func anInFlightPureOrIdempotentStepRunsAgainAsANewAttempt() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh([("a", [], .idempotent), ("b", [], .pure), ("c", ["a", "b"], nil)]), .start(at: t0))
        let effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .recover(at: t0 + 5))
        for step in ["a", "b"] {
            #expect(snapshot.step(id(step))?.state == .running)
            #expect(snapshot.step(id(step))?.attempts.map(\.outcome) == [.interrupted, nil])
        }
        #expect(
            effects == [
                .persistStep(id("a")), .persistStep(id("b")), .persistStep(id("a")), .spawn(id("a"), attempt: 2),
                .persistStep(id("b")), .spawn(id("b"), attempt: 2),
            ], "the interrupted attempt and the new one are both on disk before the spawn")
        #expect(snapshot.run.state == .running)
    }

    @Test func anInterruptedAttemptDoesNotSpendTheRetryBudget() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh([("a", [], .idempotent)], retry: RetryPolicy(attempts: 2)), .start(at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .recover(at: t0 + 1))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("a"), failure, at: t0 + 2))
        #expect(snapshot.step(id("a"))?.state == .retryWait, "attempt 2 was the first to count")
    }

    @Test func aStepWaitingToRetryKeepsItsDueTime() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh([("a", [], nil)], retry: RetryPolicy(attempts: 3, delay: TimeSpan(.seconds(60)))), .start(at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("a"), failure, at: t0 + 1))
        let due = try #require(snapshot.step(id("a"))?.retryAt)
        var (early, effects) = try RunMachine.apply(snapshot, .recover(at: t0 + 2))
        #expect(effects == [.scheduleRetry(id("a"), at: due)])
        #expect(early.step(id("a"))?.state == .retryWait)
        (early, effects) = try RunMachine.apply(snapshot, .recover(at: due + 100))
        #expect(effects == [.scheduleRetry(id("a"), at: due + 100)], "overdue: at once")
    }

    @Test func aQueuedRunStartsAndACancellingRunEnds() throws {
        let (queued, effects) = try RunMachine.apply(fresh([("a", [], nil)]), .recover(at: t0))
        #expect(queued.run.state == .running)
        #expect(effects.contains(.spawn(id("a"), attempt: 1)))

        var (snapshot, _) = try RunMachine.apply(fresh([("a", [], .pure), ("b", ["a"], nil)]), .start(at: t0))
        snapshot = try snapshot.launched(at: t0)
        (snapshot, _) = try RunMachine.apply(snapshot, .cancel(reason: "by hand", at: t0 + 1))
        (snapshot, _) = try RunMachine.apply(snapshot, .recover(at: t0 + 2))
        #expect(snapshot.run.state == .cancelled)
        #expect(snapshot.step(id("a"))?.attempts.count == 1, "a cancelled run is not run again")
    }

    @Test func retryRunsTheFailedStepsAgainAndKeepsTheSucceededOnes() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh(
                [("a", [], nil), ("b", ["a"], nil), ("c", ["b"], nil), ("d", [], nil)],
                retry: RetryPolicy(attempts: 2)),
            .start(at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("a"), .success, at: t0 + 1))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("d"), .success, at: t0 + 1))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("b"), failure, at: t0 + 2))
        (snapshot, _) = try RunMachine.apply(snapshot, .retryDue(id("b"), at: t0 + 3))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("b"), failure, at: t0 + 4))
        #expect(snapshot.run.state == .failed)

        let effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .retry(RetryRequest(), at: t0 + 10))
        #expect(snapshot.run.state == .running && snapshot.run.endedAt == nil && snapshot.run.error == nil)
        #expect(snapshot.run.retries == [RetryNote(at: t0 + 10, from: nil, skipped: [], reset: [id("b"), id("c")])])
        #expect(snapshot.step(id("a"))?.attempts.count == 1)
        #expect(snapshot.step(id("b"))?.attempts.count == 3)
        #expect(snapshot.step(id("c"))?.state == .pending)
        #expect(effects.first == .persistRun)
        #expect(effects.suffix(2) == [.persistStep(id("b")), .spawn(id("b"), attempt: 3)])
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("b"), failure, at: t0 + 11))
        #expect(snapshot.step(id("b"))?.state == .retryWait, "a retry by hand gets a fresh retry budget")
    }

    @Test func retryFromAStepRunsItAndWhatFollowsEvenIfTheySucceeded() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh([("a", [], nil), ("b", ["a"], nil), ("x", [], nil)]), .start(at: t0))
        for step in ["a", "x"] {
            (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id(step), .success, at: t0))
        }
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("b"), .success, at: t0))
        #expect(snapshot.run.state == .succeeded)
        #expect(throws: TransitionError.self) { try RunMachine.apply(snapshot, .retry(RetryRequest(), at: t0)) }

        (snapshot, _) = try RunMachine.apply(snapshot, .retry(RetryRequest(from: id("a")), at: t0 + 1))
        #expect(snapshot.step(id("a"))?.state == .running)
        #expect(snapshot.step(id("b"))?.state == .pending)
        #expect(snapshot.step(id("x"))?.state == .succeeded)
    }

    @Test func skippingAnInterruptedStepRecordsItDoneByHandWithItsOutput() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh([("charge", [], nil), ("mail", ["charge"], nil)]), .start(at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .recover(at: t0 + 1))
        #expect(snapshot.run.interrupted == true)

        let request = RetryRequest(skip: [id("charge"): "outputs/charge"])
        let effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .retry(request, at: t0 + 60))
        let charge = try #require(snapshot.step(id("charge")))
        #expect(charge.state == .succeeded)
        #expect(charge.attempts.last?.byHand == true)
        #expect(charge.attempts.last?.output == "outputs/charge")
        #expect(charge.attempts.count == 2)
        #expect(snapshot.run.interrupted == nil)
        #expect(effects.suffix(2) == [.persistStep(id("mail")), .spawn(id("mail"), attempt: 1)])
    }

    @Test func retryRefusesWhatDoesNotFit() throws {
        let (running, _) = try RunMachine.apply(fresh([("a", [], nil), ("b", ["a"], nil)]), .start(at: t0))
        #expect(throws: TransitionError.self) { try RunMachine.apply(running, .retry(RetryRequest(), at: t0)) }
        var (failed, _) = try RunMachine.apply(running, .attemptEnded(id("a"), .success, at: t0))
        (failed, _) = try RunMachine.apply(failed, .attemptEnded(id("b"), failure, at: t0))
        #expect(throws: TransitionError.self) {
            try RunMachine.apply(failed, .retry(RetryRequest(from: id("zz")), at: t0))
        }
        #expect(throws: TransitionError.self, "a succeeded step cannot be skipped") {
            try RunMachine.apply(failed, .retry(RetryRequest(skip: [id("a"): nil]), at: t0))
        }
        #expect(
            try RunMachine.apply(failed, .retry(RetryRequest(skip: [id("b"): nil]), at: t0)).0.run.state == .succeeded)
    }
}
