import RuntimeSupport

/// What a condition may refer to, known when the job file is loaded.
public struct ConditionContext: Sendable {
    /// The step whose `when` it is.
    public var step: StepID
    public var steps: [StepID: StepDefinition]
    /// The steps it needs, directly or through others: the only ones whose state and output are
    /// known when it is decided.
    public var upstream: Set<StepID>
    public var params: Set<String>
    /// True in a `for_each` step: `item` is the item.
    public var hasItem: Bool
    /// True in a job with `on:`: `trigger` is what started the run (null fields when it was not a trigger).
    public var hasTrigger: Bool

    public init(
        step: StepID, steps: [StepID: StepDefinition], upstream: Set<StepID>, params: Set<String>, hasItem: Bool,
        hasTrigger: Bool = false
    ) {
        self.step = step
        self.steps = steps
        self.upstream = upstream
        self.params = params
        self.hasItem = hasItem
        self.hasTrigger = hasTrigger
    }
}

/// The static type of a condition's value, as far as the job file tells it: `dyn` is a JSON value
/// known only at run time (a model's answer, an HTTP body, `output: json`).
enum ConditionType: String, Equatable {
    case bool, int, double, string, null, list, map, dyn

    /// "an int", "a string".
    var phrase: String { (rawValue == "int" ? "an " : "a ") + rawValue }

    var isNumber: Bool { self == .int || self == .double }
}

extension ConditionExpression {
    /// Checks every reference and every operation whose types the job file tells: an unknown
    /// step, one the step does not need, an unknown parameter, a field of a text output, `item`
    /// outside `for_each`, comparing or ordering values of kinds that never match, a condition
    /// that cannot give true or false. Throws the first problem, with its offset in the expression.
    public func check(in context: ConditionContext) throws(ConditionError) {
        var checker = ConditionChecker(context: context)
        let type = try checker.type(of: root)
        guard type == .bool || type == .dyn else {
            throw ConditionError(
                offset: text.prefix { $0.isWhitespace }.count,
                message: "the condition gives \(type.phrase), not true or false",
                hint: "compare it, e.g. \(text.trimmingWhitespace()) == \"…\"")
        }
    }
}

struct ConditionChecker {
    let context: ConditionContext
    /// The variables of the `exists` around, innermost last, with their type: a map's keys are
    /// strings, a list's elements anything.
    var bound: [(name: String, type: ConditionType)] = []

    func isBound(_ name: String) -> Bool { bound.contains { $0.name == name } }

    func fail(_ node: ConditionExpression.Node, _ message: String, hint: String? = nil) -> ConditionError {
        ConditionError(offset: node.offset, message: message, hint: hint)
    }

    /// The type a step's output has when it succeeded.
    func outputType(of step: StepDefinition) -> ConditionType {
        if step.forEach != nil { return .list }
        switch step.kind {
        case .run: return step.output == .json ? .dyn : .string
        default: return .dyn
        }
    }

    /// The node's type. Each kind of node is checked in a function of its own, so that this one,
    /// which the tree's height recurses through, keeps a small stack frame.
    mutating func type(of node: ConditionExpression.Node) throws(ConditionError) -> ConditionType {
        switch node.kind {
        case .literal(let value): return try literalType(node, value)
        case .list(let items): return try listType(node, items)
        case .identifier(let name): return try identifierType(node, name)
        case .select(let inner, let field):
            return try select(node, inner, field)
        case .index(let base, let key): return try indexType(node, base, key)
        case .call(let name, let target, let arguments): return try callType(node, name, target, arguments)
        case .exists(let list, let variable, let predicate): return try existsType(node, list, variable, predicate)
        case .not(let inner): return try notType(node, inner)
        case .negate(let inner): return try negateType(node, inner)
        case .binary(let operation, let left, let right): return try binaryType(node, operation, left, right)
        }
    }

    mutating func literalType(_ node: ConditionExpression.Node, _ value: ConditionValue) throws(ConditionError)
        -> ConditionType
    {
        switch value {
        case .null: return .null
        case .bool: return .bool
        case .int: return .int
        case .double: return .double
        case .string: return .string
        case .list: return .list
        case .map: return .map
        }
    }

    mutating func listType(_ node: ConditionExpression.Node, _ items: [ConditionExpression.Node]) throws(ConditionError)
        -> ConditionType
    {
        for item in items { _ = try type(of: item) }
        return .list
    }

