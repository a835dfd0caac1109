import Foundation
import WorkflowControl
import WorkflowEngine
import WorkflowReports
import WorkflowStore

/// `wfctl status` answered from the scheduler's memory: no file is read but the `latest.json` of
/// the jobs with an active run (its state changes as it runs) and the quarantine log.
enum StatusAnswer {
    static func report(
        _ snapshot: SchedulerSnapshot, state: StateDirectory, daemon: StatusReport.Daemon, now: Date
    ) -> StatusReport {
        let store = RunStore(directory: state)
        let jobs = Array(snapshot.ids.indices).concurrentCompactMap { index -> StatusReport.JobStatus? in
            guard let job = snapshot.job(at: index) else { return nil }
            let active = job.activeRun.flatMap { run in
                (try? store.loadLatestHead(job.info.job))?.active.flatMap { $0.id == run ? $0 : nil }
            }
            // latest.json from before it kept the outcomes: the index tells, until the next run.
            let rate =
                job.runs.counts.map { StatusReport.SuccessRate($0) }
                ?? StatusReport.successRate(of: job.info.job, latest: nil, state: state)
            return StatusReport.JobStatus(
                info: job.info, nextFire: job.nextFire, last: job.runs.last, active: active, successRate: rate,
                decisions: job.decisions)
        }
        return StatusReport(
            stateDirectory: state.root, daemon: daemon, jobs: jobs,
            quarantined: store.loadQuarantineLog().entries)
    }
}
