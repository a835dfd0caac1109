import Foundation
import JobFormat
import Logging
import RunModel
import WorkflowStore

/// Durable writes of a run's records, on the I/O threads, waiting for space on a full disk; a
/// failure is logged and said (the records on disk then keep their last version).
struct DurableWriter: Sendable {
    let store: RunStore
    let logger: Logger

    /// Writes `records` (all of one run) durably, at the same time on the I/O threads, with one
    /// fsync of their directory for all of them (group commit); returns the steps whose write
    /// failed (logged; their records on disk keep the previous version, or are not durable).
    func persist(_ records: [StepRecord]) async -> Set<StepID> {
        let (store, logger) = (store, logger)
        guard let first = records.first else { return [] }
        if records.count == 1 {
            return await Self.persist(logger, { () throws(StoreError) in try store.save(first) }) ? [] : [first.step]
        }
        var failed = await withTaskGroup(of: StepID?.self) { group in
            for record in records {
                group.addTask {
                    let written = await Self.persist(logger) { () throws(StoreError) in
                        try store.save(record, syncingDirectory: false)
                    }
                    return written ? nil : record.step
                }
            }
            var failed: Set<StepID> = []
            for await id in group { if let id { failed.insert(id) } }
            return failed
        }
        // The renames above are durable only with this fsync: without it none of them counts.
        let (job, run) = (first.job, first.run)
        if !(await Self.persist(logger, { () throws(StoreError) in try store.syncSteps(job, run) })) {
            failed.formUnion(records.map(\.step))
        }
        return failed
    }

    /// Runs a durable write on an I/O thread, waiting for space on a full disk (``FullDisk``); a
    /// failure is logged (the records on disk stay at their last version).
    func persist(_ write: @escaping @Sendable () throws(StoreError) -> Void) async -> Bool {
        await Self.persist(logger, write)
    }

    private static func persist(
        _ logger: Logger, _ write: @escaping @Sendable () throws(StoreError) -> Void
    ) async -> Bool {
        do {
            try await FullDisk.write(logger, write)
            return true
        } catch {
            logger.error("cannot write state, the record on disk keeps its previous version: \(error)")
            return false
        }
    }
}
