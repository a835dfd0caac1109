import Foundation
import JSONSchemaKit

/// A failure while evaluating: an error value in CEL's sense.
struct EvaluationProblem: Error {
    let message: String
}

struct ConditionEvaluator {
    var variables: [String: ConditionValue]
    var seen: [String: JSONValue] = [:]
    /// Values of `exists` variables, innermost last.
    var bound: [(String, ConditionValue)] = []
    /// The longest a seen value is kept as it is (longer strings, lists and maps are summarized).
    static let seenLimit = 256

    /// The path a node reads, as written (`steps.fetch.output.source`), when it is one.
    func path(of node: ConditionExpression.Node) -> String? {
        switch node.kind {
        case .identifier(let name): name
        case .select(let inner, let field): path(of: inner).map { "\($0).\(field)" }
        case .index(let inner, let key):
            switch key.kind {
            case .literal(.string(let text)): path(of: inner).map { "\($0)[\"\(text)\"]" }
            case .literal(.int(let number)): path(of: inner).map { "\($0)[\(number)]" }
            default: nil
            }
        default: nil
        }
    }

    mutating func note(_ node: ConditionExpression.Node, _ value: ConditionValue, _ noting: Bool) {
        guard noting, let path = path(of: node) else { return }
        var json = value.json
        if case .string(let text) = json, text.count > Self.seenLimit {
            json = .string(String(text.prefix(Self.seenLimit)) + "…")
        } else if let data = try? JSONEncoder().encode(json), data.count > Self.seenLimit {
            json = .string("(\(value.typeName) of \(data.count) bytes)")
        }
        seen[path] = json
    }

    /// `noting`: remember the value of a path read here (not of the inner parts of a longer path,
    /// `steps.a` and `steps.a.output` of `steps.a.output.source`). Each kind of node is evaluated
    /// in a function of its own, so that this one, which the tree's height recurses through,
    /// keeps a small stack frame.
    func fail(_ message: String) -> Result<ConditionValue, EvaluationProblem> {
        .failure(EvaluationProblem(message: message))
    }

    mutating func evaluate(_ node: ConditionExpression.Node, noting: Bool = true) -> Result<
        ConditionValue, EvaluationProblem
    > {
        switch node.kind {
        case .literal(let value): return .success(value)
        case .list(let items): return evaluateList(node, items, noting: noting)
        case .identifier(let name): return evaluateIdentifier(node, name, noting: noting)
        case .select(let inner, let field): return evaluateSelect(node, inner, field, noting: noting)
        case .index(let inner, let keyNode): return evaluateIndex(node, inner, keyNode, noting: noting)
        case .call(let name, let target, let arguments):
            return call(name, target: target, arguments: arguments)
        case .exists(let listNode, let variable, let predicate):
            return evaluateExists(node, listNode, variable, predicate, noting: noting)
        case .not(let inner): return evaluateNot(node, inner, noting: noting)
        case .negate(let inner): return evaluateNegate(node, inner, noting: noting)
        case .binary(let operation, let leftNode, let rightNode):
            return binary(operation, leftNode, rightNode)
        }
    }

    mutating func evaluateList(_ node: ConditionExpression.Node, _ items: [ConditionExpression.Node], noting: Bool)
        -> Result<ConditionValue, EvaluationProblem>
    {
        var values: [ConditionValue] = []
        for item in items {
            switch evaluate(item) {
            case .success(let value): values.append(value)
            case .failure(let problem): return .failure(problem)
            }
        }
        return .success(.list(values))
    }

    mutating func evaluateIdentifier(_ node: ConditionExpression.Node, _ name: String, noting: Bool) -> Result<
        ConditionValue, EvaluationProblem
    > {
        if let value = bound.last(where: { $0.0 == name })?.1 { return .success(value) }
        guard let value = variables[name] else {
            return fail(
                name == "item" ? "'item' has no value: the step has no for_each" : "unknown variable '\(name)'")
        }
        if name == "item" { note(node, value, noting) }
        return .success(value)
    }

