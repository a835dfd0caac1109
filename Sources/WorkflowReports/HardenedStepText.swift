import Foundation
import JSONSchemaKit
import JobFormat
import RunModel

/// The text of hardened steps: a tool's request or command with its arguments' sources in place,
/// a command's environment, values as block YAML (as a person writes a job file).
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
            return block("http", .object(spec), order: httpOrder)
        case .job:
            return []  // left out by the plan: no step kind starts a job and awaits it
        case .run(let command):
            let exports = (environment ?? [:]).sorted { $0.key < $1.key }.map { "export \($0.key)=\($0.value); " }
            return ["run: \(Self.quoted(exports.joined() + command))"]
        }
    }

    static let httpOrder = [
        "method", "url", "query", "headers", "json", "body", "timeout", "expect", "idempotency_key",
    ]
    static let llmOrder = [
        "provider", "model", "base_url", "api_key_secret", "temperature", "max_tokens", "system", "prompt", "schema",
    ]

    /// `key:` and `value` below it as block YAML, the top level's keys in `order` (others after,
    /// sorted); nested mappings sorted by key.
    static func block(_ key: String, _ value: JSONValue, order: [String] = []) -> [String] {
        guard case .object(let fields) = value, !fields.isEmpty else {
            return "\(key): \(scalar(value))".components(separatedBy: "\n")
        }
        let keys =
            order.filter { fields[$0] != nil } + fields.keys.filter { !order.contains($0) }.sorted()
        var lines = ["\(key):"]
        for name in keys {
            guard let field = fields[name] else { continue }
            lines += block(name, field).map { $0.isEmpty ? "" : "  " + $0 }
        }
        return lines
    }

    /// A value on one line, or a literal block (`|-`) for text of several lines.
    static func scalar(_ value: JSONValue) -> String {
        switch value {
        case .string(let text) where text.contains("\n") && !text.hasSuffix("\n") && !text.hasPrefix(" "):
            return "|-\n"
                + text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }
                .joined(separator: "\n")
        case .string(let text): return plain(text) ? text : quoted(text)
        case .array(let items) where items.allSatisfy({ if case .object = $0 { false } else { true } }):
            return "[" + items.map(scalar).joined(separator: ", ") + "]"
        default: return value.jsonText
        }
    }

    /// Whether `text` reads as the same string unquoted in YAML.
    static func plain(_ text: String) -> Bool {
        guard let first = text.first, first.isLetter || first == "/" || first == "." || first == "_" else {
            return false
        }
        let reserved = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"]
        return !reserved.contains(text.lowercased()) && !text.hasSuffix(":")
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-./+".contains($0)) }
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
