import Foundation
import JobFormat
import Logging
import RunModel
import Schedules
import WorkflowStore

/// What the scheduler knows between events, and every decision it takes: which fire times start,
/// queue, skip or replace a run, what a command is answered, when to wake, when to stop. Pure:
/// ``handle(_:now:)`` takes an event and the time and returns the actions to perform, which the
/// loop (``Scheduler``) carries out with ``SchedulerEffects``. What an action finds out (a run
/// started or not, the jobs a reload read) comes back as an event of its own.
struct SchedulerState {
    /// A run in progress (its handle and job lock are the effects').
    struct ActiveRun: Sendable {
        let run: RunID
        /// For a run decided ahead of its fire time: when its first steps are launched.
        var startsAt: Date?
    }

    let jobsDirectory: String
    let retention: RetentionPolicy
    /// Half the supervisor's watchdog interval, when it has one: the longest the loop sleeps.
    let watchdogHalf: TimeInterval?
    private(set) var catalog: JobCatalog
    private(set) var planner: SchedulePlanner
    private(set) var marks: MarkBook
    /// Each job's newest ended run and its recent success counts, for status.
    private(set) var runs: [JobID: JobRuns]
    private(set) var active: [JobID: ActiveRun]
    private(set) var stopping = false
    /// Nothing is active any more after a shutdown: the loop ends.
    private(set) var stopped = false
    private var nextRetention = Date.distantPast  // the first pass right after start-up

    /// How far ahead of its fire time a run is decided and written, so it starts on the dot.
    static let lead: TimeInterval = 0.5
    /// How often retention looks at every job.
    static let retentionInterval: TimeInterval = 3600

    init(
        jobsDirectory: String, retention: RetentionPolicy, watchdogHalf: TimeInterval?, catalog: JobCatalog,
        planner: SchedulePlanner, marks: MarkBook, runs: [JobID: JobRuns], active: [JobID: ActiveRun]
    ) {
        self.jobsDirectory = jobsDirectory
        self.retention = retention
        self.watchdogHalf = watchdogHalf
        self.catalog = catalog
        self.planner = planner
        self.marks = marks
        self.runs = runs
        self.active = active
    }

