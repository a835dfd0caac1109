import Foundation
import JobFormat
import RunModel
import RuntimeSupport
import Schedules
import Testing
import WorkflowStore
import WorkflowTesting

@testable import WorkflowEngine

/// The scheduler's decisions, without a loop, a clock or a disk: events in, actions out.
@Suite struct SchedulerStateTests {
    let t0 = Timestamp.parse("2026-01-01T00:00:30Z")!
    let tick = JobID("tick")!

    /// A state with the jobs of `files` (name → YAML) loaded, as start-up leaves it.
    func state(_ files: [String: String], active: [JobID: SchedulerState.ActiveRun] = [:]) throws -> SchedulerState {
        let dir = try TemporaryDirectory("scheduler-state")
        for (name, text) in files { try dir.write("jobs/\(name)", text) }
        var catalog = JobCatalog(directory: dir.file("jobs"))
        _ = catalog.reload()
        var planner = SchedulePlanner(hostZone: .gmt, jitter: { _ in 0 })
        planner.update(jobs: catalog.entries.values.compactMap(\.job), now: t0)
        return SchedulerState(
            jobsDirectory: dir.file("jobs"), retention: RetentionPolicy(daemon: Scheduler.defaultRetention),
            watchdogHalf: nil, catalog: catalog, planner: planner, marks: MarkBook(), runs: [:], active: active)
    }

    let everyMinute = ["tick.yaml": "schedule: '0 * * * * *'\nsteps:\n  - {id: a, run: 'true'}\n"]

    func starts(_ actions: [SchedulerAction]) -> [Firing] {
        actions.compactMap { if case .start(let firing, _, _, _) = $0 { firing } else { nil } }
    }

    func sleep(_ actions: [SchedulerAction]) -> Date? {
        actions.compactMap { if case .sleep(let until) = $0 { until } else { nil } }.last
    }

    func saved(_ actions: [SchedulerAction]) -> [ScheduleMark.Decision] {
        actions.flatMap { action -> [ScheduleMark.Decision] in
            guard case .saveMarks(let updates) = action else { return [] }
            return updates.flatMap(\.decisions)
        }
    }

    func replies(_ actions: [SchedulerAction]) {
        for action in actions { if case .reply(let reply) = action { reply() } }
    }

    @Test func aFireTimeIsDecidedHalfASecondAheadStartedMarkedAndSleptPast() throws {
        var state = try state(everyMinute)
        #expect(starts(state.handle(.tick, now: t0)).isEmpty, "nothing due 30 s ahead")
        #expect(sleep(state.handle(.settle, now: t0)) == t0 + 29.5, "the loop wakes half a second early")
        let due = state.handle(.tick, now: t0 + 29.5)
        let firing = try #require(starts(due).first)
        #expect(firing.fireTime == t0 + 30 && firing.startAt == t0 + 30 && firing.trigger == .schedule)
        let run = RunID.make(at: t0 + 30, suffix: 1)
        #expect(state.handle(.started(firing, .success(run), reply: nil), now: t0 + 29.5).isEmpty)
        #expect(state.active[tick]?.run == run)
        let settled = state.handle(.settle, now: t0 + 29.5)
        #expect(saved(settled).map(\.outcome) == [.started])
        #expect(saved(settled).first?.run == run)
        #expect(sleep(settled) == t0 + 90, "while a run of the job is active, its next fire time is decided on the dot")
        #expect(saved(state.handle(.settle, now: t0 + 29.6)).isEmpty, "a mark is written once")
    }

