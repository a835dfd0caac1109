import Yams

/// The YAML 1.1 type of a plain (unquoted, untagged) scalar, as Yams's default resolver decides it,
/// without its regular expressions.
///
/// Yams resolves a plain scalar's tag by matching seven `NSRegularExpression`s in turn; that was a
/// quarter of the time it took to read 10,000 job files, paid again whenever Yams hashed a key.
/// Job files are composed with the rule-less resolver, and this decides the same thing by hand:
/// a test holds it to Yams's default resolver over many thousand strings.
public enum PlainScalar {
    /// The node tree of `text`: composed with the rule-less resolver (types come from
    /// ``tag(of:)``) and UTF-8 given, so that Yams does not read the environment for each file.
    public static func compose(_ text: String) throws -> Node? {
        try Parser(yaml: text, resolver: .basic, constructor: constructor, encoding: .utf8).singleRoot()
    }

    /// Yams's default constructor, made once: `Constructor.default` makes a new one (three
    /// dictionaries of closures) at every call, 2 % of parsing a job file. It is never changed
    /// after it is made (its maps are `let`), so every thread may share it.
    nonisolated(unsafe) private static let constructor = Constructor.default

    public static func tag(of text: String) -> Tag.Name {
        let bytes = Array(text.utf8)
        if isBool(text) { return .bool }
        if isInt(bytes) { return .int }
        if isFloat(bytes) { return .float }
        if text == "<<" { return .merge }
        if text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL" { return .null }
        if isTimestamp(bytes) { return .timestamp }
        if text == "=" { return .value }
        return .str
    }

    static let bools: Set<String> = [
        "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON",
        "off", "Off", "OFF",
    ]

    static func isBool(_ text: String) -> Bool { bools.contains(text) }

    static func digit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    /// A cursor over the bytes that consumes what a pattern piece matches.
    struct Cursor {
        let bytes: [UInt8]
        var index = 0

        var atEnd: Bool { index == bytes.count }
        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func take(_ byte: UInt8) -> Bool {
            guard current == byte else { return false }
            index += 1
            return true
        }

        mutating func sign() { if current == UInt8(ascii: "-") || current == UInt8(ascii: "+") { index += 1 } }

        /// Takes one or more bytes that `accept`; false when there was none.
        mutating func many(_ accept: (UInt8) -> Bool) -> Bool {
            let start = index
            while let byte = current, accept(byte) { index += 1 }
            return index > start
        }

        /// `(?::[0-5]?[0-9])+`
        mutating func sexagesimal() -> Bool {
            var groups = 0
            while current == UInt8(ascii: ":") {
                let save = index
                index += 1
                if let first = current, first >= 0x30 && first <= 0x35, index + 1 < bytes.count, digit(bytes[index + 1])
                {
                    index += 2
                } else if let first = current, digit(first) {
                    index += 1
                } else {
                    index = save
                    break
                }
                groups += 1
            }
            return groups > 0
        }
    }

    static func isInt(_ bytes: [UInt8]) -> Bool {
        let underscore = UInt8(ascii: "_")
        var start = Cursor(bytes: bytes)
        start.sign()
        // [-+]?0b[0-1_]+
        var cursor = start
        if cursor.take(UInt8(ascii: "0")), cursor.take(UInt8(ascii: "b")),
            cursor.many({ $0 == 0x30 || $0 == 0x31 || $0 == underscore }), cursor.atEnd
        {
            return true
        }
        // [-+]?0o?[0-7_]+
        cursor = start
        if cursor.take(UInt8(ascii: "0")) {
            _ = cursor.take(UInt8(ascii: "o"))
            if cursor.many({ ($0 >= 0x30 && $0 <= 0x37) || $0 == underscore }), cursor.atEnd { return true }
        }
        // [-+]?(?:0|[1-9][0-9_]*)
        cursor = start
        if cursor.take(UInt8(ascii: "0")), cursor.atEnd { return true }
        cursor = start
        if let first = cursor.current, first >= 0x31 && first <= 0x39 {
            cursor.index += 1
            _ = cursor.many { digit($0) || $0 == underscore }
            if cursor.atEnd { return true }
            // [-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+
            if cursor.sexagesimal(), cursor.atEnd { return true }
        }
        // [-+]?0x[0-9a-fA-F_]+
        cursor = start
        if cursor.take(UInt8(ascii: "0")), cursor.take(UInt8(ascii: "x")),
            cursor.many({ digit($0) || ($0 >= 0x61 && $0 <= 0x66) || ($0 >= 0x41 && $0 <= 0x46) || $0 == underscore }),
            cursor.atEnd
        {
            return true
        }
        return false
    }

