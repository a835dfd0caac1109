import Foundation

/// When a job fires. For now a cron expression; systemd calendar events come with the schedules work.
public struct Schedule: Sendable, Equatable, Codable, CustomStringConvertible {
    public let expression: CronExpression

    /// Parses a schedule string. Throws ``ScheduleError`` with the offending character's offset.
    public init(parsing text: String) throws(ScheduleError) {
        expression = try CronExpression(parsing: text)
    }

    public var description: String { expression.source }

    /// The first fire time strictly after `date`, in `timeZone`.
    public func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
        expression.nextFire(after: date, in: timeZone)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try Schedule(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(expression.source)
    }
}
