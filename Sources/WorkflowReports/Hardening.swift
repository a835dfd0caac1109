import Foundation
import JSONSchemaKit
import JobFormat
import RunModel

/// `wfctl harden`: an agent step's recorded run turned into explicit steps. Pure: the step's
/// definition, its transcript and what the run knew in; the steps' YAML out.
///
/// Each tool call that succeeded becomes a deterministic step (its tool's `http` or `run`), its
/// arguments templated from where their values came from: a parameter, the trigger's payload,
/// a field of an earlier call's result, or the instructions' own words. Calls of one tool over
/// every element of an earlier list become one `for_each` step. Arguments found nowhere were the
/// model's decisions on the data: the calls of a turn that made them become an `llm` step that
/// decides them (its schema inferred from what the model produced) and a `for_each` step per tool
/// routed by `when:`; a `run` tool's single text argument becomes an `llm` step that writes it.
/// A tool that needed approval gets an `approval` step before it.
public enum Hardening {
    public struct Input: Sendable {
        public var job: Job
        public var step: StepDefinition
        public var agent: AgentSpec
        public var transcript: AgentTranscript
        public var params: [String: String]
        /// What started the run (``RunSnapshot/triggerValue``), null for none.
        public var trigger: JSONValue
        /// The outputs of the steps the agent step needed.
        public var upstream: [StepID: JSONValue]

        public init(
            job: Job, step: StepDefinition, agent: AgentSpec, transcript: AgentTranscript, params: [String: String],
            trigger: JSONValue, upstream: [StepID: JSONValue]
        ) {
            (self.job, self.step, self.agent, self.transcript) = (job, step, agent, transcript)
            (self.params, self.trigger, self.upstream) = (params, trigger, upstream)
        }
    }

    public struct Output: Sendable {
        /// The steps, as items of a `steps:` list at two spaces.
        public var yaml: String
        /// The ids of the steps made, in order; the last one stands for the agent step.
        public var steps: [String]
        /// Model calls the steps make in a run (the agent made ``agentCalls``).
        public var modelCalls: Int
        public var agentCalls: Int
        /// What could not be hardened, for the person.
        public var notes: [String]
    }

    public struct Problem: Error, CustomStringConvertible {
        public let description: String

        public init(description: String) { self.description = description }
    }

    /// One call the model made, with its tool and where each argument came from.
    struct Made {
        let turn: Int
        let call: AgentToolCall
        let tool: AgentTool
        /// Argument name → template (`${{ … }}` or a literal), nil when the model made it up.
        var sources: [String: String?]
        var decided: Bool { sources.values.contains { $0 == nil } }
    }

    public static func harden(_ input: Input) throws(Problem) -> Output {
        var plan = HardeningPlan(input: input)
        try plan.build()
        return plan.output()
    }

    /// JSON Schema inferred from the values a model produced.
    static func schema(of values: [JSONValue]) -> JSONValue {
        let kinds = Set(values.map(\.kindName))
        guard kinds.count == 1, let kind = kinds.first else {
            return values.isEmpty
                ? .object([:]) : .object(["type": .array(kinds.sorted().map { .string(typeName($0)) })])
        }
        switch kind {
        case "an object":
            var fields: [String: [JSONValue]] = [:]
            var everywhere: Set<String>?
            for case .object(let object) in values {
                for (key, value) in object { fields[key, default: []].append(value) }
                everywhere = everywhere.map { $0.intersection(object.keys) } ?? Set(object.keys)
            }
            return .object([
                "type": .string("object"),
                "properties": .object(fields.mapValues { schema(of: $0) }),
                "required": .array((everywhere ?? []).sorted().map(JSONValue.string)),
            ])
        case "an array":
            let elements = values.flatMap { value -> [JSONValue] in
                if case .array(let items) = value { return items }
                return []
            }
            return .object(["type": .string("array"), "items": schema(of: elements)])
        default:
            return .object(["type": .string(typeName(kind))])
        }
    }

    static func typeName(_ kind: String) -> String {
        switch kind {
        case "a string": "string"
        case "a number": "number"
        case "a boolean": "boolean"
        case "an object": "object"
        case "an array": "array"
        default: "null"
        }
    }
}
