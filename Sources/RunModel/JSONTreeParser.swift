/// A parsed JSON value. Numbers keep their text, read as the type asked for; objects keep their
/// members in order (a record has a dozen: a scan is cheaper than hashing).
enum JSONTree {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    /// A string whose content is bad (not UTF-8, a raw control character, an unknown escape, a
    /// lone surrogate): refused when it is read, not before (Foundation's decoder reads a document
    /// with such a string in a member nobody asks for).
    case invalidString
    case array([JSONTree])
    case object([(key: String, value: JSONTree)])
    /// An object with a key whose content is bad: refused when it is read, like a bad string.
    case invalidObject

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string, .invalidString: "a string"
        case .array: "an array"
        case .object, .invalidObject: "an object"
        }
    }
}

/// A JSON parser over bytes that accepts what Foundation's decoder accepts: RFC 8259 (no
/// comments, no leading zeros, no bare words) and a comma before a closing bracket or brace.
struct JSONTreeParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Arrays and objects nested deeper than this are refused rather than recursed into (as
    /// Foundation refuses them).
    static let maximumDepth = 512

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func document() throws -> JSONTree {
        let value = try self.value(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected text after the JSON value") }
        return value
    }

    func failure(_ message: String) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: [], debugDescription: "invalid JSON at byte \(index): \(message)"))
    }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws -> JSONTree {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            guard depth < Self.maximumDepth else { throw failure("nested too deeply") }
            index += 1
            var members: [(key: String, value: JSONTree)] = []
            var keysGood = true
            while true {
                skipWhitespace()
                // At the start, `{}`; after a comma, a trailing comma, which Foundation allows.
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    break
                }
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a key") }
                let key = try string()
                if key == nil { keysGood = false }
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure("expected ':'") }
                index += 1
                members.append((key ?? "", try value(depth: depth + 1)))
                if try endOfMember(closing: UInt8(ascii: "}")) { break }
            }
            return keysGood ? .object(members) : .invalidObject
        case UInt8(ascii: "["):
            guard depth < Self.maximumDepth else { throw failure("nested too deeply") }
            index += 1
            var elements: [JSONTree] = []
            while true {
                skipWhitespace()
                // At the start, `[]`; after a comma, a trailing comma, which Foundation allows.
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    break
                }
                elements.append(try value(depth: depth + 1))
                if try endOfMember(closing: UInt8(ascii: "]")) { break }
            }
            return .array(elements)
        case UInt8(ascii: "\""): return try string().map(JSONTree.string) ?? .invalidString
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return try number()
        }
    }

    /// After a member or an element: false after a comma (more may follow), true after the
    /// closing bracket; anything else fails the document.
    mutating func endOfMember(closing: UInt8) throws -> Bool {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end") }
        let byte = bytes[index]
        guard byte == UInt8(ascii: ",") || byte == closing else { throw failure("expected ',' or a closing bracket") }
        index += 1
        return byte == closing
    }

    mutating func literal(_ word: StaticString, _ value: JSONTree) throws -> JSONTree {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count,
            UnsafeBufferPointer(start: word.utf8Start, count: count).elementsEqual(bytes[index..<(index + count)])
        else { throw failure("unknown literal") }
        index += count
        return value
    }

    mutating func number() throws -> JSONTree {
        let start = index
        func digits() -> Int {
            let first = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            return index - first
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits()
        guard integerDigits > 0 else { throw failure("expected a value") }
        guard integerDigits == 1 || bytes[integerStart] != 0x30 else { throw failure("a number with a leading zero") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw failure("expected digits after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits() > 0 else { throw failure("expected digits in the exponent") }
        }
        return .number(String(decoding: bytes[start..<index], as: UTF8.self))
    }

    /// A string from its opening quote; `index` ends after the closing quote. Nil when its
    /// content is bad (not UTF-8, a raw control character, an unknown escape, a lone surrogate):
    /// like Foundation, only a string that is read is refused for its content; the document
    /// fails only when a string does not end.
    mutating func string() throws -> String? {
        index += 1
        let start = index
        // The common case: no escape, so the bytes are the string.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return String(validating: slice, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { break }
            index += 1
        }
        var out = Array(bytes[start..<index])
        var good = true
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return good ? String(validating: out, as: UTF8.self) : nil
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { break }
                let escaped = bytes[index]
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    if let scalar = try unicodeEscape() {
                        UTF8.encode(scalar) { out.append($0) }
                    } else {
                        good = false
                    }
                default: good = false
                }
            default:
                if byte < 0x20 { good = false }
                out.append(byte)
            }
        }
        throw failure("unexpected end in a string")
    }

    /// The scalar of a `\u` escape (after the `u`), with its low surrogate when it is a high one;
    /// nil when the four bytes after a `\u` are not hex digits or make a lone surrogate. Like
    /// Foundation's scanner, which checks no more of a string it does not read, the four bytes
    /// are taken whatever they are (a quote among them does not end the string); only the end of
    /// the document among them fails it.
    mutating func unicodeEscape() throws -> Unicode.Scalar? {
        guard let high = try hex4() else { return nil }
        if (0xDC00..<0xE000).contains(high) { return nil }
        guard (0xD800..<0xDC00).contains(high) else { return Unicode.Scalar(high) }
        guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
        else { return nil }
        index += 2
        guard let low = try hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
        return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
    }

    /// The next four bytes as hex digits, nil when they are not; they are consumed either way.
    mutating func hex4() throws -> UInt32? {
        guard bytes.count - index >= 4 else { throw failure("a \\u escape cut short by the end") }
        var value: UInt32? = 0
        for byte in bytes[index..<(index + 4)] {
            switch byte {
            case 0x30...0x39: value = value.map { $0 << 4 | UInt32(byte - 0x30) }
            case 0x41...0x46: value = value.map { $0 << 4 | UInt32(byte - 0x41 + 10) }
            case 0x61...0x66: value = value.map { $0 << 4 | UInt32(byte - 0x61 + 10) }
            default: value = nil
            }
        }
        index += 4
        return value
    }
}
