import Foundation
import Logging
import WorkflowCore
import WorkflowStore

/// Retention: old runs are deleted for every job, including jobs whose file is gone.
///
/// It runs in the scheduler's loop, when a run of the job has just ended and once an hour for
/// every job without an active run, so it never races a run of the same job (whose index line
/// it could otherwise lose). It deletes in batches: when the history is 5 % over `keep_runs`,
/// or its oldest run is an hour past `keep_days`.
extension Scheduler {
    /// The global default, for jobs that say nothing and for deleted jobs.
    public static let defaultRetention = Retention(keepRuns: 1000, keepDays: 30)

    /// Applies retention to `job` if its history is due for it; `retention` is the job's own.
    func enforceRetention(_ job: JobID, retention: Retention?, store: RunStore, force: Bool = false) {
        let defaults = configuration.retention
        let keepRuns = retention?.keepRuns ?? defaults.keepRuns ?? Self.defaultRetention.keepRuns ?? 1000
        let keepDays = retention?.keepDays ?? defaults.keepDays ?? Self.defaultRetention.keepDays ?? 30
        let now = clock.now()
        let runs = store.runIDs(job)
        let cutoff = now.addingTimeInterval(-Double(keepDays) * 86_400)
        let overCount = runs.count > keepRuns + (force ? 0 : max(1, keepRuns / 20))
        let overAge = runs.first?.createdAt.map { $0 < cutoff.addingTimeInterval(force ? 0 : -3600) } ?? false
        guard overCount || overAge else { return }
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

    /// Applies retention to every job with runs on disk and no active run.
    func enforceRetentionEverywhere(catalog: JobCatalog, active: Set<JobID>, store: RunStore) {
        let root = configuration.state.runsRoot
        let jobs = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(JobID.init)
        for job in jobs where !active.contains(job) {
            enforceRetention(job, retention: catalog.entries[job]?.job?.retention, store: store, force: true)
        }
    }
}
