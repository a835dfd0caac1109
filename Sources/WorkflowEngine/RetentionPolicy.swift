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
struct RetentionPolicy: Sendable {
    /// The global default, for jobs that say nothing and for deleted jobs.
    static let defaults = Scheduler.defaultRetention

    /// Retention for jobs that give none (and for deleted jobs): the daemon's.
    let daemon: Retention

    /// Every job's limits, and those of a job that has no file any more.
    struct Limits: Sendable {
        let byJob: [JobID: (keepRuns: Int, keepDays: Int)]
        let fallback: (keepRuns: Int, keepDays: Int)
    }

    /// The job's limits: its own, else the daemon's, else the defaults.
    func limits(_ retention: Retention?) -> (keepRuns: Int, keepDays: Int) {
        (
            retention?.keepRuns ?? daemon.keepRuns ?? Self.defaults.keepRuns ?? 1000,
            retention?.keepDays ?? daemon.keepDays ?? Self.defaults.keepDays ?? 30
        )
    }

    func limits(of catalog: JobCatalog) -> Limits {
        Limits(byJob: catalog.entries.mapValues { limits($0.job?.retention) }, fallback: limits(nil))
    }

    /// Whether the job's history is over its limits (`force`: at all; else by the batch margin).
    static func due(_ job: JobID, keepRuns: Int, keepDays: Int, store: RunStore, now: Date, force: Bool) -> Bool {
        let runs = store.runIDs(job)
        let cutoff = now.addingTimeInterval(-Double(keepDays) * 86_400)
        let overCount = runs.count > keepRuns + (force ? 0 : max(1, keepRuns / 20))
        let overAge = runs.first?.createdAt.map { $0 < cutoff.addingTimeInterval(force ? 0 : -3600) } ?? false
        return overCount || overAge
    }

    /// Deletes the job's oldest runs if its history is due for it.
    static func enforce(
        _ job: JobID, keepRuns: Int, keepDays: Int, force: Bool, store: RunStore, now: Date, logger: Logger
    ) {
        guard due(job, keepRuns: keepRuns, keepDays: keepDays, store: store, now: now, force: force) else { return }
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

    /// The hourly pass: finds, on other threads, every job with runs on disk whose history is
    /// over its limits, and hands them to `found` (the loop's ``SchedulerEvent/retentionDue(_:)``).
    static func findDue(
        _ limits: Limits, store: RunStore, now: Date, found: @escaping @Sendable ([JobID]) -> Void
    ) {
        let root = store.directory.runsRoot
        Thread.detachNewThread {
            let jobs = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(JobID.init)
            let due = jobs.concurrentMap { job in
                let (keepRuns, keepDays) = limits.byJob[job] ?? limits.fallback
                return Self.due(job, keepRuns: keepRuns, keepDays: keepDays, store: store, now: now, force: true)
            }
            found(zip(jobs, due).filter(\.1).map(\.0))
            // Every job's index keeps the lines of runs retention deleted until it is rebuilt.
            let history = RunHistory(directory: store.directory)
            if history.isBloated() { try? history.rebuild() }
            // A webhook delivery's record only stops a redelivery: kept as long as the job's runs.
            let hooked = (try? FileManager.default.contentsOfDirectory(atPath: store.directory.jobsRoot)) ?? []
            for job in hooked.compactMap(JobID.init) {
                let keepDays = (limits.byJob[job] ?? limits.fallback).keepDays
                TriggerInbox.pruneDeliveries(
                    of: job, olderThan: now.addingTimeInterval(-Double(keepDays) * 86_400), in: store.directory)
            }
        }
    }
}
