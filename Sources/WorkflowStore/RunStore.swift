import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import RuntimeSupport

/// Reads and writes runs, steps and the per-job indexes of one state directory.
///
/// Every write goes through ``RecordFile/write(_:to:)-(Encodable,String)``.
public struct RunStore: Sendable {
    public let directory: StateDirectory

    public init(directory: StateDirectory) { self.directory = directory }

    /// Writes the run record and keeps `latest.json` and, once it has ended, `runs.jsonl` in step with it.
    ///
    /// The order makes a crash between the two writes harmless: an active run is pointed at
    /// before its record says so (recovery then finds it, with or without its record), and a run
    /// that ended is recorded before the pointer lets go of it.
    /// Returns the job's `latest.json` as written.
    @discardableResult
    public func save(_ run: RunRecord) throws(StoreError) -> LatestRuns {
        var latest: LatestRuns
        do {
            latest = try loadLatest(run.job)
        } catch .missing {
            latest = LatestRuns(job: run.job)
        } catch .corrupt(let path, let reason) {
            try quarantine(path, reason: reason, at: Date())  // kept for a person, never silently replaced
            latest = LatestRuns(job: run.job)
        }
        if run.state.isTerminal {
            try RecordFile.write(run, to: directory.runRecord(run.job, run.id))
            // Before latest.json lets go of the run: a crash in between makes recovery save it
            // again (a second line for the same id) rather than leave it out of the index.
            let index = RunIndex(directory: directory)
            try index.append(run)
            latest.noteEnded(run) { index.recent(run.job, limit: LatestRuns.recentLimit) }
            if latest.active?.id == run.id { latest.active = nil }
            if latest.last.map({ $0.id <= run.id }) ?? true { latest.last = RunSummary(run) }
            try RecordFile.write(latest, to: directory.latest(run.job))
        } else {
            latest.active = RunSummary(run)
            try RecordFile.write(latest, to: directory.latest(run.job))
            try RecordFile.write(run, to: directory.runRecord(run.job, run.id))
        }
        return latest
    }

    /// Writes a step record; with `syncingDirectory: false` it is durable only after
    /// ``syncSteps(_:_:)`` (several records written together share that fsync).
    public func save(_ step: StepRecord, syncingDirectory: Bool = true) throws(StoreError) {
        try RecordFile.write(
            step, to: directory.stepRecord(step.job, step.run, step.step), syncingDirectory: syncingDirectory)
    }

    /// Makes the step records written into the run's `steps/` since its last fsync durable.
    public func syncSteps(_ job: JobID, _ run: RunID) throws(StoreError) {
        try RecordFile.syncDirectory(directory.stepsDirectory(job, run))
    }

    public func loadRun(_ job: JobID, _ run: RunID) throws(StoreError) -> RunRecord {
        try RecordFile.read(RunRecord.self, from: directory.runRecord(job, run))
    }

    public func loadStep(_ job: JobID, _ run: RunID, _ step: StepID) throws(StoreError) -> StepRecord {
        try RecordFile.read(StepRecord.self, from: directory.stepRecord(job, run, step))
    }

    /// The run with its step records, in the order of its definition; a step with no record yet is pending.
    /// Writes the run's frozen job definition, once, when the run is created.
    public func saveSpec(_ spec: Job, run: RunID) throws(StoreError) {
        try RecordFile.write(SpecRecord(job: spec), to: directory.spec(spec.id, run))
    }

    public func loadSpec(_ job: JobID, _ run: RunID) throws(StoreError) -> Job {
        try RecordFile.read(SpecRecord.self, from: directory.spec(job, run)).job
    }

    public func loadSnapshot(_ job: JobID, _ run: RunID) throws(StoreError) -> RunSnapshot {
        let record = try loadRun(job, run)
        let spec = try loadSpec(job, run)
        let load: @Sendable (StepDefinition) -> Result<StepRecord, StoreError> = { [self] definition in
            do throws(StoreError) {
                return .success(try loadStep(job, run, definition.id))
            } catch .missing {
                return .success(StepRecord(job: job, run: run, step: definition))
            } catch {
                return .failure(error)
            }
        }
        // Many steps are read on all cores (a 200-step run: the largest part of wfd-web's answer);
        // a few are not worth the threads.
        let loaded = spec.steps.count > 16 ? spec.steps.concurrentMap(load) : spec.steps.map(load)
        var steps: [StepRecord] = []
        steps.reserveCapacity(loaded.count)
        for result in loaded {
            switch result {
            case .success(let step): steps.append(step)
            case .failure(let error): throw error
            }
        }
        var snapshot = RunSnapshot(run: record, spec: spec, steps: steps)
        snapshot.payload = loadPayload(job, run, of: record)
        return snapshot
    }

