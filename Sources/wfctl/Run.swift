import ArgumentParser
import Foundation
import JobFormat
import RunModel
import Schedules
import WorkflowControl
import WorkflowReports
import WorkflowStore

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a run of a job now.",
        discussion: """
            The run's trigger is 'manual'; it takes the job's lock like a scheduled run, so it does \
            not start while another run of the job is active.

            Examples:
              wfctl run backup
              wfctl run report --param day=2026-11-24 --wait && echo "report done"
              wfctl run deploy --key release-1.4.2    # a second call starts nothing
              wfctl run release-aftermath --dry-run   # what it would do, and its worst cost

            Exit codes: 0 started (with --wait: succeeded), 1 refused or (with --wait) the run did \
            not succeed, 69 wfd is not running, 77 permission denied.
            """
    )

    @Argument(help: ArgumentHelp("The job to run.", valueName: "job"))
    var job: String

    @Option(
        name: .customLong("param"),
        help: ArgumentHelp(
            "A parameter of the run, as name=value (repeatable); the step sees it as $WF_PARAM_<NAME>.",
            valueName: "name=value"))
    var params: [String] = []

    @Option(
        help: ArgumentHelp(
            "An idempotency key: when a run was started with it already (with the same parameters), start nothing and report that run, also after wfd restarts.",
            valueName: "key"))
    var key: String?

    @Flag(help: "Follow the run, printing each step as it changes, and exit with its outcome (0 only if it succeeded).")
    var wait = false

    @Flag(
        help: ArgumentHelp(
            "Start nothing: show what a run would do (its steps in order, the conditions these parameters decide, each model call's worst case against the budget, the approvals it would wait for), from the job as wfd loaded it and wfd's prices."
        ))
    var dryRun = false

    @Flag(help: "Print the result as JSON: {\"job\", \"run\", \"state\", \"error\", \"existing\" (with --key)}.")
    var json = false

    @OptionGroup var daemon: DaemonOptions

    @OptionGroup var options: StateOptions

    struct Output: Codable {
        var job: String
        var run: String
        var state: String
        var error: String?
        /// With --key: whether the run was started by an earlier call with the key.
        var existing: Bool?
    }

    func validate() throws {
        guard JobID(job) != nil else { throw ValidationError("'\(job)' is not a job id: \(JobID.rule)") }
        for param in params where !param.contains("=") || param.hasPrefix("=") {
            throw ValidationError("--param takes name=value, not '\(param)'")
        }
        if dryRun && (wait || key != nil) {
            throw ValidationError("--dry-run starts nothing: it takes no --wait or --key")
        }
        if let key, !ControlRequest.isIdempotencyKey(key) {
            throw ValidationError("--key takes 1 to 255 visible ASCII characters, not '\(key)'")
        }
    }

    func run() throws {
        let state = options.directory
        guard let jobID = JobID(job) else { throw ValidationError("'\(job)' is not a job id: \(JobID.rule)") }
        var values: [String: String] = [:]
        for param in params {
            let name = String(param.prefix { $0 != "=" })
            guard values[name] == nil else { throw ValidationError("--param \(name) is given twice") }
            values[name] = String(param.dropFirst(name.count + 1))
        }
        if dryRun {
            let response = try sendToDaemon(
                .preview(jobID, params: values), state: state, socket: daemon.socket, timeout: .seconds(30))
            guard response.ok else { throw CommandFailure(description: response.message, code: response.exitCode) }
            if json {
                print(response.message)
            } else {
                let preview = try JSONDecoder().decode(RunPreview.self, from: Data(response.message.utf8))
                print(PreviewText.render(preview), terminator: "")
            }
            return
        }
        let response = try sendToDaemon(
            .run(jobID, params: values, key: key), state: state, socket: daemon.socket, timeout: .seconds(60))
        guard response.ok, let runName = response.run, let runID = RunID(runName) else {
            throw CommandFailure(
                description: response.message, code: response.exitCode)
        }
        var output = Output(job: job, run: runName, state: "running", error: nil, existing: response.existing)
        if response.existing == true, let record = try? RunStore(directory: state).loadRun(jobID, runID) {
            (output.state, output.error) = (record.state.rawValue, record.error)
        }
        if wait {
            if !json { print(response.message) }
            let record = try followRun(runID, of: jobID, state: state, quiet: json)
            output.state = record.state.rawValue
            output.error = record.error
        }
        if json {
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(output) + Data("\n".utf8))
        } else if wait {
            print("run \(runName) of \(job): \(output.state)" + (output.error.map { ": \($0)" } ?? ""))
        } else {
            print(response.message)
        }
        if wait && output.state != RunState.succeeded.rawValue { throw ExitCode(WfctlExit.failed.rawValue) }
    }
}
