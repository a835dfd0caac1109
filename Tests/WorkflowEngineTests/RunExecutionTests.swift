import Foundation
import JobFormat
import Logging
import RunModel
import Schedules
import Testing
import WorkflowEngine
import WorkflowStore
import WorkflowTesting

/// A run's execution in process: the real interpreter and store (files in a temporary
/// directory), a scripted executor and the manual clock. Retry waits, approval timeouts and run
/// deadlines pass by moving the clock; the tests wait for the run's transitions, never for time.
@Suite struct RunExecutionTests {
    let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!

    struct Harness {
        let dir: TemporaryDirectory
        let clock: ManualClock
        let executor: ScriptedExecutor
        let transitions = RunTransitions()
        let coordinator: RunCoordinator

        init(_ name: String, at now: Date, script: [String: [ScriptedExecutor.Outcome]] = [:]) throws {
            dir = try TemporaryDirectory(name)
            clock = ManualClock(now: now)
            executor = ScriptedExecutor(script)
            var coordinator = RunCoordinator(
                store: RunStore(directory: StateDirectory(root: dir.file("state"))), executor: executor, clock: clock,
                logger: CapturedLog().logger, workingDirectory: dir.path, daemonEnvironment: ["PATH": "/usr/bin:/bin"])
            coordinator.runIDSuffix = { 0x00_00_01 }
            coordinator.observe = transitions.observer
            self.coordinator = coordinator
        }

        func job(_ yaml: String) throws -> Job { try JobParser().parse(yaml, path: "/jobs/test.yaml") }

        /// Starts a manual run of `job` in a task of its own.
        func start(_ job: Job, params: [String: String] = [:]) -> (PreparedRun, Task<RunSnapshot, Never>) {
            let values = (try? job.parameterValues(params).get()) ?? [:]
            let prepared = coordinator.prepare(job: job, trigger: .manual, scheduledFor: nil, params: values)
            return (prepared, Task { [coordinator] in await coordinator.execute(prepared) })
        }

        func step(_ snapshot: RunSnapshot?, _ id: String) -> StepRecord? { snapshot?.step(StepID(id)!) }
    }

    @Test func aFailedStepWaitsItsRetryDelayOnTheClockAndSucceedsOnItsThirdAttempt() async throws {
        let harness = try Harness("exec-retry", at: t0, script: ["flaky": [.fail(1), .fail(2), .succeed("ok")]])
        let job = try harness.job(
            """
            steps:
              - id: flaky
                run: ./flaky
                retry: { attempts: 3, delay: 1m }
              - id: after
                needs: [flaky]
                run: ./after
            """)
        let (prepared, running) = harness.start(job)
        for attempt in 1...2 {
            let waiting = await harness.transitions.until { harness.step($0, "flaky")?.state == .retryWait }
            let due = try #require(harness.step(waiting, "flaky")?.retryAt)
            #expect(due > harness.clock.now() && due <= harness.clock.now() + 60, "full jitter in [0, 1m]")
            #expect(harness.executor.invocations(of: "flaky").count == attempt, "no attempt before its due time")
            harness.clock.advance(to: due)
        }
        let final = await running.value
        #expect(final.run.state == .succeeded)
        #expect(harness.step(final, "flaky")?.attempts.map(\.exitCode) == [1, 2, 0])
        #expect(harness.executor.invocations(of: "after").count == 1)
        let onDisk = try harness.coordinator.store.loadSnapshot(job.id, prepared.snapshot.run.id)
        #expect(onDisk.run.state == .succeeded, "what the interpreter returns is what is on disk")
        #expect(onDisk.step(StepID("flaky")!)?.attempts.count == 3)
    }

    @Test func anApprovalThatNobodyDecidesIsRejectedByItsTimeoutAndTheRunFails() async throws {
        let harness = try Harness("exec-approval-timeout", at: t0)
        let job = try harness.job(
            """
            steps:
              - id: ask
                approval: { message: "ship it?", timeout: 2h }
              - id: ship
                needs: [ask]
                run: ./ship
            """)
        let (_, running) = harness.start(job)
        let waiting = await harness.transitions.until { harness.step($0, "ask")?.state == .waiting }
        #expect(waiting?.run.state == .waiting)
        harness.clock.advance(to: t0 + 7199)
        await harness.clock.waitForSleepers()  // the run's one timer task still sleeps: nothing is due yet
        #expect(harness.executor.invocations.isEmpty)
        harness.clock.advance(to: t0 + 7200)
        let final = await running.value
        #expect(final.run.state == .failed)
        let ask = try #require(harness.step(final, "ask"))
        #expect(ask.state == .failed)
        #expect(ask.attempts.last?.decision?.by == "timeout")
        #expect(ask.attempts.last?.decision?.approved == false)
        #expect(harness.step(final, "ship")?.state == .skipped)
        #expect(harness.executor.invocations(of: "ship").isEmpty)
    }

