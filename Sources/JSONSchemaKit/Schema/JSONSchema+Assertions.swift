import Foundation
import RuntimeSupport

/// The validation vocabulary: keywords that assert something about the instance itself.
extension JSONSchema {
    func assertions(_ schema: [String: JSONValue], _ instance: JSONValue, _ evaluation: Evaluation) -> [SchemaViolation]
    {
        var found: [SchemaViolation] = []
        func fail(_ keyword: String, _ message: String) {
            found.append(evaluation.violation(message, keyword: keyword))
        }

        if let type = schema["type"] {
            let allowed: [String] =
                switch type {
                case .string(let name): [name]
                case .array(let names): names.compactMap(\.stringValue)
                default: []
                }
            if !allowed.isEmpty, !allowed.contains(where: { instance.isOfType($0) }) {
                fail("type", "must be \(allowed.joined(separator: " or ")), not \(instance.typeName)")
            }
        }
        if case .array(let options)? = schema["enum"], !options.contains(where: { $0.isIdentical(to: instance) }) {
            let listed = options.prefix(10).map(\.compactText).joined(separator: ", ")
            fail("enum", "must be one of: \(listed)\(options.count > 10 ? ", …" : "")")
        }
        if let constant = schema["const"], !constant.isIdentical(to: instance) {
            fail("const", "must be \(constant.compactText)")
        }
        if case .number(let value) = instance {
            numberAssertions(schema, value, fail)
        }
        if case .string(let text) = instance {
            let length = text.unicodeScalars.count
            if let limit = schema["maxLength"]?.integerValue, length > limit {
                fail("maxLength", "must be at most \(limit) characters long (it has \(length))")
            }
            if let limit = schema["minLength"]?.integerValue, length < limit {
                fail("minLength", "must be at least \(limit) characters long (it has \(length))")
            }
            if case .string(let pattern)? = schema["pattern"], !Self.matches(pattern, text) {
                fail("pattern", "must match the regular expression \(pattern)")
            }
        }
        if case .array(let items) = instance {
            if let limit = schema["maxItems"]?.integerValue, items.count > limit {
                fail("maxItems", "must have at most \(limit) items (it has \(items.count))")
            }
            if let limit = schema["minItems"]?.integerValue, items.count < limit {
                fail("minItems", "must have at least \(limit) items (it has \(items.count))")
            }
            if case .bool(true)? = schema["uniqueItems"], let (first, second) = Self.duplicate(in: items) {
                fail("uniqueItems", "must not repeat items: items \(first) and \(second) are equal")
            }
        }
        if case .object(let members) = instance {
            if let limit = schema["maxProperties"]?.integerValue, members.count > limit {
                fail("maxProperties", "must have at most \(limit) properties (it has \(members.count))")
            }
            if let limit = schema["minProperties"]?.integerValue, members.count < limit {
                fail("minProperties", "must have at least \(limit) properties (it has \(members.count))")
            }
            if case .array(let required)? = schema["required"] {
                for name in required.compactMap(\.stringValue) where members[name] == nil {
                    fail("required", "must have the property '\(name)'")
                }
            }
            if case .object(let dependencies)? = schema["dependentRequired"] {
                for (name, needed) in dependencies.sorted(by: { $0.key < $1.key }) where members[name] != nil {
                    guard case .array(let names) = needed else { continue }
                    for other in names.compactMap(\.stringValue) where members[other] == nil {
                        fail("dependentRequired", "has '\(name)', so it must also have '\(other)'")
                    }
                }
            }
        }
        return found
    }

    private func numberAssertions(_ schema: [String: JSONValue], _ value: Double, _ fail: (String, String) -> Void) {
        if case .number(let divisor)? = schema["multipleOf"], divisor > 0, !Self.isMultiple(value, of: divisor) {
            fail("multipleOf", "must be a multiple of \(JSONValue.number(divisor).compactText)")
        }
        if case .number(let limit)? = schema["maximum"], value > limit {
            fail("maximum", "must be at most \(JSONValue.number(limit).compactText)")
        }
        if case .number(let limit)? = schema["exclusiveMaximum"], value >= limit {
            fail("exclusiveMaximum", "must be less than \(JSONValue.number(limit).compactText)")
        }
        if case .number(let limit)? = schema["minimum"], value < limit {
            fail("minimum", "must be at least \(JSONValue.number(limit).compactText)")
        }
        if case .number(let limit)? = schema["exclusiveMinimum"], value <= limit {
            fail("exclusiveMinimum", "must be greater than \(JSONValue.number(limit).compactText)")
        }
    }

