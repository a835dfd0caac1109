import Foundation
import JSONSchemaKit
import JobFormat
import RunModel

/// The text of hardened steps: a tool's request or command with its arguments' sources in place,
/// a command's environment, values as YAML (JSON is YAML's flow style).
enum HardenedStepText {
    /// The tool's `http:` or `run:` with `arguments` (templates or literals) in place of `args`.
    static func action(_ tool: AgentTool, arguments: [String: String], environment: [String: String]?) -> [String] {
        switch tool.action {
        case .http(let request):
            var spec: [String: JSONValue] = [
                "method": .string(request.method), "url": .string(fill(request.url, arguments)),
            ]
            if !request.headers.isEmpty {
                spec["headers"] = .object(request.headers.mapValues { .string(fill($0, arguments)) })
            }
            if !request.query.isEmpty {
                spec["query"] = .object(request.query.mapValues { .string(fill($0, arguments)) })
            }
            if let json = request.json { spec["json"] = Self.filled(json, arguments, fill) }
            if let body = request.body { spec["body"] = .string(fill(body, arguments)) }
            if let timeout = request.timeout { spec["timeout"] = .string(timeout.description) }
            if !request.expect.isEmpty { spec["expect"] = .array(request.expect.map { .number(Double($0)) }) }
            if let key = request.idempotencyKey { spec["idempotency_key"] = .string(fill(key, arguments)) }
            return ["http: \(JSONValue.object(spec).jsonText)"]
        case .job:
            return []  // left out by the plan: no step kind starts a job and awaits it
        case .run(let command):
            let exports = (environment ?? [:]).sorted { $0.key < $1.key }.map { "export \($0.key)=\($0.value); " }
            return ["run: \(Self.quoted(exports.joined() + command))"]
        }
    }

    /// `WF_ARG_<NAME>` for each argument a shell can have: a parameter, a whole earlier output,
    /// a literal.
    static func envFor(_ arguments: [String: String]) -> [String: String] {
        var environment: [String: String] = [:]
        for (name, template) in arguments {
            let variable = "WF_ARG_\(StepEnvironmentNames.variablePart(name))"
            if template.hasPrefix("${{ params."), template.hasSuffix(" }}") {
                let param = template.dropFirst(11).dropLast(3)
                environment[variable] = "\"$WF_PARAM_\(StepEnvironmentNames.variablePart(String(param)))\""
            } else if template.hasPrefix("${{ steps."), template.hasSuffix(".output }}") {
                let step = template.dropFirst(10).dropLast(10)
                environment[variable] = "\"$WF_STEP_\(StepEnvironmentNames.variablePart(String(step)))_OUTPUT\""
            } else if !Template.containsTemplate(template) {
                environment[variable] = "'" + template.replacingOccurrences(of: "'", with: "'\\''") + "'"
            }
        }
        return environment
    }

    static func fill(_ text: String, _ arguments: [String: String]) -> String {
        var text = text
        for (name, value) in arguments {
            text = text.replacingOccurrences(
                of: "\\$\\{\\{\\s*args\\.\(NSRegularExpression.escapedPattern(for: name))\\s*\\}\\}", with: value,
                options: .regularExpression)
        }
        return text
    }

    static func filled(_ value: JSONValue, _ arguments: [String: String], _ fill: (String, [String: String]) -> String)
        -> JSONValue
    {
        switch value {
        case .string(let text): .string(fill(text, arguments))
        case .array(let items): .array(items.map { filled($0, arguments, fill) })
        case .object(let fields): .object(fields.mapValues { filled($0, arguments, fill) })
        default: value
        }
    }

    /// A call's result as a later step would see its output: an HTTP tool's body (JSON when it
    /// parses), a command's stdout.
    static func resultValue(_ call: AgentToolCall) -> JSONValue {
        var text = call.result ?? ""
        if text.hasPrefix("HTTP "), let newline = text.firstIndex(of: "\n") {
            text = String(text[text.index(after: newline)...])
        }
        return JSONValue.parse(Data(text.utf8)) ?? .string(text)
    }

    static func quoted(_ text: String) -> String { JSONValue.string(text).jsonText }

    static func described(_ arguments: [String: String]) -> String {
        arguments.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }
}