    /// Writes an agent step's transcript durably (its directory made on first use).
    public func save(_ transcript: AgentTranscript) throws(StoreError) {
        try RecordFile.write(
            transcript,
            to: directory.agentTranscript(transcript.job, transcript.run, transcript.step, item: transcript.item))
    }

    /// An agent step's transcript; nil before its first model call.
    public func loadTranscript(_ job: JobID, _ run: RunID, _ step: StepID, item: Int?) throws(StoreError)
        -> AgentTranscript?
    {
        do {
            return try RecordFile.read(
                AgentTranscript.self, from: directory.agentTranscript(job, run, step, item: item))
        } catch .missing {
            return nil
        }
    }

    /// Writes what the trigger carried, durably, before the run record.
    public func savePayload(_ text: String, job: JobID, run: RunID) throws(StoreError) {
        try RecordFile.write(Data(text.utf8), to: directory.payload(job, run))
    }

    /// What the trigger that started `record` carried; nil for other runs (or when it is gone).
    public func loadPayload(_ job: JobID, _ run: RunID, of record: RunRecord) -> JSONValue? {
        guard record.origin != nil, let data = try? RecordFile.readData(directory.payload(job, run)) else {
            return nil
        }
        return JSONValue.parse(data)
    }

    public func saveLatest(_ latest: LatestRuns) throws(StoreError) {
        try RecordFile.write(latest, to: directory.latest(latest.job))
    }

    /// The active run `summary` names, for recovery, rebuilding what is missing or damaged
    /// rather than giving up on the run. A damaged record is moved aside first (see
    /// ``quarantine(_:reason:at:)``; the entries are returned for the log). A run record that was
    /// never written or is damaged is rebuilt from the frozen definition (`running` when a step
    /// has a record, else `queued`); a damaged step record becomes a running attempt of unknown
    /// outcome, which recovery then treats by the step's effect class: never a guess.
    ///
    /// - Throws: when the frozen definition itself cannot be read: nothing can be rebuilt.
    public func loadForRecovery(_ job: JobID, summary: RunSummary, at: Date) throws(StoreError) -> (
        RunSnapshot, [QuarantineLog.Entry]
    ) {
        var moved: [QuarantineLog.Entry] = []
        let spec: Job
        do {
            spec = try loadSpec(job, summary.id)
        } catch .corrupt(let path, let reason) {
            try quarantine(path, reason: reason, at: at)
            throw .corrupt(path: path, reason: reason)
        }
        var steps: [StepRecord] = []
        for definition in spec.steps {
            do {
                steps.append(try loadStep(job, summary.id, definition.id))
            } catch .missing {
                steps.append(StepRecord(job: job, run: summary.id, step: definition))
            } catch .corrupt(let path, let reason) {
                moved.append(try quarantine(path, reason: reason, at: at))
                var step = StepRecord(job: job, run: summary.id, step: definition)
                if definition.forEach != nil {
                    // Its items' states are lost: an effectful step's items could have done their
                    // work, so a person decides; others are fanned out and run again.
                    let effectful = (definition.effect ?? definition.defaultEffect) == .effectful
                    step.state = effectful ? .interrupted : .pending
                    step.error = "its record was damaged: which of its items ran is unknown"
                    steps.append(step)
                    continue
                }
                let prefix = "\(definition.id.rawValue)."
                let logs =
                    (try? FileManager.default.contentsOfDirectory(atPath: directory.logsDirectory(job, summary.id)))?
                    .filter { $0.hasPrefix(prefix) && $0.hasSuffix(".log") }.count ?? 0
                step.state = .running
                for number in 1...max(1, logs) {
                    step.attempts.append(
                        Attempt(number: number, plannedAt: at, log: "logs/\(definition.id.rawValue).\(number).log"))
                }
                step.error = "its record was damaged and rebuilt: the outcome of its last attempt is unknown"
                steps.append(step)
            }
        }
        var run: RunRecord
        do {
            run = try loadRun(job, summary.id)
        } catch .missing {
            run = RunRecord(
                job: spec, id: summary.id, trigger: summary.trigger, scheduledFor: summary.scheduledFor,
                createdAt: summary.startedAt ?? at)
        } catch .corrupt(let path, let reason) {
            moved.append(try quarantine(path, reason: reason, at: at))
            run = RunRecord(
                job: spec, id: summary.id, trigger: summary.trigger, scheduledFor: summary.scheduledFor,
                createdAt: summary.startedAt ?? at)
        }
        if run.state == .queued, steps.contains(where: { $0.state != .pending }) {
            run.state = .running
            run.startedAt = run.createdAt
        }
        var snapshot = RunSnapshot(run: run, spec: spec, steps: steps)
        snapshot.payload = loadPayload(job, summary.id, of: run)
        return (snapshot, moved)
    }

