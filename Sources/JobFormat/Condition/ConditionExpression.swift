import Foundation

/// A `when: ${{ … }}` condition: a small, safe, deterministic expression in CEL's syntax and
/// semantics (the Common Expression Language of Kubernetes and Google's APIs), limited to:
///
/// - literals: `null`, `true`, `false`, integers, doubles, strings (`'…'` or `"…"`, with `\\`,
///   `\'`, `\"`, `\n`, `\r`, `\t` and `\uXXXX`), lists `[a, b]`;
/// - the variables `steps` (`steps.<id>.output…`, `steps.<id>.state`), `params`, `run` (`run.id`,
///   `run.trigger`), `job` (`job.id`) and, in a `for_each` step, `item`;
/// - field selection `a.b`, indexing `a[0]`, `a["key"]`;
/// - `==`, `!=`, `<`, `<=`, `>`, `>=`, `&&`, `||`, `!`, `in`, unary `-`, parentheses;
/// - `s.contains(t)`, `s.startsWith(t)`, `s.endsWith(t)`, `size(x)` (or `x.size()`),
///   `has(a.b)` (is the field there), and the macro `list.exists(x, predicate)`.
///
/// No other function, no arithmetic, no loops: evaluation is bounded by the expression's size
/// (and, for `exists`, the list's). See ``ConditionValue`` for the semantics.
public struct ConditionExpression: Sendable, Equatable {
    /// One node of the tree, with the offset (in characters, within the expression) it starts at.
    public struct Node: Sendable, Equatable {
        public let kind: Kind
        public let offset: Int
        /// The length of the longest path down from here: what every walk of the tree recurses
        /// through, bounded by ``ConditionParser/maximumHeight``.
        public let height: Int

        public init(kind: Kind, offset: Int) {
            self.kind = kind
            self.offset = offset
            height = 1 + (kind.children.map(\.height).max() ?? 0)
        }

        public indirect enum Kind: Sendable, Equatable {
            case literal(ConditionValue)
            case list([Node])
            case identifier(String)
            case select(Node, field: String)
            case index(Node, Node)
            /// `size(x)`, `has(a.b)`; `x.contains(y)` has `target`.
            case call(String, target: Node?, arguments: [Node])
            /// `list.exists(variable, predicate)`.
            case exists(Node, variable: String, predicate: Node)
            case not(Node)
            case negate(Node)
            case binary(BinaryOperator, Node, Node)

            var children: [Node] {
                switch self {
                case .literal, .identifier: []
                case .list(let items): items
                case .select(let inner, _), .not(let inner), .negate(let inner): [inner]
                case .index(let base, let key): [base, key]
                case .call(_, let target, let arguments): (target.map { [$0] } ?? []) + arguments
                case .exists(let list, _, let predicate): [list, predicate]
                case .binary(_, let left, let right): [left, right]
                }
            }
        }
    }

    public enum BinaryOperator: String, Sendable, Equatable {
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case and = "&&", or = "||", isIn = "in"
    }

    /// The text between `${{` and `}}`.
    public let text: String
    public let root: Node
    /// Where ``text`` starts within the `when:` value it was read from.
    public private(set) var offsetInWhen = 0

    /// The variables an expression may name.
    public static let variables = ["steps", "params", "run", "job", "item", "trigger"]
    static let functions = ["size", "has", "contains", "startsWith", "endsWith", "exists"]

    /// Parses the expression `text`. Throws ``ConditionError`` with the offset of the problem.
    public init(parsing text: String) throws(ConditionError) {
        self.text = text
        var parser = ConditionParser(text)
        root = try parser.parseExpression()
        guard parser.atEnd else { throw parser.error("unexpected \(parser.describeCurrent()) after the expression") }
    }

