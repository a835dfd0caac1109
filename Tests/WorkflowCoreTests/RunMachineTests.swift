import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowTesting

@Suite struct RunMachineTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func job(_ steps: [(String, [String])]) -> Job {
        Job(
            id: JobID("demo")!,
            steps: steps.map { id, needs in
                StepDefinition(id: StepID(id)!, run: "true", needs: needs.map { StepID($0)! })
            })
    }

    func fresh(_ steps: [(String, [String])]) -> RunSnapshot {
        RunSnapshot(
            job: job(steps), id: RunID.make(at: t0, suffix: 1), trigger: .schedule, scheduledFor: t0, createdAt: t0)
    }

    /// The engine applies events in place: an event the machine refuses must leave the snapshot
    /// exactly as it was, whichever check refuses it.
    @Test func aRefusedEventLeavesTheSnapshotInPlaceUnchanged() throws {
        var (running, _) = try RunMachine.apply(fresh([("a", []), ("b", ["a"]), ("c", [])]), .start(at: t0))
        running = try running.launched(at: t0)
        (running, _) = try RunMachine.apply(running, .attemptEnded(StepID("c")!, .success, at: t0 + 1))
        var ended = try RunMachine.apply(running, .cancel(reason: "stop", at: t0 + 2)).0
        let stopped = AttemptResult(outcome: .cancelled, error: "stopped")
        ended = try RunMachine.apply(ended, .attemptEnded(StepID("a")!, stopped, at: t0 + 2)).0
        #expect(ended.run.state == .cancelled)
        let refused: [(RunSnapshot, RunEvent)] = [
            (running, .attemptEnded(StepID("b")!, .success, at: t0 + 3)),  // pending, not running
            (running, .attemptEnded(StepID("c")!, .success, at: t0 + 3)),  // ended already
            (running, .attemptEnded(StepID("zz")!, .success, at: t0 + 3)),  // no such step
            (running, .attemptEnded(StepID("a")!, .success, at: t0 + 3, item: 2)),  // no such item
            (running, .retryDue(StepID("a")!, at: t0 + 3)),  // running, not waiting to retry
            (running, .expanded(StepID("c")!, items: [.null], at: t0 + 3)),  // not running
            (running, .expanded(StepID("a")!, items: [.null], at: t0 + 3)),  // not a for_each step
            (running, .expansionFailed(StepID("a")!, error: "x", at: t0 + 3)),
            (running, .expansionFailed(StepID("b")!, error: "x", at: t0 + 3)),
            (running, .start(at: t0 + 3)),  // started already
            (running, .launch(StepID("a")!, attempt: 1, at: t0 + 3)),  // launched already
            (running, .launch(StepID("b")!, attempt: 1, at: t0 + 3)),  // pending, no attempt
            (ended, .launch(StepID("a")!, attempt: 1, at: t0 + 3)),
            (running, .retry(RetryRequest(), at: t0 + 3)),  // still running
            (running, .decide(StepID("a")!, Decision(approved: true, by: "ann", at: t0 + 3), output: nil, at: t0 + 3)),
            (ended, .attemptEnded(StepID("a")!, .success, at: t0 + 3)),
            (ended, .cancel(reason: "again", at: t0 + 3)),
            (ended, .recover(at: t0 + 3)),
            (ended, .retry(RetryRequest(from: StepID("zz")!), at: t0 + 3)),
        ]
        for (before, event) in refused {
            var snapshot = before
            #expect(throws: TransitionError.self, "\(event)") { try RunMachine.apply(&snapshot, event) }
            #expect(snapshot == before, "\(event) changed the snapshot it was refused by")
        }
    }

    /// A run decided ahead of its fire time has its steps' intents on disk before anything runs:
    /// a cancel (or timeout, or wfd stopping) before their launch ends them there, with nothing to
    /// terminate, and the machine refuses to let them launch afterwards.
    @Test func aStepCancelledBeforeItsLaunchNeverStarts() throws {
        let fire = t0 + 0.5
        for stop in [RunEvent.cancel(reason: "wfd is stopping", at: t0 + 0.1), .timeOut(after: "1s", at: t0 + 0.1)] {
            var (snapshot, _) = try RunMachine.apply(fresh([("a", []), ("b", []), ("c", ["a"])]), .start(at: fire))
            #expect(snapshot.step(StepID("a")!)?.attempts.first?.plannedAt == fire)
            #expect(snapshot.step(StepID("a")!)?.attempts.first?.startedAt == nil)
            let effects = try RunMachine.apply(&snapshot, stop)
            #expect(!effects.contains { if case .terminate = $0 { true } else { false } }, "nothing was launched")
            #expect(effects.last == .finished(snapshot.run.state))
            #expect(snapshot.run.state == (stop == .timeOut(after: "1s", at: t0 + 0.1) ? .timedOut : .cancelled))
            #expect(snapshot.run.startedAt == nil, "a run stopped before its fire time never started")
            for id in ["a", "b"] {
                let step = try #require(snapshot.step(StepID(id)!))
                #expect(step.state == .cancelled)
                #expect(step.error?.hasPrefix("cancelled before it started: ") == true)
                #expect(step.attempts.first?.outcome == .cancelled)
                #expect(step.attempts.first?.startedAt == nil && step.attempts.first?.durationMilliseconds == nil)
                #expect(throws: TransitionError.self) {
                    try RunMachine.apply(snapshot, .launch(StepID(id)!, attempt: 1, at: fire))
                }
            }
            #expect(snapshot.step(StepID("c")!)?.state == .skipped)
        }
    }

    /// A cancel asked for while a run still runs: launched steps are terminated, and the machine
    /// refuses every launch from then on (a step whose intent was written but not yet begun).
    @Test func noLaunchIsAcceptedOnceTheRunIsStopping() throws {
        var (snapshot, _) = try RunMachine.apply(fresh([("a", []), ("b", [])]), .start(at: t0))
        _ = try RunMachine.apply(&snapshot, .launch(StepID("a")!, attempt: 1, at: t0))
        let effects = try RunMachine.apply(&snapshot, .cancel(reason: "by hand", at: t0 + 1))
        #expect(effects == [.persistRun, .terminate(StepID("a")!), .persistStep(StepID("b")!)])
        #expect(snapshot.step(StepID("b")!)?.state == .cancelled)
        #expect(snapshot.run.startedAt == t0, "one of its steps began: the run did start")
        #expect(throws: TransitionError.self) {
            try RunMachine.apply(snapshot, .launch(StepID("b")!, attempt: 1, at: t0 + 1))
        }
    }

    /// An attempt records when it was due and when its work really began; its duration counts
    /// from the latter.
    @Test func anAttemptRecordsWhenItWasPlannedAndWhenItBegan() throws {
        var (snapshot, _) = try RunMachine.apply(fresh([("a", [])]), .start(at: t0))
        #expect(try RunMachine.apply(&snapshot, .launch(StepID("a")!, attempt: 1, at: t0 + 0.012)).isEmpty)
        _ = try RunMachine.apply(&snapshot, .attemptEnded(StepID("a")!, .success, at: t0 + 1.012))
        let attempt = try #require(snapshot.step(StepID("a")!)?.attempts.first)
        #expect(attempt.plannedAt == t0)
        #expect(attempt.startedAt == t0 + 0.012)
        #expect(attempt.durationMilliseconds == 1000)
    }

    @Test func startPersistsBeforeSpawningEveryRootStep() throws {
        let (snapshot, effects) = try RunMachine.apply(fresh([("a", []), ("b", []), ("c", ["a"])]), .start(at: t0))
        #expect(snapshot.run.state == .running)
        #expect(
            effects == [
                .persistRun, .persistStep(StepID("a")!), .spawn(StepID("a")!, attempt: 1),
                .persistStep(StepID("b")!), .spawn(StepID("b")!, attempt: 1),
            ])
        #expect(snapshot.step(StepID("a")!)?.state == .running)
        #expect(snapshot.step(StepID("a")!)?.attempts.first?.log == "logs/a.1.log")
        #expect(snapshot.step(StepID("c")!)?.state == .pending)
    }

    @Test func successStartsDependantsAndEndsTheRun() throws {
        var (snapshot, _) = try RunMachine.apply(fresh([("a", []), ("b", ["a"])]), .start(at: t0))
        snapshot = try snapshot.launched(at: t0)
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(StepID("a")!, .success, at: t0 + 1))
        #expect(effects == [.persistStep(StepID("a")!), .persistStep(StepID("b")!), .spawn(StepID("b")!, attempt: 1)])
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(StepID("b")!, .success, at: t0 + 2))
        #expect(effects == [.persistStep(StepID("b")!), .persistRun, .finished(.succeeded)])
        #expect(snapshot.run.state == .succeeded)
        #expect(snapshot.run.endedAt == t0 + 2)
        #expect(snapshot.step(StepID("a")!)?.attempts.first?.durationMilliseconds == 1000)
    }

    @Test func failureSkipsDependantsTransitivelyButNotIndependentSteps() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh([("a", []), ("b", ["a"]), ("c", ["b"]), ("d", [])]), .start(at: t0))
        let failure = AttemptResult(outcome: .failed, exitCode: 3, error: "exited with status 3")
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(StepID("a")!, failure, at: t0 + 1))
        #expect(snapshot.step(StepID("b")!)?.state == .skipped)
        #expect(snapshot.step(StepID("c")!)?.state == .skipped)
        #expect(snapshot.step(StepID("c")!)?.error == "not started: step 'b' did not succeed")
        #expect(snapshot.run.state == .running, "d still runs")
        #expect(!effects.contains(.persistRun))
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(StepID("d")!, .success, at: t0 + 2))
        #expect(snapshot.run.state == .failed)
        #expect(snapshot.run.error == "step 'a' failed: exited with status 3")
        #expect(effects.last == .finished(.failed))
        let attempt = try #require(snapshot.step(StepID("a")!)?.attempts.first)
        #expect(attempt.exitCode == 3)
        #expect(attempt.outcome == .failed)
    }

    @Test func cancelTerminatesRunningStepsAndEndsCancelledWhenTheyStop() throws {
        var (snapshot, _) = try RunMachine.apply(fresh([("a", []), ("b", ["a"])]), .start(at: t0))
        snapshot = try snapshot.launched(at: t0)
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .cancel(reason: "wfd is stopping", at: t0 + 1))
        #expect(effects == [.persistRun, .terminate(StepID("a")!), .persistStep(StepID("b")!)])
        #expect(snapshot.run.state == .running, "not over until the running step has stopped")
        #expect(snapshot.step(StepID("b")!)?.state == .skipped)
        (snapshot, effects) = try RunMachine.apply(snapshot, .cancel(reason: "again", at: t0 + 1))
        #expect(effects.isEmpty)
        let stopped = AttemptResult(outcome: .cancelled, signal: 15, error: "cancelled: wfd is stopping")
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(StepID("a")!, stopped, at: t0 + 2))
        #expect(snapshot.step(StepID("a")!)?.state == .cancelled)
        #expect(snapshot.run.state == .cancelled)
        #expect(snapshot.run.error == "cancelled: wfd is stopping")
        #expect(effects.last == .finished(.cancelled))
    }

    @Test func cancellingAQueuedRunEndsItAtOnce() throws {
        let (snapshot, effects) = try RunMachine.apply(fresh([("a", [])]), .cancel(reason: "no", at: t0))
        #expect(snapshot.run.state == .cancelled)
        #expect(effects.last == .finished(.cancelled))
    }

    @Test func eventsThatDoNotFitAreRefusedAndChangeNothing() throws {
        let queued = fresh([("a", []), ("b", ["a"])])
        #expect(throws: TransitionError.self) {
            try RunMachine.apply(queued, .attemptEnded(StepID("a")!, .success, at: t0))
        }
        let (running, _) = try RunMachine.apply(queued, .start(at: t0))
        #expect(throws: TransitionError.self) { try RunMachine.apply(running, .start(at: t0)) }
        #expect(throws: TransitionError.self) {
            try RunMachine.apply(running, .attemptEnded(StepID("b")!, .success, at: t0))
        }
        #expect(throws: TransitionError.self) {
            try RunMachine.apply(running, .attemptEnded(StepID("zzz")!, .success, at: t0))
        }
        var (done, _) = try RunMachine.apply(running, .attemptEnded(StepID("a")!, .success, at: t0))
        (done, _) = try RunMachine.apply(done, .attemptEnded(StepID("b")!, .success, at: t0))
        #expect(throws: TransitionError.self) { try RunMachine.apply(done, .cancel(reason: "late", at: t0)) }
        #expect(throws: TransitionError.self) { try RunMachine.apply(done, .recover(at: t0)) }
    }

    @Test func timeoutFailsTheStep() throws {
        var (snapshot, _) = try RunMachine.apply(fresh([("a", [])]), .start(at: t0))
        let result = AttemptResult(outcome: .timedOut, signal: 15, error: "timed out after 5s")
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(StepID("a")!, result, at: t0 + 5))
        #expect(snapshot.step(StepID("a")!)?.state == .failed)
        #expect(snapshot.step(StepID("a")!)?.attempts.first?.outcome == .timedOut)
        #expect(snapshot.run.state == .failed)
    }

    func fresh(_ steps: [(String, [String], WhenCondition)]) -> RunSnapshot {
        let job = Job(
            id: JobID("demo")!,
            steps: steps.map { id, needs, when in
                var step = StepDefinition(id: StepID(id)!, run: "true", needs: needs.map { StepID($0)! })
                step.when = when
                return step
            })
        return RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 2), trigger: .manual, scheduledFor: nil, createdAt: t0)
    }

    func state(_ snapshot: RunSnapshot, _ id: String) -> StepState? { snapshot.step(StepID(id)!)?.state }

    @Test func alwaysAndFailureStepsRunAfterAFailure() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh([
                ("a", [], .success), ("after", ["a"], .success), ("cleanup", ["after"], .always),
                ("alert", ["a"], .failure),
            ]),
            .start(at: t0))
        let failure = AttemptResult(outcome: .failed, exitCode: 1, error: "exited with status 1")
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(StepID("a")!, failure, at: t0 + 1))
        #expect(state(snapshot, "after") == .skipped)
        #expect(state(snapshot, "cleanup") == .running, "always: its need ended (skipped)")
        #expect(state(snapshot, "alert") == .running, "failure: a need failed")
        #expect(effects.contains(.spawn(StepID("cleanup")!, attempt: 1)))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(StepID("cleanup")!, .success, at: t0 + 2))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(StepID("alert")!, .success, at: t0 + 2))
        #expect(snapshot.run.state == .failed, "clean-up does not make a failed run succeed")
        #expect(snapshot.run.error == "step 'a' failed: exited with status 1")
    }

    @Test func aFailureStepIsSkippedWhenEverythingSucceeded() throws {
        var (snapshot, _) = try RunMachine.apply(
            fresh([("a", [], .success), ("alert", ["a"], .failure), ("cleanup", ["a"], .always)]), .start(at: t0))
        #expect(state(snapshot, "alert") == .pending, "waits for its need")
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(StepID("a")!, .success, at: t0 + 1))
        #expect(state(snapshot, "alert") == .skipped)
        #expect(snapshot.step(StepID("alert")!)?.error == "not run: everything it needs succeeded (when: failure)")
        #expect(state(snapshot, "cleanup") == .running)
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(StepID("cleanup")!, .success, at: t0 + 2))
        #expect(snapshot.run.state == .succeeded, "a skipped failure handler is not a failure")
    }

    func retrying(_ policy: RetryPolicy) -> RunSnapshot {
        var step = StepDefinition(id: StepID("flaky")!, run: "false")
        step.retry = policy
        let job = Job(id: JobID("demo")!, steps: [step])
        return RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 3), trigger: .manual, scheduledFor: nil, createdAt: t0)
    }

    @Test func aFailedAttemptWaitsAndRetriesUntilTheAttemptsAreSpent() throws {
        let flaky = StepID("flaky")!
        let failure = AttemptResult(outcome: .failed, exitCode: 1, error: "exited with status 1")
        var (snapshot, _) = try RunMachine.apply(
            retrying(RetryPolicy(attempts: 3, delay: TimeSpan(.seconds(10)), backoff: 2)), .start(at: t0))
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(flaky, failure, at: t0 + 1))
        let firstDue = try #require(snapshot.step(flaky)?.retryAt)
        #expect(snapshot.step(flaky)?.state == .retryWait)
        #expect(firstDue >= t0 + 1 && firstDue <= t0 + 11, "full jitter within the 10 s delay")
        #expect(effects == [.persistStep(flaky), .scheduleRetry(flaky, at: firstDue)])
        #expect(snapshot.run.state == .running)
        #expect(
            try RunMachine.apply(
                retrying(RetryPolicy(attempts: 3, delay: TimeSpan(.seconds(10)), backoff: 2)), .start(at: t0)
            ).0.run.state == .running)

        (snapshot, effects) = try RunMachine.apply(snapshot, .retryDue(flaky, at: firstDue))
        #expect(snapshot.step(flaky)?.state == .running)
        #expect(snapshot.step(flaky)?.attempts.count == 2)
        #expect(effects == [.persistStep(flaky), .spawn(flaky, attempt: 2)])
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(flaky, failure, at: firstDue + 1))
        let secondDue = try #require(snapshot.step(flaky)?.retryAt)
        #expect(secondDue <= firstDue + 1 + 20, "backoff 2: at most 20 s")
        (snapshot, _) = try RunMachine.apply(snapshot, .retryDue(flaky, at: secondDue))
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(flaky, failure, at: secondDue + 1))
        #expect(snapshot.step(flaky)?.state == .failed, "three attempts spent")
        #expect(snapshot.run.state == .failed)
        #expect(effects.last == .finished(.failed))
    }

    @Test func onlyTheListedExitCodesAreRetried() throws {
        let flaky = StepID("flaky")!
        let policy = RetryPolicy(attempts: 5, onExitCodes: [75])
        var (snapshot, _) = try RunMachine.apply(retrying(policy), .start(at: t0))
        (snapshot, _) = try RunMachine.apply(
            snapshot, .attemptEnded(flaky, AttemptResult(outcome: .failed, exitCode: 75), at: t0))
        #expect(snapshot.step(flaky)?.state == .retryWait)
        (snapshot, _) = try RunMachine.apply(snapshot, .retryDue(flaky, at: t0 + 1))
        (snapshot, _) = try RunMachine.apply(
            snapshot, .attemptEnded(flaky, AttemptResult(outcome: .failed, exitCode: 1), at: t0 + 2))
        #expect(snapshot.step(flaky)?.state == .failed)
        // Cancellation is never retried.
        (snapshot, _) = try RunMachine.apply(retrying(RetryPolicy(attempts: 5)), .start(at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(flaky, AttemptResult(outcome: .cancelled), at: t0))
        #expect(snapshot.step(flaky)?.state == .cancelled)
    }

    @Test func cancellingDuringARetryWaitEndsTheRun() throws {
        let flaky = StepID("flaky")!
        var (snapshot, _) = try RunMachine.apply(retrying(RetryPolicy(attempts: 3)), .start(at: t0))
        (snapshot, _) = try RunMachine.apply(
            snapshot, .attemptEnded(flaky, AttemptResult(outcome: .failed, exitCode: 1), at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .cancel(reason: "wfd is stopping", at: t0 + 0.5))
        #expect(snapshot.step(flaky)?.state == .cancelled)
        #expect(snapshot.step(flaky)?.retryAt == nil)
        #expect(snapshot.run.state == .cancelled)
        #expect(throws: TransitionError.self) { try RunMachine.apply(snapshot, .retryDue(flaky, at: t0 + 1)) }
    }

    @Test func theRunTimeoutStopsItLikeACancelButEndsTimedOut() throws {
        var (snapshot, _) = try RunMachine.apply(fresh([("a", []), ("b", ["a"])]), .start(at: t0))
        snapshot = try snapshot.launched(at: t0)
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .timeOut(after: "2s", at: t0 + 2))
        #expect(effects.contains(.terminate(StepID("a")!)))
        #expect(snapshot.step(StepID("b")!)?.state == .skipped)
        (snapshot, effects) = try RunMachine.apply(
            snapshot, .attemptEnded(StepID("a")!, AttemptResult(outcome: .cancelled, signal: 15), at: t0 + 2.1))
        #expect(snapshot.run.state == .timedOut)
        #expect(snapshot.run.error == "the run timed out after 2s")
        #expect(effects.last == .finished(.timedOut))
    }

    @Test func noMoreThanMaxParallelStepsRunAtOnce() throws {
        var job = Job(id: JobID("wide")!, steps: (1...5).map { StepDefinition(id: StepID("s\($0)")!, run: "true") })
        job.maxParallel = 2
        var snapshot = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 4), trigger: .manual, scheduledFor: nil, createdAt: t0)
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .start(at: t0))
        #expect(effects.filter { if case .spawn = $0 { true } else { false } }.count == 2)
        #expect(snapshot.steps.filter { $0.state == .running }.count == 2)
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(StepID("s1")!, .success, at: t0 + 1))
        #expect(effects.contains(.spawn(StepID("s3")!, attempt: 1)), "a slot freed, the next step starts")
        #expect(snapshot.steps.filter { $0.state == .running }.count == 2)
        #expect(Job(id: JobID("d")!, steps: []).maxParallel == 4, "the default")
    }
}
