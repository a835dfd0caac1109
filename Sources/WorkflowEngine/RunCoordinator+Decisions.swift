import Foundation
import JSONSchemaKit
import Logging
import RunModel
import WorkflowStore

/// Decisions on waiting steps (`wfctl approve`, `wfctl reject`, a step's timeout).
extension RunCoordinator {
    /// Why a decision was refused, for the person who asked.
    struct DecisionRefusal: Error {
        let message: String
    }

    /// Checks `request` against the run and turns it into the event that applies it: an approved
    /// approval's output (the approver's input, checked against the step's `input` schema, or a
    /// note of who approved) is written durably first.
    func accept(
        _ request: DecisionRequest, snapshot: RunSnapshot, context: RunContext, logger: Logger
    ) async -> Result<RunEvent, DecisionRefusal> {
        let slot = Slot(step: request.step, item: request.item)
        guard let definition = snapshot.definition(of: request.step),
            let step = snapshot.step(request.step)
        else {
            let names = snapshot.steps.map(\.step.rawValue).joined(separator: ", ")
            return .failure(
                DecisionRefusal(message: "run \(snapshot.run.id) has no step '\(request.step)' (its steps: \(names))"))
        }
        guard let record = try? RunMachine.slot(step, request.item), record.state == .waiting,
            let waiting = record.waiting
        else {
            let waitingSteps = snapshot.steps.filter { $0.state == .waiting }.map(\.step.rawValue)
            let hint = waitingSteps.isEmpty ? "nothing in it waits" : "waiting: \(waitingSteps.joined(separator: ", "))"
            return .failure(
                DecisionRefusal(
                    message: "step '\(slot)' is \(step.state.rawValue), not waiting for a decision (\(hint))"))
        }
        let decision = request.decision
        guard decision.approved, waiting.kind == .approval else {
            logDecision(decision, slot: slot, kind: waiting.kind, logger: logger)
            return .success(.decide(request.step, decision, output: nil, at: decision.at, item: request.item))
        }
        var output: JSONValue
        if case .approval(let spec) = definition.kind, let schema = spec.input, decision.by != "timeout" {
            guard let input = decision.input else {
                return .failure(
                    DecisionRefusal(
                        message: "step '\(slot)' asks for input: give it with --input JSON (schema: \(schema.jsonText))"
                    ))
            }
            do {
                let problems = try JSONSchema(schema).validate(input)
                if !problems.isEmpty {
                    return .failure(
                        DecisionRefusal(
                            message: "the input does not match the step's schema: "
                                + problems.prefix(5).map(\.description).joined(separator: "; ")))
                }
            } catch {
                return .failure(DecisionRefusal(message: "the step's input schema cannot be used: \(error)"))
            }
            output = input
        } else {
            var note: [String: JSONValue] = ["approved": .bool(true), "by": .string(decision.by)]
            if let comment = decision.comment { note["comment"] = .string(comment) }
            if let input = decision.input { note["input"] = input }
            output = .object(note)
        }
        output = JSONValue.parse(Data(context.redactor.redact(output.jsonText).utf8)) ?? output
        let relative = "outputs/\(request.step.rawValue)" + (request.item.map { ".\($0)" } ?? "")
        let file = store.directory.runFile(snapshot.run.job, snapshot.run.id, relative: relative)
        let data = Data(output.jsonText.utf8)
        do {
            try await BlockingIO.shared.run { () throws(StoreError) in try RecordFile.write(data, to: file) }
        } catch {
            return .failure(DecisionRefusal(message: "wfd could not record the approval's output: \(error)"))
        }
        logDecision(decision, slot: slot, kind: waiting.kind, logger: logger)
        return .success(.decide(request.step, decision, output: relative, at: decision.at, item: request.item))
    }

    func logDecision(_ decision: Decision, slot: Slot, kind: WaitInfo.Kind, logger: Logger) {
        let what = kind == .budget ? "budget" : "approval"
        let verdict = decision.approved ? "approved" : "rejected"
        let comment = decision.comment.map { ": \($0)" } ?? ""
        logger.notice(
            "\(what) of step '\(slot)' \(verdict) by \(decision.by)\(comment)",
            metadata: [LogField.step: .string(slot.step.rawValue)])
    }
}
