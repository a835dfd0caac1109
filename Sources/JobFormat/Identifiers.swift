import Foundation
import Schedules

/// A job's identity: the job file's name without its extension.
///
/// Valid ids match `[a-z0-9][a-z0-9._-]{0,63}`, so an id is always a safe single path component.
public struct JobID: StringIdentifier {
    public let rawValue: String

    /// Creates an id, or returns nil when `rawValue` is not a valid job id.
    public init?(_ rawValue: String) {
        guard Self.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// The rule a job id must follow, in words, for error messages.
    public static let rule = "a job id (the file name without extension) must match [a-z0-9][a-z0-9._-]{0,63}"

    static func isValid(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, bytes.count <= 64, isLowerAlnum(first) else { return false }
        return bytes.allSatisfy {
            isLowerAlnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

}

/// A step's identity inside one job.
///
/// Valid ids match `[A-Za-z_][A-Za-z0-9_-]{0,63}`: usable as a file name and, upper-cased, in
/// environment variable names.
public struct StepID: StringIdentifier {
    public let rawValue: String

    /// Creates an id, or returns nil when `rawValue` is not a valid step id.
    public init?(_ rawValue: String) {
        let bytes = Array(rawValue.utf8)
        guard let first = bytes.first, bytes.count <= 64,
            isAlpha(first) || first == UInt8(ascii: "_"),
            bytes.allSatisfy({ isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
        else { return nil }
        self.rawValue = rawValue
    }

    /// The rule a step id must follow, in words, for error messages.
    public static let rule = "a step id must match [A-Za-z_][A-Za-z0-9_-]{0,63}"

}

/// A run's identity. Run ids sort by creation time: `YYYYMMDDTHHMMSS.mmmZ-xxxxxx`.
public struct RunID: StringIdentifier {
    public let rawValue: String

    /// Accepts any id made only of `[A-Za-z0-9._-]`, 1 to 64 characters, not starting with a dot.
    public init?(_ rawValue: String) {
        let bytes = Array(rawValue.utf8)
        guard let first = bytes.first, bytes.count <= 64, first != UInt8(ascii: "."),
            bytes.allSatisfy({
                isAlpha($0) || isDigit($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_")
                    || $0 == UInt8(ascii: "-")
            })
        else { return nil }
        self.rawValue = rawValue
    }

    /// Makes the id of a run created at `date`, with `suffix` (six lowercase hex digits) against collisions.
    public static func make(at date: Date, suffix: UInt32) -> RunID {
        let stamp = Timestamp.compact(date)
        let hex = String(suffix & 0xFF_FFFF, radix: 16)
        let padded = String(repeating: "0", count: max(0, 6 - hex.count)) + hex
        // The stamp and hex digits only use characters the initializer accepts.
        return RunID(unchecked: "\(stamp)-\(padded)")
    }

    private init(unchecked: String) { self.rawValue = unchecked }

    /// When the run was created, read back from an id made by ``make(at:suffix:)``.
    public var createdAt: Date? {
        // 20261125T061430.066Z-b6fc9b -> 2026-11-25T06:14:30.066Z
        let stamp = Array(rawValue.prefix { $0 != "-" })
        guard stamp.count == 20, stamp[8] == "T" else { return nil }
        let text =
            "\(String(stamp[0..<4]))-\(String(stamp[4..<6]))-\(String(stamp[6..<8]))T"
            + "\(String(stamp[9..<11])):\(String(stamp[11..<13])):\(String(stamp[13...]))"
        return Timestamp.parse(text)
    }
}

private func isLowerAlnum(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || isDigit(byte)
}

private func isAlpha(_ byte: UInt8) -> Bool {
    (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
}

private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

/// An id that is a validated string: stored and compared as its text.
public protocol StringIdentifier: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    var rawValue: String { get }
    /// Returns nil when `rawValue` is not a valid id of this kind.
    init?(_ rawValue: String)
}

extension StringIdentifier {
    public var description: String { rawValue }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value = try container.decode(String.self)
        guard let id = Self(value) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "invalid \(Self.self) '\(value)'")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A key a caller gives to make a request idempotent (`Idempotency-Key`, a webhook's delivery id):
/// 1 to 255 visible ASCII characters, as the Idempotency-Key header field allows.
public enum RequestKey {
    public static func isValid(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= 255 && key.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}
