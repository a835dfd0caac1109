import JobFormat
import RunModel

/// The paths of the state directory, in one place.
///
/// ```
/// wfd.lock                                  one daemon per state directory
/// jobs/<job>/lock                           held while a run of <job> is active
/// jobs/<job>/job.json                       the job as wfd last loaded it (for wfctl)
/// jobs/<job>/latest.json                    the newest and the active run
/// jobs/<job>/runs.jsonl                     one line per ended run, appended
/// jobs/<job>/inbox/<run>.json               a trigger accepted, its run not yet started
/// jobs/<job>/deliveries/<digest>            a webhook delivery taken, and its run
/// jobs/<job>/paths.json                     until when its path trigger has seen its files
/// runs/<job>/<run>/run.json                 the run record
/// runs/<job>/<run>/spec.json                the job definition the run started with
/// runs/<job>/<run>/payload.json             what the trigger carried (a webhook's body)
/// runs/<job>/<run>/steps/<step>.json        the step record, with every attempt
/// runs/<job>/<run>/logs/<step>.<n>.log      captured output of attempt n
/// ```
public struct StateDirectory: Sendable {
    public let root: String

    public init(root: String) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
    }

    public var daemonLock: String { "\(root)/wfd.lock" }
    /// How to reach the running wfd: its pid and control socket.
    public var daemonInfo: String { "\(root)/daemon.json" }
    /// Which layout the directory is in (``StateFormat``).
    public var formatFile: String { "\(root)/format.json" }
    public var jobsRoot: String { "\(root)/jobs" }
    /// A file directly in the state directory.
    public func file(_ name: String) -> String { "\(root)/\(name)" }
    public var runsRoot: String { "\(root)/runs" }

    public func jobDirectory(_ job: JobID) -> String { "\(jobsRoot)/\(job.rawValue)" }
    public func jobLock(_ job: JobID) -> String { "\(jobDirectory(job))/lock" }
    public func jobInfo(_ job: JobID) -> String { "\(jobDirectory(job))/job.json" }
    public func latest(_ job: JobID) -> String { "\(jobDirectory(job))/latest.json" }
    public func scheduleMark(_ job: JobID) -> String { "\(jobDirectory(job))/schedule.json" }
    /// One line per ended run, appended: `wfctl runs` reads its tail, whatever the history's size.
    public func runIndex(_ job: JobID) -> String { "\(jobDirectory(job))/runs.jsonl" }

    /// The idempotency keys of the job's manual runs (``IdempotencyKeys``).
    public func idempotencyKeys(_ job: JobID) -> String { "\(jobDirectory(job))/keys.json" }
    /// Triggers accepted and not yet started, one file each (``PendingTrigger``).
    public func inbox(_ job: JobID) -> String { "\(jobDirectory(job))/inbox" }
    /// Until when the job's path trigger has seen its files (``PathCursor``).
    public func pathCursor(_ job: JobID) -> String { "\(jobDirectory(job))/paths.json" }
    /// The deliveries a webhook took, one file each, named by a digest of the delivery's id.
    public func deliveries(_ job: JobID) -> String { "\(jobDirectory(job))/deliveries" }
    /// What a trigger carried (a webhook's body): `WF_TRIGGER_PAYLOAD_FILE`.
    public func payload(_ job: JobID, _ run: RunID) -> String { "\(runDirectory(job, run))/payload.json" }

    public func runsDirectory(_ job: JobID) -> String { "\(runsRoot)/\(job.rawValue)" }
    public func runDirectory(_ job: JobID, _ run: RunID) -> String { "\(runsDirectory(job))/\(run.rawValue)" }
    public func runRecord(_ job: JobID, _ run: RunID) -> String { "\(runDirectory(job, run))/run.json" }
    public func spec(_ job: JobID, _ run: RunID) -> String { "\(runDirectory(job, run))/spec.json" }
    public func stepsDirectory(_ job: JobID, _ run: RunID) -> String { "\(runDirectory(job, run))/steps" }
    public func stepRecord(_ job: JobID, _ run: RunID, _ step: StepID) -> String {
        "\(stepsDirectory(job, run))/\(step.rawValue).json"
    }
    public func logsDirectory(_ job: JobID, _ run: RunID) -> String { "\(runDirectory(job, run))/logs" }
    /// An agent step's transcript (``AgentTranscript``), one per item of a `for_each` step.
    public func agentTranscript(_ job: JobID, _ run: RunID, _ step: StepID, item: Int?) -> String {
        "\(runDirectory(job, run))/agent/\(step.rawValue)\(item.map { ".\($0)" } ?? "").json"
    }
    /// An attempt's log, from its path relative to the run directory (as kept in ``Attempt/log``).
    public func runFile(_ job: JobID, _ run: RunID, relative: String) -> String {
        "\(runDirectory(job, run))/\(relative)"
    }
}
