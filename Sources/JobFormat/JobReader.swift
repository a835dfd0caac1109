import RuntimeSupport
import Yams

/// Walks one job file's YAML nodes with typed accessors. Every accessor reports its own problem
/// (with line, column and a hint) and returns nil, so the walk goes on and every problem in a file
/// is found in one pass.
struct JobReader {
    let path: String
    var diagnostics: [Diagnostic] = []
    /// Templates seen so far, checked against the whole job once it is read.
    var templates: [TemplateSite] = []
    /// `when:` conditions seen so far, checked against the whole job once it is read.
    var conditions: [ConditionSite] = []
    /// The webhook's `filter:`, checked once the job is read.
    var filters: [FilterSite] = []

    init(path: String) { self.path = path }

    struct TemplateSite {
        var step: StepID?
        var field: String
        var node: Node
        var template: Template
    }

    struct FilterSite {
        var node: Node
        var expression: ConditionExpression
    }

    struct ConditionSite {
        var step: StepID
        var node: Node
        var expression: ConditionExpression
    }

    mutating func report(line: Int, column: Int, _ message: String, hint: String? = nil) {
        diagnostics.append(Diagnostic(file: path, line: line, column: column, message: message, hint: hint))
    }

    mutating func report(_ node: Node?, _ message: String, hint: String? = nil) {
        report(line: node?.mark?.line ?? 1, column: node?.mark?.column ?? 1, message, hint: hint)
    }

    /// How a node reads in a message: `'abc'`, `a list`, `a mapping`.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            scalar.tagName == .null
                ? "nothing" : "'\(scalar.string.count > 40 ? scalar.string.prefix(40) + "…" : scalar.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }

    /// "put it in quotes" for a number, boolean or date where text was expected.
    static func quoteHint(_ node: Node) -> String? {
        guard case .scalar(let scalar) = node, scalar.tagName != .null else { return nil }
        return "put it in quotes: \"\(scalar.string)\""
    }

    /// Words other tools use for wfd's keys.
    static let synonyms: [String: String] = [
        "command": "run", "cmd": "run", "script": "run", "shell": "run", "exec": "run",
        "depends_on": "needs", "depends": "needs", "after": "needs", "requires": "needs", "dependencies": "needs",
        "name": "id", "cron": "schedule", "tz": "timezone", "environment": "env", "retries": "retry",
        "working_dir": "workdir", "cwd": "workdir", "foreach": "for_each", "each": "for_each", "if": "when",
    ]

    // MARK: - Mappings and keys

