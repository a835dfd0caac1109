import Foundation
import JSONSchemaKit
import JobFormat

/// What templates can refer to while a run executes.
public struct TemplateValues: Sendable {
    /// The outputs of the steps that have succeeded: parsed for `output: json`, strings for
    /// `output: text`, arrays of their items' outputs for `for_each` steps.
    public var outputs: [StepID: JSONValue]
    public var params: [String: String]
    public var run: RunID
    public var trigger: Trigger
    public var job: JobID
    /// Secret values by name: given only where secrets may be used (http headers).
    public var secrets: [String: String]
    /// What started the run (``TriggerOrigin/value``): null for a run of the schedule or a person.
    public var triggerValue: JSONValue = .null
    /// An agent tool's arguments, as the model gave them: only while the tool's fields are filled.
    public var args: JSONValue?

    public init(
        outputs: [StepID: JSONValue], params: [String: String], run: RunID, trigger: Trigger, job: JobID,
        secrets: [String: String] = [:]
    ) {
        self.outputs = outputs
        self.params = params
        self.run = run
        self.trigger = trigger
        self.job = job
        self.secrets = secrets
    }
}

extension Template {
    /// The text with every reference replaced by its value: a string as it is, anything else as
    /// compact JSON. Fails with the first reference that has no value.
    public func render(_ values: TemplateValues, item: JSONValue? = nil) -> Result<String, TemplateProblem> {
        var text = ""
        for part in parts {
            switch part {
            case .literal(let literal): text += literal
            case .reference(let reference):
                switch reference.value(in: values, item: item) {
                case .success(let value): text += value.environmentText
                case .failure(let problem): return .failure(problem)
                }
            }
        }
        return .success(text)
    }

    /// `text` rendered; text without `${{` is returned as it is.
    public static func render(_ text: String, _ values: TemplateValues, item: JSONValue? = nil) -> Result<
        String, TemplateProblem
    > {
        guard containsTemplate(text) else { return .success(text) }
        do {
            return try Template(parsing: text).render(values, item: item)
        } catch {
            return .failure(TemplateProblem(message: error.message))
        }
    }
}

extension JSONValue {
    /// The value with the templates in its strings rendered. A string that is exactly one
    /// reference becomes the referenced value itself (an array stays an array).
    public func rendered(_ values: TemplateValues, item: JSONValue? = nil) -> Result<JSONValue, TemplateProblem> {
        switch self {
        case .string(let text):
            guard Template.containsTemplate(text) else { return .success(self) }
            guard let template = try? Template(parsing: text) else {
                return .failure(TemplateProblem(message: "'\(text.prefix(40))' is not a valid template"))
            }
            if template.isSingleReference, let reference = template.references.first {
                return reference.value(in: values, item: item)
            }
            return template.render(values, item: item).map(JSONValue.string)
        case .array(let elements):
            var result: [JSONValue] = []
            for element in elements {
                switch element.rendered(values, item: item) {
                case .success(let value): result.append(value)
                case .failure(let problem): return .failure(problem)
                }
            }
            return .success(.array(result))
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                switch member.rendered(values, item: item) {
                case .success(let value): result[key] = value
                case .failure(let problem): return .failure(problem)
                }
            }
            return .success(.object(result))
        case .null, .bool, .number:
            return .success(self)
        }
    }
}

extension TemplateReference {
    /// The value this reference stands for, or why there is none, in one sentence.
    public func value(in values: TemplateValues, item: JSONValue? = nil) -> Result<JSONValue, TemplateProblem> {
        switch self {
        case .stepOutput(let step, let path):
            guard let output = values.outputs[step] else {
                return .failure(TemplateProblem(message: "step '\(step)' has no output (it has not succeeded)"))
            }
            return Self.walk(output, path, name: "steps.\(step).output")
        case .param(let name):
            guard let value = values.params[name] else {
                return .failure(TemplateProblem(message: "parameter '\(name)' has no value"))
            }
            return .success(.string(value))
        case .secret(let name):
            guard let value = values.secrets[name] else {
                return .failure(TemplateProblem(message: "secret '\(name)' cannot be used here"))
            }
            return .success(.string(value))
        case .item(let path):
            guard let item else {
                return .failure(TemplateProblem(message: "'item' is only defined in a for_each step"))
            }
            return Self.walk(item, path, name: "item")
        case .runID: return .success(.string(values.run.rawValue))
        case .runTrigger: return .success(.string(values.trigger.rawValue))
        case .jobID: return .success(.string(values.job.rawValue))
        case .trigger(let path):
            guard values.triggerValue != .null else {
                return .failure(
                    TemplateProblem(
                        message: "run \(values.run) was not started by a trigger (it was: \(values.trigger.rawValue))"))
            }
            return Self.walk(values.triggerValue, path, name: "trigger")
        case .args(let path):
            guard let args = values.args else {
                return .failure(TemplateProblem(message: "'args' is only defined in an agent's tool"))
            }
            return Self.walk(args, path, name: "args")
        }
    }

    static func walk(_ value: JSONValue, _ path: [String], name: String) -> Result<JSONValue, TemplateProblem> {
        var current = value
        var walked = name
        for field in path {
            switch current {
            case .object(let fields):
                guard let next = fields[field] else {
                    let known = fields.keys.sorted().prefix(8).joined(separator: ", ")
                    return .failure(TemplateProblem(message: "\(walked) has no field '\(field)' (it has: \(known))"))
                }
                current = next
            case .array(let elements):
                guard let index = Int(field), elements.indices.contains(index) else {
                    return .failure(
                        TemplateProblem(
                            message: "\(walked) is an array of \(elements.count); '\(field)' is not an index of it"))
                }
                current = elements[index]
            default:
                return .failure(
                    TemplateProblem(message: "\(walked) is \(current.kindName), which has no field '\(field)'"))
            }
            walked += ".\(field)"
        }
        return .success(current)
    }
}

/// A template that could not be given a value when the run needed it.
public struct TemplateProblem: Error, Sendable, Equatable {
    public let message: String

    public init(message: String) { self.message = message }
}

/// `for_each`: the array a step fans out over.
public enum ForEachExpansion {
    /// The items of `text` (one `${{ … }}` reference, to an array or to a string holding a JSON
    /// array), or why not.
    public static func items(_ text: String, values: TemplateValues) -> Result<[JSONValue], TemplateProblem> {
        guard let template = try? Template(parsing: text), template.isSingleReference,
            let reference = template.references.first
        else {
            return .failure(TemplateProblem(message: "for_each must be one ${{ … }} reference to an array"))
        }
        switch reference.value(in: values) {
        case .failure(let problem): return .failure(TemplateProblem(message: "for_each: \(problem.message)"))
        case .success(.array(let items)): return .success(items)
        case .success(.string(let text)):
            if case .array(let items)? = JSONValue.parse(Data(text.utf8)) { return .success(items) }
            return .failure(TemplateProblem(message: "for_each: \(text.prefix(60)) is a string, not a JSON array"))
        case .success(let other):
            return .failure(TemplateProblem(message: "for_each needs an array; it got \(other.kindName)"))
        }
    }
}
