import Foundation
import Schedules

/// Pretty JSON with sorted keys, byte for byte what ``Timestamp/makeEncoder(pretty:)`` writes
/// (two-space indent, `"key" : value`, slashes unescaped, dates in RFC 3339 with milliseconds),
/// made several times faster: every step start and end writes a record, and Foundation's
/// encoder was the largest part of wfd's own CPU time per step.
///
/// The value is first turned into a small tree by an `Encoder` of its own (so every `Codable`
/// type works unchanged), then written out in one pass. Tests hold the output equal to
/// Foundation's for every record type and for hostile strings, keys and numbers.
public enum RecordJSON {
    /// Encodes `value`; throws `EncodingError.invalidValue` for a non-finite number, as Foundation does.
    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        let root = EncodingNode()
        try RecordTreeEncoder(target: root).encodeValue(value)
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        write(root, indent: 0, into: &out)
        return Data(out)
    }

    /// `value` as it is written nested `indent` spaces deep in a record (its first line not
    /// indented): a part to splice into a larger record byte for byte.
    public static func encode<T: Encodable>(_ value: T, indent: Int) throws -> [UInt8] {
        let root = EncodingNode()
        try RecordTreeEncoder(target: root).encodeValue(value)
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        write(root, indent: indent, into: &out)
        return out
    }

    static func write(_ node: EncodingNode, indent: Int, into out: inout [UInt8]) {
        switch node.kind {
        case .unset, .object:
            let sorted = node.keys.indices.sorted { (node.keys[$0], $0) < (node.keys[$1], $1) }
            // Of a key given twice, the last value.
            let pairs = sorted.indices.filter {
                $0 + 1 == sorted.count || node.keys[sorted[$0 + 1]] != node.keys[sorted[$0]]
            }
            .map { sorted[$0] }
            out.append(UInt8(ascii: "{"))
            out.append(UInt8(ascii: "\n"))
            for (position, index) in pairs.enumerated() {
                if position > 0 { out += [UInt8(ascii: ","), UInt8(ascii: "\n")] }
                spaces(indent + 2, into: &out)
                quote(node.keys[index], into: &out)
                out += [UInt8(ascii: " "), UInt8(ascii: ":"), UInt8(ascii: " ")]
                write(node.children[index], indent: indent + 2, into: &out)
            }
            out.append(UInt8(ascii: "\n"))
            spaces(indent, into: &out)
            out.append(UInt8(ascii: "}"))
        case .array:
            out.append(UInt8(ascii: "["))
            out.append(UInt8(ascii: "\n"))
            for (position, child) in node.children.enumerated() {
                if position > 0 { out += [UInt8(ascii: ","), UInt8(ascii: "\n")] }
                spaces(indent + 2, into: &out)
                write(child, indent: indent + 2, into: &out)
            }
            out.append(UInt8(ascii: "\n"))
            spaces(indent, into: &out)
            out.append(UInt8(ascii: "]"))
        case .string(let text):
            quote(text, into: &out)
        case .literal(let text):
            out += text.utf8
        }
    }

    static func spaces(_ count: Int, into out: inout [UInt8]) {
        for _ in 0..<count { out.append(UInt8(ascii: " ")) }
    }

    static let hex = Array("0123456789abcdef".utf8)

    static func quote(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                out += [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A number as Foundation writes it: Swift's shortest form without a trailing `.0` (`1`,
    /// `0.1`, `1e+16`).
    static func number<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) throws
        -> String
    {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, EncodingError.Context(codingPath: [], debugDescription: "\(value) is not valid in JSON"))
        }
        let text = value.description
        return text.hasSuffix(".0") ? String(text.dropLast(2)) : text
    }
}

/// A value while it is being encoded.
final class EncodingNode {
    enum Kind {
        case unset, object, array
        case string(String)
        /// A number, `true`, `false` or `null`, written as it is.
        case literal(String)
    }

    var kind = Kind.unset
    /// For an object, its keys; `children` holds the values (of an object or an array).
    var keys: [String] = []
    var children: [EncodingNode] = []

    /// A new value for `key` in this object (a key encoded twice is written once, with its
    /// last value, as Foundation does).
    func child(_ key: String) -> EncodingNode {
        if case .unset = kind { kind = .object }
        let node = EncodingNode()
        keys.append(key)
        children.append(node)
        return node
    }

    func append() -> EncodingNode {
        if case .unset = kind { kind = .array }
        let node = EncodingNode()
        children.append(node)
        return node
    }
}

