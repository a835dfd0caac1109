import Foundation
import JSONSchemaKit
import JobFormat

extension ConditionScope {
    /// `steps` (each upstream step's `state`, and its `output` once it succeeded), `params`,
    /// `run`, `job` and, for a `for_each` item, `item`.
    public init(
        steps: [StepID: (state: StepState, output: JSONValue?)], params: [String: String], run: RunID,
        trigger: Trigger, job: JobID, item: JSONValue? = nil, origin: JSONValue = .null
    ) {
        var stepValues: [String: ConditionValue] = [:]
        for (id, step) in steps {
            var fields: [String: ConditionValue] = ["state": .string(step.state.rawValue)]
            if let output = step.output { fields["output"] = ConditionValue(output) }
            stepValues[id.rawValue] = .map(fields)
        }
        var variables: [String: ConditionValue] = [
            "steps": .map(stepValues), "params": .map(params.mapValues { .string($0) }),
            "run": .map(["id": .string(run.rawValue), "trigger": .string(trigger.rawValue)]),
            "job": .map(["id": .string(job.rawValue)]),
        ]
        if let item { variables["item"] = ConditionValue(item) }
        variables["trigger"] = ConditionValue(origin)
        self.init(variables: variables)
    }
}
