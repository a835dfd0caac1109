/// A duration from a job file (`90s`, `1h30m`, `2d`), stored as text in that same form.
public struct TimeSpan: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public init(_ duration: Duration) {
        milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    /// Parses the job-file form; nil when `text` is not a positive duration.
    public init?(parsing text: String) {
        guard let duration = StepDuration.parse(text) else { return nil }
        self.init(duration)
    }

    public var duration: Duration { .milliseconds(milliseconds) }

    public var description: String { StepDuration.format(duration) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let span = TimeSpan(parsing: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a duration: '\(text)'")
        }
        self = span
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
