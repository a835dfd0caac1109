import Foundation
import JSONSchemaKit
import Yams

/// JSON values and templates inside a job file.
extension JobReader {
    /// Converts a node into JSON; YAML's plain scalars keep their types.
    mutating func json(_ node: Node) -> JSONValue? {
        switch node {
        case .scalar(let scalar):
            switch scalar.tagName {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int, .float:
                guard let value = node.float, value.isFinite else {
                    report(node, "'\(scalar.string)' is not a number JSON can hold")
                    return nil
                }
                return .number(value)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            var values: [JSONValue] = []
            for item in sequence {
                guard let value = json(item) else { return nil }
                values.append(value)
            }
            return .array(values)
        case .mapping(let mapping):
            var values: [String: JSONValue] = [:]
            for (key, item) in mapping {
                guard case .scalar(let scalar) = key else {
                    report(key, "JSON object keys must be strings")
                    return nil
                }
                guard let value = json(item) else { return nil }
                values[scalar.string] = value
            }
            return .object(values)
        case .alias:
            report(node, "unresolved YAML alias")
            return nil
        }
    }

    /// Converts a node into JSON that must be a JSON Schema (draft 2020-12), reporting at its
    /// line every way it is not one.
    mutating func jsonSchema(_ node: Node, _ key: String) -> JSONValue? {
        guard let value = json(node) else { return nil }
        do {
            _ = try JSONSchema(value)
        } catch .invalidSchema(let problems) {
            // "matches none of the schemas in anyOf" says less than the closest branch's own
            // complaint about the same place, which follows it.
            let specific = problems.enumerated().filter { index, problem in
                !(problem.message.hasPrefix("matches none of the schemas in")
                    && problems.dropFirst(index + 1).contains { $0.instancePath == problem.instancePath })
            }.map(\.element)
            for problem in specific.prefix(5) {
                let place = problem.instancePath.isEmpty ? "" : " at \(problem.instancePath)"
                report(
                    Self.node(at: problem.instancePath, in: node),
                    "'\(key)' is not a valid JSON Schema\(place): it \(problem.message)",
                    hint: "the keywords of draft 2020-12: https://json-schema.org/understanding-json-schema/")
            }
        } catch {
            report(node, "'\(key)': \(error)")
        }
        return value
    }

    /// The node a JSON Pointer leads to inside `node`, or the deepest one it reaches.
    static func node(at pointer: String, in node: Node) -> Node {
        var current = node
        for token in JSONPointer.tokens(pointer) ?? [] {
            switch current {
            case .mapping(let mapping):
                guard let next = mapping.first(where: { $0.key.string == token })?.value else { return current }
                current = next
            case .sequence(let sequence):
                guard let index = Int(token), sequence.indices.contains(index) else { return current }
                current = sequence[index]
            default:
                return current
            }
        }
        return current
    }

    /// Parses the templates in `text` (the value of `node`) and remembers them for checking.
    mutating func noteTemplates(_ text: String, node: Node, field: String, step: StepID?) {
        guard Template.containsTemplate(text) else { return }
        do {
            let template = try Template(parsing: text)
            templates.append(TemplateSite(step: step, field: field, node: node, template: template))
        } catch {
            report(position(in: node, offset: error.offset), "in '\(field)': \(error.message)", hint: error.hint)
        }
    }
}