    mutating func identifierType(_ node: ConditionExpression.Node, _ name: String) throws(ConditionError)
        -> ConditionType
    {
        if let variable = bound.last(where: { $0.name == name }) { return variable.type }
        switch name {
        case "steps", "params", "run", "job": return .map
        case "trigger":
            guard context.hasTrigger else {
                throw fail(node, "'trigger' is only defined in a job with 'on:'")
            }
            return .map
        case "item":
            guard context.hasItem else {
                throw fail(node, "'item' is only defined in a step with 'for_each'")
            }
            return .dyn
        default:
            let suggestion = closest(name, among: ConditionExpression.variables)
            throw fail(
                node, "unknown variable '\(name)'",
                hint: suggestion.map { "did you mean '\($0)'?" } ?? "variables: steps, params, run, job, item, trigger")
        }
    }

    mutating func indexType(
        _ node: ConditionExpression.Node, _ base: ConditionExpression.Node, _ key: ConditionExpression.Node
    ) throws(ConditionError) -> ConditionType {
        let baseType = try type(of: base)
        let keyType = try type(of: key)
        switch baseType {
        case .list:
            guard keyType == .int || keyType == .dyn else {
                throw fail(key, "a list is indexed by a whole number, not \(keyType.phrase)")
            }
            return .dyn
        case .map, .dyn: return .dyn
        default: throw fail(node, "\(baseType.phrase) cannot be indexed")
        }
    }

    mutating func callType(
        _ node: ConditionExpression.Node, _ name: String, _ target: ConditionExpression.Node?,
        _ arguments: [ConditionExpression.Node]
    ) throws(ConditionError) -> ConditionType {
        if name == "has" {
            guard case .select(let inner, let field)? = arguments.first?.kind else { return .bool }
            _ = try select(arguments[0], inner, field, presence: true)
            return .bool
        }
        let types = try ((target.map { [$0] } ?? []) + arguments).map { (node) throws(ConditionError) in
            try type(of: node)
        }
        if name == "size" {
            guard types.count == 1, [.string, .list, .map, .dyn].contains(types[0]) else {
                throw fail(node, "size() needs a string, a list or a map, not \(types.first?.phrase ?? "nothing")")
            }
            return .int
        }
        guard types.count == 2 else { throw fail(node, "\(name)() takes one string: s.\(name)(\"…\")") }
        for (index, type) in types.enumerated() where type != .string && type != .dyn {
            throw fail(
                index == 0 ? (target ?? node) : arguments[0],
                "\(name)() works on strings, not on \(type.phrase)")
        }
        return .bool
    }

    mutating func existsType(
        _ node: ConditionExpression.Node, _ list: ConditionExpression.Node, _ variable: String,
        _ predicate: ConditionExpression.Node
    ) throws(ConditionError) -> ConditionType {
        let listType = try type(of: list)
        guard [.list, .map, .dyn].contains(listType) else {
            throw fail(list, "exists needs a list or a map, not \(listType.phrase)")
        }
        bound.append((variable, listType == .map ? .string : .dyn))
        defer { bound.removeLast() }
        let predicateType = try type(of: predicate)
        guard predicateType == .bool || predicateType == .dyn else {
            throw fail(predicate, "exists' condition gives \(predicateType.phrase), not true or false")
        }
        return .bool
    }

    mutating func notType(_ node: ConditionExpression.Node, _ inner: ConditionExpression.Node) throws(ConditionError)
        -> ConditionType
    {
        let innerType = try type(of: inner)
        guard innerType == .bool || innerType == .dyn else {
            throw fail(node, "'!' needs true or false, not \(innerType.phrase)")
        }
        return .bool
    }

    mutating func negateType(_ node: ConditionExpression.Node, _ inner: ConditionExpression.Node) throws(ConditionError)
        -> ConditionType
    {
        let innerType = try type(of: inner)
        guard innerType.isNumber || innerType == .dyn else {
            throw fail(node, "'-' needs a number, not \(innerType.phrase)")
        }
        return innerType
    }

    mutating func binaryType(
        _ node: ConditionExpression.Node, _ operation: ConditionExpression.BinaryOperator,
        _ left: ConditionExpression.Node, _ right: ConditionExpression.Node
    ) throws(ConditionError) -> ConditionType {
        let a = try type(of: left)
        let b = try type(of: right)
        switch operation {
        case .and, .or:
            for (side, sideType) in [(left, a), (right, b)] where sideType != .bool && sideType != .dyn {
                throw fail(
                    side, "'\(operation.rawValue)' needs true or false on both sides, not \(sideType.phrase)")
            }
        case .equal, .notEqual:
            if a != .dyn, b != .dyn, a != b, !(a.isNumber && b.isNumber), a != .null, b != .null {
                throw fail(
                    node, "compares \(a.phrase) with \(b.phrase): they are never equal",
                    hint: b == .string || a == .string ? "quote the value to compare text" : nil)
            }
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let comparable =
                a == .dyn || b == .dyn || (a.isNumber && b.isNumber) || (a == b && [.string, .bool].contains(a))
            guard comparable else {
                throw fail(node, "'\(operation.rawValue)' cannot order \(a.phrase) and \(b.phrase)")
            }
        case .isIn:
            guard [.list, .map, .dyn].contains(b) else {
                throw fail(right, "'in' needs a list or a map on its right, not \(b.phrase)")
            }
        }
        return .bool
    }

