import Foundation

/// The one place that turns instants into text and back: RFC 3339 UTC with milliseconds.
public enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
    private static let plain = Date.ISO8601FormatStyle(timeZone: .gmt)

    /// `2026-11-25T10:30:00.123Z`.
    public static func rfc3339(_ date: Date) -> String { fastFormat(date) ?? style.format(date) }

    /// `2026-11-25T11:30:00+01:00`: RFC 3339 with the offset `zone` had at that instant.
    public static func rfc3339(_ date: Date, in zone: TimeZone) -> String {
        Date.ISO8601FormatStyle(timeZoneSeparator: .colon, timeZone: zone).format(date)
    }

    /// Parses RFC 3339 with or without fractional seconds and with any offset; nil if it is not one.
    public static func parse(_ text: String) -> Date? {
        if let date = fastParse(text) { return date }
        if let date = try? style.parse(text) { return date }
        if let date = try? plain.parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// `20261125T103000.123Z`: sortable and safe in file names.
    public static func compact(_ date: Date) -> String {
        let text = rfc3339(date)
        return text.filter { $0 != "-" && $0 != ":" }
    }

    /// A JSON encoder for records: sorted keys, RFC 3339 dates with milliseconds.
    public static func makeEncoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(rfc3339(date))
        }
        return encoder
    }

    /// A JSON decoder matching ``makeEncoder(pretty:)``.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parse(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "not an RFC 3339 time: '\(text)'")
            }
            return date
        }
        return decoder
    }

    // Records hold tens of thousands of times, all in the one form wfd writes; Foundation's
    // general ISO 8601 parser costs ~10 µs a time, these a few hundred nanoseconds. The tests
    // check both against Foundation over many instants.

    /// `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.mmmZ` (years 2001–9999, where the Double is
    /// bit for bit Foundation's); nil for anything else, which the general parser then reads.
    static func fastParse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { bytes -> Date? in
            guard bytes.count == 20 || bytes.count == 24, bytes[4] == 0x2D, bytes[7] == 0x2D, bytes[10] == 0x54,
                bytes[13] == 0x3A, bytes[16] == 0x3A, bytes[bytes.count - 1] == 0x5A
            else { return nil }
            func number(_ start: Int, _ length: Int) -> Int? {
                var value = 0
                for index in start..<(start + length) {
                    let digit = Int(bytes[index]) - 0x30
                    guard digit >= 0 && digit <= 9 else { return nil }
                    value = value * 10 + digit
                }
                return value
            }
            guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
                let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
                year >= 2001, (1...12).contains(month), day >= 1, day <= LocalTime.daysIn(month: month, year: year),
                hour < 24,
                minute < 60, second < 60
            else { return nil }
            var milliseconds = 0
            if bytes.count == 24 {
                guard bytes[19] == 0x2E, let fraction = number(20, 3) else { return nil }
                milliseconds = fraction
            }
            let days = LocalTime.daysFromCivil(year: year, month: month, day: day)
            let seconds = days * 86_400 + hour * 3600 + minute * 60 + second
            // Counted from 2001 like Date itself, so the Double is the one Foundation makes.
            return Date(timeIntervalSinceReferenceDate: Double(seconds - 978_307_200) + Double(milliseconds) / 1000)
        }
    }

    /// `date` as `YYYY-MM-DDTHH:MM:SS.mmmZ` for instants from 1970 to 9999; nil otherwise.
    ///
    /// Milliseconds are truncated, as Foundation does, except that an instant within a
    /// microsecond below a millisecond counts as that millisecond: a time read from a record
    /// (`.363`) is a Double a hair below it, which Foundation writes back as `.362`, so every
    /// load and save of a record moved its times back a millisecond.
    static func fastFormat(_ date: Date) -> String? {
        let sinceReference = date.timeIntervalSinceReferenceDate
        guard sinceReference >= -978_307_200, sinceReference < 253_402_300_800 - 978_307_200 else { return nil }
        // Whole seconds and the fraction's milliseconds, truncated, from 2001 as Foundation does.
        let whole = sinceReference.rounded(.down)
        let fraction = Int(((sinceReference - whole) * 1000 + 0.001).rounded(.down))
        let seconds = Int(whole) + 978_307_200
        // A fraction of 1000 (a hair below the next second) carries into the second, and from
        // there maybe into the day, month and year: every field comes from the carried total.
        let totalMilliseconds = seconds * 1000 + fraction
        let carried = totalMilliseconds / 1000
        let (year, month, day) = LocalTime.civil(fromDays: carried / 86_400)
        let inDay = carried % 86_400
        var bytes = [UInt8](repeating: 0, count: 24)
        func put(_ value: Int, at start: Int, digits: Int) {
            var value = value
            for index in stride(from: start + digits - 1, through: start, by: -1) {
                bytes[index] = UInt8(0x30 + value % 10)
                value /= 10
            }
        }
        put(year, at: 0, digits: 4)
        bytes[4] = 0x2D
        put(month, at: 5, digits: 2)
        bytes[7] = 0x2D
        put(day, at: 8, digits: 2)
        bytes[10] = 0x54
        put(inDay / 3600, at: 11, digits: 2)
        bytes[13] = 0x3A
        put(inDay / 60 % 60, at: 14, digits: 2)
        bytes[16] = 0x3A
        put(inDay % 60, at: 17, digits: 2)
        bytes[19] = 0x2E
        put(totalMilliseconds % 1000, at: 20, digits: 3)
        bytes[23] = 0x5A
        return String(decoding: bytes, as: UTF8.self)
    }
}
