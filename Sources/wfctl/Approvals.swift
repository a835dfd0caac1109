import ArgumentParser
import Foundation
import JSONSchemaKit
import JobFormat
import Schedules
import WorkflowControl
import WorkflowReports
import WorkflowStore

struct Pending: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the steps that wait for a person: approvals, and model calls over budget.",
        discussion: """
            Read from the state directory, so it answers while wfd is stopped (a wait survives \
            restarts). Decide with wfctl approve RUN STEP or wfctl reject RUN STEP.

            Example:
              wfctl pending
              wfctl pending --json | jq -r '.[] | .approve'

            --json prints [{"job", "run", "step", "item", "kind", "since", "deadline", "message", \
            "approve"}]. Exit codes: 0 listed (even none), 1 the state directory cannot be read.
            """
    )

    @Flag(help: "Print the list as JSON.")
    var json = false

    @OptionGroup var options: StateOptions

    func run() throws {
        let pending = PendingDecision.load(options.directory)
        if json {
            print(String(decoding: try Timestamp.makeEncoder().encode(pending), as: UTF8.self))
            return
        }
        guard !pending.isEmpty else {
            print("nothing waits for a decision")
            return
        }
        let now = Date()
        for entry in pending {
            let item = entry.item.map { "[\($0)]" } ?? ""
            let until = entry.deadline.map { "; decided by its timeout \(StatusTable.ago($0, now: now))" } ?? ""
            print(
                "\(entry.run)  \(entry.job)  \(entry.step)\(item)  \(entry.kind), since \(StatusTable.ago(entry.since, now: now))\(until)"
            )
            print("    \(entry.message)")
            print("    \(entry.approve)   (or: wfctl reject \(entry.run) \(entry.step))")
        }
    }
}

/// The options `approve` and `reject` share.
struct DecisionOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The run (see wfctl pending).", valueName: "run"))
    var run: String

    @Argument(help: ArgumentHelp("The waiting step.", valueName: "step"))
    var step: String

    @Option(help: ArgumentHelp("The item of a for_each step that waits.", valueName: "n"))
    var item: Int?

    @Option(help: ArgumentHelp("Why, in your words; kept with the decision.", valueName: "text"))
    var comment: String?

    @Flag(help: "Print the answer as JSON: {\"ok\", \"message\", \"error\", \"run\"}.")
    var json = false

    func validate() throws {
        guard RunID(run) != nil else { throw ValidationError("'\(run)' is not a run id (see wfctl pending)") }
        guard StepID(step) != nil else { throw ValidationError("'\(step)' is not a step id: \(StepID.rule)") }
        if let item, item < 0 { throw ValidationError("--item is a position in the step's array, from 0") }
    }

    /// The request for `command` (`approve` or `reject`) on this step.
    func request(approve: Bool) throws -> ControlCommand.Decision {
        guard let runID = RunID(run), let stepID = StepID(step) else {
            throw ValidationError("'\(run)' is not a run id or '\(step)' not a step id")
        }
        var decision = ControlCommand.Decision(approve: approve, run: runID, step: stepID)
        (decision.item, decision.comment) = (item, comment)
        return decision
    }

    /// Sends the decision and prints wfd's answer; throws with exit code 1 when it was refused.
    func send(_ decision: ControlCommand.Decision, daemon: DaemonOptions, state: StateOptions) throws {
        let response = try sendToDaemon(
            .decide(decision), state: state.directory, socket: daemon.socket, timeout: .seconds(40))
        if json {
            print(String(decoding: try ControlFraming.encode(response), as: UTF8.self), terminator: "")
        } else if response.ok {
            print(response.message)
        }
        guard response.ok else {
            throw CommandFailure(
                description: json ? "" : response.message,
                code: response.exitCode)
        }
    }
}

struct Approve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Approve a step that waits: an approval, or a model call over its budget.",
        discussion: """
            The decision is recorded with who took it (your uid and user name, from the control \
            socket) and when, and the run goes on. An approval with an 'input' schema needs the data \
            it asks for, as JSON, checked against that schema; it becomes the step's output.

            Examples:
              wfctl approve 20261129T090000.000Z-3f2a1c confirm --comment "checked the list"
              wfctl approve 20261129T090000.000Z-3f2a1c pick --input '{"ticket": "T-42"}'

            Exit codes: 0 approved, 1 refused (not waiting, input not valid), 64 usage, 69 wfd is \
            not running, 77 permission denied.
            """
    )

    @OptionGroup var decision: DecisionOptions

    @Option(
        help: ArgumentHelp("The data the approval asks for, as JSON ('-' reads standard input).", valueName: "json"))
    var input: String?

    @OptionGroup var daemon: DaemonOptions

    @OptionGroup var options: StateOptions

    func run() throws {
        var request = try decision.request(approve: true)
        if let input {
            let text =
                input == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : input
            guard JSONValue.parse(Data(text.utf8)) != nil else {
                throw CommandFailure(description: "--input is not JSON: \(text.prefix(80))", code: .badData)
            }
            request.input = text
        }
        try decision.send(request, daemon: daemon, state: options)
    }
}

struct Reject: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reject a step that waits: the step fails (and is not retried), and so does the run.",
        discussion: """
            Example:
              wfctl reject 20261129T090000.000Z-3f2a1c confirm --comment "two of these are not done"

            Exit codes: 0 rejected, 1 refused (not waiting), 64 usage, 69 wfd is not running, 77 \
            permission denied.
            """
    )

    @OptionGroup var decision: DecisionOptions

    @OptionGroup var daemon: DaemonOptions

    @OptionGroup var options: StateOptions

    func run() throws {
        try decision.send(try decision.request(approve: false), daemon: daemon, state: options)
    }
}
