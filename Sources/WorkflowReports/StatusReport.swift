import Foundation
import JobFormat
import RunModel
import Schedules
import WorkflowStore

/// What `wfctl status` shows, built from the state directory alone so it answers while wfd is down.
///
/// Reads `jobs/<job>/job.json` and `latest.json` per job: O(jobs), never O(history).
public struct StatusReport: Sendable, Codable, Equatable {
    public static let currentVersion = 1

    public var version: Int
    public var stateDirectory: String
    public var daemon: Daemon
    public var jobs: [JobStatus]
    /// Records wfd moved aside because they failed their checks (`quarantine.json`), newest last.
    public var quarantined: [QuarantineLog.Entry] = []

    /// Whether a wfd holds the state directory's lock, and which (from `daemon.json`).
    public struct Daemon: Sendable, Codable, Equatable {
        public var running: Bool
        public var pid: Int32?
        public var startedAt: Date?
        public var version: String?
        /// How its run steps start: `unit` or `process`.
        public var executor: String?

        public init(
            running: Bool, pid: Int32? = nil, startedAt: Date? = nil, version: String? = nil, executor: String? = nil
        ) {
            self.running = running
            self.pid = pid
            self.startedAt = startedAt
            self.version = version
            self.executor = executor
        }

        enum CodingKeys: String, CodingKey {
            case running, pid, version, executor
            case startedAt = "started_at"
        }
    }

    /// How the newest ended runs of a job went.
    public struct SuccessRate: Sendable, Codable, Equatable {
        public var succeeded: Int
        /// The runs counted: the newest ended ones, at most 20.
        public var ended: Int

        /// Nil when no run ended.
        public init?(_ counts: SuccessCounts) {
            guard counts.ended > 0 else { return nil }
            (succeeded, ended) = (counts.succeeded, counts.ended)
        }
    }

    /// One job's line.
    public struct JobStatus: Sendable, Codable, Equatable {
        public var job: JobID
        public var description: String?
        public var file: String
        /// `active`, `disabled` or `invalid`.
        public var state: JobInfo.State
        public var schedules: [String]
        /// What else starts its runs (`on:`): `webhook (github)`, `path …`, `job build (succeeded)`.
        public var triggers: [String]?
        public var timezone: String?
        /// The next fire time after now, from the schedule.
        public var nextFire: Date?
        public var lastRun: RunSummary?
        /// True when a run is active and a wfd is alive to run it.
        public var running: Bool
        public var activeRun: RunSummary?
        /// Problems in the job file as it is now (the last valid version runs meanwhile).
        public var errors: [Diagnostic]
        /// The latest scheduling decisions that were not a plain on-time start (newest last, at
        /// most 3): skipped, queued, replaced, or started for a missed fire time (trigger
        /// `catchup`), each with its reason.
        public var decisions: [ScheduleMark.Decision] = []
        /// Of the newest 20 ended runs, how many succeeded.
        public var successRate: SuccessRate?

        /// A job's line from what is known of it: `active` is its active run when a wfd is alive
        /// to run it (so `running` is true).
        public init(
            info: JobInfo, nextFire: Date?, last: RunSummary?, active: RunSummary?, successRate: SuccessRate?,
            decisions: [ScheduleMark.Decision]
        ) {
            job = info.job
            description = info.description
            file = info.file
            state = info.state
            schedules = info.schedules
            triggers = info.triggers
            timezone = info.timezone
            self.nextFire = nextFire
            lastRun = last
            running = active != nil
            activeRun = active
            errors = info.errors
            self.decisions = decisions
            self.successRate = successRate
        }

        init(
            job: JobID, file: String, state: JobInfo.State, schedules: [String], running: Bool,
            errors: [Diagnostic]
        ) {
            self.job = job
            self.file = file
            self.state = state
            self.schedules = schedules
            self.running = running
            self.errors = errors
        }

        enum CodingKeys: String, CodingKey {
            case job, description, file, state, schedules, triggers, timezone, running, errors, decisions
            case nextFire = "next_fire"
            case lastRun = "last_run"
            case activeRun = "active_run"
            case successRate = "success_rate"
        }
    }