    /// Whether `value` is an integer multiple of `divisor`, allowing for binary fractions
    /// (0.0075 is a multiple of 0.0001 although 0.0075 / 0.0001 is 75.00000000000001).
    static func isMultiple(_ value: Double, of divisor: Double) -> Bool {
        let quotient = value / divisor
        guard quotient.isFinite else { return false }
        return abs(quotient - quotient.rounded()) <= 1e-9 * max(1, abs(quotient))
    }

    /// The first two equal items, by position.
    static func duplicate(in items: [JSONValue]) -> (Int, Int)? {
        for first in items.indices {
            for second in items.indices where second > first && items[first].isIdentical(to: items[second]) {
                return (first, second)
            }
        }
        return nil
    }

    /// Compiled regular expressions, so a pattern met for every member is compiled once; nil for
    /// a pattern that does not compile (Foundation leaks a little on some failed compiles, so
    /// those are not tried again either).
    private static let expressions = Locked<[String: NSRegularExpression?]>([:])

    /// Whether `pattern` (ECMA-262, unanchored) finds a match in `text`; a pattern that does not
    /// compile matches nothing (``JSONSchema/init(_:checkAgainstMetaSchema:retrieve:)`` refuses those).
    static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let expression = expression(pattern) else { return false }
        let range = NSRange(text.startIndex..., in: text)
        return expression.firstMatch(in: text, options: [], range: range) != nil
    }

    static func expression(_ pattern: String) -> NSRegularExpression? {
        if let cached = expressions.withLock({ $0[pattern] }) { return cached }
        let compiled = try? NSRegularExpression(pattern: pattern, options: [])
        expressions.withLock { cache in
            if cache.count > 1024 { cache.removeAll() }  // bounded: patterns come from job files and models
            cache[pattern] = .some(compiled)
        }
        return compiled
    }
}

extension JSONValue {
    /// The JSON Schema type names this value has ("integer" for numbers without a fraction).
    func isOfType(_ name: String) -> Bool {
        switch (name, self) {
        case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array),
            ("object", .object):
            return true
        case ("integer", .number(let value)): return value.isFinite && value.rounded() == value
        default: return false
        }
    }

    /// The JSON Schema type name of this value, for messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number(let value): value.isFinite && value.rounded() == value ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// JSON equality: numbers by value (1 and 1.0 are equal), strings by code point (Swift's `==`
    /// would call "é" and "e" with a combining accent equal), members regardless of order.
    func isIdentical(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.string(let a), .string(let b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.isIdentical(to: $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count
                && a.allSatisfy { key, value in b[key].map { value.isIdentical(to: $0) } ?? false }
        default: return false
        }
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// A non-negative whole number (as JSON Schema's count keywords take), or nil.
    public var integerValue: Int? {
        guard case .number(let value) = self, value.isFinite, value.rounded() == value, value >= 0,
            value < Double(Int.max)
        else { return nil }
        return Int(value)
    }

    /// The value as short JSON, for messages.
    var compactText: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .number(let value):
            if value.isFinite, value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
            return String(value)
        case .string(let text):
            let shown = text.count > 60 ? text.prefix(60) + "…" : Substring(text)
            return "\"\(shown)\""
        case .array(let items):
            return "[" + items.prefix(5).map(\.compactText).joined(separator: ", ") + (items.count > 5 ? ", …]" : "]")
        case .object(let members):
            let shown = members.keys.sorted().prefix(5).map { "\"\($0)\": \(members[$0]?.compactText ?? "")" }
            return "{" + shown.joined(separator: ", ") + (members.count > 5 ? ", …}" : "}")
        }
    }
}
