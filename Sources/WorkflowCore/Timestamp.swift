import Foundation

/// The one place that turns instants into text and back: RFC 3339 UTC with milliseconds.
public enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
    private static let plain = Date.ISO8601FormatStyle(timeZone: .gmt)

    /// `2026-11-25T10:30:00.123Z`.
    public static func rfc3339(_ date: Date) -> String { style.format(date) }

    /// `2026-11-25T11:30:00+01:00`: RFC 3339 with the offset `zone` had at that instant.
    public static func rfc3339(_ date: Date, in zone: TimeZone) -> String {
        Date.ISO8601FormatStyle(timeZoneSeparator: .colon, timeZone: zone).format(date)
    }

    /// Parses RFC 3339 with or without fractional seconds and with any offset; nil if it is not one.
    public static func parse(_ text: String) -> Date? {
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

    /// A decoder of ``makeDecoder()``'s, shared: `JSONDecoder` may decode on many threads at once
    /// while its options stay unchanged, and making one costs as much as decoding a small record.
    public static let decoder = makeDecoder()

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
}
