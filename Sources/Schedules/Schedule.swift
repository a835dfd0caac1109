import Foundation
import RuntimeSupport

/// When a job fires: a cron expression or a systemd calendar event, told apart by syntax.
///
/// A string is cron when it starts with `@` and a letter (`@daily`) or has 5 or 6 space-separated
/// fields; anything else (`@1767225600` too)
/// (`daily`, `Mon..Fri 09:00`, `*-*-* 02:30 Europe/Berlin`) is a calendar event, which never has
/// more than four parts.
public struct Schedule: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The two grammars.
    public enum Kind: Sendable, Equatable {
        case cron(CronExpression)
        case calendar(CalendarEvent)
    }

    public let kind: Kind

    /// Parses a schedule string. Throws ``ScheduleError`` with the offending character's offset.
    public init(parsing text: String) throws(ScheduleError) {
        let fields = text.split(whereSeparator: CronExpression.isSpace)
        let trimmed = text.trimmingWhitespace()
        // `@daily` is cron's; `@1767225600` (an instant) is systemd's.
        let instant = trimmed.hasPrefix("@") && trimmed.dropFirst().first.map { !$0.isLetter } == true
        if !instant && (trimmed.hasPrefix("@") || fields.count == 5 || fields.count == 6) {
            kind = .cron(try CronExpression(parsing: text))
            return
        }
        do {
            kind = .calendar(try CalendarEvent(parsing: text))
        } catch {
            // "0 9 * *" is a cron expression with a field missing, not a bad calendar event.
            let cronLike =
                fields.count >= 2
                && !text.contains(":") && !text.contains("~") && !text.contains("..")
                && fields.allSatisfy { $0.allSatisfy { $0.isASCII && ($0.isNumber || "*,/-".contains($0)) } }
            if cronLike { _ = try CronExpression(parsing: text) }
            throw error
        }
    }

    /// The expression as written.
    public var description: String {
        switch kind {
        case .cron(let cron): cron.source
        case .calendar(let event): event.source
        }
    }

    /// A canonical form: systemd's normalized form for calendar events, the fields (aliases
    /// expanded) for cron.
    public var normalized: String {
        switch kind {
        case .cron(let cron): cron.normalized
        case .calendar(let event): event.normalized
        }
    }

    /// `cron` or `calendar`.
    public var grammar: String {
        switch kind {
        case .cron: "cron"
        case .calendar: "calendar"
        }
    }

    /// The first fire time strictly after `date`, in `timeZone` (a calendar event naming its own
    /// zone uses that one).
    public func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
        switch kind {
        case .cron(let cron): cron.nextFire(after: date, in: timeZone)
        case .calendar(let event): event.nextElapse(after: date, in: timeZone)
        }
    }

    public static func == (lhs: Schedule, rhs: Schedule) -> Bool { lhs.description == rhs.description }

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
        try container.encode(description)
    }
}

extension CronExpression {
    /// The fields, single-spaced, with an alias expanded.
    public var normalized: String {
        let trimmed = String(source.trimmingWhitespace())
        let text = CronExpression.aliases[trimmed] ?? trimmed
        return text.split(whereSeparator: CronExpression.isSpace).joined(separator: " ")
    }
}
