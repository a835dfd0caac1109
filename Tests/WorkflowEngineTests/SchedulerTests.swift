import Foundation
import JobFormat
import Logging
import RunModel
import Schedules
import Testing
import WorkflowEngine
import WorkflowStore
import WorkflowTesting

@Suite struct SchedulePlannerTests {
    let utc = TimeZone(identifier: "UTC")!
    let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!

    func job(
        _ id: String, _ schedule: String, catchup: CatchupPolicy = .latest, concurrency: ConcurrencyPolicy = .skip,
        timezone: String? = nil, jitter: TimeSpan? = nil
    ) throws -> Job {
        var job = Job(
            id: JobID(id)!, schedules: [try Schedule(parsing: schedule)], timezone: timezone,
            steps: [StepDefinition(id: StepID("s")!, run: "true")])
        job.catchup = catchup
        job.concurrency = concurrency
        job.jitter = jitter
        return job
    }

    func starts(_ decisions: [FiringDecision]) -> [Date] {
        decisions.compactMap { if case .start(let firing) = $0 { firing.fireTime } else { nil } }
    }

    @Test func firesWhatIsDueAndSleepsUntilTheNextFireTime() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "*/10 * * * * *"), try job("b", "0 * * * *")], now: t0)
        #expect(planner.nextWake == t0 + 10)
        #expect(planner.takeDue(now: t0 + 9, active: []).isEmpty)
        let due = planner.takeDue(now: t0 + 10, active: [])
        #expect(due == [.start(Firing(job: JobID("a")!, fireTime: t0 + 10, trigger: .schedule, startAt: t0 + 10))])
        #expect(planner.nextWake == t0 + 20)
        #expect(planner.nextFire(of: JobID("b")!) == t0 + 3600)
    }

    @Test func anUnchangedJobKeepsItsNextFireAcrossReloadsAndAChangedOneIsReplanned() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "*/10 * * * * *")], now: t0)
        planner.update(jobs: [try job("a", "*/10 * * * * *"), try job("b", "*/7 * * * * *")], now: t0 + 9)
        #expect(planner.nextFire(of: JobID("a")!) == t0 + 10)
        #expect(planner.nextFire(of: JobID("b")!) == t0 + 14)
        planner.update(jobs: [try job("a", "*/3 * * * * *")], now: t0 + 9)
        #expect(planner.nextFire(of: JobID("a")!) == t0 + 12)
        #expect(planner.nextFire(of: JobID("b")!) == nil)
    }

    /// wfd was down from 00:00 to 00:10 with a job due every minute: the mark says 00:00 was the
    /// last fire time handled, so 00:01 … 00:10 are missed.
    @Test func catchupLatestRunsTheNewestMissedFireTimeOnce() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "* * * * *")], now: t0 + 630, marks: [JobID("a")!: t0])
        let decisions = planner.takeDue(now: t0 + 630, active: [])
        #expect(starts(decisions) == [t0 + 600])
        #expect(decisions.first { if case .start = $0 { true } else { false } }?.firing.trigger == .catchup)
        #expect(decisions.filter { if case .skip = $0 { true } else { false } }.count == 9)
        #expect(planner.nextWake == t0 + 660, "no burst: the next is the next minute")
    }

    @Test func catchupNoneSkipsEveryMissedFireTime() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "* * * * *", catchup: .none)], now: t0 + 630, marks: [JobID("a")!: t0])
        let decisions = planner.takeDue(now: t0 + 630, active: [])
        #expect(starts(decisions).isEmpty)
        #expect(decisions.count == 10)
        #expect(
            decisions.allSatisfy {
                if case .skip(_, let reason) = $0 { reason.contains("catchup is none") } else { false }
            })
    }

    @Test func catchupAllReplaysEveryMissedFireTimeOneAfterAnotherUpToTheCap() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "* * * * *", catchup: .all)], now: t0 + 630, marks: [JobID("a")!: t0])
        let decisions = planner.takeDue(now: t0 + 630, active: [])
        #expect(starts(decisions) == [t0 + 60])
        #expect(planner.queued(JobID("a")!).map(\.fireTime) == (2...10).map { t0 + Double($0 * 60) })
        #expect(planner.runEnded(JobID("a")!)?.fireTime == t0 + 120)

        var capped = SchedulePlanner(hostZone: utc)
        capped.update(jobs: [try job("b", "* * * * * *", catchup: .all)], now: t0 + 500, marks: [JobID("b")!: t0])
        let many = capped.takeDue(now: t0 + 500, active: [])
        #expect(many.filter { if case .skip(_, let reason) = $0 { reason.contains("cap") } else { false } }.count >= 1)
        #expect(capped.queued(JobID("b")!).count == SchedulePlanner.catchupCap - 1)
    }

    @Test func overlapFollowsTheConcurrencyPolicy() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(
            jobs: [
                try job("skip", "* * * * * *"), try job("queue", "* * * * * *", concurrency: .queue),
                try job("cancel", "* * * * * *", concurrency: .cancelPrevious),
            ], now: t0)
        let active: Set<JobID> = [JobID("skip")!, JobID("queue")!, JobID("cancel")!]
        let decisions = planner.takeDue(now: t0 + 1, active: active)
        let firing = { (id: String) in
            Firing(job: JobID(id)!, fireTime: self.t0 + 1, trigger: .schedule, startAt: self.t0 + 1)
        }
        #expect(decisions.contains(.skip(firing("skip"), reason: "the previous run is still running")))
        #expect(decisions.contains(.queue(firing("queue"))))
        #expect(decisions.contains(.replace(firing("cancel"))))
        #expect(planner.runEnded(JobID("cancel")!) == firing("cancel"), "starts once the cancelled run has stopped")
        #expect(planner.runEnded(JobID("skip")!) == nil)
        // The queue is bounded.
        for second in 2...20 { _ = planner.takeDue(now: t0 + Double(second), active: active) }
        #expect(planner.queued(JobID("queue")!).count == SchedulePlanner.queueCap)
    }

    @Test func jitterDelaysTheStartButNotTheFireTime() throws {
        var planner = SchedulePlanner(hostZone: utc, jitter: { limit in limit / 2 })
        planner.update(jobs: [try job("a", "0 * * * *", jitter: TimeSpan(.seconds(30)))], now: t0)
        #expect(planner.nextWake == t0 + 3615)
        #expect(planner.takeDue(now: t0 + 3610, active: []).isEmpty)
        #expect(
            planner.takeDue(now: t0 + 3615, active: []) == [
                .start(Firing(job: JobID("a")!, fireTime: t0 + 3600, trigger: .schedule, startAt: t0 + 3615))
            ])
    }

    /// Runs are decided half a second early so their records are durable before the fire time,
    /// except for a job whose run is still active: its overlap is decided at the fire time.
    @Test func decisionsAreMadeAheadSoRunsStartOnTheDot() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "*/10 * * * * *"), try job("b", "*/10 * * * * *")], now: t0)
        #expect(planner.nextWake(lead: 0.5, active: []) == t0 + 9.5)
        let early = planner.takeDue(now: t0 + 9.6, active: [JobID("b")!], lead: 0.5)
        #expect(early == [.start(Firing(job: JobID("a")!, fireTime: t0 + 10, trigger: .schedule, startAt: t0 + 10))])
        #expect(planner.nextWake(lead: 0.5, active: [JobID("b")!]) == t0 + 10, "b waits for its real time")
        let onTime = planner.takeDue(now: t0 + 10, active: [JobID("b")!], lead: 0.5)
        #expect(onTime.map(\.firing.job) == [JobID("b")!])
    }

    /// A daily 02:30 job in New York across the spring-forward night: it fires once, at 03:00 EDT.
    @Test func dstGapFiresOnceWhenTheGapEnds() throws {
        var planner = SchedulePlanner(hostZone: utc)
        let start = Timestamp.parse("2024-03-09T12:00:00Z")!
        planner.update(jobs: [try job("a", "30 2 * * *", timezone: "America/New_York")], now: start)
        #expect(planner.nextWake == Timestamp.parse("2024-03-10T07:00:00Z"))
        let decisions = planner.takeDue(now: Timestamp.parse("2024-03-10T07:00:00Z")!, active: [])
        #expect(starts(decisions) == [Timestamp.parse("2024-03-10T07:00:00Z")!])
        #expect(planner.nextWake == Timestamp.parse("2024-03-11T06:30:00Z"))
    }

    @Test func clockJumpsAreCaughtUpOrReplannedNotBurstOrQuiet() throws {
        var planner = SchedulePlanner(hostZone: utc)
        planner.update(jobs: [try job("a", "*/10 * * * *")], now: t0)
        // Forward by an hour: one catch-up run, not six.
        planner.clockChanged(now: t0 + 3605)
        let decisions = planner.takeDue(now: t0 + 3605, active: [])
        #expect(starts(decisions) == [t0 + 3600])
        // Back by a day: the job fires at the next fire time after the new now, not in a day.
        planner.clockChanged(now: t0 - 86400)
        #expect(planner.nextWake == t0 - 86400 + 600)
    }

    /// 10,000 timers at once: every job fires at its second of every minute, exactly once per
    /// fire time, none skipped or late, and the planner always wakes for the next second. (Two
    /// simulated minutes: the test holds one of the concurrency pool's two threads meanwhile.)
    @Test func tenThousandTimersEachFireOnTimeExactlyOnce() throws {
        var planner = SchedulePlanner(hostZone: utc)
        let jobs = try (0..<10_000).map { try job("j\($0)", "\($0 % 60) * * * * *") }
        planner.update(jobs: jobs, now: t0)
        var fired: [JobID: [Date]] = [:]
        for second in 1...120 {
            let now = t0 + Double(second)
            #expect(planner.nextWake == now, "second \(second)")
            for decision in planner.takeDue(now: now, active: []) {
                guard case .start(let firing) = decision else {
                    Issue.record("not started: \(decision)")
                    continue
                }
                #expect(firing.fireTime == now && firing.startAt == now)
                fired[firing.job, default: []].append(firing.fireTime)
            }
        }
        #expect(fired.count == 10_000)
        for (index, job) in jobs.enumerated() {
            let offset = index % 60 == 0 ? 60 : index % 60
            let expected = (0..<2).map { t0 + Double($0 * 60 + offset) }
            #expect(fired[job.id] == expected, "\(job.id)")
        }
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
        let turns = SchedulerTurns()
        var configuration = Scheduler.Configuration(
            jobsDirectory: dir.file("jobs"), state: state, hostZone: .gmt, daemonEnvironment: [:])
        configuration.observeTurns = turns.observer
        let scheduler = Scheduler(
            configuration: configuration, clock: clock, executor: ShellExecutor(), reporter: reporter,
            logger: CapturedLog().logger)
        let running = Task { try await scheduler.run() }
        let tick = JobID("tick")!
        let first = await turns.until(tick) { $0.nextFire != nil }
        #expect(first?.nextFire == t0 + 30)
        #expect(reporter.recorded.first?.hasPrefix("READY=1 STATUS=1 jobs, 0 running, next: tick in 30s") == true)
        #expect((try? RunStore(directory: state).loadScheduleMark(tick)) == nil, "nothing handled yet")
        let store = RunStore(directory: state)
        clock.advance(to: t0 + 29)
        await clock.waitForSleepers()  // the loop's one timer still sleeps: 29 s is before its wake (29.5 s)
        #expect(store.runIDs(tick).isEmpty, "nothing runs before the fire time")
        clock.advance(to: t0 + 30)
        let ran = await turns.until(tick) { $0.runs.last?.state == .succeeded }
        let run = try #require(ran?.runs.last)
        #expect(try store.loadLatest(tick).last?.id == run.id, "what status shows is on disk")
        #expect(try store.loadRun(tick, run.id).scheduledFor == t0 + 30)
        let mark = try store.loadScheduleMark(tick)
        #expect(mark.lastFireTime == t0 + 30)
        #expect(mark.recent.last?.outcome == .started)
        #expect(mark.recent.last?.run == run.id)
        clock.advance(to: t0 + 90)
        _ = await turns.until(tick) { $0.runs.last.map { $0.id != run.id && $0.state.isTerminal } ?? false }
        let later = try store.loadScheduleMark(tick)
        #expect(later.recent.map(\.fireTime) == [t0 + 30, t0 + 90], "decisions add up in the file")
        #expect(later.lastFireTime == t0 + 90)
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

    /// The job index (`jobs/<job>/job.json`) is written only when what it says changes: a restart
    /// with 10,000 unchanged job files must not rewrite (and fsync) 10,000 files.
    @Test func aRestartWithUnchangedJobsRewritesNoJobIndex() async throws {
        let dir = try TemporaryDirectory("restart")
        try dir.write("jobs/a.yaml", "schedule: '@daily'\nsteps: [{id: s, run: 'true'}]\n")
        let state = StateDirectory(root: dir.file("state"))
        func startAndStop() async throws -> (inode: UInt64, info: JobInfo) {
            let scheduler = Scheduler(
                configuration: .init(
                    jobsDirectory: dir.file("jobs"), state: state, hostZone: .gmt, daemonEnvironment: [:]),
                clock: ManualClock(now: Timestamp.parse("2026-01-01T00:00:30Z")!), executor: ShellExecutor(),
                reporter: RecordingReporter(), logger: CapturedLog().logger)
            scheduler.shutdown()
            try await scheduler.run()
            var info = stat()
            stat(state.jobInfo(JobID("a")!), &info)
            return (UInt64(info.st_ino), try RunStore(directory: state).loadJobInfo(JobID("a")!))
        }
        let first = try await startAndStop()
        #expect(first.info.schedules == ["@daily"])
        let second = try await startAndStop()
        #expect(second.inode == first.inode, "an unchanged job's index is not written again")
        #expect(second.info == first.info)
        try dir.write("jobs/a.yaml", "schedule: '@hourly'\nsteps: [{id: s, run: 'true'}]\n")
        let third = try await startAndStop()
        #expect(third.inode != first.inode)
        #expect(third.info.schedules == ["@hourly"])
        try FileManager.default.removeItem(atPath: state.jobInfo(JobID("a")!))
        let fourth = try await startAndStop()
        #expect(fourth.info.schedules == ["@hourly"], "a deleted index is written again")
        // Damaged (one byte of a value changed, so its checksum no longer matches): written again.
        let path = state.jobInfo(JobID("a")!)
        let damaged = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(
            of: "@hourly", with: "@hourlx")
        try damaged.write(toFile: path, atomically: false, encoding: .utf8)
        let fifth = try await startAndStop()
        #expect(fifth.inode != fourth.inode)
        #expect(fifth.info == fourth.info)
        // Equal but for `loaded_at`, which wfd keeps from the file.
        let sixth = try await startAndStop()
        #expect(sixth.inode == fifth.inode && sixth.info.loadedAt == fifth.info.loadedAt)
    }
}