    mutating func evaluateSelect(
        _ node: ConditionExpression.Node, _ inner: ConditionExpression.Node, _ field: String, noting: Bool
    ) -> Result<ConditionValue, EvaluationProblem> {
        let base: ConditionValue
        switch evaluate(inner, noting: false) {
        case .success(let value): base = value
        case .failure(let problem): return .failure(problem)
        }
        guard case .map(let fields) = base else {
            return fail("\(path(of: inner) ?? "the value") is \(base.typePhrase), which has no field '\(field)'")
        }
        guard let value = fields[field] else {
            note(inner, base, true)  // what it looked in, for `wfctl why`
            let keys = fields.keys.sorted().prefix(10).joined(separator: ", ")
            if case .identifier("steps") = inner.kind { return fail("no step '\(field)' in this run") }
            if field == "output", let state = fields["state"] {
                return fail(
                    "\(path(of: inner) ?? "the step") has no output (it is \(state.json.environmentText)); "
                        + "test it with has(\(path(of: node) ?? "…")) first")
            }
            return fail(
                "no field '\(field)' in \(path(of: inner) ?? "the value") (its fields: \(keys.isEmpty ? "none" : keys))"
            )
        }
        note(node, value, noting)
        return .success(value)
    }

    mutating func evaluateIndex(
        _ node: ConditionExpression.Node, _ inner: ConditionExpression.Node, _ keyNode: ConditionExpression.Node,
        noting: Bool
    ) -> Result<ConditionValue, EvaluationProblem> {
        let base: ConditionValue
        let key: ConditionValue
        switch (evaluate(inner, noting: false), evaluate(keyNode)) {
        case (.success(let a), .success(let b)): (base, key) = (a, b)
        case (.failure(let problem), _), (_, .failure(let problem)): return .failure(problem)
        }
        switch (base, key) {
        case (.list(let items), _):
            guard let number = key.number, number == number.rounded(), let index = Int(exactly: number) else {
                return fail("a list is indexed by a whole number, not \(key.typePhrase)")
            }
            guard items.indices.contains(index) else {
                return fail(
                    "index \(index) is out of range: \(path(of: inner) ?? "the list") has \(items.count) items")
            }
            note(node, items[index], noting)
            return .success(items[index])
        case (.map(let fields), .string(let name)):
            guard let value = fields[name] else {
                return fail("no key '\(name)' in \(path(of: inner) ?? "the map")")
            }
            note(node, value, noting)
            return .success(value)
        default:
            return fail("\(base.typePhrase) cannot be indexed by \(key.typePhrase)")
        }
    }

    mutating func evaluateExists(
        _ node: ConditionExpression.Node, _ listNode: ConditionExpression.Node, _ variable: String,
        _ predicate: ConditionExpression.Node, noting: Bool
    ) -> Result<ConditionValue, EvaluationProblem> {
        let list: ConditionValue
        switch evaluate(listNode) {
        case .success(let value): list = value
        case .failure(let problem): return .failure(problem)
        }
        let elements: [ConditionValue]
        switch list {
        case .list(let items): elements = items
        case .map(let fields): elements = fields.keys.sorted().map { .string($0) }
        default: return fail("exists needs a list or a map, not \(list.typePhrase)")
        }
        // CEL: true if any element gives true, even when another one errs.
        var firstProblem: EvaluationProblem?
        for element in elements {
            bound.append((variable, element))
            let result = evaluate(predicate)
            bound.removeLast()
            switch result {
            case .success(.bool(true)): return .success(.bool(true))
            case .success(.bool(false)): continue
            case .success(let other):
                firstProblem =
                    firstProblem ?? EvaluationProblem(message: "exists' condition gave \(other.typePhrase)")
            case .failure(let problem): firstProblem = firstProblem ?? problem
            }
        }
        if let firstProblem { return .failure(firstProblem) }
        return .success(.bool(false))
    }

    mutating func evaluateNot(_ node: ConditionExpression.Node, _ inner: ConditionExpression.Node, noting: Bool)
        -> Result<ConditionValue, EvaluationProblem>
    {
        switch evaluate(inner) {
        case .success(.bool(let value)): return .success(.bool(!value))
        case .success(let other): return fail("'!' needs a bool, not \(other.typePhrase)")
        case .failure(let problem): return .failure(problem)
        }
    }

    mutating func evaluateNegate(_ node: ConditionExpression.Node, _ inner: ConditionExpression.Node, noting: Bool)
        -> Result<ConditionValue, EvaluationProblem>
    {
        switch evaluate(inner) {
        case .success(.int(let value)) where value != .min: return .success(.int(-value))
        case .success(.double(let value)): return .success(.double(-value))
        case .success(let other): return fail("'-' needs a number, not \(other.typePhrase)")
        case .failure(let problem): return .failure(problem)
        }
    }

