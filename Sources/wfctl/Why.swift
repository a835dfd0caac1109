import ArgumentParser
import Foundation
import JobFormat
import RunModel
import Schedules
import WorkflowControl
import WorkflowReports
import WorkflowStore

struct Why: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain why a run failed: the step, its error, its last lines, what changed, how to retry.",
        discussion: """
            Without a run, explains the newest failed run of any job (or of --job). Everything is \\
            read from the state directory, so it works while wfd is stopped: the failing step and \\
            its error in one sentence, the last 20 lines it wrote, what it was given (secrets by \\
            name only), what differs from the newest earlier run of the job that succeeded (the \\
            job's definition, the parameters, the step's exit status), and the command that \\
            retries the run.

            Examples:
              wfctl why
              wfctl why --job backup
              wfctl why 20261129T090000.000Z-3f2a1c --json | jq -r '.retry[0]'

            --json prints {"job", "run", "state", "trigger", "started_at", "ended_at", "error", \\
            "step": {"id", "item", "kind", "attempt", "attempts_allowed", "error", "error_kind", \\
            "exit_code", "signal", "log", "output_tail", "inputs"} or null, "since_success": {"run", \\
            "ended_at", "changes"} or null, "retry": [commands]}.

            Exit codes: 0 explained, 1 no failed run (or the run did not fail), 64 usage.
            """
    )

    @Argument(help: ArgumentHelp("The run (default: the newest failed one).", valueName: "run"))
    var target: String?

    @Option(help: ArgumentHelp("The newest failed run of this job.", valueName: "job"))
    var job: String?

    @Flag(help: "Print the explanation as JSON.")
    var json = false

    @OptionGroup var options: StateOptions

    func validate() throws {
        if let target, RunID(target) == nil { throw ValidationError("'\(target)' is not a run id (see wfctl runs)") }
        if let job, JobID(job) == nil { throw ValidationError("'\(job)' is not a job id: \(JobID.rule)") }
        if target != nil, job != nil { throw ValidationError("give a run or --job, not both") }
    }

    func run() throws {
        let state = options.directory
        let runID: RunID
        let jobID: JobID
        if let target, let run = RunID(target) {
            runID = run
            jobID = try jobOfRun(run, in: state)
        } else if let (found, run) = FailureExplanation.latestFailure(in: state, job: job.flatMap(JobID.init)) {
            (jobID, runID) = (found, run)
        } else {
            throw CommandFailure(
                description: job.map { "no failed run of \($0): its recent runs succeeded" }
                    ?? "no failed run: the recent runs of every job succeeded", code: .failed)
        }
        let explanation: FailureExplanation
        do {
            explanation = try FailureExplanation.explain(
                runID, of: jobID, in: state, retryOptions: options.state.map { "--state \($0)" } ?? "")
        } catch {
            throw CommandFailure(description: "cannot read run \(runID): \(error)", code: .failed)
        }
        if json {
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(explanation) + Data("\n".utf8))
        } else {
            print(Self.render(explanation, now: Date()), terminator: "")
        }
        if !FailureExplanation.isFailure(explanation.state) && explanation.state != .cancelled {
            throw CommandFailure(
                description: "run \(runID) did not fail: it is \(explanation.state.rawValue)", code: .failed)
        }
    }

    static func render(_ why: FailureExplanation, now: Date) -> String {
        var out = ""
        let when = (why.endedAt ?? why.startedAt).map { " \(StatusTable.ago($0, now: now))" } ?? ""
        let took =
            why.startedAt.flatMap { start in
                why.endedAt.map { String(format: ", after %.1f s", $0.timeIntervalSince(start)) }
            } ?? ""
        out += "run \(why.run) of \(why.job) \(why.state.rawValue)\(when) (\(why.trigger.rawValue)\(took))\n"
        if let step = why.step {
            let item = step.item.map { " item \($0)" } ?? ""
            let kind = step.errorKind.map { " [\($0.rawValue)]" } ?? ""
            let attempts = step.attemptsAllowed > 1 ? ", attempt \(step.attempt) of \(step.attemptsAllowed)" : ""
            out += "\nfailing step: \(step.id)\(item) (\(step.kind)\(attempts))\n"
            out += "  \(step.error ?? why.error ?? "no error recorded")\(kind)\n"
            if let condition = step.condition {
                out += "\nits condition: ${{ \(condition.expression) }}\n"
                let read = ConditionRecord.lines(condition.seen)
                out += read.isEmpty ? "it read nothing before it failed\n" : "the values it read:\n"
                for line in read { out += "  \(line)\n" }
            } else if !step.outputTail.isEmpty {
                let lines = step.outputTail.count == 1 ? "line" : "\(step.outputTail.count) lines"
                out += "\nits last \(lines) (\(step.log ?? "its log"), stdout and stderr):\n"
                for line in step.outputTail { out += "  | \(line)\n" }
            } else if step.kind == "run" {
                out += "\nit wrote nothing\n"
            }
            out += "\nits inputs:\n"
            for line in step.inputs { out += "  \(line)\n" }
        } else if let error = why.error {
            out += "  \(error)\n"
        }
        if let since = why.sinceSuccess {
            let ago = since.endedAt.map { ", \(StatusTable.ago($0, now: now))" } ?? ""
            out += "\nsince the last successful run \(since.run)\(ago):\n"
            for change in since.changes { out += "  \(change)\n" }
        } else {
            out += "\nno earlier run of \(why.job) succeeded to compare with\n"
        }
        out += "\nto retry it: \(why.retry.first ?? "")\n"
        if why.retry.count > 1 {
            out += "  or, if the interrupted step did its work, record it as done: \(why.retry[1])\n"
        }
        return out
    }
}
