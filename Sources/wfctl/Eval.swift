import ArgumentParser
import Foundation
import JSONSchemaKit
import JobFormat
import WorkflowControl
import WorkflowStore

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Try an llm step as it is defined now on the inputs it had before, and say how it compares.",
        discussion: """
            Each case is the values the step's templates read in a run where it succeeded (the \
            newest --runs of them), or one of --cases FILE: a JSON array of {"params": {...}, \
            "outputs": {"step": value}, "item": value, "expected": value}. wfd calls the model \
            once per case with the step's current prompt, model and schema (repairs included), \
            held to the job's budget as a run and to its daily budget (the calls count in the \
            day's spend); nothing else is written. The report: how many answers met the schema, \
            how many agreed with the earlier output exactly and field by field, the cost and the \
            median latency. Change the prompt or the model, reload, and eval before the change \
            reaches a run.

            Examples:
              wfctl eval release-aftermath classify --runs 20
              wfctl eval triage label --cases edge-cases.json --json

            Exit codes: 0 evaluated, 1 refused (no such step, not an llm step, no run to take \
            inputs from), 65 the cases file is not valid, 69 wfd is not running.
            """
    )

    @Argument(help: ArgumentHelp("The job.", valueName: "job")) var job: String
    @Argument(help: ArgumentHelp("Its llm step.", valueName: "step")) var step: String

    @Option(
        help: ArgumentHelp("How many of the newest runs where the step succeeded to take inputs from.", valueName: "n"))
    var runs = 10

    @Option(help: ArgumentHelp("A JSON file of cases instead of recorded runs.", valueName: "file"))
    var cases: String?

    @Flag(
        help:
            "Print the report as JSON: {job, step, model, cases: [{source, outcome, output, expected, agrees, calls, cost_usd, milliseconds, error}], schema_passed, agreed, compared, field_agreement, cost_usd, p50_ms}."
    )
    var json = false

    @OptionGroup var daemon: DaemonOptions
    @OptionGroup var options: StateOptions

    func validate() throws {
        guard JobID(job) != nil else { throw ValidationError("'\(job)' is not a job id: \(JobID.rule)") }
        guard StepID(step) != nil else { throw ValidationError("'\(step)' is not a step id: \(StepID.rule)") }
        guard (1...1000).contains(runs) else { throw ValidationError("--runs takes 1 to 1000") }
    }

    func run() throws {
        guard let jobID = JobID(job), let stepID = StepID(step) else { return }
        var text: String?
        if let cases {
            guard let data = FileManager.default.contents(atPath: cases) else {
                throw CommandFailure(description: "cannot read \(cases)", code: .failed)
            }
            guard case .array? = JSONValue.parse(data) else {
                throw CommandFailure(
                    description: "\(cases) is not a JSON array of {params, outputs, item, expected}", code: .badData)
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let response = try sendToDaemon(
            .eval(jobID, stepID, runs: runs, cases: text), state: options.directory, socket: daemon.socket,
            timeout: .seconds(1900))
        guard response.ok else { throw CommandFailure(description: response.message, code: response.exitCode) }
        if json {
            print(response.message)
            return
        }
        guard case .object(let report)? = JSONValue.parse(Data(response.message.utf8)) else {
            throw CommandFailure(description: "wfd's report is not JSON", code: .failed)
        }
        print(Self.render(report))
    }

    static func render(_ report: [String: JSONValue]) -> String {
        func int(_ key: String) -> Int { report[key]?.integerValue ?? 0 }
        let cases: [[String: JSONValue]] =
            if case .array(let items)? = report["cases"] {
                items.compactMap { if case .object(let fields) = $0 { fields } else { nil } }
            } else { [] }
        let usd = report["cost_usd"].flatMap { if case .number(let n) = $0 { String(format: "$%.4f", n) } else { nil } }
        var lines = [
            "step '\(report["step"]?.stringValue ?? "")' of \(report["job"]?.stringValue ?? "") as defined now "
                + "(\(report["model"]?.stringValue ?? "")), on \(cases.count) cases:",
            "  met the schema: \(int("schema_passed"))/\(cases.count)",
            "  agreed with the earlier output: \(int("agreed"))/\(int("compared")) exactly",
        ]
        if case .object(let fields)? = report["field_agreement"], !fields.isEmpty {
            let parts = fields.keys.sorted().map { "\($0) \(fields[$0]?.integerValue ?? 0)/\(int("compared"))" }
            lines.append("  by field: \(parts.joined(separator: ", "))")
        }
        lines.append("  cost \(usd ?? "unknown (a model has no price)"), median \(int("p50_ms")) ms per case")
        lines.append("")
        lines.append("  CASE                          OUTCOME          AGREES  CALLS  MS")
        for entry in cases {
            let agrees = entry["agrees"].map { $0 == .bool(true) ? "yes" : $0 == .bool(false) ? "no" : "-" } ?? "-"
            let source = entry["source"]?.stringValue ?? ""
            let outcome = entry["outcome"]?.stringValue ?? ""
            lines.append(
                "  \(source.padding(toLength: 30, withPad: " ", startingAt: 0))"
                    + "\(outcome.padding(toLength: 17, withPad: " ", startingAt: 0))"
                    + "\(agrees.padding(toLength: 8, withPad: " ", startingAt: 0))"
                    + "\(String(entry["calls"]?.integerValue ?? 0).padding(toLength: 7, withPad: " ", startingAt: 0))"
                    + "\(entry["milliseconds"]?.integerValue ?? 0)")
            if let error = entry["error"]?.stringValue { lines.append("    \(error)") }
        }
        return lines.joined(separator: "\n")
    }
}
