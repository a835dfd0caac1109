import Foundation
import JSONSchemaKit
import RunModel
import Schedules

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

    /// `text` for a URL's query value: every byte but the unreserved ones (RFC 3986) as `%XX`.
    static func query(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// How the pages show times, durations, money and states: by hand, as the records' own
/// timestamps are, rather than a DateFormatter made for each of the 20,000 times a page of
/// 10,000 jobs shows.
enum Show {
    /// `2026-12-05 14:03:09` in `zone`.
    static func time(_ date: Date?, zone: TimeZone) -> String {
        guard let date else { return "-" }
        let local = Int64(date.timeIntervalSince1970.rounded(.down)) + Int64(zone.secondsFromGMT(for: date))
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let seconds = Int(local - days * 86400)
        let (year, month, day) = LocalTime.civil(fromDays: Int(days))
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(seconds / 3600)):\(two(seconds / 60 % 60)):\(two(seconds % 60))"
    }

    static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded())) ms" }
        if seconds < 60 { return "\(decimal(seconds, places: 1)) s" }
        if seconds < 3600 { return "\(Int(seconds) / 60) min \(Int(seconds) % 60) s" }
        return "\(Int(seconds) / 3600) h \(Int(seconds) % 3600 / 60) min"
    }

    static func usd(_ value: Double) -> String { "$" + decimal(value, places: 4) }

    /// `value` rounded to `places` decimals (`12.5`, `0.0031`).
    static func decimal(_ value: Double, places: Int) -> String {
        var scale = 1
        for _ in 0..<places { scale *= 10 }
        let scaled = Int((abs(value) * Double(scale)).rounded())
        let fraction = String(scaled % scale)
        let padded = String(repeating: "0", count: max(0, places - fraction.count)) + fraction
        return (value < 0 && scaled != 0 ? "-" : "") + "\(scaled / scale)" + (places > 0 ? "." + padded : "")
    }

    /// A value as indented JSON with sorted keys, as wfd writes its records.
    static func json(_ value: JSONValue) -> String {
        (try? RecordJSON.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? value.jsonText
    }

    /// A state as a coloured label (`st-failed`).
    static func state(_ name: String) -> HTML { "<span class=\"state st-\(name)\">\(name)</span>" }
}