    mutating func handle(_ event: SchedulerEvent, now: Date) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        switch event {
        case .wake:
            break
        case .tick where !stopping:
            if now >= nextRetention || now < nextRetention.addingTimeInterval(-2 * Self.retentionInterval) {
                actions.append(.findRetentionDue(retention.limits(of: catalog)))
                nextRetention = now.addingTimeInterval(Self.retentionInterval)
            }
            for decision in planner.takeDue(now: now, active: Set(active.keys), lead: Self.lead) {
                actions += decide(decision, now: now)
            }
        case .tick:
            break
        case .settle:
            actions += settle(now: now)
        case .reload(let announce, let touched, let done) where !stopping:
            actions.append(.loadCatalog(touched: touched, announce: announce, done: done))
        case .reload(_, _, let done):
            if let done { actions.append(.reply { done(.refused(reason: "not reloaded: wfd is stopping")) }) }
        case .loaded(let catalog, let changes, let announce, let done):
            actions += loaded(catalog, changes: changes, announce: announce, done: done, now: now)
        case .shutdown where !stopping:
            stopping = true
            actions.append(.report(.stopping(status: "stopping: \(active.count) runs to finish")))
            actions.append(.log(.notice, "stopping: \(active.count) active runs to cancel or leave to their units"))
            // A run whose steps go on in units is left for the next wfd; others are cancelled.
            actions.append(.detachAll)
        case .shutdown:
            break
        case .runEnded(let job, let final, let latest):
            active[job] = nil
            actions.append(.release(job))
            if let latest { runs[job] = latest }
            let (keepRuns, keepDays) = retention.limits(final.spec.retention)
            actions.append(.enforceRetention(job, keepRuns: keepRuns, keepDays: keepDays, force: false))
            if !stopping, let queued = planner.runEnded(job) { actions += decide(.start(queued), now: now) }
            let followers = catalog.followers(of: job, endedAs: final.run.state.rawValue)
            if !followers.isEmpty { actions.append(.follow(final, followers: followers)) }
        case .clockChanged:
            actions.append(.log(.notice, "the wall clock was set: planning fire times anew"))
            planner.clockChanged(now: now)
        case .cancelRun(let run, let reason, let done):
            guard let job = job(running: run) else {
                actions.append(.reply { done(false) })
                break
            }
            actions.append(.log(.notice, "cancelling run \(run): \(reason)", job: job))
            actions.append(.cancel(job, reason: reason))
            actions.append(.reply { done(true) })
        case .retentionDue(let jobs) where !stopping:
            for job in jobs where active[job] == nil {
                let (keepRuns, keepDays) = retention.limits(catalog.entries[job]?.job?.retention)
                actions.append(.enforceRetention(job, keepRuns: keepRuns, keepDays: keepDays, force: true))
            }
        case .retentionDue:
            break
        case .snapshot(let done):
            let parts = SchedulerSnapshot.Parts(
                planner: planner, runs: runs, notable: marks.notable, active: active.mapValues(\.run))
            actions.append(.snapshot(done, parts))
        case .decide(let run, let request):
            guard let job = job(running: run) else {
                let refusal = "run \(run) is not active: only a run that waits can be decided on (see wfctl pending)"
                actions.append(.reply { request.reply(refusal) })
                break
            }
            actions.append(.decide(job, request))
        case .retryRun(let order):
            if stopping {
                actions.append(.reply { order.done(.failure(.init(code: .failed, message: "wfd is stopping"))) })
            } else if let running = active[order.job] {
                let message = "run \(running.run) of \(order.job) is active: retry once it has ended"
                actions.append(.reply { order.done(.failure(.init(code: .busy, message: message))) })
            } else {
                actions.append(.retry(order))
            }
        case .retried(let job, let run):
            active[job] = ActiveRun(run: run)
        case .triggered(let pending, let reply):
            actions += triggered(pending, reply: reply, now: now)
        case .definition(let id, let done):
            let found: Result<Job, ManualRunRefusal> =
                catalog.entries[id]?.job.map { .success($0) }
                ?? .failure(.init(code: .noSuchJob, message: notLoaded(id)))
            actions.append(.reply { done(found) })
        case .runNow(let id, let params, let done):
            actions += runNow(id, params: params, done: done, now: now)
        case .started(let firing, let result, let reply):
            actions += started(firing, result, reply: reply, now: now)
        }
        return actions
    }

    /// The active run's job.
    private func job(running run: RunID) -> JobID? { active.first { $0.value.run == run }?.key }

    /// The end of every turn: what moved is written, the supervisor hears the status, and the
    /// loop sleeps until the next fire time, retention pass or watchdog ping (or stops).
    private mutating func settle(now: Date) -> [SchedulerAction] {
        var actions: [SchedulerAction] = []
        if stopping {
            if active.isEmpty {
                stopped = true
                return [.stop]
            }
            actions.append(.report(.status("stopping: \(active.count) runs to finish")))
        } else {
            // Recorded once every run has started, all at once, so no start waits for a mark.
            let updates = marks.takeUnsaved()
            if !updates.isEmpty { actions.append(.saveMarks(updates)) }
            actions.append(.report(.status(statusLine(now: now))))
            var deadline = min(
                planner.nextWake(lead: Self.lead, active: Set(active.keys)) ?? nextRetention, nextRetention)
            if let half = watchdogHalf { deadline = min(deadline, now.addingTimeInterval(half)) }
            actions.append(.sleep(until: deadline))
        }
        if watchdogHalf != nil { actions.append(.report(.watchdog)) }
        return actions
    }

    /// A fire time the planner decided about: the run to start, or the mark of why not.
    private mutating func decide(_ decision: FiringDecision, now: Date) -> [SchedulerAction] {
        let firing = decision.firing
        let when = Timestamp.rfc3339(firing.fireTime)
        switch decision {
        case .start:
            switch startable(firing) {
            case .success(let (job, params)): return [.start(firing, job, params: params, recorded: nil)]
            case .failure(let problem): return started(firing, .failure(problem), reply: nil, now: now)
            }
        case .skip(_, let why):
            record(firing, .skipped, reason: why, now: now)
            return [.log(.warning, "skipping fire time \(when): \(why)", firing: firing)]
        case .queue:
            record(firing, .queued, now: now)
            return [.log(.info, "queued fire time \(when) behind the active run", firing: firing)]
        case .replace:
            let why = "cancels the active run (concurrency: cancel-previous)"
            record(firing, .replaced, reason: why, now: now)
            return [
                .log(.notice, "fire time \(when) \(why)", firing: firing),
                .cancel(firing.job, reason: "superseded by the fire time \(when)"),
            ]
        }
    }

    /// The job to start a run of, with its parameters, or why it cannot start.
    private func startable(_ firing: Firing) -> Result<(Job, [String: String]), StartProblem> {
        guard let job = catalog.entries[firing.job]?.job else {
            return .failure(StartProblem(reason: "the job is gone"))
        }
        if let running = active[firing.job] {
            return .failure(StartProblem(reason: "run \(running.run) is still running"))
        }
        switch job.parameterValues(firing.params) {
        case .success(let values): return .success((job, values))
        case .failure(let problem): return .failure(StartProblem(reason: problem.message, code: .badRequest))
        }
    }

    /// A run was started (or could not be): it is active, and a planner's decision is marked.
    private mutating func started(
        _ firing: Firing, _ result: Result<RunID, StartProblem>, reply: ManualReply?, now: Date
    ) -> [SchedulerAction] {
        let when = Timestamp.rfc3339(firing.fireTime)
        switch (result, reply) {
        case (.success(let run), let reply):
            active[firing.job] = ActiveRun(run: run, startsAt: firing.startAt)
            guard reply == nil else {
                return [.log(.info, "run started by hand", job: firing.job, run: run)]
            }
            record(firing, .started, run: run, now: now)
            if firing.trigger == .catchup {
                return [.log(.notice, "catching up the missed fire time \(when)", firing: firing)]
            }
            return []
        case (.failure(let problem), nil):
            record(firing, .skipped, reason: problem.reason, now: now)
            var actions: [SchedulerAction] = [
                .log(.warning, "skipping fire time \(when): \(problem.reason)", firing: firing)
            ]
            if let pending = firing.pending {
                actions[0] = .log(
                    .error,
                    "the \(firing.trigger.rawValue) trigger's run \(pending.run) did not start: \(problem.reason)",
                    job: firing.job, trigger: firing.trigger)
                actions.append(.dropTrigger(pending))
            }
            // Only a run's end takes from a job's queue: with no run to end, the next queued fire
            // time is tried now, or the queue would wait for good (and every later one behind it).
            if !stopping, active[firing.job] == nil, let queued = planner.runEnded(firing.job) {
                actions += decide(.start(queued), now: now)
            }
            return actions
        case (.failure(let problem), let reply?):
            let refusal = ManualRunRefusal(code: problem.code, message: "not started: \(problem.reason)")
            return [.reply { reply(.failure(refusal)) }]
        }
    }

    private mutating func record(
        _ firing: Firing, _ outcome: ScheduleMark.Outcome, reason: String? = nil, run: RunID? = nil, now: Date
    ) {
        marks.record(
            ScheduleMark.Decision(
                fireTime: firing.fireTime, trigger: firing.trigger, outcome: outcome, reason: reason, decidedAt: now,
                run: run),
            for: firing.job)
    }

    /// `wfctl run`: a run of the job now, unless wfd is stopping or the job is not loaded.
    private func runNow(
        _ id: JobID, params: [String: String], done: @escaping ManualReply, now: Date
    ) -> [SchedulerAction] {
        func refuse(_ code: ManualRunRefusal.Code, _ message: String) -> [SchedulerAction] {
            [.reply { done(.failure(ManualRunRefusal(code: code, message: message))) }]
        }
        if stopping { return refuse(.failed, "wfd is stopping") }
        guard catalog.entries[id]?.job != nil else { return refuse(.noSuchJob, notLoaded(id)) }
        let firing = Firing(job: id, fireTime: now, trigger: .manual, params: params)
        switch startable(firing) {
        case .success(let (job, values)):
            return [.start(firing, job, params: values, recorded: done)]
        case .failure(let problem):
            let refusal = ManualRunRefusal(code: problem.code, message: "not started: \(problem.reason)")
            return [.reply { done(.failure(refusal)) }]
        }
    }

    /// A trigger (`on:`) is in the job's inbox: its run starts, waits or is dropped, by the job's
    /// `concurrency:`, like a fire time; the decision is recorded with the job's marks.
    private mutating func triggered(_ pending: PendingTrigger, reply: @escaping TriggerReply, now: Date)
        -> [SchedulerAction]
    {
        let firing = Firing(pending)
        if stopping {
            // It stays in the inbox: the next wfd starts it.
            let reason = "wfd is stopping: the run starts when wfd is back"
            return [.reply { reply(.queued(pending.run, reason: reason)) }]
        }
        var actions: [SchedulerAction] = []
        var (decision, dropped) = planner.offer(firing, active: Set(active.keys))
        // An agent's job tool may start a job that has no schedule or `on:` (the planner has no
        // entry for it): like a run by hand, it starts unless a run of the job is active.
        if pending.kind == .job, !planner.plans(pending.job), catalog.entries[pending.job]?.job != nil {
            decision =
                active[pending.job].map { .skip(firing, reason: "run \($0.run) of \(pending.job) is still running") }
                ?? .start(firing)
            dropped = []
        }
        for pushed in dropped {
            guard let old = pushed.pending else { continue }
            record(pushed, .skipped, reason: "replaced by a newer trigger (concurrency: cancel-previous)", now: now)
            actions.append(.dropTrigger(old))
        }
        switch decision {
        case .skip(_, let why):
            let known = catalog.entries[pending.job]?.job != nil
            if known { record(firing, .skipped, reason: why, now: now) }
            actions.append(.dropTrigger(pending))
            actions.append(
                .log(.notice, "not starting a run for the \(pending.kind.rawValue) trigger: \(why)", firing: firing))
            actions.append(.reply { reply(.refused(why)) })
            return actions
        case .start:
            // Refused here only when the run cannot start at all (its parameters); a start that
            // fails later (the job lock) drops the trigger and says so in the log.
            actions += decide(decision, now: now)
            let starts = actions.contains { if case .start = $0 { true } else { false } }
            actions.append(.reply { reply(starts ? .started(pending.run) : .refused("the run could not start")) })
        case .queue, .replace:
            actions += decide(decision, now: now)
            let why =
                decision == .queue(firing)
                ? "queued behind the active run (concurrency: queue)"
                : "starts once the active run has stopped (concurrency: cancel-previous)"
            actions.append(.reply { reply(.queued(pending.run, reason: why)) })
        }
        return actions
    }

    /// Why job `id` is not loaded, in one sentence with what to do.
    func notLoaded(_ id: JobID) -> String {
        if let entry = catalog.entries[id], let problem = entry.diagnostics.first {
            let more = entry.diagnostics.count > 1 ? " (and \(entry.diagnostics.count - 1) more)" : ""
            return "job '\(id)' is not loaded: its file is invalid: \(problem)\(more); "
                + "check it with wfctl validate \(entry.file)"
        }
        let known = catalog.jobs.map(\.id.rawValue)
        let list = known.count > 20 ? "\(known.count) of them" : known.isEmpty ? "none" : known.joined(separator: ", ")
        return "no job '\(id)' is loaded (jobs: \(list)); a job is a file \(id).yaml in \(jobsDirectory)"
    }

    /// A reload read the jobs: the planner follows, a run decided ahead for a job that is gone
    /// does not start, and whoever asked hears the summary.
    private mutating func loaded(
        _ catalog: JobCatalog, changes: [JobCatalog.Change], announce: Bool,
        done: (@Sendable (Scheduler.ReloadOutcome) -> Void)?, now: Date
    ) -> [SchedulerAction] {
        self.catalog = catalog
        var actions: [SchedulerAction] = []
        if !changes.isEmpty {
            planner.update(jobs: catalog.entries.values.compactMap(\.job), now: now, marks: marks.lastFireTimes)
            actions.append(.watchPaths(catalog.pathTriggers))
        }
        for (id, run) in active where catalog.entries[id]?.job == nil && (run.startsAt ?? now) > now {
            actions.append(
                .log(.notice, "cancelling run \(run.run) before its fire time: its job was removed", job: id))
            actions.append(.cancel(id, reason: "its job was removed before its fire time"))
        }
        if announce { actions.append(.report(.ready(status: statusLine(now: now)))) }
        let summary =
            "reloaded: \(catalog.jobCount) jobs, \(catalog.diagnostics.count) problems "
            + "(\(catalog.parsedAtLastLoad) of \(catalog.entries.count) files read; the rest unchanged)"
        actions.append(.log(.info, summary))
        if let done { actions.append(.reply { done(.reloaded(summary: summary)) }) }
        return actions
    }

    /// What systemd shows as the service's status.
    func statusLine(now: Date) -> String {
        var parts = ["\(catalog.jobCount) jobs", "\(active.count) running"]
        if catalog.problemFileCount > 0 { parts.append("\(catalog.problemFileCount) invalid files") }
        if let soonest = planner.soonest {
            let seconds = max(0, Int(soonest.at.timeIntervalSince(now).rounded(.up)))
            parts.append("next: \(soonest.job) in \(seconds)s")
        }
        return parts.joined(separator: ", ")
    }
}

/// Why a run could not start.
struct StartProblem: Error, Sendable {
    let reason: String
    /// For a manual run's refusal: `busy`, or `bad_request` for parameters that do not fit.
    var code = ManualRunRefusal.Code.busy
}
