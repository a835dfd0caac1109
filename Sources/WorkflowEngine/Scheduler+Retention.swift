import Foundation
import JobFormat
import Logging
import RuntimeSupport
import WorkflowStore

/// Retention: old runs are deleted for every job, including jobs whose file is gone.
///
/// It deletes in the scheduler's loop, when a run of the job has just ended and once an hour for
/// every job without an active run, so it never races a run of the same job (whose index line
/// it could otherwise lose). It deletes in batches: when the history is 5 % over `keep_runs`,
/// or its oldest run is an hour past `keep_days`. The hourly pass first finds the jobs due on
/// every core, off the loop (listing 10,000 run directories would hold up fire times), and the
/// loop then deletes for those few.
extension Scheduler {
    /// The global default, for jobs that say nothing and for deleted jobs.
    public static let defaultRetention = Retention(keepRuns: 1000, keepDays: 30)

    /// Applies retention to `job` if its history is due for it; `retention` is the job's own.
    func enforceRetention(_ job: JobID, retention: Retention?, store: RunStore, force: Bool = false) {
        let (keepRuns, keepDays) = limits(retention)
        let now = clock.now()
        guard Self.retentionDue(job, keepRuns: keepRuns, keepDays: keepDays, store: store, now: now, force: force)
        else { return }
        do {
            let removed = try store.applyRetention(job, keepRuns: keepRuns, keepDays: keepDays, now: now)
            if !removed.isEmpty {
                logger.info(
                    "retention: deleted \(removed.count) old runs (keeping \(keepRuns) runs, \(keepDays) days)",
                    metadata: [LogField.job: .string(job.rawValue)])
            }
        } catch {
            logger.error("retention failed: \(error)", metadata: [LogField.job: .string(job.rawValue)])
        }
    }

    /// The job's limits: its own, else the daemon's, else the defaults.
    func limits(_ retention: Retention?) -> (keepRuns: Int, keepDays: Int) {
        let defaults = configuration.retention
        return (
            retention?.keepRuns ?? defaults.keepRuns ?? Self.defaultRetention.keepRuns ?? 1000,
            retention?.keepDays ?? defaults.keepDays ?? Self.defaultRetention.keepDays ?? 30
        )
    }

    /// Whether the job's history is over its limits (`force`: at all; else by the batch margin).
    static func retentionDue(
        _ job: JobID, keepRuns: Int, keepDays: Int, store: RunStore, now: Date, force: Bool
    ) -> Bool {
        let runs = store.runIDs(job)
        let cutoff = now.addingTimeInterval(-Double(keepDays) * 86_400)
        let overCount = runs.count > keepRuns + (force ? 0 : max(1, keepRuns / 20))
        let overAge = runs.first?.createdAt.map { $0 < cutoff.addingTimeInterval(force ? 0 : -3600) } ?? false
        return overCount || overAge
    }

    /// Starts the hourly pass: finds, on other threads, every job with runs on disk whose history
    /// is over its limits, and hands them to the loop (``Event/retentionDue(_:)``).
    func findRetentionDue(catalog: JobCatalog, store: RunStore) {
        let root = configuration.state.runsRoot
        let limitsByJob = catalog.entries.mapValues { limits($0.job?.retention) }
        let fallback = limits(nil)
        let now = clock.now()
        let continuation = continuation
        Thread.detachNewThread {
            let jobs = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(JobID.init)
            let due = jobs.concurrentMap { job in
                let (keepRuns, keepDays) = limitsByJob[job] ?? fallback
                return Self.retentionDue(
                    job, keepRuns: keepRuns, keepDays: keepDays, store: store, now: now, force: true)
            }
            continuation.yield(.retentionDue(zip(jobs, due).filter(\.1).map(\.0)))
        }
    }
}
