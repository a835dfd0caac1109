import Foundation
import JobFormat
import Logging
import RunModel
import WorkflowStore

typealias ManualRunRefusal = Scheduler.ManualRunRefusal
/// Hears whether a manual run or a retry started (its id), or why not.
typealias ManualReply = @Sendable (Result<RunID, ManualRunRefusal>) -> Void
/// Hears what became of a trigger (`on:`) offered to the scheduler.
public typealias TriggerReply = @Sendable (TriggerOutcome) -> Void

/// What the scheduler did with a trigger in the inbox.
public enum TriggerOutcome: Sendable, Equatable {
    /// Its run started now.
    case started(RunID)
    /// Its run waits: behind the active run (`concurrency: queue`), for the active run to stop
    /// (`cancel-previous`), or for wfd to be back (it is stopping).
    case queued(RunID, reason: String)
    /// No run: the job's `concurrency:` dropped it, or the job is not loaded. Its inbox entry is gone.
    case refused(String)
}

/// What reaches ``SchedulerState``: from outside (the first group: signals, commands, the ends of
/// runs, timers), the two phases of every turn of the loop, and what actions found out.
enum SchedulerEvent: Sendable {
    /// A timer (or nothing in particular): look at the time.
    case wake
    /// Re-read jobs.d; `announce` tells the supervisor (RELOADING=1 … READY=1), as for SIGHUP;
    /// `done` hears the summary once the new jobs are in effect.
    /// `touched`: the job files that may have changed (nil: any of them).
    case reload(announce: Bool, touched: Set<String>?, done: (@Sendable (Scheduler.ReloadOutcome) -> Void)?)
    case shutdown
    /// A run ended; `latest`: its job's runs as its end left them.
    case runEnded(JobID, RunSnapshot, latest: JobRuns?)
    /// The wall clock was set (NTP step, `date -s`): fire times are planned anew.
    case clockChanged
    /// Cancel the active run `run` (`wfctl cancel`); `done` hears whether it was active.
    case cancelRun(RunID, reason: String, done: @Sendable (Bool) -> Void)
    /// Start a run of the job now (`wfctl run`); `done` hears the run id or why not.
    case runNow(JobID, params: [String: String], done: ManualReply)
    /// Run an ended run again from its failed steps (`wfctl retry`).
    case retryRun(RetryOrder)
    /// A trigger (`on:`) is in the job's inbox: start, queue or drop its run.
    case triggered(PendingTrigger, reply: TriggerReply)
    /// The job as loaded now (nil: not loaded), for a webhook's checks.
    case definition(JobID, done: @Sendable (Result<Job, ManualRunRefusal>) -> Void)
    /// Decide on a waiting step of an active run (`wfctl approve`, `wfctl reject`).
    case decide(RunID, DecisionRequest)
    /// Hand what is known of the jobs to `wfctl status`.
    case snapshot(@Sendable (SchedulerSnapshot) -> Void)
    /// The hourly retention pass found these jobs over their limits.
    case retentionDue([JobID])

    /// Every turn, after its event: the fire times that are due.
    case tick
    /// Every turn, last: write what moved, report, sleep (or stop).
    case settle

    /// A reload read the jobs (``SchedulerAction/loadCatalog(touched:announce:done:)``).
    case loaded(
        JobCatalog, changes: [JobCatalog.Change], announce: Bool,
        done: (@Sendable (Scheduler.ReloadOutcome) -> Void)?)
    /// ``SchedulerAction/start(_:_:params:recorded:)`` started the run, or why not; `reply`: the
    /// person who asked for it (nil: the planner's decision).
    case started(Firing, Result<RunID, StartProblem>, reply: ManualReply?)
    /// A retry was taken up: the run is active again.
    case retried(JobID, RunID)
}

/// What ``SchedulerState`` asks the loop to do. Only ``SchedulerEffects`` performs them.
enum SchedulerAction: Sendable {
    /// Read jobs.d again (the files `touched`, or all), log what changed, write the jobs' index;
    /// then ``SchedulerEvent/loaded(_:changes:announce:done:)``.
    case loadCatalog(touched: Set<String>?, announce: Bool, done: (@Sendable (Scheduler.ReloadOutcome) -> Void)?)
    /// Start a run of `job` for `firing` under its job lock; then ``SchedulerEvent/started(_:_:reply:)``.
    /// `recorded`: a person's `wfctl run`, answered once the run is on disk.
    case start(Firing, Job, params: [String: String], recorded: ManualReply?)
    /// Take up an ended run again (`wfctl retry`); then ``SchedulerEvent/retried(_:_:)``, or the
    /// order hears why not.
    case retry(RetryOrder)
    /// A trigger will not start a run: its inbox entry goes.
    case dropTrigger(PendingTrigger)
    /// A run of `job` ended as `run`: each job in `followers` (`on: { job: … }`) gets a trigger with it.
    case follow(RunSnapshot, followers: [JobID])
    /// The path triggers (`on: { path: … }`) of the loaded jobs, for the watcher.
    case watchPaths([JobID: Triggers])
    case cancel(JobID, reason: String)
    case decide(JobID, DecisionRequest)
    /// wfd is stopping: every active run lets go of its units' work, or is cancelled.
    case detachAll
    /// The job's run ended: its handle and job lock go.
    case release(JobID)
    case saveMarks([ScheduleMarkUpdate])
    case enforceRetention(JobID, keepRuns: Int, keepDays: Int, force: Bool)
    /// The hourly pass, off the loop: which jobs' histories are over their limits.
    case findRetentionDue(RetentionPolicy.Limits)
    case snapshot(@Sendable (SchedulerSnapshot) -> Void, SchedulerSnapshot.Parts)
    case reply(@Sendable () -> Void)
    case log(Logger.Level, String, job: JobID? = nil, run: RunID? = nil, trigger: Trigger? = nil)
    case report(Report)
    /// Wake the loop at `until` (the one timer of the scheduler).
    case sleep(until: Date)
    /// Nothing is active and wfd is stopping: the loop ends.
    case stop

    /// What the supervisor (systemd) hears.
    enum Report: Sendable, Equatable {
        case ready(status: String)
        case reloading(status: String)
        case stopping(status: String)
        case status(String)
        case watchdog
    }

    static func log(_ level: Logger.Level, _ message: String, firing: Firing) -> SchedulerAction {
        .log(level, message, job: firing.job, trigger: firing.trigger)
    }
}

/// A `wfctl retry` request: run `run` of `job` again from its failed steps (or `request.from`),
/// with `outputs` the contents given for skipped steps.
struct RetryOrder: Sendable {
    let job: JobID
    let run: RunID
    let request: RetryRequest
    let outputs: [StepID: Data]
    let by: String
    let done: ManualReply
}
