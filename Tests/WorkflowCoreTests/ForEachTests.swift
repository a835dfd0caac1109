import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowTesting

/// `for_each` in the state machine: a step fans out into items, each with its own attempts.
@Suite struct ForEachTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func id(_ name: String) -> StepID { StepID(name)! }
    let failure = AttemptResult(outcome: .failed, exitCode: 2, error: "exited with status 2")

    /// list -> each (for_each over list's output) -> after.
    func fresh(maxParallel: Int = 2, effect: EffectClass? = nil, retry: RetryPolicy? = nil) -> RunSnapshot {
        var list = StepDefinition(id: id("list"), run: "echo '[1,2,3]'")
        list.output = .json
        var each = StepDefinition(id: id("each"), run: "echo $WF_ITEM", needs: [id("list")])
        each.forEach = "${{ steps.list.output }}"
        each.effect = effect
        each.retry = retry
        let after = StepDefinition(id: id("after"), run: "true", needs: [id("each")])
        var job = Job(id: JobID("fan")!, steps: [list, each, after])
        job.maxParallel = maxParallel
        return RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 5), trigger: .manual, scheduledFor: nil, createdAt: t0)
    }

    func started() throws -> RunSnapshot {
        var (snapshot, _) = try RunMachine.apply(fresh(), .start(at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("list"), .success, at: t0 + 1))
        return snapshot
    }

    @Test func itemsRunAtMostMaxParallelAtOnceAndTheStepSucceedsWithThemAll() throws {
        var (snapshot, effects) = try RunMachine.apply(fresh(), .start(at: t0))
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(id("list"), .success, at: t0 + 1))
        #expect(effects == [.persistStep(id("list")), .persistStep(id("each")), .expand(id("each"))])
        #expect(snapshot.step(id("each"))?.state == .running)

        (snapshot, effects) = try RunMachine.apply(
            snapshot, .expanded(id("each"), items: [.number(1), .number(2), .number(3)], at: t0 + 2))
        #expect(
            effects == [
                .persistStep(id("each")), .persistStep(id("each")), .spawn(id("each"), attempt: 1, item: 0),
                .persistStep(id("each")), .spawn(id("each"), attempt: 1, item: 1),
            ])
        let items = try #require(snapshot.step(id("each"))?.items)
        #expect(items.map(\.value) == [.number(1), .number(2), .number(3)])
        #expect(items[0].attempts.first?.log == "logs/each.0.1.log")

        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(id("each"), .success, at: t0 + 3, item: 0))
        #expect(
            effects == [.persistStep(id("each")), .persistStep(id("each")), .spawn(id("each"), attempt: 1, item: 2)])
        for item in [1, 2] {
            (snapshot, effects) = try RunMachine.apply(
                snapshot, .attemptEnded(id("each"), .success, at: t0 + 4, item: item))
        }
        #expect(snapshot.step(id("each"))?.state == .succeeded)
        #expect(effects.suffix(2) == [.persistStep(id("after")), .spawn(id("after"), attempt: 1)])
    }

    @Test func aFailedItemRetriesThenFailsTheStepAndWhatNeedsIt() throws {
        var (snapshot, _) = try RunMachine.apply(fresh(retry: RetryPolicy(attempts: 2)), .start(at: t0))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("list"), .success, at: t0 + 1))
        (snapshot, _) = try RunMachine.apply(
            snapshot, .expanded(id("each"), items: [.string("a"), .string("b")], at: t0 + 1))
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .attemptEnded(id("each"), failure, at: t0 + 2, item: 1))
        let due = try #require(snapshot.step(id("each"))?.items?[1].retryAt)
        #expect(effects == [.persistStep(id("each")), .scheduleRetry(id("each"), at: due, item: 1)])
        (snapshot, effects) = try RunMachine.apply(snapshot, .retryDue(id("each"), at: due, item: 1))
        #expect(effects == [.persistStep(id("each")), .spawn(id("each"), attempt: 2, item: 1)])
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("each"), .success, at: due + 1, item: 0))
        (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("each"), failure, at: due + 1, item: 1))
        #expect(snapshot.step(id("each"))?.state == .failed)
        #expect(snapshot.step(id("each"))?.error == "item 1 of 2: exited with status 2")
        #expect(snapshot.step(id("after"))?.state == .skipped)
        #expect(snapshot.run.state == .failed)

        // wfctl retry keeps the item that succeeded and runs the failed one again.
        (snapshot, effects) = try RunMachine.apply(snapshot, .retry(RetryRequest(), at: due + 10))
        let items = try #require(snapshot.step(id("each"))?.items)
        #expect(items[0].state == .succeeded && items[0].attempts.count == 1)
        #expect(items[1].state == .running && items[1].attempts.count == 3)
        #expect(effects.last == .spawn(id("each"), attempt: 3, item: 1))
    }

    @Test func anEmptyArraySucceedsAtOnceAndABadOneFailsTheStep() throws {
        var (snapshot, _) = try RunMachine.apply(try started(), .expanded(id("each"), items: [], at: t0 + 2))
        #expect(snapshot.step(id("each"))?.state == .succeeded)
        (snapshot, _) = try RunMachine.apply(
            try started(), .expansionFailed(id("each"), error: "for_each needs an array; it got an object", at: t0 + 2))
        #expect(snapshot.step(id("each"))?.state == .failed)
        #expect(snapshot.run.state == .failed)
    }

    @Test func recoveryJudgesEachItemByTheStepsEffectClass() throws {
        for (effect, expected) in [(EffectClass.effectful, StepState.interrupted), (.idempotent, .running)] {
            var (snapshot, _) = try RunMachine.apply(fresh(effect: effect), .start(at: t0))
            (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("list"), .success, at: t0 + 1))
            (snapshot, _) = try RunMachine.apply(snapshot, .expanded(id("each"), items: [.null, .null], at: t0 + 1))
            (snapshot, _) = try RunMachine.apply(snapshot, .attemptEnded(id("each"), .success, at: t0 + 2, item: 0))
            (snapshot, _) = try RunMachine.apply(snapshot, .recover(at: t0 + 3))
            let items = try #require(snapshot.step(id("each"))?.items)
            #expect(items[0].attempts.count == 1, "a finished item is never run again")
            #expect(items[1].attempts.first?.outcome == .interrupted)
            #expect(items[1].state == expected, "\(effect)")
            #expect(snapshot.step(id("each"))?.state == (effect == .effectful ? .interrupted : .running))
        }
        // Recovered before its items were known: they are worked out again.
        let (early, effects) = try RunMachine.apply(try started(), .recover(at: t0 + 3))
        #expect(early.step(id("each"))?.state == .running)
        #expect(effects.contains(.expand(id("each"))))
    }

    @Test func cancellingStopsRunningItemsAndSkipsTheRest() throws {
        var (snapshot, _) = try RunMachine.apply(
            try started(), .expanded(id("each"), items: [.null, .null, .null], at: t0 + 1))
        snapshot = try snapshot.launched(at: t0 + 1)
        var effects: [RunEffect]
        (snapshot, effects) = try RunMachine.apply(snapshot, .cancel(reason: "by hand", at: t0 + 2))
        #expect(effects.contains(.terminate(id("each"))))
        #expect(snapshot.step(id("each"))?.items?[2].state == .skipped)
        for item in [0, 1] {
            (snapshot, _) = try RunMachine.apply(
                snapshot,
                .attemptEnded(id("each"), AttemptResult(outcome: .cancelled, error: "stopped"), at: t0 + 3, item: item))
        }
        #expect(snapshot.step(id("each"))?.state == .cancelled)
        #expect(snapshot.run.state == .cancelled)
    }

    @Test func theArrayComesFromAnOutputAFieldOrAStringOfJSON() throws {
        let values = TemplateValues(
            outputs: [
                id("list"): .object(["hosts": .array([.string("a"), .string("b")])]), id("raw"): .string("[1, 2]"),
            ],
            params: ["names": "[\"x\"]"], run: RunID.make(at: t0, suffix: 1), trigger: .manual, job: JobID("j")!)
        #expect(
            try ForEachExpansion.items("${{ steps.list.output.hosts }}", values: values).get() == [
                .string("a"), .string("b"),
            ])
        #expect(
            try ForEachExpansion.items("${{ steps.raw.output }}", values: values).get() == [.number(1), .number(2)])
        #expect(try ForEachExpansion.items("${{ params.names }}", values: values).get() == [.string("x")])
        #expect(throws: TemplateProblem(message: "for_each needs an array; it got an object")) {
            try ForEachExpansion.items("${{ steps.list.output }}", values: values).get()
        }
        #expect(throws: TemplateProblem(message: "for_each: steps.list.output has no field 'nope' (it has: hosts)")) {
            try ForEachExpansion.items("${{ steps.list.output.nope }}", values: values).get()
        }
    }
}
