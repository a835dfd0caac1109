import ArgumentParser
import Foundation
import JobFormat
import Schedules
import WorkflowControl
import WorkflowStore

struct Cancel: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop an active run: its steps get SIGTERM, a grace period, then SIGKILL.",
        discussion: """
            Pending steps are skipped and the run ends 'cancelled'. With --wait, wfctl returns once \
            the run has ended.

            --json prints {"ok", "message", "error", "run"} (with --wait, once the run has ended, \
            {"job", "run", "state", "error"}).

            Exit codes: 0 cancelled, 1 the run is not active, 64 usage, 69 wfd is not running, 77 \
            permission denied.
            """
    )

    @Argument(help: ArgumentHelp("The run id (wfctl status shows active runs).", valueName: "run"))
    var target: String

    @Flag(help: "Wait until the run has ended.")
    var wait = false

    @Flag(help: "Print the answer as JSON.")
    var json = false

    @OptionGroup var daemon: DaemonOptions

    @OptionGroup var options: StateOptions

    func validate() throws {
        guard RunID(target) != nil else { throw ValidationError("'\(target)' is not a run id") }
    }

    func run() throws {
        let state = options.directory
        guard let run = RunID(target) else { throw ValidationError("'\(target)' is not a run id") }
        let response = try sendToDaemon(.cancel(run), state: state, socket: daemon.socket, timeout: .seconds(30))
        guard response.ok else {
            if json { print(String(decoding: try ControlFraming.encode(response), as: UTF8.self), terminator: "") }
            throw CommandFailure(
                description: json ? "" : response.message,
                code: response.exitCode)
        }
        guard wait, let runID = RunID(target) else {
            print(
                json ? String(decoding: try ControlFraming.encode(response), as: UTF8.self) : response.message,
                terminator: json ? "" : "\n")
            return
        }
        if !json { print(response.message) }
        let job = try jobOfRun(runID, in: state)
        let record = try followRun(runID, of: job, state: state, quiet: true)
        if json {
            let output = Run.Output(job: job.rawValue, run: target, state: record.state.rawValue, error: record.error)
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(output) + Data("\n".utf8))
        } else {
            print("run \(target): \(record.state.rawValue)")
        }
    }
}