    @Test func aStartThatFailedIsMarkedSkippedWithItsReason() throws {
        var state = try state(everyMinute)
        let firing = try #require(starts(state.handle(.tick, now: t0 + 29.5)).first)
        let problem = StartProblem(reason: "the job lock is held by another process")
        let actions = state.handle(.started(firing, .failure(problem), reply: nil), now: t0 + 29.5)
        #expect(
            actions.contains {
                if case .log(.warning, let message, _, _, _) = $0 { message.contains("lock") } else { false }
            })
        #expect(state.active.isEmpty)
        let decision = try #require(saved(state.handle(.settle, now: t0 + 29.5)).first)
        #expect(decision.outcome == .skipped)
        #expect(decision.reason == problem.reason)
    }

    /// A queued fire time whose start fails (here: the lock) does not leave the queue waiting for
    /// a run's end that will not come: the next queued one is tried at once, and once the queue is
    /// empty the job's fire times start as they come.
    @Test func aQueuedFireTimeThatCannotStartLetsTheNextOneTry() throws {
        let job = "schedule: '0 * * * * *'\nconcurrency: queue\nsteps:\n  - {id: a, run: 'true'}\n"
        let old = RunID.make(at: t0, suffix: 1)
        var state = try state(["tick.yaml": job], active: [tick: .init(run: old)])
        _ = state.handle(.tick, now: t0 + 30)
        _ = state.handle(.tick, now: t0 + 90)
        #expect(state.planner.queuedCount == 2, "two fire times behind the active run")
        let snapshot = RunSnapshot(
            job: try #require(state.catalog.entries[tick]?.job), id: old, trigger: .schedule, scheduledFor: t0,
            createdAt: t0)
        let first = try #require(starts(state.handle(.runEnded(tick, snapshot, latest: nil), now: t0 + 91)).first)
        #expect(first.fireTime == t0 + 30)
        let problem = StartProblem(reason: "the job lock is held by another process")
        let next = starts(state.handle(.started(first, .failure(problem), reply: nil), now: t0 + 91))
        #expect(next.map(\.fireTime) == [t0 + 90], "the next queued fire time is tried at once")
        #expect(starts(state.handle(.started(next[0], .failure(problem), reply: nil), now: t0 + 91)).isEmpty)
        #expect(state.planner.queuedCount == 0)
        #expect(saved(state.handle(.settle, now: t0 + 91)).map(\.outcome).suffix(2) == [.skipped, .skipped])
        #expect(
            starts(state.handle(.tick, now: t0 + 150)).map(\.fireTime) == [t0 + 150], "the queue no longer holds it")
    }

    @Test func cancelPreviousCancelsTheActiveRunAndStartsTheFireTimeWhenItHasEnded() throws {
        let job = "schedule: '0 * * * * *'\nconcurrency: cancel-previous\nsteps:\n  - {id: a, run: 'true'}\n"
        let old = RunID.make(at: t0, suffix: 1)
        var state = try state(["tick.yaml": job], active: [tick: .init(run: old)])
        #expect(state.handle(.tick, now: t0 + 29.5).allSatisfy { if case .cancel = $0 { false } else { true } })
        let actions = state.handle(.tick, now: t0 + 30)
        #expect(starts(actions).isEmpty)
        #expect(
            actions.contains { if case .cancel(tick, let reason) = $0 { reason.contains("superseded") } else { false } }
        )
        #expect(saved(state.handle(.settle, now: t0 + 30)).map(\.outcome) == [.replaced])
        let snapshot = RunSnapshot(
            job: try #require(state.catalog.entries[tick]?.job), id: old, trigger: .schedule, scheduledFor: t0,
            createdAt: t0)
        let ended = state.handle(.runEnded(tick, snapshot, latest: nil), now: t0 + 31)
        #expect(ended.contains { if case .release(tick) = $0 { true } else { false } })
        #expect(starts(ended).map(\.fireTime) == [t0 + 30], "the replacing fire time starts once the old run is gone")
    }

    @Test func aManualRunOfAJobThatIsNotLoadedIsRefusedNamingTheJobsThereAre() throws {
        var state = try state(everyMinute)
        let answer = Locked<Result<RunID, ManualRunRefusal>?>(nil)
        let actions = state.handle(
            .runNow(JobID("nope")!, params: [:], done: { result in answer.withLock { $0 = result } }), now: t0)
        #expect(starts(actions).isEmpty)
        replies(actions)
        guard case .failure(let refusal)? = answer.withLock({ $0 }) else {
            Issue.record("no refusal")
            return
        }
        #expect(refusal.code == .noSuchJob)
        #expect(refusal.message.contains("jobs: tick"), "\(refusal.message)")
    }

    @Test func aManualRunStartsNowAndIsNotMarked() throws {
        var state = try state(everyMinute)
        let actions = state.handle(.runNow(tick, params: [:], done: { _ in }), now: t0 + 5)
        let firing = try #require(starts(actions).first)
        #expect(firing.trigger == .manual && firing.fireTime == t0 + 5 && firing.startAt == nil)
        let run = RunID.make(at: t0 + 5, suffix: 2)
        _ = state.handle(.started(firing, .success(run), reply: { _ in }), now: t0 + 5)
        #expect(state.active[tick]?.run == run)
        #expect(saved(state.handle(.settle, now: t0 + 5)).isEmpty, "schedule.json holds the planner's decisions")
    }

    @Test func shuttingDownLetsGoOfTheRunsRefusesNewWorkAndStopsWhenTheLastHasEnded() throws {
        let run = RunID.make(at: t0, suffix: 1)
        var state = try state(everyMinute, active: [tick: .init(run: run)])
        let stopping = state.handle(.shutdown, now: t0)
        #expect(stopping.contains { if case .detachAll = $0 { true } else { false } })
        #expect(state.handle(.tick, now: t0 + 60).isEmpty, "no fire time starts while stopping")
        let waiting = state.handle(.settle, now: t0 + 60)
        #expect(
            waiting.contains { if case .report(.status("stopping: 1 runs to finish")) = $0 { true } else { false } })
        #expect(sleep(waiting) == nil)
        let refused = Locked<String?>(nil)
        replies(
            state.handle(
                .runNow(
                    tick, params: [:], done: { if case .failure(let r) = $0 { refused.withLock { $0 = r.message } } }),
                now: t0 + 60))
        #expect(refused.withLock { $0 } == "wfd is stopping")
        let snapshot = RunSnapshot(
            job: try #require(state.catalog.entries[tick]?.job), id: run, trigger: .schedule, scheduledFor: t0,
            createdAt: t0)
        _ = state.handle(.runEnded(tick, snapshot, latest: nil), now: t0 + 61)
        let last = state.handle(.settle, now: t0 + 61)
        #expect(last.contains { if case .stop = $0 { true } else { false } })
        #expect(state.stopped)
    }

    @Test func aRetryOfAJobWithAnActiveRunIsRefusedAsBusy() throws {
        let run = RunID.make(at: t0, suffix: 1)
        var state = try state(everyMinute, active: [tick: .init(run: run)])
        let answer = Locked<ManualRunRefusal.Code?>(nil)
        let order = RetryOrder(
            job: tick, run: RunID.make(at: t0 - 60, suffix: 3), request: RetryRequest(), outputs: [:], by: "test",
            done: { if case .failure(let refusal) = $0 { answer.withLock { $0 = refusal.code } } })
        let actions = state.handle(.retryRun(order), now: t0)
        #expect(!actions.contains { if case .retry = $0 { true } else { false } })
        replies(actions)
        #expect(answer.withLock { $0 } == .busy)
    }

    @Test func theClockBeingSetReplansAndARetentionPassIsDueHourly() throws {
        var state = try state(everyMinute)
        let first = state.handle(.tick, now: t0)
        #expect(first.contains { if case .findRetentionDue = $0 { true } else { false } }, "right after start-up")
        #expect(
            !state.handle(.tick, now: t0 + 1800).contains { if case .findRetentionDue = $0 { true } else { false } })
        #expect(state.handle(.tick, now: t0 + 3600).contains { if case .findRetentionDue = $0 { true } else { false } })
        // The clock jumps a day ahead: the planner plans from there (catch-up: latest).
        _ = state.handle(.clockChanged, now: t0 + 86_400)
        let caughtUp = starts(state.handle(.tick, now: t0 + 86_400))
        #expect(caughtUp.count == 1)
        #expect(caughtUp.first?.trigger == .catchup)
    }
}
