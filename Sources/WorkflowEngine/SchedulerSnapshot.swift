import Foundation
import JobFormat
import RunModel
import WorkflowStore

/// What the running scheduler knows of its jobs, taken from memory in one turn of its loop, so
/// that `wfctl status` costs no file reads however many jobs there are. Taking it copies no job:
/// it holds the loop's own tables (copied on write), and ``job(at:)`` reads them afterwards, on
/// whichever thread asks.
public struct SchedulerSnapshot: Sendable {
    /// The jobs' ids, sorted.
    public let ids: [JobID]
    let indexed: [JobID: JobInfo]
    let planner: SchedulePlanner
    let runs: [JobID: JobRuns]
    let notable: [JobID: [ScheduleMark.Decision]]
    let active: [JobID: RunID]

    /// One job: its index entry (what `job.json` says), when it fires next, and its runs.
    public struct Job: Sendable {
        public var info: JobInfo
        /// The planned next fire time (with its jitter), when the job is scheduled.
        public var nextFire: Date?
        public var runs: JobRuns
        /// The latest decisions that were not a plain on-time start.
        public var decisions: [ScheduleMark.Decision]
        /// The run in progress, whose state is on disk (`latest.json`).
        public var activeRun: RunID?
    }

    /// The runs in progress, by job.
    public var activeRuns: [JobID: RunID] { active }

    /// The runs waiting for their job's active run to end (`concurrency: queue`, `catchup: all`).
    public var queuedRuns: Int { planner.queuedCount }

    /// The job `ids[index]`.
    public func job(at index: Int) -> Job? {
        let id = ids[index]
        guard let info = indexed[id] else { return nil }
        return Job(
            info: info, nextFire: planner.nextFire(of: id), runs: runs[id] ?? JobRuns(),
            decisions: notable[id] ?? [], activeRun: active[id])
    }
}

/// A job's ended runs as the scheduler keeps them: the newest, and how the newest 20 went (nil
/// when `latest.json` did not keep them yet: then the run index tells).
public struct JobRuns: Sendable {
    public var last: RunSummary?
    public var counts: SuccessCounts?

    init(_ latest: LatestRunsHead) {
        last = latest.last
        counts = latest.successRate
    }

    init() {}
}

extension SchedulerSnapshot {
    /// What the scheduler's state holds of a snapshot; the jobs' index is the effects'.
    struct Parts: Sendable {
        let planner: SchedulePlanner
        let runs: [JobID: JobRuns]
        let notable: [JobID: [ScheduleMark.Decision]]
        let active: [JobID: RunID]
    }

    init(ids: [JobID], indexed: [JobID: JobInfo], parts: Parts) {
        self.init(
            ids: ids, indexed: indexed, planner: parts.planner, runs: parts.runs, notable: parts.notable,
            active: parts.active)
    }
}

extension JobRuns {
    /// As a run's end left them in `latest.json`.
    init(_ latest: LatestRuns) {
        self.init()
        last = latest.last
        counts = latest.successRate
    }
}