    /// Parses the value of `when:` when it is one `${{ … }}` (spaces around it allowed); nil when
    /// `when` is not written that way. `offset` in errors counts from the start of `value`.
    public static func parse(when value: String) -> Result<ConditionExpression, ConditionError>? {
        let characters = Array(value)
        var start = 0
        while start < characters.count, characters[start].isWhitespace { start += 1 }
        var end = characters.count
        while end > start, characters[end - 1].isWhitespace { end -= 1 }
        guard end - start >= 5, String(characters[start..<(start + 3)]) == "${{",
            String(characters[(end - 2)..<end]) == "}}"
        else { return nil }
        let inner = String(characters[(start + 3)..<(end - 2)])
        do {
            var expression = try ConditionExpression(parsing: inner)
            expression.offsetInWhen = start + 3
            return .success(expression)
        } catch {
            var moved = error
            moved.offset += start + 3
            return .failure(moved)
        }
    }

    /// Every `steps.<id>` the expression names, with whether it reads the step's `state`.
    public var stepReferences: [(step: String, field: String?, offset: Int)] {
        var found: [(String, String?, Int)] = []
        func visit(_ node: Node, bound: Set<String>) {
            switch node.kind {
            case .select(let inner, let field):
                if case .select(let base, let id) = inner.kind, case .identifier("steps") = base.kind,
                    !bound.contains("steps")
                {
                    found.append((id, field, inner.offset))
                    return
                }
                if case .identifier("steps") = inner.kind, !bound.contains("steps") {
                    found.append((field, nil, node.offset))
                    return
                }
                visit(inner, bound: bound)
            case .literal, .identifier: break
            case .list(let items): items.forEach { visit($0, bound: bound) }
            case .index(let base, let key):
                visit(base, bound: bound)
                visit(key, bound: bound)
            case .call(_, let target, let arguments):
                if let target { visit(target, bound: bound) }
                arguments.forEach { visit($0, bound: bound) }
            case .exists(let list, let variable, let predicate):
                visit(list, bound: bound)
                visit(predicate, bound: bound.union([variable]))
            case .not(let inner), .negate(let inner): visit(inner, bound: bound)
            case .binary(_, let left, let right):
                visit(left, bound: bound)
                visit(right, bound: bound)
            }
        }
        visit(root, bound: [])
        return found
    }

    /// True when the expression reads some step's `state`: then it decides on its own whether
    /// the step runs once its needs have ended, however they ended; otherwise it is asked only
    /// when every need succeeded (as GitHub's `if:` adds `success()` unless it tests a status).
    public var readsStates: Bool { stepReferences.contains { $0.field == "state" } }

    /// True when the expression names `item` (outside an `exists` that binds that name).
    public var readsItem: Bool {
        func visit(_ node: Node, bound: Set<String>) -> Bool {
            switch node.kind {
            case .identifier(let name): return name == "item" && !bound.contains("item")
            case .literal: return false
            case .list(let items): return items.contains { visit($0, bound: bound) }
            case .select(let inner, _), .not(let inner), .negate(let inner): return visit(inner, bound: bound)
            case .index(let base, let key): return visit(base, bound: bound) || visit(key, bound: bound)
            case .call(_, let target, let arguments):
                return (target.map { visit($0, bound: bound) } ?? false)
                    || arguments.contains { visit($0, bound: bound) }
            case .exists(let list, let variable, let predicate):
                return visit(list, bound: bound) || visit(predicate, bound: bound.union([variable]))
            case .binary(_, let left, let right): return visit(left, bound: bound) || visit(right, bound: bound)
            }
        }
        return visit(root, bound: [])
    }
}

/// A condition that could not be parsed, checked or evaluated.
public struct ConditionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Zero-based character offset within the expression (or the `when` value, from ``ConditionExpression/parse(when:)``).
    public var offset: Int
    public var message: String
    public var hint: String?

    public init(offset: Int, message: String, hint: String? = nil) {
        self.offset = offset
        self.message = message
        self.hint = hint
    }

    public var description: String { message + (hint.map { " (\($0))" } ?? "") }
}