    @Test func anApprovalDecidedBeforeItsTimeoutCancelsTheTimeout() async throws {
        let harness = try Harness("exec-approval-decided", at: t0)
        let job = try harness.job(
            """
            steps:
              - id: ask
                approval: { message: "ship it?", timeout: 1h, on_timeout: reject }
              - id: ship
                needs: [ask]
                run: ./ship
            """)
        let (prepared, running) = harness.start(job)
        _ = await harness.transitions.until { harness.step($0, "ask")?.state == .waiting }
        let replied = await withCheckedContinuation { (reply: CheckedContinuation<String?, Never>) in
            let decision = Decision(approved: true, by: "alice", at: harness.clock.now())
            prepared.handle.decide(
                DecisionRequest(step: StepID("ask")!, decision: decision) { reply.resume(returning: $0) })
        }
        #expect(replied == nil, "accepted, and on disk when the reply comes")
        let final = await running.value
        #expect(final.run.state == .succeeded)
        #expect(harness.step(final, "ask")?.attempts.last?.decision?.by == "alice")
        #expect(harness.clock.sleeperCount == 0, "the approval's timeout no longer sleeps")
    }

    @Test func forEachRunsEveryItemAndRetriesOnlyTheItemThatFailed() async throws {
        let harness = try Harness("exec-for-each", at: t0, script: ["each[1]": [.fail(3), .succeed("b")]])
        let job = try harness.job(
            """
            params:
              items: { default: '["x", "y", "z"]' }
            steps:
              - id: each
                for_each: ${{ params.items }}
                run: ./each
                retry: { attempts: 2, delay: 10s }
            """)
        let (_, running) = harness.start(job)
        let waiting = await harness.transitions.until {
            harness.step($0, "each")?.items?.contains { $0.state == .retryWait } == true
        }
        let items = try #require(harness.step(waiting, "each")?.items)
        #expect(items.count == 3)
        let due = try #require(items[1].retryAt)
        harness.clock.advance(to: due)
        let final = await running.value
        #expect(final.run.state == .succeeded)
        let attempts = harness.step(final, "each")?.items?.map(\.attempts.count)
        #expect(attempts == [1, 2, 1])
        #expect(harness.executor.invocations(of: "each").compactMap(\.item).sorted() == [0, 1, 1, 2])
        #expect(
            harness.executor.invocations(of: "each").allSatisfy { $0.environment["WF_ITEM"] != nil },
            "each item gets its value")
    }

    @Test func aCancelStopsTheRunningStepAndSkipsWhatFollows() async throws {
        let harness = try Harness("exec-cancel", at: t0, script: ["long": [.hang]])
        let job = try harness.job(
            """
            steps:
              - id: long
                run: ./long
              - id: next
                needs: [long]
                run: ./next
            """)
        let (prepared, running) = harness.start(job)
        _ = await harness.transitions.until { harness.step($0, "long")?.state == .running }
        prepared.handle.cancel(reason: "asked by a test")
        let final = await running.value
        #expect(final.run.state == .cancelled)
        #expect(harness.step(final, "long")?.state == .cancelled)
        #expect(harness.step(final, "long")?.attempts.last?.error?.contains("asked by a test") == true)
        #expect(harness.step(final, "next")?.state == .skipped || harness.step(final, "next")?.state == .cancelled)
        #expect(harness.executor.invocations(of: "next").isEmpty)
    }

    @Test func theRunsTimeoutEndsItOnTheClockNotOnTheWallClock() async throws {
        let harness = try Harness("exec-deadline", at: t0, script: ["long": [.hang]])
        let job = try harness.job(
            """
            timeout: 30m
            steps:
              - id: long
                run: ./long
            """)
        let (_, running) = harness.start(job)
        _ = await harness.transitions.until { harness.step($0, "long")?.state == .running }
        await harness.clock.waitForSleepers()
        harness.clock.advance(to: t0 + 1800)
        let final = await running.value
        #expect(final.run.state == .timedOut)
        #expect(final.run.error?.contains("30m") == true, "\(final.run.error ?? "")")
    }

    @Test func aModelCallThatCouldPassTheRunsBudgetIsNotMadeAndIsNotRetried() async throws {
        let harness = try Harness("exec-budget", at: t0)
        // Nothing listens on port 9 of the loopback: a call that were made would fail as transport.
        let job = try harness.job(
            """
            budget: { tokens: 100 }
            steps:
              - id: summarize
                llm:
                  provider: openai
                  base_url: http://127.0.0.1:9/v1
                  model: m
                  prompt: "summarize"
                  max_tokens: 500
                retry: { attempts: 3, delay: 1s }
            """)
        let (_, running) = harness.start(job)
        let final = await running.value
        #expect(final.run.state == .failed)
        let step = try #require(harness.step(final, "summarize"))
        #expect(step.attempts.count == 1, "a budget is not mended by trying again")
        #expect(step.attempts.first?.errorKind == .budgetExceeded)
        #expect(step.attempts.first?.calls?.isEmpty ?? true, "no call was made")
    }
}