struct RecordTreeEncoder: Encoder {
    let target: EncodingNode
    /// Not kept (it would be an array per field): errors name the value only.
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .unset = target.kind { target.kind = .object }
        return KeyedEncodingContainer(RecordKeyedContainer<Key>(target: target))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .unset = target.kind { target.kind = .array }
        return RecordUnkeyedContainer(target: target)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        RecordSingleContainer(target: target)
    }

    /// Encodes `value` into `target`, with the types Foundation's encoder treats specially.
    /// (The types are compared before any cast: a failed dynamic cast costs more than encoding a field.)
    func encodeValue<T: Encodable>(_ value: T) throws {
        if T.self == Date.self, let date = value as? Date {
            target.kind = .string(Timestamp.rfc3339(date))
        } else if T.self == Double.self, let number = value as? Double {
            target.kind = .literal(try RecordJSON.number(number))
        } else if T.self == Float.self, let number = value as? Float {
            target.kind = .literal(try RecordJSON.number(number))
        } else if T.self == Data.self, let data = value as? Data {
            target.kind = .string(data.base64EncodedString())
        } else if T.self == URL.self, let url = value as? URL {
            target.kind = .string(url.absoluteString)
        } else {
            try value.encode(to: self)
        }
    }
}

struct RecordKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let target: EncodingNode
    /// Not kept (it would be an array per field): errors name the value only.
    var codingPath: [any CodingKey] { [] }

    func encoder(for key: Key) -> RecordTreeEncoder {
        RecordTreeEncoder(target: target.child(key.stringValue))
    }

    mutating func encodeNil(forKey key: Key) throws { target.child(key.stringValue).kind = .literal("null") }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        target.child(key.stringValue).kind = .literal(value ? "true" : "false")
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        target.child(key.stringValue).kind = .string(value)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws {
        target.child(key.stringValue).kind = .literal(String(value))
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try encoder(for: key).encodeValue(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try encoder(for: key).encodeValue(value) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try encoder(for: key).encodeValue(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encode(Int(value), forKey: key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encode(Int(value), forKey: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encode(Int(value), forKey: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try encode(Int(value), forKey: key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws {
        target.child(key.stringValue).kind = .literal(String(value))
    }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encode(UInt(value), forKey: key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encode(UInt(value), forKey: key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encode(UInt(value), forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try encode(UInt(value), forKey: key) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        encoder(for: key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        encoder(for: key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        RecordTreeEncoder(target: target.child("super"))
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder { encoder(for: key) }
}

struct RecordUnkeyedContainer: UnkeyedEncodingContainer {
    let target: EncodingNode
    /// Not kept (it would be an array per field): errors name the value only.
    var codingPath: [any CodingKey] { [] }
    var count: Int { target.children.count }

    func encoder() -> RecordTreeEncoder { RecordTreeEncoder(target: target.append()) }

    mutating func encodeNil() throws { target.append().kind = .literal("null") }
    mutating func encode(_ value: Bool) throws { target.append().kind = .literal(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { target.append().kind = .string(value) }
    mutating func encode(_ value: Int) throws { target.append().kind = .literal(String(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encoder().encodeValue(value) }
    mutating func encode(_ value: Double) throws { try encoder().encodeValue(value) }
    mutating func encode(_ value: Float) throws { try encoder().encodeValue(value) }
    mutating func encode(_ value: Int8) throws { try encode(Int(value)) }
    mutating func encode(_ value: Int16) throws { try encode(Int(value)) }
    mutating func encode(_ value: Int32) throws { try encode(Int(value)) }
    mutating func encode(_ value: Int64) throws { try encode(Int(value)) }
    mutating func encode(_ value: UInt) throws { target.append().kind = .literal(String(value)) }
    mutating func encode(_ value: UInt8) throws { try encode(UInt(value)) }
    mutating func encode(_ value: UInt16) throws { try encode(UInt(value)) }
    mutating func encode(_ value: UInt32) throws { try encode(UInt(value)) }
    mutating func encode(_ value: UInt64) throws { try encode(UInt(value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        encoder().container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { encoder().unkeyedContainer() }
    mutating func superEncoder() -> any Encoder { encoder() }
}

struct RecordSingleContainer: SingleValueEncodingContainer {
    let target: EncodingNode
    /// Not kept (it would be an array per field): errors name the value only.
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { target.kind = .literal("null") }
    mutating func encode(_ value: Bool) throws { target.kind = .literal(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { target.kind = .string(value) }
    mutating func encode(_ value: Int) throws { target.kind = .literal(String(value)) }
    mutating func encode(_ value: Double) throws { target.kind = .literal(try RecordJSON.number(value)) }
    mutating func encode(_ value: Float) throws { target.kind = .literal(try RecordJSON.number(value)) }
    mutating func encode(_ value: Int8) throws { try encode(Int(value)) }
    mutating func encode(_ value: Int16) throws { try encode(Int(value)) }
    mutating func encode(_ value: Int32) throws { try encode(Int(value)) }
    mutating func encode(_ value: Int64) throws { try encode(Int(value)) }
    mutating func encode(_ value: UInt) throws { target.kind = .literal(String(value)) }
    mutating func encode(_ value: UInt8) throws { try encode(UInt(value)) }
    mutating func encode(_ value: UInt16) throws { try encode(UInt(value)) }
    mutating func encode(_ value: UInt32) throws { try encode(UInt(value)) }
    mutating func encode(_ value: UInt64) throws { try encode(UInt(value)) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try RecordTreeEncoder(target: target).encodeValue(value)
    }
}
