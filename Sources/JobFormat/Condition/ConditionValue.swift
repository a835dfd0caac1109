import Foundation
import JSONSchemaKit

/// A value while a condition is evaluated, with CEL's semantics:
///
/// - JSON numbers are doubles, literals without a point are ints; numbers compare across the two
///   (`1 == 1.0`), as CEL does since its heterogeneous equality.
/// - `==` and `!=` take any two values: of different kinds they are simply unequal. Ordering
///   (`<` …) takes two numbers, two strings or two bools, else it is an error.
/// - `&&` and `||` are commutative and absorb errors: `false && <error>` is `false`, `true ||
///   <error>` is `true`, whichever side fails.
/// - Selecting a missing field, indexing past the end, `size` of a number: errors, which fail the
///   step with the reason. `has(a.b)` tests a field without failing.
public enum ConditionValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case list([ConditionValue])
    case map([String: ConditionValue])

    /// The value of a JSON document.
    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .null
        case .bool(let value): self = .bool(value)
        case .number(let value): self = .double(value)
        case .string(let value): self = .string(value)
        case .array(let items): self = .list(items.map(ConditionValue.init))
        case .object(let fields): self = .map(fields.mapValues(ConditionValue.init))
        }
    }

    /// The value as JSON (for records and `wfctl why`).
    public var json: JSONValue {
        switch self {
        case .null: .null
        case .bool(let value): .bool(value)
        case .int(let value): .number(Double(value))
        case .double(let value): .number(value)
        case .string(let value): .string(value)
        case .list(let items): .array(items.map(\.json))
        case .map(let fields): .object(fields.mapValues(\.json))
        }
    }

    /// CEL's name of the value's type, for messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int: "int"
        case .double: "double"
        case .string: "string"
        case .list: "list"
        case .map: "map"
        }
    }

    /// "an int", "a string".
    public var typePhrase: String { (typeName == "int" ? "an " : "a ") + typeName }

    var number: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    /// CEL's equality: numbers by value, lists and maps element by element, different kinds unequal.
    static func equal(_ left: ConditionValue, _ right: ConditionValue) -> Bool {
        if let a = left.number, let b = right.number { return a == b }
        switch (left, right) {
        case (.list(let a), .list(let b)): return a.count == b.count && zip(a, b).allSatisfy { equal($0, $1) }
        case (.map(let a), .map(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { equal(value, $0) } ?? false }
        default: return left == right
        }
    }
}

/// What a condition may read: the variables of ``ConditionExpression``.
public struct ConditionScope: Sendable {
    public var variables: [String: ConditionValue]

    public init(variables: [String: ConditionValue]) { self.variables = variables }
}

/// How a condition came out: its value, or why it has none, and the values it read.
public struct ConditionOutcome: Sendable, Equatable {
    public var value: Bool?
    public var error: String?
    /// Each reference it read (`steps.fetch.output.source`) and the value it found there.
    public var seen: [String: JSONValue]

    public init(value: Bool?, error: String?, seen: [String: JSONValue]) {
        self.value = value
        self.error = error
        self.seen = seen
    }
}

extension ConditionExpression {
    /// Evaluates the expression in `scope`: true or false, or why not (an error, or a value that
    /// is not a bool).
    public func evaluate(in scope: ConditionScope) -> ConditionOutcome {
        var evaluator = ConditionEvaluator(variables: scope.variables)
        let result = evaluator.evaluate(root)
        switch result {
        case .success(.bool(let value)): return ConditionOutcome(value: value, error: nil, seen: evaluator.seen)
        case .success(let other):
            return ConditionOutcome(
                value: nil, error: "the condition gave \(other.typePhrase), not true or false", seen: evaluator.seen)
        case .failure(let problem):
            return ConditionOutcome(value: nil, error: problem.message, seen: evaluator.seen)
        }
    }
}
