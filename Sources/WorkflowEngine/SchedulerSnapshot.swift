import Foundation
import WorkflowCore
import WorkflowStore

/// What the running scheduler knows of its jobs, taken from memory in one turn of its loop, so
/// that `wfctl status` costs no file reads however many jobs there are.
public struct SchedulerSnapshot: Sendable {
    public var jobs: [Job]

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

extension Scheduler {
    /// Calls `done` with what the scheduler knows of its jobs, from its loop.
    public func snapshot(done: @escaping @Sendable (SchedulerSnapshot) -> Void) {
        continuation.yield(.snapshot(done))
    }

    func snapshot(
        indexed: [JobID: JobInfo], planner: SchedulePlanner, runs: [JobID: JobRuns], marks: MarkBook,
        active: [JobID: ActiveRun]
    ) -> SchedulerSnapshot {
        SchedulerSnapshot(
            jobs: indexed.keys.sorted().compactMap { id in
                guard let info = indexed[id] else { return nil }
                return SchedulerSnapshot.Job(
                    info: info, nextFire: planner.nextFire(of: id),
                    runs: runs[id] ?? JobRuns(), decisions: marks.notable[id] ?? [], activeRun: active[id]?.handle.run)
            })
    }
}
