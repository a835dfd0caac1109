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

    static let shorthands: [String: String] = [
        "minutely": "*-*-* *:*:00", "hourly": "*-*-* *:00:00", "daily": "*-*-* 00:00:00",
        "monthly": "*-*-01 00:00:00", "weekly": "Mon *-*-* 00:00:00", "yearly": "*-01-01 00:00:00",
        "annually": "*-01-01 00:00:00", "quarterly": "*-01,04,07,10-01 00:00:00",
        "semiannually": "*-01,07-01 00:00:00",
    ]
    static let weekdayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    static let weekdayLongNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// Parses `source`. Throws ``ScheduleError`` saying what was expected where.
    public init(parsing source: String) throws(ScheduleError) {
        self.source = source
        func fail(_ message: String) -> ScheduleError { ScheduleError(expression: source, offset: 0, message: message) }
        var tokens = source.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard !tokens.isEmpty else { throw fail("an empty calendar event") }
        var zone: String?
        if tokens.count > 1, let last = tokens.last, TimeZone(identifier: last) != nil,
            last.contains("/") || last == "UTC"
        {
            zone = last
            tokens.removeLast()
        }
        if tokens.count == 1, let expansion = Self.shorthands[tokens[0].lowercased()] {
            tokens = expansion.split(separator: " ").map(String.init)
        }
        var weekdays: UInt8?
        if let first = tokens.first, first.first?.isLetter == true {
            weekdays = try Self.parseWeekdays(first, fail: fail)
            tokens.removeFirst()
        }
        var date:
            (years: [CalendarComponent]?, months: [CalendarComponent]?, days: [CalendarComponent]?, fromEnd: Bool) = (
                nil, nil, nil, false
            )
        var time: [[CalendarComponent]?] = [
            [CalendarComponent(start: 0)], [CalendarComponent(start: 0)], [CalendarComponent(start: 0)],
        ]
        if let first = tokens.first, first.contains("-") || first.contains("~"), !first.contains(":") {
            date = try Self.parseDate(first, fail: fail)
            tokens.removeFirst()
        }
        if let first = tokens.first, first.contains(":") {
            time = try Self.parseTime(first, fail: fail)
            tokens.removeFirst()
        }
        guard tokens.isEmpty else {
            throw fail(
                "unexpected '\(tokens.joined(separator: " "))'; expected [WEEKDAYS] [YYYY-MM-DD] [HH:MM[:SS]] [ZONE]")
        }
        (years, months, days, daysFromEnd) = date
        (hours, minutes, seconds) = (time[0], time[1], time[2])
        self.weekdays = weekdays
        timeZone = zone
        var text = ""
        if let weekdays { text += Self.format(weekdays: weekdays) + " " }
        text +=
            Self.format(years, width: 4) + "-" + Self.format(months, width: 2) + (daysFromEnd ? "~" : "-")
            + Self.format(days, width: 2)
        text +=
            " " + Self.format(hours, width: 2) + ":" + Self.format(minutes, width: 2) + ":"
            + Self.format(seconds, width: 2)
        if let zone { text += " " + zone }
        normalized = text
    }

    // MARK: - Parsing

    static func parseWeekdays(_ text: String, fail: (String) -> ScheduleError) throws(ScheduleError) -> UInt8 {
        func day(_ name: Substring) throws(ScheduleError) -> Int {
            let lower = name.lowercased()
            if let index = weekdayNames.firstIndex(where: { $0.lowercased() == lower }) { return index }
            if let index = weekdayLongNames.firstIndex(of: lower) { return index }
            throw fail("'\(name)' is not a weekday (Mon, Tue, … or Monday, Tuesday, …)")
        }
        var bits: UInt8 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("an empty entry in the weekday list '\(text)'") }
            let parts = item.components(separatedBy: "..")
            guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty }) else {
                throw fail("'\(item)' is not a weekday or a range like Mon..Fri")
            }
            let first = try day(Substring(parts[0]))
            let last = parts.count == 2 ? try day(Substring(parts[1])) : first
            var index = first
            while true {  // ranges may wrap: Sat..Mon
                bits |= 1 << UInt8(index)
                if index == last { break }
                index = (index + 1) % 7
            }
        }
        return bits
    }

    static func parseDate(_ text: String, fail: (String) -> ScheduleError) throws(ScheduleError) -> (
        [CalendarComponent]?, [CalendarComponent]?, [CalendarComponent]?, Bool
    ) {
        var fromEnd = false
        var body = text
        var dayText: String
        if let tilde = body.firstIndex(of: "~") {
            fromEnd = true
            dayText = String(body[body.index(after: tilde)...])
            body = String(body[..<tilde])
        } else {
            guard let dash = body.lastIndex(of: "-") else {
                throw fail("'\(text)' is not a date like 2026-01-31 or *-*-01")
            }
            dayText = String(body[body.index(after: dash)...])
            body = String(body[..<dash])
        }
        let rest = body.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard rest.count == 1 || rest.count == 2 else {
            throw fail("'\(text)' has too many '-'; expected YEAR-MONTH-DAY")
        }
        let yearText = rest.count == 2 ? rest[0] : "*"
        let monthText = rest.count == 2 ? rest[1] : rest[0]
        let years = try parseChain(yearText, range: 1970...2199, year: true, what: "year", fail: fail)
        let months = try parseChain(monthText, range: 1...12, what: "month", fail: fail)
        let days = try parseChain(dayText, range: 1...31, what: "day", fail: fail)
        if dayText.isEmpty { throw fail("'\(text)' lacks a day") }
        return (years, months, days, fromEnd)
    }

    static func parseTime(_ text: String, fail: (String) -> ScheduleError) throws(ScheduleError)
        -> [[CalendarComponent]?]
    {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw fail("'\(text)' is not a time like 09:30 or 09:30:00")
        }
        var secondText = parts.count == 3 ? parts[2] : "00"
        if let dot = secondText.firstIndex(of: ".") {
            let fraction = secondText[secondText.index(after: dot)...]
            guard !fraction.isEmpty, fraction.allSatisfy({ $0 == "0" }) else {
                throw fail("'\(text)': fractions of a second are not supported (wfd fires on whole seconds)")
            }
            secondText = String(secondText[..<dot])
        }
        return [
            try parseChain(parts[0], range: 0...23, what: "hour", fail: fail),
            try parseChain(parts[1], range: 0...59, what: "minute", fail: fail),
            try parseChain(secondText, range: 0...59, what: "second", fail: fail),
        ]
    }

    /// `*`, or a comma list of `N`, `N..M`, `N/S`, `N..M/S`; nil for `*`.
    static func parseChain(
        _ text: String, range: ClosedRange<Int>, year: Bool = false, what: String, fail: (String) -> ScheduleError
    ) throws(ScheduleError) -> [CalendarComponent]? {
        if text == "*" { return nil }
        func number(_ digits: Substring) throws(ScheduleError) -> Int {
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), var value = Int(digits) else {
                throw fail("'\(digits)' is not a \(what) (a number from \(range.lowerBound) to \(range.upperBound))")
            }
            if year && digits.count == 2 { value += value < 70 ? 2000 : 1900 }
            guard range.contains(value) else {
                throw fail("\(what) \(value) is out of range \(range.lowerBound)..\(range.upperBound)")
            }
            return value
        }
        var chain: [CalendarComponent] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !item.isEmpty else { throw fail("an empty entry in the \(what) list '\(text)'") }
            let slash = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            var repeatEvery = 0
            if slash.count == 2 {
                guard let step = Int(slash[1]), slash[1].allSatisfy({ $0.isASCII && $0.isNumber }), step > 0 else {
                    throw fail("'\(slash[1])' is not a repetition for the \(what): a whole number of at least 1")
                }
                repeatEvery = step
            }
            let bounds = slash[0].components(separatedBy: "..")
            guard bounds.count <= 2 else { throw fail("'\(item)' is not a \(what) range like 1..5") }
            let start = bounds[0] == "*" && repeatEvery > 0 ? range.lowerBound : try number(Substring(bounds[0]))
            var stop: Int?
            if bounds.count == 2 {
                stop = try number(Substring(bounds[1]))
                if let stop, stop < start { throw fail("the \(what) range \(start)..\(stop) runs backwards") }
            }
            chain.append(CalendarComponent(start: start, stop: stop, repeatEvery: repeatEvery))
        }
        return Array(Set(chain)).sorted()
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

    static func format(_ chain: [CalendarComponent]?, width: Int) -> String {
        guard let chain else { return "*" }
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
