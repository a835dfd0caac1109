import Foundation
import JobFormat
import Logging
import RuntimeSupport
import WorkflowStore

/// The jobs' index in the state directory (`jobs/<job>/job.json`, what `wfctl status` reads when
/// wfd is down), kept equal to what was loaded, and the log of what each load changed.
struct JobIndexer {
    let store: RunStore
    let clock: any WorkflowClock
    let logger: Logger
    /// What is on disk, by job.
    private(set) var indexed: [JobID: JobInfo] = [:]

    init(store: RunStore, clock: any WorkflowClock, logger: Logger) {
        self.store = store
        self.clock = clock
        self.logger = logger
    }

    /// Applies a catalog load: logs what changed and every problem, and refreshes the
    /// `jobs/<job>/job.json` files whose content changed (`indexed` is what is on disk; a reload of
    /// many unchanged jobs costs no durable writes). The first load compares with the files wfd
    /// left on disk, so a restart with unchanged jobs writes nothing, and logs one line for all
    /// the jobs rather than one a job.
    mutating func apply(_ changes: [JobCatalog.Change], catalog: JobCatalog, initial: Bool = false) async {
        let (store, logger) = (store, logger)
        for change in changes {
            switch change {
            case .added(let id):
                if !initial { logger.info("job added", metadata: [LogField.job: .string(id.rawValue)]) }
            case .changed(let id): logger.info("job changed", metadata: [LogField.job: .string(id.rawValue)])
            case .removed(let id):
                logger.info("job removed", metadata: [LogField.job: .string(id.rawValue)])
                indexed[id] = nil
                do { try store.removeJobInfo(id) } catch { logger.error("cannot remove the job's index: \(error)") }
            case .invalid(let id, let kept):
                let what = kept ? "keeping its last valid version" : "not scheduling it"
                logger.error("job file is invalid, \(what)", metadata: [LogField.job: .string(id.rawValue)])
            }
        }
        // The problems of the files read now (an unchanged file's were logged when it was read).
        for diagnostic in catalog.unnamed + catalog.readAtLastLoad.flatMap({ catalog.entries[$0]?.diagnostics ?? [] }) {
            logger.error("\(diagnostic.description)", metadata: [LogField.file: .string(diagnostic.file)])
        }
        let now = clock.now()
        var changed: [JobInfo] = []
        if initial {
            // Every job against its job.json, on every core: a file equal to the job but for
            // `loadedAt` is kept (a restart with unchanged jobs writes nothing).
            let ids = Array(catalog.entries.keys)
            let compared = ids.concurrentMap { id -> (info: JobInfo, stored: JobInfo?)? in
                guard let entry = catalog.entries[id] else { return nil }
                let info = JobInfo(id: id, job: entry.job, file: entry.file, errors: entry.diagnostics, loadedAt: now)
                return (info, store.storedJobInfo(equalTo: info))
            }
            for case (let info, let stored)? in compared {
                if let stored { indexed[info.job] = stored } else { changed.append(info) }
            }
        }
        // A file not read again has the entry, and so the index, it had.
        for id in initial ? [] : catalog.readAtLastLoad {
            guard let entry = catalog.entries[id] else { continue }
            var info = JobInfo(id: id, job: entry.job, file: entry.file, errors: entry.diagnostics, loadedAt: now)
            if let previous = indexed[id] {
                info.loadedAt = previous.loadedAt
                if info == previous { continue }
                info.loadedAt = now
            }
            changed.append(info)
        }
        // Concurrent durable writes share their fsyncs' journal commits.
        let written = await withTaskGroup(of: JobInfo?.self) { group in
            for info in changed {
                group.addTask { [logger] in
                    do {
                        try await BlockingIO.shared.run { () throws(StoreError) in try store.saveJobInfo(info) }
                        return info
                    } catch {
                        logger.error(
                            "cannot write the job's index: \(error)",
                            metadata: [LogField.job: .string(info.job.rawValue)])
                        return nil
                    }
                }
            }
            return await group.reduce(into: [JobInfo]()) { if let info = $1 { $0.append(info) } }
        }
        for info in written { indexed[info.job] = info }
    }
}