    static func isFloat(_ bytes: [UInt8]) -> Bool {
        let underscore = UInt8(ascii: "_")
        let dot = UInt8(ascii: ".")
        func digitsOrUnderscore(_ byte: UInt8) -> Bool { digit(byte) || byte == underscore }
        func exponent(_ cursor: inout Cursor, signRequired: Bool) -> Bool {
            guard cursor.take(UInt8(ascii: "e")) || cursor.take(UInt8(ascii: "E")) else { return true }
            if cursor.current == UInt8(ascii: "-") || cursor.current == UInt8(ascii: "+") {
                cursor.index += 1
            } else if signRequired {
                return false
            }
            return cursor.many(digit)
        }
        var start = Cursor(bytes: bytes)
        start.sign()
        // [-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
        var cursor = start
        if let first = cursor.current, digit(first) {
            cursor.index += 1
            _ = cursor.many(digitsOrUnderscore)
            if cursor.take(dot) { _ = cursor.many(digitsOrUnderscore) }
            if exponent(&cursor, signRequired: false), cursor.atEnd { return true }
        }
        // \.[0-9_]+(?:[eE][-+][0-9]+)?
        cursor = Cursor(bytes: bytes)
        if cursor.take(dot), cursor.many(digitsOrUnderscore), exponent(&cursor, signRequired: true), cursor.atEnd {
            return true
        }
        // [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
        cursor = start
        if let first = cursor.current, digit(first) {
            cursor.index += 1
            _ = cursor.many(digitsOrUnderscore)
            if cursor.sexagesimal(), cursor.take(dot) {
                _ = cursor.many(digitsOrUnderscore)
                if cursor.atEnd { return true }
            }
        }
        // [-+]?\.(?:inf|Inf|INF), \.(?:nan|NaN|NAN)
        let text = String(decoding: bytes, as: UTF8.self)
        let signed = bytes.first == UInt8(ascii: "-") || bytes.first == UInt8(ascii: "+")
        let unsigned = signed ? String(text.dropFirst()) : text
        if [".inf", ".Inf", ".INF"].contains(unsigned) { return true }
        return [".nan", ".NaN", ".NAN"].contains(text)
    }

    /// `[0-9]{4}-[0-9]{2}-[0-9]{2}`, or a date with one- or two-digit month and day followed by
    /// a time: `(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?`
    static func isTimestamp(_ bytes: [UInt8]) -> Bool {
        var cursor = Cursor(bytes: bytes)
        func digits(_ cursor: inout Cursor, _ least: Int, _ most: Int) -> Bool {
            var count = 0
            while count < most, let byte = cursor.current, digit(byte) {
                cursor.index += 1
                count += 1
            }
            return count >= least
        }
        guard digits(&cursor, 4, 4), cursor.take(UInt8(ascii: "-")) else { return false }
        let afterYear = cursor
        // YYYY-MM-DD exactly
        if digits(&cursor, 2, 2), cursor.take(UInt8(ascii: "-")), digits(&cursor, 2, 2), cursor.atEnd { return true }
        cursor = afterYear
        guard digits(&cursor, 1, 2), cursor.take(UInt8(ascii: "-")), digits(&cursor, 1, 2) else { return false }
        let space = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        if !(cursor.take(UInt8(ascii: "T")) || cursor.take(UInt8(ascii: "t"))) {
            guard cursor.many(space) else { return false }
        }
        guard digits(&cursor, 1, 2), cursor.take(UInt8(ascii: ":")), digits(&cursor, 2, 2),
            cursor.take(UInt8(ascii: ":")), digits(&cursor, 2, 2)
        else { return false }
        if cursor.take(UInt8(ascii: ".")) { _ = cursor.many(digit) }
        if cursor.atEnd { return true }
        _ = cursor.many(space)
        if cursor.take(UInt8(ascii: "Z")) { return cursor.atEnd }
        guard cursor.current == UInt8(ascii: "-") || cursor.current == UInt8(ascii: "+") else { return false }
        cursor.index += 1
        guard digits(&cursor, 1, 2) else { return false }
        if cursor.take(UInt8(ascii: ":")) { guard digits(&cursor, 2, 2) else { return false } }
        return cursor.atEnd
    }
}
