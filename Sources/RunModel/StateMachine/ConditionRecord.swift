import Foundation
import JSONSchemaKit

/// How a step's `when: ${{ … }}` condition came out, and what it read.
public struct ConditionRecord: Sendable, Equatable, Codable {
    /// The expression, as written between `${{` and `}}`.
    public var expression: String
    /// true: the step runs; false: it is skipped. nil when it could not be evaluated (`error`).
    public var value: Bool?
    public var error: String?
    /// Every reference it read and the value it found there (long values summarized).
    public var seen: [String: JSONValue]?
    public var at: Date

    /// `path = value, …` in the order of the paths, strings quoted (for logs and `wfctl show`).
    public static func describe(_ seen: [String: JSONValue]?) -> String { lines(seen).joined(separator: ", ") }

    /// One `path = value` a read value, in the order of the paths, strings quoted.
    public static func lines(_ seen: [String: JSONValue]?) -> [String] {
        (seen ?? [:]).sorted { $0.key < $1.key }.map { path, value in
            if case .string(let text) = value { return "\(path) = \"\(text)\"" }
            return "\(path) = \(value.environmentText)"
        }
    }

    public init(expression: String, value: Bool?, error: String?, seen: [String: JSONValue]?, at: Date) {
        self.expression = expression
        self.value = value
        self.error = error
        self.seen = seen
        self.at = at
    }
}

/// Why a step was skipped. Stored as its raw string.
public enum SkipCause: String, Sendable, Codable, CaseIterable {
    /// A step it needs did not succeed (with `when: success` or an expression that reads no state).
    case need
    /// Its `when` did not hold: an expression gave false, or `failure` found nothing failed.
    case condition
    /// The run was cancelled before it started.
    case cancelled
}