    /// The mapping's entries by key, after reporting keys that are not plain strings or not in
    /// `allowed` (with "did you mean" from `allowed`, or where the key belongs per `elsewhere`).
    mutating func fields(
        _ mapping: Node.Mapping, allowed: [String], in place: String, elsewhere: [String: String] = [:]
    ) -> [String: (key: Node, value: Node)] {
        var result: [String: (key: Node, value: Node)] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                report(keyNode, "keys must be plain strings, not \(Self.describe(keyNode))")
                continue
            }
            let key = scalar.string
            if allowed.contains(key) {
                result[key] = (keyNode, value)
            } else if let home = elsewhere[key] {
                report(keyNode, "'\(key)' does not belong in \(place)", hint: "it goes inside '\(home)'")
            } else {
                let synonym = Self.synonyms[key].flatMap { allowed.contains($0) ? $0 : nil }
                let hint = (synonym ?? closest(key, among: allowed)).map { "did you mean '\($0)'?" }
                report(
                    keyNode, "unknown key '\(key)' in \(place)",
                    hint: hint ?? "allowed: \(allowed.joined(separator: ", "))")
            }
        }
        return result
    }

    mutating func mapping(_ node: Node, _ key: String, example: String) -> Node.Mapping? {
        guard case .mapping(let mapping) = node else {
            report(node, "'\(key)' must be a mapping, not \(Self.describe(node))", hint: "write \(example)")
            return nil
        }
        return mapping
    }

    // MARK: - Scalars

    mutating func string(_ node: Node, _ key: String) -> String? {
        // A date is text too (YAML would make 2024-11-25 a timestamp); numbers and booleans are not.
        guard case .scalar(let scalar) = node, scalar.tagName == .str || scalar.tagName == .timestamp else {
            report(node, "'\(key)' must be a string, not \(Self.describe(node))", hint: Self.quoteHint(node))
            return nil
        }
        guard !scalar.string.utf8.contains(0) else {
            report(node, "'\(key)' contains a NUL byte")
            return nil
        }
        return scalar.string
    }

    mutating func nonEmptyString(_ node: Node, _ key: String, hint: String) -> String? {
        guard let text = string(node, key) else { return nil }
        guard !text.trimmingWhitespace().isEmpty else {
            report(node, "'\(key)' is empty", hint: hint)
            return nil
        }
        return text
    }

    mutating func int(_ node: Node, _ key: String, range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let scalar) = node, scalar.tagName == .int, let value = Int(scalar.string) else {
            report(
                node,
                "'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound), not \(Self.describe(node))"
            )
            return nil
        }
        guard range.contains(value) else {
            report(node, "'\(key)' must be from \(range.lowerBound) to \(range.upperBound), not \(value)")
            return nil
        }
        return value
    }

    mutating func number(_ node: Node, _ key: String, range: ClosedRange<Double>) -> Double? {
        guard case .scalar(let scalar) = node, scalar.tagName == .int || scalar.tagName == .float,
            let value = Double(scalar.string), value.isFinite
        else {
            report(node, "'\(key)' must be a number, not \(Self.describe(node))")
            return nil
        }
        guard range.contains(value) else {
            report(
                node,
                "'\(key)' must be from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound)), not \(scalar.string)"
            )
            return nil
        }
        return value
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    mutating func bool(_ node: Node, _ key: String) -> Bool? {
        guard case .scalar(let scalar) = node, scalar.tagName == .bool, let value = node.bool else {
            report(node, "'\(key)' must be true or false, not \(Self.describe(node))")
            return nil
        }
        return value
    }

    mutating func duration(_ node: Node, _ key: String) -> TimeSpan? {
        guard case .scalar(let scalar) = node, scalar.tagName != .null else {
            report(node, "'\(key)' must be a duration, not \(Self.describe(node))", hint: StepDuration.form)
            return nil
        }
        guard let span = TimeSpan(parsing: scalar.string) else {
            report(node, "invalid duration '\(scalar.string)' for '\(key)'", hint: StepDuration.form)
            return nil
        }
        return span
    }

    mutating func choice<E: RawRepresentable & CaseIterable>(_ node: Node, _ key: String, _: E.Type) -> E?
    where E.RawValue == String {
        let options = E.allCases.map(\.rawValue)
        guard case .scalar(let scalar) = node, let value = E(rawValue: scalar.string) else {
            let got = Self.describe(node)
            let suggestion = node.scalar.flatMap { closest($0.string, among: options) }
            report(
                node, "'\(key)' must be one of \(options.joined(separator: ", ")), not \(got)",
                hint: suggestion.map { "did you mean '\($0)'?" })
            return nil
        }
        return value
    }

    // MARK: - Collections

    /// A list of strings; a single string is taken as a list of one.
    mutating func stringList(_ node: Node, _ key: String) -> [(String, Node)]? {
        let items: [Node]
        switch node {
        case .scalar(let scalar) where scalar.tagName != .null: items = [node]
        case .sequence(let sequence): items = Array(sequence)
        default:
            report(node, "'\(key)' must be a list of strings, not \(Self.describe(node))", hint: "write \(key): [a, b]")
            return nil
        }
        var result: [(String, Node)] = []
        for item in items {
            guard case .scalar(let scalar) = item, scalar.tagName == .str else {
                report(
                    item, "each entry of '\(key)' must be a string, not \(Self.describe(item))",
                    hint: Self.quoteHint(item))
                continue
            }
            result.append((scalar.string, item))
        }
        return result
    }

    /// `NAME: value` pairs (environment variables, headers, query parameters); values are scalars.
    mutating func stringMap(_ node: Node, _ key: String, names: NameRule) -> [String: (String, Node)] {
        guard let mapping = mapping(node, key, example: "\(key): { NAME: value }") else { return [:] }
        var result: [String: (String, Node)] = [:]
        for (nameNode, value) in mapping {
            guard case .scalar(let nameScalar) = nameNode else {
                report(nameNode, "names in '\(key)' must be strings")
                continue
            }
            let name = nameScalar.string
            if let problem = names.problem(name) {
                report(nameNode, "invalid name '\(name)' in '\(key)'", hint: problem)
                continue
            }
            guard case .scalar(let scalar) = value, scalar.tagName != .null else {
                report(
                    value,
                    "the value of '\(name)' in '\(key)' must be a string, number or boolean, not \(Self.describe(value))"
                )
                continue
            }
            guard !scalar.string.utf8.contains(0) else {
                report(value, "the value of '\(name)' contains a NUL byte")
                continue
            }
            result[name] = (scalar.string, value)
        }
        return result
    }

    /// Rules for the names of `stringMap` entries.
    enum NameRule {
        case environment, header, any

        func problem(_ name: String) -> String? {
            switch self {
            case .environment:
                guard let first = name.unicodeScalars.first,
                    first == "_" || (first.isASCII && first.properties.isAlphabetic),
                    name.unicodeScalars.allSatisfy({
                        $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0))
                    })
                else { return "use [A-Za-z_][A-Za-z0-9_]*" }
                return StepEnvironmentNames.reserved.contains(name) ? "'\(name)' belongs to the service manager" : nil
            case .header:
                let token = "!#$%&'*+-.^_`|~"
                return !name.isEmpty
                    && name.unicodeScalars.allSatisfy({
                        $0.isASCII
                            && ($0.properties.isAlphabetic || ("0"..."9").contains($0)
                                || token.unicodeScalars.contains($0))
                    })
                    ? nil : "a header name is letters, digits and !#$%&'*+-.^_`|~"
            case .any:
                return name.isEmpty ? "a name cannot be empty" : nil
            }
        }
    }

    /// The line and column of character `offset` of a scalar's text (exact for one-line scalars).
    func position(in node: Node, offset: Int) -> (line: Int, column: Int) {
        let quoted = node.scalar.map { $0.style == .singleQuoted || $0.style == .doubleQuoted } ?? false
        return (node.mark?.line ?? 1, (node.mark?.column ?? 1) + (quoted ? 1 : 0) + offset)
    }

    mutating func report(_ position: (line: Int, column: Int), _ message: String, hint: String? = nil) {
        report(line: position.line, column: position.column, message, hint: hint)
    }
}

/// Counts the nodes of a tree as expanded (aliases count every time they are used), stopping at
/// `limit`: a billion-laughs file is found after `limit` steps, not after a billion.
func expandedSize(_ node: Node, limit: Int) -> Int {
    var count = 0
    var stack: [Node] = [node]
    while let next = stack.popLast() {
        count += 1
        if count >= limit { return count }
        switch next {
        case .mapping(let mapping):
            for (key, value) in mapping {
                stack.append(key)
                stack.append(value)
            }
        case .sequence(let sequence): stack.append(contentsOf: sequence)
        case .scalar, .alias: break
        }
    }
    return count
}
