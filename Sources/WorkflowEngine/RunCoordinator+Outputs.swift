import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel
import WorkflowStore

/// Step outputs: kept on disk, cached for the steps that need them, read as values by templates.
extension RunCoordinator {
    /// The outputs of the steps that succeeded while this wfd ran the run, and the names of
    /// their variables: what a spawn needs to build its environment without reading every
    /// upstream file or making a name twice.
    struct OutputCache {
        var values: [Slot: Data] = [:]
        /// `WF_STEP_<ID>_OUTPUT` by position in the run's steps.
        let names: [String]
        /// The variables of each succeeded step once made: every step after it gets them again.
        let made = MadeVariables()

        init(steps: [StepRecord]) { names = steps.map { StepEnvironment.outputName(of: $0.step) } }
    }

    /// By step position, the output variables made for its attempt number `attempts` (a step
    /// that runs again makes them anew). Used only by the run's own task.
    final class MadeVariables {
        var byPosition: [Int: (attempts: Int, variables: [(name: String, value: String)])] = [:]
    }

    /// The output bytes of a succeeded step or item: from the cache, else from its output file;
    /// empty when it printed nothing.
    func outputData(of record: StepRecord, snapshot: RunSnapshot, outputs: OutputCache) -> Data {
        if let cached = outputs.values[Slot(step: record.step, item: record.item)] { return cached }
        guard let relative = record.attempts.last?.output else { return Data() }
        return
            (try? RecordFile.readData(store.directory.runFile(snapshot.run.job, snapshot.run.id, relative: relative)))
            ?? Data()
    }

    /// A succeeded step's output as a value: parsed for `output: json`, a string for text, and
    /// for a `for_each` step the array of its items' outputs.
    func outputValue(of record: StepRecord, snapshot: RunSnapshot, outputs: OutputCache) -> JSONValue {
        if let items = record.items, record.attempts.last?.byHand != true {
            return .array(items.map { outputValue(of: $0, snapshot: snapshot, outputs: outputs) })
        }
        let data = outputData(of: record, snapshot: snapshot, outputs: outputs)
        guard let step = snapshot.definition(of: record.step) else { return .null }
        switch Self.outputKind(of: step) {
        case .json: return JSONValue.parse(data) ?? .null
        case .text: return .string(String(decoding: data, as: UTF8.self))
        case .jsonIfItParses:
            return JSONValue.parse(data) ?? .string(String(decoding: data, as: UTF8.self))
        }
    }

    enum OutputKind {
        case json, text, jsonIfItParses
    }

    /// How a step's output reads as a value: as declared by `output:`, for an `llm` step with a
    /// schema and an approval JSON, and for an `http` step JSON when the body parses.
    static func outputKind(of step: StepDefinition) -> OutputKind {
        switch step.kind {
        case .run: step.output == .json ? .json : .text
        case .llm(let call): call.schema != nil || step.output == .json ? .json : .text
        case .approval: .json
        case .http: step.output == .json ? .json : .jsonIfItParses
        case .agent(let agent): agent.schema != nil || step.output == .json ? .json : .text
        }
    }

    /// Adds `WF_STEP_<ID>_OUTPUT_FILE` for every succeeded step `step` needs (directly or not) that has
    /// an output file, and `WF_STEP_<ID>_OUTPUT` with the value itself when it fits an
    /// environment variable (empty for a step that printed nothing; the JSON array of its items'
    /// outputs for a `for_each` step).
    func addUpstreamOutputs(
        of step: StepDefinition, snapshot: RunSnapshot, outputs: OutputCache, to environment: inout [String: String]
    ) {
        for position in snapshot.upstream(of: step.id) where snapshot.steps[position].state == .succeeded {
            let attempts = snapshot.steps[position].attempts.count
            if let made = outputs.made.byPosition[position], made.attempts == attempts {
                for (name, value) in made.variables { environment[name] = value }
                continue
            }
            let record = snapshot.steps[position]
            let name = outputs.names[position]
            var variables: [(name: String, value: String)] = []
            let text: String
            if record.items != nil, record.attempts.last?.byHand != true {
                text = outputValue(of: record, snapshot: snapshot, outputs: outputs).environmentText
            } else {
                if let relative = record.attempts.last?.output {
                    variables.append(
                        (name + "_FILE", store.directory.runFile(snapshot.run.job, snapshot.run.id, relative: relative))
                    )
                }
                text = String(decoding: outputData(of: record, snapshot: snapshot, outputs: outputs), as: UTF8.self)
            }
            if text.utf8.count <= StepEnvironment.maximumValue, !text.utf8.contains(0) {
                variables.append((name, text))
            }
            for (name, value) in variables { environment[name] = value }
            outputs.made.byPosition[position] = (attempts, variables)
        }
    }

    /// Turns a successful attempt's stdout into its output: validated for `output: json`, written
    /// durably to `outputs/<step>` before the step is recorded as succeeded.
    static func recordOutput(
        _ raw: AttemptResult, of step: StepDefinition, item: Int? = nil, in paths: (StateDirectory, JobID, RunID),
        redactor: Redactor = .none, logger: Logger
    ) async -> AttemptResult {
        var result = raw
        result.stdout = nil
        result.error = raw.error.map(redactor.redact)
        guard raw.outcome == .succeeded, var value = raw.stdout.map(redactor.redact) else { return result }
        func fail(_ message: String) -> AttemptResult {
            var failed = AttemptResult.failure(.output, message)
            failed.exitCode = raw.exitCode
            (failed.calls, failed.http) = (raw.calls, raw.http)
            return failed
        }
        // echo's newline is not part of a shell step's value (an HTTP body or a model's answer is kept whole)
        if value.last == UInt8(ascii: "\n"), case .run = step.kind { value.removeLast() }
        switch step.output {
        case .json:
            if raw.stdoutTruncated {
                return fail("its output is larger than the output limit; write big data to a file and output its path")
            }
            do {
                _ = try JSONSerialization.jsonObject(with: Data(value), options: [.fragmentsAllowed])
            } catch {
                let preview = String(decoding: value.prefix(80), as: UTF8.self)
                return fail("its stdout is not valid JSON (output: json): '\(preview)'")
            }
        case .text:
            if raw.stdoutTruncated { logger.warning("output cut at the output limit (output: text)") }
        }
        result.stdout = value  // the value, for the run's output cache
        if value.isEmpty { return result }  // nothing printed: no file, an empty output
        let (directory, job, run) = paths
        let relative = "outputs/\(step.id.rawValue)" + (item.map { ".\($0)" } ?? "")
        let file = directory.runFile(job, run, relative: relative)
        let data = Data(value)
        do {
            try await FullDisk.write(logger) { () throws(StoreError) in try RecordFile.write(data, to: file) }
        } catch {
            return fail("wfd could not record its output: \(error)")
        }
        result.outputFile = relative
        return result
    }
}
