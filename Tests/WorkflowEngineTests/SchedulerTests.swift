import Foundation
import Logging
import Testing
import WorkflowCore
import WorkflowEngine
import WorkflowStore
import WorkflowTesting

@Suite struct SchedulePlannerTests {
    let utc = TimeZone(identifier: "UTC")!
    let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!

    func job(_ id: String, _ schedule: String) throws -> Job {
        Job(
            id: JobID(id)!, schedules: [try Schedule(parsing: schedule)],
            steps: [StepDefinition(id: StepID("s")!, run: "true")])
    }

    @Test func firesWhatIsDueAndSleepsUntilTheNextFireTime() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "*/10 * * * * *"), try job("b", "0 * * * *")], now: t0)
        #expect(planner.nextWake == t0 + 10)
        #expect(planner.takeDue(now: t0 + 9).isEmpty)
        let due = planner.takeDue(now: t0 + 10)
        #expect(due.map(\.job) == [JobID("a")!])
        #expect(due.first?.fireTime == t0 + 10)
        #expect(planner.nextWake == t0 + 20)
        #expect(planner.nextFire(of: JobID("b")!) == t0 + 3600)
    }

    @Test func missedFireTimesCollapseIntoOne() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "*/10 * * * * *")], now: t0)
        #expect(planner.takeDue(now: t0 + 95).count == 1)
        #expect(planner.nextWake == t0 + 100)
    }

    @Test func anUnchangedJobKeepsItsNextFireAcrossReloadsAndAChangedOneIsReplanned() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "*/10 * * * * *")], now: t0)
        planner.update(
            jobs: [try job("a", "*/10 * * * * *"), try job("b", "*/7 * * * * *")], now: t0 + 9)
        #expect(planner.nextFire(of: JobID("a")!) == t0 + 10)
        #expect(planner.nextFire(of: JobID("b")!) == t0 + 14)
        planner.update(jobs: [try job("a", "*/3 * * * * *")], now: t0 + 9)
        #expect(planner.nextFire(of: JobID("a")!) == t0 + 12)
        #expect(planner.nextFire(of: JobID("b")!) == nil)
    }
}

@Suite struct SchedulerTests {
    /// With a manual clock: the scheduler sleeps until the fire time (no polling tick), runs the
    /// job when the clock gets there, records it, and drains on shutdown.
    @Test func sleepsUntilTheFireTimeThenRunsTheJobDurably() async throws {
        let dir = try TemporaryDirectory("sched")
        try dir.write("jobs/tick.yaml", "schedule: '0 * * * * *'\nsteps:\n  - {id: a, run: 'echo ran'}\n")
        let t0 = Timestamp.parse("2026-01-01T00:00:30Z")!
        let clock = ManualClock(now: t0)
        let reporter = RecordingReporter()
        let state = StateDirectory(root: dir.file("state"))
        let scheduler = Scheduler(
            configuration: .init(jobsDirectory: dir.file("jobs"), state: state, hostZone: .gmt, daemonEnvironment: [:]),
            clock: clock, executor: ShellExecutor(), reporter: reporter, logger: CapturedLog().logger)
        let running = Task { try await scheduler.run() }
        #expect(await eventually { clock.sleeperCount == 1 })
        #expect(reporter.recorded.first?.hasPrefix("READY=1 STATUS=1 jobs, 0 running, next: tick in 30s") == true)
        let store = RunStore(directory: state)
        clock.advance(to: t0 + 29)
        try await Task.sleep(for: .milliseconds(50))
        #expect(store.runIDs(JobID("tick")!).isEmpty, "nothing runs before the fire time")
        clock.advance(to: t0 + 30)
        #expect(await eventually { (try? store.loadLatest(JobID("tick")!))?.last?.state == .succeeded })
        let run = try #require(try store.loadLatest(JobID("tick")!).last)
        #expect(try store.loadRun(JobID("tick")!, run.id).scheduledFor == t0 + 30)
        scheduler.shutdown()
        try await running.value
        #expect(reporter.recorded.contains { $0.hasPrefix("STOPPING=1") })
    }

    @Test func recoversARunLeftRunningByADeadDaemon() async throws {
        let dir = try TemporaryDirectory("recover")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        let state = StateDirectory(root: dir.file("state"))
        let store = RunStore(directory: state)
        let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!
        let job = Job(id: JobID("old")!, steps: [StepDefinition(id: StepID("s")!, run: "sleep 100")])
        var snapshot = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 1), trigger: .schedule, scheduledFor: t0, createdAt: t0)
        (snapshot, _) = try RunMachine.apply(snapshot, .start(at: t0))
        try store.save(snapshot.run)
        try store.saveSpec(job, run: snapshot.run.id)
        try store.save(snapshot.steps[0])

        let scheduler = Scheduler(
            configuration: .init(jobsDirectory: dir.file("jobs"), state: state, hostZone: .gmt, daemonEnvironment: [:]),
            clock: ManualClock(now: t0 + 60), executor: ShellExecutor(), reporter: RecordingReporter(),
            logger: CapturedLog().logger)
        scheduler.shutdown()
        try await scheduler.run()
        let recovered = try store.loadSnapshot(job.id, snapshot.run.id)
        #expect(recovered.run.state == .failed)
        #expect(recovered.steps[0].attempts[0].outcome == .interrupted)
        #expect(try store.loadLatest(job.id).active == nil)
    }
}
