import Foundation
import Yams

/// Turns the text of a job file into a ``Job``, or into every problem found in it at once.
///
/// The parser walks the YAML node tree itself (rather than `Codable`) so that every diagnostic
/// carries a line and column, and unknown keys are reported instead of ignored.
public struct JobParser: Sendable {
    static let jobKeys = ["description", "schedule", "timezone", "env", "steps"]
    static let stepKeys = ["id", "run", "needs", "timeout", "env"]

    public init() {}

    /// The job id a file name stands for (`hello.yaml` → `hello`), or nil when it is not a valid id.
    public static func jobID(forFileName name: String) -> JobID? {
        let base: Substring
        if let dot = name.lastIndex(of: ".") { base = name[..<dot] } else { base = Substring(name) }
        return JobID(String(base))
    }

    /// File names wfd reads from `jobs.d/`.
    public static func isJobFileName(_ name: String) -> Bool {
        !name.hasPrefix(".") && (name.hasSuffix(".yaml") || name.hasSuffix(".yml") || name.hasSuffix(".json"))
    }

    /// Parses `text`, the contents of the file at `path`.
    ///
    /// - Throws: ``JobFileError`` with every diagnostic, each naming `path`, line and column.
    public func parse(_ text: String, path: String) throws(JobFileError) -> Job {
        let fileName = (path as NSString).lastPathComponent
        var context = Context(path: path)
        let jobID = JobParser.jobID(forFileName: fileName)
        if jobID == nil {
            context.report(line: 1, column: 1, "invalid job file name '\(fileName)'", hint: JobID.rule)
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw JobFileError([context.diagnostic(for: error)])
        } catch {
            throw JobFileError([Diagnostic(file: path, line: 1, column: 1, message: "cannot read YAML: \(error)")])
        }
        guard let root, case .mapping(let mapping) = root else {
            let mark = root?.mark
            throw JobFileError([
                Diagnostic(
                    file: path, line: mark?.line ?? 1, column: mark?.column ?? 1,
                    message: "a job file must be a mapping with 'schedule' and 'steps'",
                    hint: "start from: schedule: \"*/10 * * * * *\" and steps: [{id: hello, run: echo hello}]")
            ])
        }
        let job = context.job(mapping, id: jobID)
        guard context.diagnostics.isEmpty, let job else { throw JobFileError(context.diagnostics) }
        return job
    }
}

/// The walk over one file's node tree, collecting diagnostics.
private struct Context {
    let path: String
    var diagnostics: [Diagnostic] = []

    init(path: String) { self.path = path }

