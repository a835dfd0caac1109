import Foundation
import JobFormat
import Logging
import RunModel
import RuntimeSupport
import Schedules
import Testing
import WorkflowEngine
import WorkflowStore
import WorkflowTesting

/// An executor that runs nothing and remembers what it was asked to run.
final class RecordingExecutor: StepExecutor {
    let invocations = Locked<[StepInvocation]>([])

    func execute(_ invocation: StepInvocation, control: StepControl, logger: Logger) async -> AttemptResult {
        invocations.withLock { $0.append(invocation) }
        return .success
    }

    var count: Int { invocations.withLock { $0.count } }
}

/// Runs decided ahead of their fire time (the scheduler prepares and writes them 0.5 s early so
/// they start on the dot): what happens to them between preparation and fire time. Manual clock.
@Suite struct RunDecidedAheadTests {
    let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!

    func coordinator(
        _ dir: TemporaryDirectory, _ clock: ManualClock, _ executor: RecordingExecutor, _ transitions: RunTransitions
    ) -> RunCoordinator {
        var coordinator = RunCoordinator(
            store: RunStore(directory: StateDirectory(root: dir.file("state"))), executor: executor, clock: clock,
            logger: CapturedLog().logger, workingDirectory: dir.path, daemonEnvironment: ["PATH": "/usr/bin:/bin"])
        coordinator.observe = transitions.observer
        return coordinator
    }

    let job = Job(
        id: JobID("tick")!,
        steps: [StepDefinition(id: StepID("a")!, run: "echo a"), StepDefinition(id: StepID("b")!, run: "echo b")])

    /// Both first steps' intents are on disk, waiting for the fire time.
    func waitForIntents(_ transitions: RunTransitions) async -> Bool {
        let snapshot = await transitions.until { $0.steps.allSatisfy { $0.state == .running } }
        return snapshot?.steps.allSatisfy { $0.state == .running } == true
    }

    /// A coordinator on the manual clock at `t0`, and a run of `job` prepared for `fire` (the
    /// directory goes when the test lets go of it).
    func ahead(_ name: String, fire: Date) throws -> (
        TemporaryDirectory, RunCoordinator, ManualClock, RecordingExecutor, RunTransitions, PreparedRun
    ) {
        let (dir, clock) = (try TemporaryDirectory(name), ManualClock(now: t0))
        let (executor, transitions) = (RecordingExecutor(), RunTransitions())
        var coordinator = coordinator(dir, clock, executor, transitions)
        coordinator.runIDSuffix = { 0xABCDEF }
        return (
            dir, coordinator, clock, executor, transitions,
            coordinator.prepare(job: job, trigger: .schedule, scheduledFor: fire)
        )
    }

    @Test func aRunCancelledBeforeItsFireTimeLaunchesNothing() async throws {
        let fire = t0 + 0.5
        let (dir, coordinator, clock, executor, transitions, prepared) = try ahead("ahead-cancel", fire: fire)
        #expect(prepared.snapshot.run.id.createdAt == fire, "a scheduled run's id carries its fire time")
        #expect(prepared.snapshot.run.id.rawValue == "20260101T000000.500Z-abcdef", "and the suffix it was given")
        let running = Task { await coordinator.execute(prepared, notBefore: fire) }
        #expect(await waitForIntents(transitions))
        prepared.handle.cancel(reason: "wfd is stopping")
        let final = await running.value
        clock.advance(to: fire + 1)
        #expect(final.run.state == .cancelled)
        #expect(final.run.startedAt == nil)
        #expect(executor.count == 0, "no step may start in a cancelled run")
        let onDisk = try coordinator.store.loadSnapshot(job.id, prepared.snapshot.run.id)
        #expect(onDisk.run.state == .cancelled)
        for step in onDisk.steps {
            #expect(step.state == .cancelled)
            #expect(step.attempts.first?.startedAt == nil)
            #expect(step.attempts.first?.plannedAt == fire)
        }
        withExtendedLifetime(dir) {}
    }

    @Test func aRunDecidedAheadLaunchesAtItsFireTimeAndRecordsWhenEachStepBegan() async throws {
        let fire = t0 + 0.5
        let (dir, coordinator, clock, executor, transitions, prepared) = try ahead("ahead-start", fire: fire)
        let running = Task { await coordinator.execute(prepared, notBefore: fire) }
        #expect(await waitForIntents(transitions))
        await clock.waitForSleepers()  // the launch timer waits for the fire time
        #expect(executor.count == 0)
        clock.advance(to: fire + 0.013)  // the loop woke 13 ms late
        let final = await running.value
        #expect(final.run.state == .succeeded)
        #expect(executor.count == 2)
        for step in final.steps {
            #expect(step.attempts.first?.plannedAt == fire)
            #expect(step.attempts.first?.startedAt == fire + 0.013, "lateness is one subtraction")
        }
        withExtendedLifetime(dir) {}
    }

