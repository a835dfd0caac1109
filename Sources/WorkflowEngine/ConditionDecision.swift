import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel

/// Decides `when: ${{ … }}` conditions for the run machine, from what has run so far.
enum ConditionDecision {
    /// Evaluates the condition of step `id` (of its item `item`) on the states and outputs of the
    /// steps it needs (`output` gives a succeeded step's), the run's parameters and ids, and the
    /// item; logs how it came out, and returns it as the machine's event.
    static func event(
        for id: StepID, item: Int?, snapshot: RunSnapshot, output: (StepRecord) -> JSONValue?, now: Date,
        logger: Logger
    ) -> RunEvent {
        guard let definition = snapshot.definition(of: id), case .expression(let text) = definition.when else {
            let record = ConditionRecord(
                expression: "", value: nil, error: "the step has no condition", seen: nil, at: now)
            return .conditionEvaluated(id, record, item: item)
        }
        let expression: ConditionExpression
        switch ConditionExpression.parse(when: text) {
        case .success(let parsed)?: expression = parsed
        case .failure(let error)?:
            let record = ConditionRecord(expression: text, value: nil, error: error.message, seen: nil, at: now)
            return .conditionEvaluated(id, record, item: item)
        case nil:
            let record = ConditionRecord(
                expression: text, value: nil, error: "not a ${{ … }} expression", seen: nil, at: now)
            return .conditionEvaluated(id, record, item: item)
        }
        var steps: [StepID: (state: StepState, output: JSONValue?)] = [:]
        for position in snapshot.upstream(of: id) {
            let record = snapshot.steps[position]
            steps[record.step] = (record.state, record.state == .succeeded ? output(record) : nil)
        }
        let value = item.flatMap { index in snapshot.step(id).flatMap { try? RunMachine.slot($0, index) }?.value }
        let scope = ConditionScope(
            steps: steps, params: snapshot.run.params ?? [:], run: snapshot.run.id, trigger: snapshot.run.trigger,
            job: snapshot.run.job, item: value, origin: snapshot.triggerValue)
        let outcome = expression.evaluate(in: scope)
        let record = ConditionRecord(
            expression: expression.text.trimmingCharacters(in: .whitespaces), value: outcome.value,
            error: outcome.error,
            seen: outcome.seen.isEmpty ? nil : outcome.seen, at: now)
        var fields = [LogField.step: id.rawValue]
        if let item { fields[LogField.item] = String(item) }
        let stepLogger = logger.with(fields)
        let slot = item.map { "\(id)[\($0)]" } ?? id.rawValue
        let seen = ConditionRecord.describe(outcome.seen)
        let reading = seen.isEmpty ? "" : " (\(seen))"
        switch outcome.value {
        case true?: stepLogger.info("condition of step '\(slot)' is true: \(record.expression)\(reading)")
        case false?: stepLogger.info("step '\(slot)' skipped: its condition is false: \(record.expression)\(reading)")
        case nil:
            stepLogger.error(
                "step '\(slot)' failed: its condition could not be evaluated: \(outcome.error ?? "")\(reading)",
                metadata: [LogField.messageID: .string(MessageID.stepFailed), "error_kind": "condition"])
        }
        return .conditionEvaluated(id, record, item: item)
    }
}
