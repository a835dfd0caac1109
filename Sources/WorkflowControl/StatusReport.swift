import Foundation
import WorkflowCore
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

        public init(running: Bool, pid: Int32? = nil, startedAt: Date? = nil, version: String? = nil) {
            self.running = running
            self.pid = pid
            self.startedAt = startedAt
            self.version = version
        }

        enum CodingKeys: String, CodingKey {
            case running, pid, version
            case startedAt = "started_at"
        }
    }

    /// How the newest ended runs of a job went.
    public struct SuccessRate: Sendable, Codable, Equatable {
        public var succeeded: Int
        /// The runs counted: the newest ended ones, at most 20.
        public var ended: Int
    }

    /// One job's line.
    public struct JobStatus: Sendable, Codable, Equatable {
        public var job: JobID
        public var description: String?
        public var file: String
        /// `active`, `disabled` or `invalid`.
        public var state: JobInfo.State
        public var schedules: [String]
        public var timezone: String?
        /// The next fire time after now, from the schedule.
        public var nextFire: Date?
        public var lastRun: RunSummary?
        /// True when a run is active and a wfd is alive to run it.
        public var running: Bool
        public var activeRun: RunSummary?
        /// Problems in the job file as it is now (the last valid version runs meanwhile).
        public var errors: [Diagnostic]
        /// The latest scheduling decisions (newest last): started, skipped, queued, replaced,
        /// each with its trigger (`catchup` for a missed fire time) and reason.
        public var decisions: [ScheduleMark.Decision] = []
        /// Of the newest 20 ended runs, how many succeeded.
        public var successRate: SuccessRate?

        enum CodingKeys: String, CodingKey {
            case job, description, file, state, schedules, timezone, running, errors, decisions
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

    /// Builds the report for `state` as of `now`.
    ///
    /// - Throws: ``StoreError`` when the state directory itself cannot be read; a single job's
    ///   unreadable record is reported in that job's `errors` instead.
    public static func load(state: StateDirectory, now: Date, hostZone: TimeZone) throws(StoreError) -> StatusReport {
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
        var jobs: [JobStatus] = []
        for id in store.knownJobs() {
            let info: JobInfo
            do {
                info = try store.loadJobInfo(id)
            } catch .missing {
                continue  // a job whose file was removed: history only
            } catch {
                jobs.append(
                    JobStatus(
                        job: id, file: "", state: .invalid, schedules: [], running: false,
                        errors: [Diagnostic(file: state.jobInfo(id), line: 0, column: 0, message: error.description)]))
                continue
            }
            var status = JobStatus(
                job: id, description: info.description, file: info.file, state: info.state,
                schedules: info.schedules, timezone: info.timezone, running: false, errors: info.errors)
            if info.enabled {
                let zone = info.timezone.flatMap(TimeZone.init(identifier:)) ?? hostZone
                status.nextFire = info.schedules.compactMap { try? Schedule(parsing: $0) }
                    .compactMap { $0.nextFire(after: now, in: zone) }.min()
            }
            status.decisions = (try? store.loadScheduleMark(id))?.recent ?? []
            let recent = RunIndex(directory: state).recent(id, limit: 20)
            if !recent.isEmpty {
                status.successRate = SuccessRate(
                    succeeded: recent.filter { $0.state == .succeeded }.count, ended: recent.count)
            }
            do {
                let latest = try store.loadLatest(id)
                status.lastRun = latest.last
                status.activeRun = latest.active
                status.running = daemonRunning && latest.active != nil
            } catch .missing {
            } catch {
                status.errors.append(Diagnostic(file: state.latest(id), line: 0, column: 0, message: error.description))
            }
            jobs.append(status)
        }
        var daemon = Daemon(running: daemonRunning)
        if daemonRunning, let info = try? RecordFile.read(DaemonInfo.self, from: state.daemonInfo) {
            (daemon.pid, daemon.startedAt, daemon.version) = (info.pid, info.startedAt, info.wfdVersion)
        }
        var report = StatusReport(
            version: currentVersion, stateDirectory: state.root, daemon: daemon, jobs: jobs)
        report.quarantined = store.loadQuarantineLog().entries
        return report
    }
}