    /// The type of `inner.field`, checking the paths the job file knows (`presence`: inside
    /// `has(…)`, where a missing field of a JSON value is no error).
    mutating func select(
        _ node: ConditionExpression.Node, _ inner: ConditionExpression.Node, _ field: String, presence: Bool = false
    ) throws(ConditionError) -> ConditionType {
        // A thin function: a chain `a.b.c…` recurses through it, the messages live in helpers.
        if case .identifier(let root) = inner.kind, !isBound(root),
            let known = try rootField(node, root, field)
        {
            return known
        }
        if case .select(let base, let stepName) = inner.kind, case .identifier("steps") = base.kind,
            !isBound("steps")
        {
            return try stepField(node, inner, base, stepName, field)
        }
        let innerType = try type(of: inner)
        if innerType == .map || innerType == .dyn { return .dyn }
        throw noField(node, inner, innerType, field)
    }

    /// `steps.<id>`, `params.<name>`, `run.<field>`, `job.id`; nil for another root.
    func rootField(_ node: ConditionExpression.Node, _ root: String, _ field: String) throws(ConditionError)
        -> ConditionType?
    {
        switch root {
        case "steps":
            guard let id = StepID(field), context.steps[id] != nil else {
                let suggestion = closest(field, among: context.steps.keys.map(\.rawValue))
                throw fail(node, "unknown step '\(field)'", hint: suggestion.map { "did you mean '\($0)'?" })
            }
            guard id != context.step else { throw fail(node, "a step's condition cannot read the step itself") }
            guard context.upstream.contains(id) else {
                throw fail(
                    node, "step '\(context.step)' reads '\(id)' but does not need it",
                    hint: "add '\(id)' to its 'needs', so that it has ended when the condition is decided")
            }
            return .map
        case "params":
            guard context.params.contains(field) else {
                let suggestion = closest(field, among: Array(context.params))
                throw fail(
                    node, "unknown parameter '\(field)'",
                    hint: suggestion.map { "did you mean '\($0)'?" } ?? "declare it under 'params:'")
            }
            return .string
        case "run":
            guard field == "id" || field == "trigger" else {
                throw fail(node, "'run' has the fields id and trigger, not '\(field)'")
            }
            return .string
        case "job":
            guard field == "id" else { throw fail(node, "'job' has the field id, not '\(field)'") }
            return .string
        case "trigger":
            guard context.hasTrigger else { throw fail(node, "'trigger' is only defined in a job with 'on:'") }
            switch field {
            case "kind", "source", "delivery": return .dyn
            case "headers": return .map
            case "payload": return .dyn
            default:
                throw fail(
                    node, "'trigger' has the fields kind, source, delivery, headers and payload, not '\(field)'")
            }
        default: return nil
        }
    }

    /// `steps.<id>.output` and `steps.<id>.state`.
    mutating func stepField(
        _ node: ConditionExpression.Node, _ inner: ConditionExpression.Node, _ base: ConditionExpression.Node,
        _ stepName: String, _ field: String
    ) throws(ConditionError) -> ConditionType {
        _ = try select(inner, base, stepName)
        guard let id = StepID(stepName), let step = context.steps[id] else { return .dyn }
        switch field {
        case "state": return .string
        case "output": return outputType(of: step)
        default:
            throw fail(node, "a step has 'output' and 'state', not '\(field)'", hint: "steps.\(stepName).output")
        }
    }

    /// Why a value of `type` has no field `field`.
    func noField(
        _ node: ConditionExpression.Node, _ inner: ConditionExpression.Node, _ type: ConditionType, _ field: String
    ) -> ConditionError {
        if type == .string, case .select(let base, let output) = inner.kind, output == "output",
            case .select(_, let stepName) = base.kind
        {
            return fail(
                node, "the output of step '\(stepName)' is text, which has no field '\(field)'",
                hint: "give '\(stepName)' output: json to read fields of it")
        }
        return fail(node, "\(type.phrase) has no field '\(field)'")
    }
}