    mutating func report(line: Int, column: Int, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(file: path, line: line, column: column, message: message, hint: hint))
    }

    mutating func report(_ node: Node, _ message: String, hint: String? = nil) {
        report(line: node.mark?.line ?? 1, column: node.mark?.column ?? 1, message, hint: hint)
    }

    func diagnostic(for error: YamlError) -> Diagnostic {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let prefix = context.map { "\($0.text), " } ?? ""
            return Diagnostic(
                file: path, line: mark.line, column: mark.column, message: "YAML syntax error: \(prefix)\(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return Diagnostic(
                file: path, line: context.mark.line, column: context.mark.column,
                message: "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", "))",
                hint: "each key may appear once in a mapping")
        default:
            return Diagnostic(file: path, line: 1, column: 1, message: "YAML error: \(error)")
        }
    }

    mutating func job(_ mapping: Node.Mapping, id: JobID?) -> Job? {
        var description: String?
        var schedule: Schedule?
        var timezone: String?
        var env: [String: String] = [:]
        var steps: [StepDefinition] = []
        var sawSteps = false
        for (keyNode, value) in mapping {
            guard let key = scalarKey(keyNode) else { continue }
            switch key {
            case "description": description = string(value, key: key)
            case "schedule":
                guard let text = string(value, key: key) else { continue }
                do {
                    schedule = try Schedule(parsing: text)
                } catch {
                    // Point at the character at fault: the scalar's column, plus one for a quote.
                    let quoted = value.scalar.map { $0.style == .singleQuoted || $0.style == .doubleQuoted } ?? false
                    report(
                        line: value.mark?.line ?? 1,
                        column: (value.mark?.column ?? 1) + (quoted ? 1 : 0) + error.offset,
                        "invalid schedule '\(text)': \(error.message)",
                        hint: "cron: 'minute hour day-of-month month day-of-week', optionally with leading seconds")
                }
            case "timezone":
                guard let text = string(value, key: key) else { continue }
                if TimeZone(identifier: text) == nil {
                    report(value, "unknown time zone '\(text)'", hint: "use an IANA name such as Europe/Rome or UTC")
                } else {
                    timezone = text
                }
            case "env": env = environment(value, key: key)
            case "steps":
                sawSteps = true
                steps = stepList(value)
            default:
                unknownKey(keyNode, key, allowed: JobParser.jobKeys, in: "a job")
            }
        }
        if !sawSteps {
            report(
                line: 1, column: 1, "missing required key 'steps'",
                hint: "add steps: [{id: hello, run: echo hello}]")
        }
        checkGraph(steps, mapping: mapping)
        guard let id else { return nil }
        return Job(id: id, description: description, schedule: schedule, timezone: timezone, env: env, steps: steps)
    }

    mutating func stepList(_ node: Node) -> [StepDefinition] {
        guard case .sequence(let sequence) = node else {
            report(node, "'steps' must be a list of steps", hint: "write each step as '- id: name' with 'run:'")
            return []
        }
        if sequence.isEmpty { report(node, "'steps' is empty", hint: "a job needs at least one step") }
        var steps: [StepDefinition] = []
        var seen: [StepID: Node] = [:]
        for item in sequence {
            guard let step = step(item) else { continue }
            if seen[step.id] != nil {
                report(item, "duplicate step id '\(step.id)'", hint: "step ids must be unique within a job")
                continue
            }
            seen[step.id] = item
            steps.append(step)
        }
        return steps
    }

    mutating func step(_ node: Node) -> StepDefinition? {
        guard case .mapping(let mapping) = node else {
            report(node, "a step must be a mapping", hint: "write '- id: name' and 'run: command'")
            return nil
        }
        var id: StepID?
        var run: String?
        var needs: [StepID] = []
        var timeout: Duration?
        var env: [String: String] = [:]
        var valid = true
        for (keyNode, value) in mapping {
            guard let key = scalarKey(keyNode) else { continue }
            switch key {
            case "id":
                guard let text = string(value, key: key) else {
                    valid = false
                    continue
                }
                id = StepID(text)
                if id == nil {
                    report(value, "invalid step id '\(text)'", hint: StepID.rule)
                    valid = false
                }
            case "run":
                run = string(value, key: key)
                if let text = run, text.trimmingWhitespace().isEmpty {
                    report(value, "'run' is empty", hint: "give the shell command to run")
                    valid = false
                }
            case "needs": needs = stepReferences(value)
            case "timeout":
                guard let text = string(value, key: key) else { continue }
                timeout = StepDuration.parse(text)
                if timeout == nil { report(value, "invalid duration '\(text)' for 'timeout'", hint: StepDuration.form) }
            case "env": env = environment(value, key: key)
            default: unknownKey(keyNode, key, allowed: JobParser.stepKeys, in: "a step")
            }
        }
        if id == nil && valid {
            report(node, "a step is missing 'id'", hint: "add 'id: some-name'")
            valid = false
        }
        if run == nil && valid {
            report(node, "step '\(id?.rawValue ?? "?")' has no 'run' command", hint: "add 'run: the shell command'")
            valid = false
        }
        guard valid, let id, let run else { return nil }
        return StepDefinition(id: id, run: run, needs: needs, timeout: timeout, env: env)
    }

    /// Unknown `needs` references and cycles, each reported at the `needs` entry at fault.
    mutating func checkGraph(_ steps: [StepDefinition], mapping: Node.Mapping) {
        let known = Set(steps.map(\.id))
        let stepNodes = stepNodesByID(mapping)
        for step in steps {
            for need in step.needs where !known.contains(need) {
                let node = needsNode(of: step.id, named: need, in: stepNodes)
                let suggestion = closest(need.rawValue, among: known.map(\.rawValue))
                report(
                    line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1,
                    "step '\(step.id)' needs unknown step '\(need)'",
                    hint: suggestion.map { "did you mean '\($0)'?" }
                        ?? "known steps: \(known.sorted().map(\.rawValue).joined(separator: ", "))")
            }
        }
        if let cycle = StepGraph.cycle(in: steps) {
            let node = stepNodes[cycle[0]]
            report(
                line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1,
                "cycle in 'needs': \(cycle.map(\.rawValue).joined(separator: " -> "))",
                hint: "a step cannot depend on itself, directly or through others")
        }
    }

    func stepNodesByID(_ mapping: Node.Mapping) -> [StepID: Node] {
        guard case .sequence(let sequence)? = mapping["steps"] else { return [:] }
        var result: [StepID: Node] = [:]
        for item in sequence {
            if case .mapping(let step) = item, let text = step["id"]?.scalar?.string, let id = StepID(text) {
                result[id] = result[id] ?? item
            }
        }
        return result
    }

    func needsNode(of step: StepID, named need: StepID, in nodes: [StepID: Node]) -> Node? {
        guard case .mapping(let mapping)? = nodes[step], let needs = mapping["needs"] else { return nodes[step] }
        if case .sequence(let list) = needs {
            return list.first { $0.scalar?.string == need.rawValue } ?? needs
        }
        return needs
    }

    mutating func stepReferences(_ node: Node) -> [StepID] {
        let items: [Node]
        switch node {
        case .scalar: items = [node]
        case .sequence(let sequence): items = Array(sequence)
        default:
            report(node, "'needs' must be a step id or a list of step ids", hint: "write needs: [build, test]")
            return []
        }
        var result: [StepID] = []
        for item in items {
            guard let text = item.scalar?.string, let id = StepID(text) else {
                report(item, "'needs' entries must be step ids", hint: StepID.rule)
                continue
            }
            if !result.contains(id) { result.append(id) }
        }
        return result
    }

    mutating func environment(_ node: Node, key: String) -> [String: String] {
        guard case .mapping(let mapping) = node else {
            report(node, "'\(key)' must be a mapping of NAME: value", hint: "write \(key): { GREETING: hello }")
            return [:]
        }
        var result: [String: String] = [:]
        for (nameNode, value) in mapping {
            guard let name = nameNode.scalar?.string else {
                report(nameNode, "environment variable names must be strings")
                continue
            }
            guard Self.isEnvironmentName(name) else {
                report(nameNode, "invalid environment variable name '\(name)'", hint: "use [A-Za-z_][A-Za-z0-9_]*")
                continue
            }
            guard let text = value.scalar?.string else {
                report(value, "the value of '\(name)' must be a string, number or boolean")
                continue
            }
            guard !text.utf8.contains(0) else {
                report(value, "the value of '\(name)' contains a NUL byte")
                continue
            }
            result[name] = text
        }
        return result
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first == "_" || first.properties.isAlphabetic else {
            return false
        }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
        }
    }

    mutating func string(_ node: Node, key: String) -> String? {
        guard case .scalar(let scalar) = node else {
            report(node, "'\(key)' must be a string")
            return nil
        }
        return scalar.string
    }

    mutating func scalarKey(_ node: Node) -> String? {
        guard let key = node.scalar?.string else {
            report(node, "keys must be plain strings")
            return nil
        }
        return key
    }

    mutating func unknownKey(_ node: Node, _ key: String, allowed: [String], in place: String) {
        let hint =
            closest(key, among: allowed).map { "did you mean '\($0)'?" }
            ?? "allowed keys: \(allowed.joined(separator: ", "))"
        report(node, "unknown key '\(key)' in \(place)", hint: hint)
    }
}

/// The candidate within edit distance 2 of `word` (and closer than the word's length), if any.
func closest(_ word: String, among candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2, best.1 < word.count else { return nil }
    return best.0
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