    enum CodingKeys: String, CodingKey {
        case version, daemon, jobs, quarantined
        case stateDirectory = "state_directory"
    }

    public init(stateDirectory: String, daemon: Daemon, jobs: [JobStatus], quarantined: [QuarantineLog.Entry]) {
        version = Self.currentVersion
        self.stateDirectory = stateDirectory
        self.daemon = daemon
        self.jobs = jobs
        self.quarantined = quarantined
    }

    /// The next fire time of a job after `now`, from its schedules, when it is enabled.
    public static func nextFire(of info: JobInfo, after now: Date, hostZone: TimeZone) -> Date? {
        guard info.enabled else { return nil }
        let zone = info.timezone.flatMap(TimeZone.init(identifier:)) ?? hostZone
        return info.schedules.compactMap { try? Schedule(parsing: $0) }.compactMap { $0.nextFire(after: now, in: zone) }
            .min()
    }

    /// Of the newest 20 ended runs, how many succeeded: from `latest.json` when it keeps them,
    /// else from the run index.
    public static func successRate(of job: JobID, latest: LatestRunsHead?, state: StateDirectory) -> SuccessRate? {
        if let counts = latest?.successRate { return SuccessRate(counts) }
        let recent = RunIndex(directory: state).recent(job, limit: LatestRuns.recentLimit)
        return SuccessRate(
            SuccessCounts(succeeded: recent.filter { $0.state == .succeeded }.count, ended: recent.count))
    }

    /// Builds the report for `state` as of `now`.
    ///
    /// - Throws: ``StoreError`` when the state directory itself cannot be read; a single job's
    ///   unreadable record is reported in that job's `errors` instead.
    public static func load(
        state: StateDirectory, now: Date, hostZone: TimeZone, only: JobID? = nil
    ) throws(StoreError) -> StatusReport {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: state.root, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw .missing(path: state.root)
        }
        guard access(state.root, R_OK | X_OK) == 0 else {
            throw .system(operation: "read", path: state.root, errno: errno)
        }
        let store = RunStore(directory: state)
        let daemonRunning = FileLock.isHeld(state.daemonLock)
        let ids = only.map { [$0] } ?? store.knownJobs()
        let jobs = ids.compactMap {
            job($0, store: store, now: now, hostZone: hostZone, daemonRunning: daemonRunning)
        }
        var daemon = Daemon(running: daemonRunning)
        if daemonRunning, let info = try? RecordFile.read(DaemonInfo.self, from: state.daemonInfo) {
            (daemon.pid, daemon.startedAt, daemon.version) = (info.pid, info.startedAt, info.wfdVersion)
        }
        return StatusReport(
            stateDirectory: state.root, daemon: daemon, jobs: jobs, quarantined: store.loadQuarantineLog().entries)
    }

    /// One job's status from its records; nil for a job whose file was removed (history only).
    static func job(
        _ id: JobID, store: RunStore, now: Date, hostZone: TimeZone, daemonRunning: Bool
    ) -> JobStatus? {
        let state = store.directory
        let info: JobInfo
        do {
            info = try store.loadJobInfo(id)
        } catch .missing {
            return nil
        } catch {
            return JobStatus(
                job: id, file: "", state: .invalid, schedules: [], running: false,
                errors: [Diagnostic(file: state.jobInfo(id), line: 0, column: 0, message: error.description)])
        }
        let head = try? store.loadScheduleMarkHead(id)
        let decisions = head?.notable ?? (try? store.loadScheduleMark(id))?.notable ?? []
        var latest: LatestRunsHead?
        var problems: [Diagnostic] = []
        do {
            latest = try store.loadLatestHead(id)
        } catch .missing {
        } catch {
            problems.append(Diagnostic(file: state.latest(id), line: 0, column: 0, message: error.description))
        }
        var status = JobStatus(
            info: info, nextFire: nextFire(of: info, after: now, hostZone: hostZone),
            last: latest?.last, active: daemonRunning ? latest?.active : nil,
            successRate: successRate(of: id, latest: latest, state: state), decisions: decisions)
        if !daemonRunning { status.activeRun = latest?.active }
        status.errors += problems
        return status
    }
}