    /// A scheduler on the manual clock with one job firing every minute, run until the run for
    /// 00:01:00 has been decided and written (0.5 s ahead of it): that run is `run`.
    struct Prepared {
        let dir: TemporaryDirectory
        let clock: ManualClock
        let scheduler: Scheduler
        let running: Task<Void, any Error>
        let executor: RecordingExecutor
        let store: RunStore
        let run: RunID
        let transitions: RunTransitions
        let job = JobID("tick")!
    }

    func prepared(_ name: String, step: String = "run: 'true'") async throws -> Prepared {
        let dir = try TemporaryDirectory(name)
        try dir.write("jobs/tick.yaml", "schedule: '0 * * * * *'\nsteps:\n  - {id: a, \(step)}\n")
        let clock = ManualClock(now: t0 + 30)
        let state = StateDirectory(root: dir.file("state"))
        let executor = RecordingExecutor()
        let transitions = RunTransitions()
        var configuration = Scheduler.Configuration(
            jobsDirectory: dir.file("jobs"), state: state, hostZone: .gmt, daemonEnvironment: [:])
        configuration.observeRuns = transitions.observer
        let scheduler = Scheduler(
            configuration: configuration, clock: clock, executor: executor, reporter: RecordingReporter(),
            logger: CapturedLog().logger)
        let running = Task { try await scheduler.run() }
        await clock.waitForSleepers()
        clock.advance(to: t0 + 59.6)  // the run for 00:01:00 is decided and written now
        let store = RunStore(directory: state)
        let written = await transitions.until { $0.steps.first?.state == .running }
        let run = try #require(written?.run.id)
        #expect(try store.loadLatest(JobID("tick")!).active?.id == run)
        #expect(try store.loadStep(JobID("tick")!, run, StepID("a")!).state == .running)
        return Prepared(
            dir: dir, clock: clock, scheduler: scheduler, running: running, executor: executor, store: store, run: run,
            transitions: transitions)
    }

    /// wfd asked to stop after the next run was decided and written, before its fire time: the
    /// run ends cancelled, its step never ran.
    @Test func stoppingWfdBeforeAPreparedRunsFireTimeRunsNothing() async throws {
        let ahead = try await prepared("ahead-stop", step: "run: 'echo ran > ran.txt'")
        #expect(ahead.run.rawValue.hasPrefix("20260101T000100.000Z-"), "named by its fire time")
        ahead.scheduler.shutdown()
        try await ahead.running.value
        ahead.clock.advance(to: t0 + 61)
        #expect(ahead.executor.count == 0)
        let final = try ahead.store.loadSnapshot(ahead.job, ahead.run)
        #expect(final.run.state == .cancelled)
        #expect(final.run.cancelReason == "wfd is stopping")
        #expect(final.steps[0].state == .cancelled)
    }

    /// `wfctl cancel` of a run decided ahead, before its fire time: the scheduler finds it active
    /// and cancels it, and its step never starts.
    @Test func cancellingAPreparedRunBeforeItsFireTimeRunsNothing() async throws {
        let ahead = try await prepared("ahead-wfctl-cancel")
        let found = await withCheckedContinuation { (reply: CheckedContinuation<Bool, Never>) in
            ahead.scheduler.cancelRun(ahead.run, reason: "cancelled with wfctl") { reply.resume(returning: $0) }
        }
        #expect(found, "the prepared run is active")
        #expect(await ahead.transitions.until { $0.run.state.isTerminal }?.run.state == .cancelled)
        #expect(try ahead.store.loadRun(ahead.job, ahead.run).state == .cancelled)
        ahead.clock.advance(to: t0 + 61)
        #expect(ahead.executor.count == 0)
        #expect(try ahead.store.loadStep(ahead.job, ahead.run, StepID("a")!).state == .cancelled)
        ahead.scheduler.shutdown()
        try await ahead.running.value
    }

    /// The job file is removed after its next run was decided, before its fire time.
    @Test func removingTheJobBeforeAPreparedRunsFireTimeCancelsIt() async throws {
        let ahead = try await prepared("ahead-remove")
        try FileManager.default.removeItem(atPath: ahead.dir.file("jobs/tick.yaml"))
        ahead.scheduler.reload { _ in }
        #expect(await ahead.transitions.until { $0.run.state.isTerminal }?.run.state == .cancelled)
        #expect(try ahead.store.loadRun(ahead.job, ahead.run).state == .cancelled)
        ahead.clock.advance(to: t0 + 61)
        #expect(ahead.executor.count == 0)
        #expect(
            try ahead.store.loadRun(ahead.job, ahead.run).cancelReason == "its job was removed before its fire time")
        ahead.scheduler.shutdown()
        try await ahead.running.value
    }
}
