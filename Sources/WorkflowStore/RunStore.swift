import Foundation
import WorkflowCore

/// Reads and writes runs, steps and the per-job indexes of one state directory.
///
/// Every write goes through ``RecordFile/write(_:to:)-(Encodable,String)``.
public struct RunStore: Sendable {
    public let directory: StateDirectory

    public init(directory: StateDirectory) { self.directory = directory }

    /// Writes the run record and keeps `latest.json` in step with it.
    ///
    /// The order makes a crash between the two writes harmless: an active run is pointed at
    /// before its record says so (recovery then finds it, with or without its record), and a run
    /// that ended is recorded before the pointer lets go of it.
    public func save(_ run: RunRecord) throws(StoreError) {
        var latest = (try? loadLatest(run.job)) ?? LatestRuns(job: run.job)
        if run.state.isTerminal {
            try RecordFile.write(run, to: directory.runRecord(run.job, run.id))
            if latest.active?.id == run.id { latest.active = nil }
            if latest.last.map({ $0.id <= run.id }) ?? true { latest.last = RunSummary(run) }
            try RecordFile.write(latest, to: directory.latest(run.job))
        } else {
            latest.active = RunSummary(run)
            try RecordFile.write(latest, to: directory.latest(run.job))
            try RecordFile.write(run, to: directory.runRecord(run.job, run.id))
        }
    }

    public func save(_ step: StepRecord) throws(StoreError) {
        try RecordFile.write(step, to: directory.stepRecord(step.job, step.run, step.step))
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
        var steps: [StepRecord] = []
        for definition in spec.steps {
            do {
                steps.append(try loadStep(job, run, definition.id))
            } catch .missing {
                steps.append(StepRecord(job: job, run: run, step: definition))
            }
        }
        return RunSnapshot(run: record, spec: spec, steps: steps)
    }

    public func saveLatest(_ latest: LatestRuns) throws(StoreError) {
        try RecordFile.write(latest, to: directory.latest(latest.job))
    }

    public func loadLatest(_ job: JobID) throws(StoreError) -> LatestRuns {
        try RecordFile.read(LatestRuns.self, from: directory.latest(job))
    }

    public func saveJobInfo(_ info: JobInfo) throws(StoreError) {
        try RecordFile.write(info, to: directory.jobInfo(info.job))
    }

    public func loadJobInfo(_ job: JobID) throws(StoreError) -> JobInfo {
        try RecordFile.read(JobInfo.self, from: directory.jobInfo(job))
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

/// `runs/<job>/<run>/spec.json`: the job definition a run started with.
struct SpecRecord: Codable {
    static let currentVersion = 1
    var version = currentVersion
    var job: Job
}
