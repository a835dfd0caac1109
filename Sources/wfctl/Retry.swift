import ArgumentParser
import Foundation
import JobFormat
import RunModel
import Schedules
import WorkflowControl
import WorkflowStore

struct Retry: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run an ended run again from its failed steps, keeping the steps that succeeded.",
        discussion: """
            The run keeps its id and its frozen job definition. Every step that did not succeed \
            runs again as a new attempt, and so does everything after it; steps that succeeded are \
            not run again (their outputs are kept). --from STEP also runs STEP and everything after \
            it again, even if they succeeded.

            A run that failed as 'interrupted' had an effectful step running when wfd stopped: \
            whether it did its work is unknown. Check, then either run it again (wfctl retry RUN) \
            or record it as done by hand with --skip STEP, giving its output with --output FILE \
            (the k-th --output belongs to the k-th --skip; '-' reads standard input).

            Examples:
              wfctl retry 20261125T061502Z-3f2a1c
              wfctl retry 20261125T061502Z-3f2a1c --from publish --wait
              wfctl retry 20261125T061502Z-3f2a1c --skip charge --output charge-result.json

            Exit codes: 0 retried (with --wait: the run succeeded), 1 refused or (with --wait) the \
            run did not succeed, 69 wfd is not running, 77 permission denied.
            """
    )

    @Argument(help: ArgumentHelp("The run id (see wfctl runs).", valueName: "run"))
    var target: String

    @Option(help: ArgumentHelp("Also run this step and everything after it again.", valueName: "step"))
    var from: String?

    @Option(help: ArgumentHelp("Record this step as done without running it (repeatable).", valueName: "step"))
    var skip: [String] = []

    @Option(help: ArgumentHelp("The output of the k-th skipped step: a file, or - for stdin.", valueName: "file"))
    var output: [String] = []

    @Flag(help: "Follow the run, printing each step as it changes, and exit with its outcome.")
    var wait = false

    @Flag(help: "Print the result as JSON: {\"job\", \"run\", \"state\", \"error\"}.")
    var json = false

    @OptionGroup var daemon: DaemonOptions

    @OptionGroup var options: StateOptions

    func validate() throws {
        guard RunID(target) != nil else { throw ValidationError("'\(target)' is not a run id") }
        for step in [from].compactMap({ $0 }) + skip where StepID(step) == nil {
            throw ValidationError("'\(step)' is not a step id: \(StepID.rule)")
        }
        guard output.count <= skip.count else {
            throw ValidationError(
                "--output gives the output of a --skip step: \(output.count) outputs for \(skip.count) skipped steps")
        }
        guard output.filter({ $0 == "-" }).count <= 1 else { throw ValidationError("only one --output can read stdin") }
    }

    func run() throws {
        let state = options.directory
        guard let runID = RunID(target) else { throw ValidationError("'\(target)' is not a run id") }
        let job = try jobOfRun(runID, in: state)
        var outputs: [String: String] = [:]
        for (step, file) in zip(skip, output) {
            let data: Data
            do {
                data =
                    file == "-"
                    ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
            } catch {
                throw CommandFailure(
                    description: "cannot read the output of '\(step)' from \(file): \(error.localizedDescription)",
                    code: .failed)
            }
            guard let text = String(data: data, encoding: .utf8), !text.utf8.contains(0) else {
                throw CommandFailure(description: "the output of '\(step)' in \(file) is not UTF-8 text", code: .failed)
            }
            outputs[step] = text
        }
        let steps = try ([from].compactMap { $0 } + skip).map { name in
            guard let id = StepID(name) else { throw ValidationError("'\(name)' is not a step id: \(StepID.rule)") }
            return id
        }
        let texts = outputs.compactMap { name, text in StepID(name).map { ($0, text) } }
        let command = ControlCommand.retry(
            job, runID, from: from == nil ? nil : steps.first, skip: Array(steps.dropFirst(from == nil ? 0 : 1)),
            outputs: Dictionary(texts, uniquingKeysWith: { first, _ in first }))
        let response = try sendToDaemon(command, state: state, socket: daemon.socket, timeout: .seconds(60))
        guard response.ok else {
            throw CommandFailure(
                description: response.message, code: response.exitCode)
        }
        if !json { print(response.message) }
        var result = Run.Output(job: job.rawValue, run: target, state: RunState.running.rawValue, error: nil)
        if wait {
            let record = try followRun(runID, of: job, state: state, quiet: json)
            result.state = record.state.rawValue
            result.error = record.error
            if !json {
                print("run \(target) of \(job): \(record.state.rawValue)" + (record.error.map { ": \($0)" } ?? ""))
            }
        }
        if json { FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(result) + Data("\n".utf8)) }
        if wait && result.state != RunState.succeeded.rawValue { throw ExitCode(WfctlExit.failed.rawValue) }
    }
}
