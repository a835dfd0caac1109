import Foundation

/// A systemd calendar event (systemd.time(7)), as `OnCalendar=` takes it: `[WEEKDAYS] [DATE]
/// [TIME] [ZONE]`, or a shorthand (`daily`, `weekly`, …).
///
/// Weekday and date constraints must both hold. Times are matched on the wall clock of the zone
/// (the expression's own, else the job's): a time in a spring-forward gap does not elapse that
/// day; a repeated time elapses once, at its first occurrence (a start inside the second pass
/// goes on from there), as systemd 252 does.
public struct CalendarEvent: Sendable, Equatable {
    public let source: String
    /// systemd's "Normalized form", e.g. `Mon..Fri *-*-* 09:00:00`.
    public let normalized: String
    /// The zone named in the expression, if any.
    public let timeZone: String?
    let weekdays: UInt8?  // bit 0 = Monday … bit 6 = Sunday; nil: any
    let years: [CalendarComponent]?
    let months: [CalendarComponent]?
    let days: [CalendarComponent]?
    let daysFromEnd: Bool
    let hours: [CalendarComponent]?
    let minutes: [CalendarComponent]?
    let seconds: [CalendarComponent]?

    static let weekdayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// Parses `source` as systemd 252 does (``CalendarEventParser`` lists the grammar). Throws
    /// ``ScheduleError`` saying what was expected where.
    public init(parsing source: String) throws(ScheduleError) {
        self.source = source
        let parsed = try CalendarEventParser.parse(source)
        func chain(_ components: [CalendarEventParser.Component]?, scale: Int = 1) -> [CalendarComponent]? {
            components.map { chain in
                chain.map {
                    CalendarComponent(
                        start: $0.start / scale, stop: $0.stop < 0 ? nil : $0.stop / scale,
                        repeatEvery: $0.repeatEvery / scale)
                }
            }
        }
        weekdays = parsed.weekdays == 0 ? nil : UInt8(parsed.weekdays)
        years = chain(parsed.years)
        months = chain(parsed.months)
        days = chain(parsed.days)
        daysFromEnd = parsed.endOfMonth
        hours = chain(parsed.hours)
        minutes = chain(parsed.minutes)
        seconds = chain(parsed.microseconds, scale: CalendarEventParser.microsecondsPerSecond)
        timeZone = parsed.utc ? "UTC" : parsed.zone
        var text = ""
        if let weekdays { text += Self.format(weekdays: weekdays) + " " }
        text +=
            Self.format(years, width: 4) + "-" + Self.format(months, width: 2) + (daysFromEnd ? "~" : "-")
            + Self.format(days, width: 2)
        text +=
            " " + Self.format(hours, width: 2) + ":" + Self.format(minutes, width: 2) + ":"
            + Self.format(seconds, width: 2, seconds: true)
        if let zone = timeZone { text += " " + zone }
        normalized = text
    }

    // MARK: - Normalized form

    static func format(weekdays: UInt8) -> String {
        var parts: [String] = []
        var index = 0
        while index < 7 {
            guard weekdays & (1 << UInt8(index)) != 0 else {
                index += 1
                continue
            }
            var end = index
            while end + 1 < 7, weekdays & (1 << UInt8(end + 1)) != 0 { end += 1 }
            if end - index >= 2 {
                parts.append("\(weekdayNames[index])..\(weekdayNames[end])")
            } else {
                parts += weekdayNames[index...end]
            }
            index = end + 1
        }
        return parts.joined(separator: ",")
    }

    static func format(_ chain: [CalendarComponent]?, width: Int, seconds: Bool = false) -> String {
        guard let chain else { return "*" }
        // systemd's chain_is_star: a seconds' chain with an entry covering every second.
        if seconds, chain.contains(where: { $0.start == 0 && $0.stop == nil && $0.repeatEvery == 1 }) { return "*" }
        func pad(_ value: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return chain.map { component in
            var text = pad(component.start)
            if let stop = component.stop { text += ".." + pad(stop) }
            if component.repeatEvery > 0, !(component.stop != nil && component.repeatEvery == 1) {
                text += "/\(component.repeatEvery)"
            }
            return text
        }.joined(separator: ",")
    }
}

/// One entry of a calendar field: `start`, `start..stop`, `start/repeat` or `start..stop/repeat`.
struct CalendarComponent: Sendable, Hashable, Comparable {
    var start: Int
    var stop: Int?
    var repeatEvery: Int = 0

    func matches(_ value: Int) -> Bool {
        if value < start { return false }
        if let stop, value > stop { return false }
        if repeatEvery > 0 { return (value - start) % repeatEvery == 0 }
        return stop != nil || value == start
    }

    static func < (lhs: CalendarComponent, rhs: CalendarComponent) -> Bool {
        (lhs.start, lhs.stop ?? -1, lhs.repeatEvery) < (rhs.start, rhs.stop ?? -1, rhs.repeatEvery)
    }
}
