import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import WorkflowStore

/// Everything one attempt of an agent step needs, its templates filled where they can be before
/// the loop (the tools' fields are filled per call, from the model's arguments).
struct AgentWork: Sendable {
    /// The model's side: provider, model, instructions (the prompt), schema, budget handling.
    var request: ModelRequest
    var spec: AgentSpec
    var job: JobID
    var run: RunID
    var step: StepID
    var item: Int?
    var attempt: Int
    /// What the tools' templates read besides `args` (secrets included: only headers may use them).
    var values: TemplateValues
    var itemValue: JSONValue?
    var secrets: StepSecrets
    /// A `run` tool's environment before its arguments: the step's (`WF_RUN_ID`, parameters,
    /// upstream outputs …).
    var environment: [String: String]
    var workingDirectory: String
    /// The run's directory: tool logs go to `logs/` in it.
    var runDirectory: String
    /// The loop's wall-clock bound (the step's `timeout`), from its first model call.
    var timeout: Duration?
    var decision: ToolDecision?
    /// The step's attempts before its last `wfctl retry` (0: never retried): the loop's timeout
    /// and turns count anew after one.
    var attemptsBefore: Int
    var redactor: Redactor

    /// A tool call's log, relative to the run directory.
    func logFile(turn: Int, call: Int) -> String {
        "logs/\(step.rawValue)\(item.map { ".\($0)" } ?? "").turn\(turn).\(call).log"
    }
}

/// What the loop knows of each tool: how the model is shown it, how the loop checks it, and what
/// it runs.
struct AgentToolbox: Sendable {
    enum Action: Sendable {
        /// A tool the job declares.
        case declared(AgentToolAction)
        case mcp(MCPStdioClient, tool: String)
    }

    struct Entry: Sendable {
        let definition: AgentToolDefinition
        let loop: AgentLoop.Tool
        let action: Action
    }

    var entries: [String: Entry] = [:]
    /// In the order the job gives them (the model sees them so).
    var order: [String] = []
    var clients: [MCPStdioClient] = []

    var definitions: [AgentToolDefinition] { order.compactMap { entries[$0]?.definition } }

    mutating func add(
        _ name: String, description: String, schema: JSONValue, effect: EffectClass, approve: Bool, action: Action
    ) throws(AgentToolbox.Problem) {
        let compiled: JSONSchema
        do {
            compiled = try JSONSchema(schema)
        } catch {
            throw Problem(description: "tool '\(name)': its schema cannot be used: \(error)")
        }
        entries[name] = Entry(
            definition: AgentToolDefinition(name: name, description: description, schema: schema),
            loop: AgentLoop.Tool(schema: compiled, effect: effect, approve: approve), action: action)
        order.append(name)
    }

    struct Problem: Error, CustomStringConvertible {
        let description: String
    }
}
