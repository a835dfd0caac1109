import Foundation
import JobFormat
import WorkflowStore

/// `wfctl fsck`: checks a whole state directory, explains every problem, and repairs those that
/// are safe to repair: nothing a person may still need is deleted, and nothing wfd is writing at
/// the moment is touched (repairs that could race a running wfd are left for when it is stopped).
public struct StateCheck: Sendable {
    public struct Finding: Sendable, Codable, Equatable {
        /// Relative to the state directory.
        public var path: String
        /// `damaged`, `temporary`, `moved_aside`, `never_started`, `unindexed_run`, `index_behind`,
        /// `dangling_index`, `waiting_for_person`.
        public var kind: String
        public var message: String
        /// What `--repair` does about it, or nil when it is for a person to decide.
        public var repair: String?
        public var repaired: Bool
        /// A note (something to know, nothing wrong with the state) rather than a problem.
        public var note: Bool

        enum CodingKeys: String, CodingKey {
            case path, kind, message, repair, repaired, note
        }
    }

    public let state: StateDirectory
    public let daemonRunning: Bool

    public init(state: StateDirectory) {
        self.state = state
        daemonRunning = FileLock.isHeld(state.daemonLock)
    }

    /// Every finding, in path order; with `repair`, safe repairs are applied and marked.
    public func run(repair: Bool, now: Date) -> [Finding] {
        var findings: [Finding] = []
        let store = RunStore(directory: state)
        func add(
            _ path: String, _ kind: String, _ message: String, repair action: String? = nil, note: Bool = false,
            apply: (() throws -> Void)? = nil
        ) {
            var finding = Finding(
                path: state.relative(path), kind: kind, message: message, repair: action, repaired: false, note: note)
            if repair, let apply {
                do {
                    try apply()
                    finding.repaired = true
                } catch {
                    finding.message += " (the repair failed: \(error))"
                }
            }
            findings.append(finding)
        }

        let files = (FileManager.default.enumerator(atPath: state.root)?.compactMap { $0 as? String } ?? []).sorted()
        for file in files {
            let path = "\(state.root)/\(file)"
            if file.contains(".corrupt-") {
                add(
                    path, "moved_aside",
                    "a damaged record wfd moved aside; inspect it, then delete it (nothing reads it any more)")
            } else if file.hasSuffix(".tmp") {
                add(
                    path, "temporary",
                    "a write that never completed (its record keeps the previous version)",
                    repair: daemonRunning ? nil : "delete it", apply: daemonRunning ? nil : { try remove(path) })
            } else if file.hasSuffix(".json") {
                let data: Data
                do {
                    data = try RecordFile.readData(path)
                } catch {
                    add(
                        path, "unreadable",
                        "the record cannot be read (\(error)); put it back from a backup or remove it")
                    continue
                }
                if let problem = RecordSeal.problem(in: data) {
                    add(
                        path, "damaged", "the record fails its check: \(problem)", repair: "move it aside",
                        apply: { try store.quarantine(path, reason: problem, at: now) })
                }
            }
        }

        for job in runJobs() {
            let latest = try? store.loadLatest(job)
            let index = RunIndex(directory: state)
            let indexed = index.all(job)
            var ended: [RunIndex.Entry] = []
            for run in store.runIDs(job) {
                let directory = state.runDirectory(job, run)
                guard let record = try? store.loadRun(job, run) else {
                    if !FileManager.default.fileExists(atPath: state.runRecord(job, run)),
                        !FileManager.default.fileExists(atPath: state.stepsDirectory(job, run))
                            || ((try? FileManager.default.contentsOfDirectory(atPath: state.stepsDirectory(job, run)))?
                                .isEmpty ?? true),
                        latest?.active?.id != run
                    {
                        add(
                            directory, "never_started",
                            "wfd stopped after freezing this run's definition and before it began: nothing ran",
                            repair: daemonRunning ? nil : "delete the directory",
                            apply: daemonRunning ? nil : { try remove(directory) })
                    }
                    continue
                }
                if !record.state.isTerminal, latest?.active?.id != run, !daemonRunning {
                    add(
                        state.runRecord(job, run), "unindexed_run",
                        "the run is \(record.state.rawValue) but latest.json does not name it, so recovery would miss it",
                        repair: "name it in latest.json as the active run",
                        apply: {
                            var fixed = latest ?? LatestRuns(job: job)
                            fixed.active = RunSummary(record)
                            try store.saveLatest(fixed)
                        })
                }
                if record.state.isTerminal { ended.append(RunIndex.Entry(record)) }
                if record.state == .succeeded, let spec = try? store.loadSpec(job, run) {
                    let gone = spec.steps.map(\.id).filter {
                        !FileManager.default.fileExists(atPath: state.stepRecord(job, run, $0))
                    }
                    if !gone.isEmpty {
                        add(
                            state.stepsDirectory(job, run), "missing_step",
                            "the run succeeded but the records of \(gone.map(\.rawValue).joined(separator: ", ")) are "
                                + "gone, so its history is incomplete; put them back from a backup if you need them")
                    }
                }
                if record.interrupted == true {
                    add(
                        state.runRecord(job, run), "waiting_for_person", record.error ?? "interrupted", note: true)
                }
            }
            let missing = ended.filter { indexed[$0.id]?.state != $0.state }
            if !missing.isEmpty {
                add(
                    state.runIndex(job), "index_behind",
                    "\(missing.count) ended runs are missing from it or listed with an old state, so wfctl runs "
                        + "does not show them as they are (the newest: \(missing.last?.id.rawValue ?? ""))",
                    repair: "rebuild it from the run records",
                    apply: {
                        try index.rewrite(job, ended)
                        try RunHistory(directory: state).rebuild()
                    })
            }
            guard var latest else { continue }
            for (label, summary) in [("active", latest.active), ("last", latest.last)] {
                guard let summary, !FileManager.default.fileExists(atPath: state.runDirectory(job, summary.id)) else {
                    continue
                }
                add(
                    state.latest(job), "dangling_index",
                    "its \(label) run \(summary.id) does not exist", repair: "forget it",
                    apply: {
                        if label == "active" { latest.active = nil } else { latest.last = nil }
                        try store.saveLatest(latest)
                    })
            }
        }
        return findings
    }

    /// The jobs with runs on disk, including those whose file is gone.
    func runJobs() -> [JobID] {
        ((try? FileManager.default.contentsOfDirectory(atPath: state.runsRoot)) ?? []).compactMap(JobID.init).sorted()
    }

    func remove(_ path: String) throws {
        try FileManager.default.removeItem(atPath: path)
        try RecordFile.syncDirectory(PathName.parent(path))
    }
}
