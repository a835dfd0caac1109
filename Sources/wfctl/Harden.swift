import ArgumentParser
import Foundation
import JSONSchemaKit
import JobFormat
import WorkflowReports
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

struct Harden: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn an agent step's recorded run into explicit steps: a draft job in jobs.d/pending/.",
        discussion: """
            Reads the agent step's transcript (what the model asked for, turn by turn, and what each \
            tool answered) and writes the job's file with the agent step replaced: each tool call \
            that succeeded becomes a step running that tool (its http request or command), its \
            arguments templated from where their values came from (a parameter, the trigger, a \
            field of an earlier call's result, the instructions' own words); calls of one tool over \
            every element of a list become one for_each step; arguments the model made up (a \
            choice, a classification, a text) become an llm step that decides them, with a schema \
            inferred from what it produced, and a for_each step per tool routed by when:. A tool \
            that needed approval gets an approval step. Each step says which turn it came from. \
            Nothing is loaded until wfctl promote JOB checks the draft and moves it in.

            Tools of MCP servers have no step kind and are left out (the summary says so).

            Examples:
              wfctl harden 20261205T101500.000Z-1a2b3c
              wfctl harden 20261205T101500.000Z-1a2b3c triage --name triage-steps
              wfctl promote release-agent-hardened

            Exit codes: 0 a valid draft written, 65 the draft is invalid (written, with its problems \
            printed), 1 the run or its agent step cannot be hardened.
            """
    )

    @Argument(help: ArgumentHelp("The run whose agent step is hardened.", valueName: "run")) var target: String
    @Argument(help: ArgumentHelp("The agent step, when the job has more than one.", valueName: "step"))
    var step: String?
    @Option(help: ArgumentHelp("The draft's job id (default: JOB-hardened).", valueName: "job")) var name: String?
    @Flag(help: "Replace a draft of that name.") var replace = false
    @Flag(help: "Print the outcome as JSON: {file, valid, diagnostics, steps, model_calls, agent_calls, notes}.")
    var json = false

    @OptionGroup var jobs: JobsDirectoryOption
    @OptionGroup var options: StateOptions

    func validate() throws {
        guard RunID(target) != nil else { throw ValidationError("'\(target)' is not a run id") }
        if let step, StepID(step) == nil { throw ValidationError("'\(step)' is not a step id: \(StepID.rule)") }
        if let name, JobID(name) == nil { throw ValidationError("'\(name)' is not a job id: \(JobID.rule)") }
    }

    func run() throws {
        guard let id = RunID(target) else { return }
        let state = options.directory
        let job = try jobOfRun(id, in: state)
        let store = RunStore(directory: state)
        let draftName = name ?? "\(job.rawValue)-hardened"
        let path = "\(jobs.pending)/\(draftName).yaml"
        let text: String
        let hardened: Hardening.Output
        do throws(Hardening.Problem) {
            let input = try HardeningDraft.input(run: id, of: job, step: step.flatMap(StepID.init), in: state)
            hardened = try Hardening.harden(input)
            guard let info = try? store.loadJobInfo(job),
                let source = try? String(contentsOfFile: info.file, encoding: .utf8)
            else {
                throw Hardening.Problem(description: "cannot read the file of job \(job) (is it still loaded?)")
            }
            text =
                "# Hardened by wfctl harden from run \(id) of \(job): \(hardened.steps.count) steps where its agent "
                + "made \(hardened.agentCalls) model calls.\n"
                + (try HardeningDraft.splice(
                    source, step: input.step.id, with: hardened.yaml, last: hardened.steps.last ?? ""))
        } catch {
            throw CommandFailure(description: error.description, code: .failed)
        }
        if FileManager.default.fileExists(atPath: path), !replace {
            throw CommandFailure(description: "\(path) exists: give --replace to write over it", code: .failed)
        }
        _ = try jobs.writeDraft(text, job: draftName)
        var diagnostics: [String] = []
        do {
            _ = try JobParser().parse(text, path: path)
        } catch {
            diagnostics = error.diagnostics.map(\.description)
        }
        if json {
            let outcome: JSONValue = .object([
                "file": .string(path), "valid": .bool(diagnostics.isEmpty),
                "diagnostics": .array(diagnostics.map(JSONValue.string)),
                "steps": .array(hardened.steps.map(JSONValue.string)),
                "model_calls": .number(Double(hardened.modelCalls)),
                "agent_calls": .number(Double(hardened.agentCalls)),
                "notes": .array(hardened.notes.map(JSONValue.string)),
            ])
            print(outcome.jsonText)
        } else {
            print(
                "wrote \(path): \(hardened.steps.count) steps (\(hardened.steps.joined(separator: ", "))); a run makes "
                    + "\(hardened.modelCalls) model calls where the agent made \(hardened.agentCalls)")
            for note in hardened.notes { print("  note: \(note)") }
            for diagnostic in diagnostics { FileHandle.standardError.write(Data("\(diagnostic)\n".utf8)) }
            if diagnostics.isEmpty { print("valid; read it, then wfctl promote \(draftName)") }
        }
        if !diagnostics.isEmpty {
            throw CommandFailure(description: "the draft is not valid yet: mend it by hand", code: .badData)
        }
    }
}
