import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import WorkflowStore
import Yams

/// `wfctl harden`'s file work: what a recorded run gives ``Hardening``, and the job file with the
/// agent step replaced by the steps it became.
public enum HardeningDraft {
    /// The input for the agent step `step` of `run` (the only agent step when nil).
    public static func input(run: RunID, of job: JobID, step: StepID?, in state: StateDirectory) throws(Hardening
        .Problem)
        -> Hardening.Input
    {
        let store = RunStore(directory: state)
        let snapshot: RunSnapshot
        do {
            snapshot = try store.loadSnapshot(job, run)
        } catch {
            throw Hardening.Problem(description: "cannot read run \(run): \(error)")
        }
        let agents = snapshot.spec.steps.filter { if case .agent = $0.kind { true } else { false } }
        let names = agents.map(\.id.rawValue).joined(separator: ", ")
        guard
            let definition = step.map({ id in agents.first { $0.id == id } })
                ?? (agents.count == 1 ? agents.first : nil),
            case .agent(let agent) = definition.kind
        else {
            throw Hardening.Problem(
                description: agents.isEmpty
                    ? "run \(run) of \(job) has no agent step"
                    : step.map { "run \(run) of \(job) has no agent step '\($0)' (its agent steps: \(names))" }
                        ?? "run \(run) of \(job) has agent steps \(names): name one")
        }
        if definition.forEach != nil {
            throw Hardening.Problem(
                description: "step '\(definition.id)' runs for each item: harden one item's job by hand")
        }
        let transcript: AgentTranscript?
        do {
            transcript = try store.loadTranscript(job, run, definition.id, item: nil)
        } catch {
            throw Hardening.Problem(description: "cannot read the transcript of '\(definition.id)': \(error)")
        }
        guard let transcript else {
            throw Hardening.Problem(description: "step '\(definition.id)' of run \(run) never called its model")
        }
        var upstream: [StepID: JSONValue] = [:]
        for need in definition.needs {
            guard let record = snapshot.steps.first(where: { $0.step == need }), record.state == .succeeded,
                let relative = record.attempts.last?.output,
                let data = try? RecordFile.readData(state.runFile(job, run, relative: relative))
            else { continue }
            upstream[need] = JSONValue.parse(data) ?? .string(String(decoding: data, as: UTF8.self))
        }
        return Hardening.Input(
            job: snapshot.spec, step: definition, agent: agent, transcript: transcript,
            params: snapshot.run.params ?? [:],
            trigger: snapshot.triggerValue, upstream: upstream)
    }

    /// `text` (a job file) with the step `step` replaced by `steps` (items of a `steps:` list at
    /// two spaces, re-indented to the file's), and every other step that needed it needing the
    /// last of them.
    public static func splice(_ text: String, step: StepID, with steps: String, last: String)
        throws(Hardening.Problem) -> String
    {
        guard case .mapping(let root)? = try? Yams.compose(yaml: text), case .sequence(let list)? = root["steps"],
            let stepsLine = root.keys.first(where: { $0.scalar?.string == "steps" })?.mark?.line
        else { throw Hardening.Problem(description: "the job file has no steps: list") }
        let items = Array(list)
        guard
            let index = items.firstIndex(where: {
                if case .mapping(let fields) = $0 { fields["id"]?.scalar?.string == step.rawValue } else { false }
            }), let start = items[index].mark?.line, let column = items[index].mark?.column
        else { throw Hardening.Problem(description: "the job file has no step '\(step)' any more") }
        var lines = text.components(separatedBy: "\n")
        let nextKey = root.keys.compactMap { $0.mark?.line }.filter { $0 > stepsLine }.min()
        var end = (index + 1 < items.count ? items[index + 1].mark?.line : nextKey).map { $0 - 1 } ?? lines.count
        // Comments and blank lines before the next item or key are the next one's.
        while end > start,
            lines[end - 1].trimmingCharacters(in: .whitespaces).hasPrefix("#")
                || lines[end - 1].trimmingCharacters(in: .whitespaces).isEmpty
        {
            end -= 1
        }
        let indent = String(repeating: " ", count: max(0, column - 3))
        let replacement = steps.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
            line.hasPrefix("  ") ? indent + line.dropFirst(2) : String(line)
        }
        lines.replaceSubrange((start - 1)..<end, with: replacement)
        // Steps that needed the agent step need what stands for it now (a reference to its output
        // is left for the parser to report).
        let name = NSRegularExpression.escapedPattern(for: step.rawValue)
        return lines.map { line in
            guard line.trimmingCharacters(in: .whitespaces).hasPrefix("needs:") else { return line }
            return line.replacingOccurrences(
                of: "(?<![A-Za-z0-9_-])\(name)(?![A-Za-z0-9_-])", with: last, options: .regularExpression)
        }.joined(separator: "\n")
    }
}