    public func loadLatest(_ job: JobID) throws(StoreError) -> LatestRuns {
        try RecordFile.read(LatestRuns.self, from: directory.latest(job))
    }

    /// `latest.json` without its list of recent outcomes (see ``LatestRunsHead``).
    public func loadLatestHead(_ job: JobID) throws(StoreError) -> LatestRunsHead {
        try RecordFile.read(LatestRunsHead.self, from: directory.latest(job), keys: ["last", "active", "success_rate"])
    }

    public func saveJobInfo(_ info: JobInfo) throws(StoreError) {
        try RecordFile.write(info, to: directory.jobInfo(info.job))
    }

    public func loadJobInfo(_ job: JobID) throws(StoreError) -> JobInfo {
        try RecordFile.read(JobInfo.self, from: directory.jobInfo(job))
    }

    /// `info` as `job.json` holds it (with the file's `loadedAt`) when the file says nothing else;
    /// nil when it differs, is missing or is damaged. Compares the bytes wfd would write for it
    /// rather than decoding the file (only its `loaded_at` is): start-up does this for every job.
    public func storedJobInfo(equalTo info: JobInfo) -> JobInfo? {
        struct LoadedAt: Decodable {
            var loadedAt: Date
            enum CodingKeys: String, CodingKey { case loadedAt = "loaded_at" }
        }
        guard let data = try? RecordFile.readData(directory.jobInfo(info.job)), let seq = RecordSeal.seq(of: data),
            let member = RecordFile.members(of: data, keeping: ["loaded_at"]),
            let loadedAt = try? RecordJSON.decode(LoadedAt.self, from: member).loadedAt
        else { return nil }
        var stored = info
        stored.loadedAt = loadedAt
        // Sealed like the file, equal bytes are an equal record with a matching checksum.
        guard let json = try? RecordJSON.encode(stored), RecordSeal.seal(json, seq: seq) == data else { return nil }
        return stored
    }

    /// Removes `job.json` of a job whose file is gone; its run history stays.
    public func removeJobInfo(_ job: JobID) throws(StoreError) {
        let path = directory.jobInfo(job)
        if unlink(path) != 0 && errno != ENOENT { throw .system(operation: "unlink", path: path, errno: errno) }
        try RecordFile.syncDirectory(directory.jobDirectory(job))
    }

    /// The jobs that have a directory under `jobs/`, sorted.
    public func knownJobs() -> [JobID] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.jobsRoot)) ?? []
        return names.compactMap(JobID.init).sorted()
    }

    /// The runs of `job` on disk, oldest first.
    public func runIDs(_ job: JobID) -> [RunID] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.runsDirectory(job))) ?? []
        return names.compactMap(RunID.init).sorted()
    }
}

extension RunStore {
    /// Deletes the runs of `job` that retention no longer keeps: beyond the newest `keepRuns`, or
    /// created more than `keepDays` ago. Never the active run, an unfinished one, or one that
    /// failed interrupted (it waits for a person); a run whose record cannot be read is left
    /// for `wfctl fsck`. Rewrites the job's index without them. Returns what was deleted.
    public func applyRetention(_ job: JobID, keepRuns: Int, keepDays: Int, now: Date) throws(StoreError) -> [RunID] {
        let runs = runIDs(job)
        let active = (try? loadLatest(job))?.active?.id
        let cutoff = now.addingTimeInterval(-Double(keepDays) * 86_400)
        let excess = runs.count - keepRuns
        var removed: [RunID] = []
        for (position, run) in runs.enumerated() where run != active {
            guard position < excess || (run.createdAt ?? now) < cutoff else { continue }
            if let record = try? loadRun(job, run) {
                guard record.state.isTerminal, record.interrupted != true else { continue }
            } else if FileManager.default.fileExists(atPath: directory.runRecord(job, run)) {
                continue  // unreadable: for a person, through wfctl fsck
            }
            do {
                try FileManager.default.removeItem(atPath: directory.runDirectory(job, run))
            } catch {
                throw .system(operation: "remove", path: directory.runDirectory(job, run), errno: errno)
            }
            removed.append(run)
        }
        guard !removed.isEmpty else { return [] }
        try RecordFile.syncDirectory(directory.runsDirectory(job))
        let index = RunIndex(directory: directory)
        let gone = Set(removed)
        try index.rewrite(job, index.all(job).values.filter { !gone.contains($0.id) }.sorted { $0.id < $1.id })
        return removed
    }
}

/// `runs/<job>/<run>/spec.json`: the job definition a run started with.
struct SpecRecord: Codable {
    static let currentVersion = 1
    var version = currentVersion
    var job: Job
}