    mutating func binary(
        _ operation: ConditionExpression.BinaryOperator, _ leftNode: ConditionExpression.Node,
        _ rightNode: ConditionExpression.Node
    ) -> Result<ConditionValue, EvaluationProblem> {
        let left = evaluate(leftNode)
        if operation == .and || operation == .or {
            let right = evaluate(rightNode)
            let absorbing = operation == .or
            // A side that is the absorbing value decides, whatever the other one is.
            for side in [left, right] {
                if case .success(.bool(absorbing)) = side { return .success(.bool(absorbing)) }
            }
            for side in [left, right] {
                switch side {
                case .failure(let problem): return .failure(problem)
                case .success(.bool): continue
                case .success(let other):
                    return .failure(
                        EvaluationProblem(message: "'\(operation.rawValue)' needs bools, not \(other.typePhrase)"))
                }
            }
            return .success(.bool(!absorbing))
        }
        let right = evaluate(rightNode)
        let (a, b): (ConditionValue, ConditionValue)
        switch (left, right) {
        case (.success(let x), .success(let y)): (a, b) = (x, y)
        case (.failure(let problem), _), (_, .failure(let problem)): return .failure(problem)
        }
        switch operation {
        case .equal: return .success(.bool(ConditionValue.equal(a, b)))
        case .notEqual: return .success(.bool(!ConditionValue.equal(a, b)))
        case .isIn:
            switch b {
            case .list(let items): return .success(.bool(items.contains { ConditionValue.equal(a, $0) }))
            case .map(let fields):
                guard case .string(let key) = a else { return .success(.bool(false)) }
                return .success(.bool(fields[key] != nil))
            default:
                return .failure(
                    EvaluationProblem(message: "'in' needs a list or a map on its right, not \(b.typePhrase)"))
            }
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let order: Int
            if let x = a.number, let y = b.number {
                order = x < y ? -1 : x > y ? 1 : 0
            } else if case .string(let x) = a, case .string(let y) = b {
                order = x < y ? -1 : x > y ? 1 : 0  // by code point, as CEL compares strings
            } else if case .bool(let x) = a, case .bool(let y) = b {
                order = x == y ? 0 : (x ? 1 : -1)
            } else {
                return .failure(
                    EvaluationProblem(
                        message: "'\(operation.rawValue)' cannot order \(a.typePhrase) and \(b.typePhrase)"))
            }
            let value =
                switch operation {
                case .less: order < 0
                case .lessOrEqual: order <= 0
                case .greater: order > 0
                default: order >= 0
                }
            return .success(.bool(value))
        case .and, .or: return .success(.null)  // handled above
        }
    }

    mutating func call(
        _ name: String, target: ConditionExpression.Node?, arguments: [ConditionExpression.Node]
    ) -> Result<ConditionValue, EvaluationProblem> {
        if name == "has", let argument = arguments.first, case .select(let inner, let field) = argument.kind {
            switch evaluate(inner) {
            case .success(.map(let fields)):
                if let value = fields[field] { note(argument, value, true) }
                return .success(.bool(fields[field] != nil))
            case .success(let other): return fail("has() needs a map to look in, not \(other.typePhrase)")
            case .failure(let problem): return .failure(problem)
            }
        }
        var values: [ConditionValue] = []
        for node in (target.map { [$0] } ?? []) + arguments {
            switch evaluate(node) {
            case .success(let value): values.append(value)
            case .failure(let problem): return .failure(problem)
            }
        }
        if name == "size" {
            guard values.count == 1 else { return fail("size takes one value") }
            switch values[0] {
            case .string(let text): return .success(.int(Int64(text.unicodeScalars.count)))
            case .list(let items): return .success(.int(Int64(items.count)))
            case .map(let fields): return .success(.int(Int64(fields.count)))
            default: return fail("size() needs a string, a list or a map, not \(values[0].typePhrase)")
            }
        }
        guard values.count == 2, case .string(let text) = values[0], case .string(let part) = values[1] else {
            let kinds = values.map(\.typeName).joined(separator: " and ")
            return fail("\(name)() needs a string and a string, not \(kinds)")
        }
        switch name {
        case "contains": return .success(.bool(part.isEmpty || text.contains(part)))
        case "startsWith": return .success(.bool(text.hasPrefix(part)))
        default: return .success(.bool(text.hasSuffix(part)))
        }
    }
}
