import Foundation

/// HTML text, the UI's template language: a value interpolated into it is escaped (text and
/// attribute values alike), unless it is HTML itself. So a job's description, a log line or a
/// step's output cannot add markup to a page, whatever it holds.
public struct HTML: Sendable, ExpressibleByStringInterpolation {
    public private(set) var text: String

    public init(stringLiteral value: String) { text = value }

    public init(stringInterpolation: Interpolation) { text = stringInterpolation.text }

    /// Markup made elsewhere and trusted as it is (the stylesheet, an SVG drawing built of HTML values).
    init(trusted text: String) { self.text = text }

    public struct Interpolation: StringInterpolationProtocol {
        var text = ""

        public init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity * 2) }

        public mutating func appendLiteral(_ literal: String) { text += literal }

        public mutating func appendInterpolation(_ html: HTML) { text += html.text }

        public mutating func appendInterpolation(_ parts: [HTML]) { for part in parts { text += part.text } }

        public mutating func appendInterpolation(_ value: some CustomStringConvertible) {
            text += HTML.escape(value.description)
        }

        /// Nothing for nil.
        public mutating func appendInterpolation(_ value: (some CustomStringConvertible)?) {
            if let value { text += HTML.escape(value.description) }
        }
    }

    /// `&`, `<`, `>`, `"` and `'` as entities: safe in text and in a quoted attribute.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// `text` for a URL's query value.
    static func query(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// How the pages show times, durations, money and states.
enum Show {
    static func time(_ date: Date?, zone: TimeZone) -> String {
        guard let date else { return "-" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }

    static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        if seconds < 60 { return String(format: "%.1f s", seconds) }
        if seconds < 3600 { return "\(Int(seconds) / 60) min \(Int(seconds) % 60) s" }
        return "\(Int(seconds) / 3600) h \(Int(seconds) % 3600 / 60) min"
    }

    static func usd(_ value: Double) -> String { String(format: "$%.4f", value) }

    /// A state as a coloured label (`st-failed`).
    static func state(_ name: String) -> HTML { "<span class=\"state st-\(name)\">\(name)</span>" }
}
