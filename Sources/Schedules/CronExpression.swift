import Foundation
import RuntimeSupport

/// A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 with leading seconds.
///
/// Fields take numbers, `*`, lists (`1,5`), ranges (`1-5`), steps (`*/10`, `5-59/15`, `5/15`) and,
/// for months and weekdays, names (`JAN`, `MON`); cronsim's `L` and `LW` (day of month), `5L` and
/// `MON#2` (day of week) too (``FieldSet`` has the rules). Day-of-month and day-of-week follow Vixie cron:
/// when both are restricted a day matching either fires; when one starts with `*` both must match.
public struct CronExpression: Sendable, Equatable {
    /// The expression as written.
    public let source: String
    let seconds: FieldSet
    let minutes: FieldSet
    let hours: FieldSet
    let daysOfMonth: FieldSet
    let months: FieldSet
    let daysOfWeek: FieldSet  // 0 = Sunday … 6 = Saturday
    let dayOfMonthStar: Bool
    let dayOfWeekStar: Bool

    /// True for a 5-field expression whose minute and hour fields do not start with `*` (and the
    /// aliases but `@hourly`): matched on local wall-clock time, so a time in a spring-forward gap
    /// fires once when the gap ends and a time repeated by a fall-back fires once. Every other
    /// expression fires at each real instant whose wall-clock reading matches (Debian cron).
    public let isFixedTime: Bool

    /// The aliases and what they stand for.
    public static let aliases: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    /// Parses `source`. Throws ``ScheduleError`` naming the field and the character at fault, or
    /// saying that the expression can never fire (`0 0 30 2 *`).
    public init(parsing source: String) throws(ScheduleError) {
        self.source = source
        var text = source
        let trimmed = String(source.trimmingWhitespace())
        if trimmed.hasPrefix("@") {
            guard let expansion = Self.aliases[trimmed] else {  // case-sensitive, as in Vixie cron
                let known = Self.aliases.keys.sorted().joined(separator: " ")
                let message =
                    trimmed == "@reboot"
                    ? "@reboot has no fire times: wfd schedules by the clock"
                    : "unknown alias '\(trimmed)'; known: \(known)"
                throw ScheduleError(expression: source, offset: 0, message: message)
            }
            text = expansion
        }
        let fields = text.split(whereSeparator: Self.isSpace).map(String.init)
        let offsets = trimmed.hasPrefix("@") ? Array(repeating: 0, count: 6) : Self.fieldOffsets(text)
        guard fields.count == 5 || fields.count == 6 else {
            throw ScheduleError(
                expression: source, offset: 0,
                message:
                    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 with leading seconds, found \(fields.count)"
            )
        }
        let hasSeconds = fields.count == 6
        let base = hasSeconds ? 1 : 0
        func parse(_ index: Int, _ kind: FieldKind) throws(ScheduleError) -> FieldSet {
            try FieldSet(parsing: fields[index], kind: kind, expression: source, offset: offsets[index])
        }
        seconds = hasSeconds ? try parse(0, .second) : FieldSet(bits: 1)
        minutes = try parse(base, .minute)
        hours = try parse(base + 1, .hour)
        daysOfMonth = try parse(base + 2, .dayOfMonth)
        months = try parse(base + 3, .month)
        var weekdays = try parse(base + 4, .dayOfWeek)
        if weekdays.contains(7) { weekdays.bits |= 1 }  // 7 is Sunday too
        weekdays.bits &= 0x7F
        daysOfWeek = weekdays
        dayOfMonthStar = fields[base + 2].hasPrefix("*")
        dayOfWeekStar = fields[base + 4].hasPrefix("*")
        isFixedTime = !hasSeconds && !fields[base].hasPrefix("*") && !fields[base + 1].hasPrefix("*")
        // Only day-of-month can make an expression impossible, when it alone decides the day.
        if !dayOfMonthStar && dayOfWeekStar && !daysOfMonth.lastDay && !daysOfMonth.lastWeekday {
            let possible = (1...12).contains { month in
                months.contains(month)
                    && (1...LocalTime.daysIn(month: month, year: 2024)).contains(where: daysOfMonth.contains)
            }
            guard possible else {
                throw ScheduleError(
                    expression: source, offset: offsets[base + 2],
                    message: "this day of month never exists in the months given, so the schedule never fires")
            }
        }
    }

    /// The first instant strictly after `date` at which the expression fires, in `timeZone`;
    /// nil when there is none within eight years.
    public func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
        let start = Int64(date.timeIntervalSince1970.rounded(.down))
        let next = isFixedTime ? nextFixedTime(after: start, in: timeZone) : nextWallClock(after: start, in: timeZone)
        return next.map { Date(timeIntervalSince1970: TimeInterval($0)) }
    }

    /// Every real instant whose wall-clock reading matches: walk the stretches of constant UTC
    /// offset between transitions, so gap times never occur and repeated times occur twice.
    func nextWallClock(after start: Int64, in zone: TimeZone) -> Int64? {
        var instant = start + 1
        let horizon = start + 8 * 366 * 86400
        while instant < horizon {
            let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
            let transition = zone.nextDaylightSavingTimeTransition(
                after: Date(timeIntervalSince1970: TimeInterval(instant))
            )
            .map { Int64($0.timeIntervalSince1970.rounded(.up)) }
            let end = min(transition ?? horizon, horizon)
            if let local = firstMatch(from: LocalTime(epoch: instant + offset), before: end + offset) {
                return local.epoch - offset
            }
            instant = end
        }
        return nil
    }

    /// Wall-clock times resolved to instants: the first occurrence of a repeated time, the end of
    /// the gap for a time that does not exist; results on the same instant count once.
    func nextFixedTime(after start: Int64, in zone: TimeZone) -> Int64? {
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(start))))
        var from = LocalTime(epoch: start + offset + 1)
        let horizon = start + offset + 8 * 366 * 86400
        while let local = firstMatch(from: from, before: horizon) {
            if let instant = Self.resolve(local.epoch, in: zone), instant > start { return instant }
            from = LocalTime(epoch: local.epoch + 1)
        }
        return nil
    }

    /// The instant a wall-clock time (as seconds since 1970 read as UTC) stands for in `zone`.
    static func resolve(_ wall: Int64, in zone: TimeZone) -> Int64? {
        func offset(_ instant: Int64) -> Int64 {
            Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
        }
        let before = offset(wall - 86400)
        let after = offset(wall + 86400)
        let candidates = Set([before, after]).map { wall - $0 }.filter { offset($0) == wall - $0 }
        if let first = candidates.min() { return first }
        // In a gap: the first real instant after it is the transition itself.
        let probe = Date(timeIntervalSince1970: TimeInterval(wall - max(before, after)))
        return zone.nextDaylightSavingTimeTransition(after: probe).map { Int64($0.timeIntervalSince1970.rounded(.up)) }
    }

    /// The first wall-clock time at or after `from` that matches every field, before `limit`
    /// (seconds since 1970 read as UTC).
    func firstMatch(from: LocalTime, before limit: Int64) -> LocalTime? {
        var local = from
        while local.epoch < limit {
            guard months.contains(local.month) else {
                local.advanceMonth()
                continue
            }
            guard dayMatches(local) else {
                local.advanceDay()
                continue
            }
            guard hours.contains(local.hour) else {
                local.advanceHour()
                continue
            }
            guard minutes.contains(local.minute) else {
                local.advanceMinute()
                continue
            }
            guard seconds.contains(local.second) else {
                local.advanceSecond()
                continue
            }
            return local
        }
        return nil
    }

    func dayMatches(_ local: LocalTime) -> Bool {
        let day = local.day
        let weekday = local.weekday
        var length: Int { LocalTime.daysIn(month: local.month, year: local.year) }
        let domMatch =
            daysOfMonth.contains(day) || (daysOfMonth.lastDay && day >= 28 && day == length)
            || (daysOfMonth.lastWeekday && day >= 26 && day == Self.lastWeekday(of: local))
        let dowMatch =
            daysOfWeek.contains(weekday)
            || (daysOfWeek.lastOfMonth & (1 << UInt8(weekday)) != 0 && day + 7 > length)
            || daysOfWeek.nth & (1 << UInt64(weekday * 8 + (day + 6) / 7)) != 0
        if dayOfMonthStar || dayOfWeekStar { return domMatch && dowMatch }
        return domMatch || dowMatch
    }

    /// The month's last day from Monday to Friday.
    static func lastWeekday(of local: LocalTime) -> Int {
        let length = LocalTime.daysIn(month: local.month, year: local.year)
        let lastWeekday = (local.weekday + length - local.day) % 7  // 0 = Sunday
        return lastWeekday == 0 ? length - 2 : lastWeekday == 6 ? length - 1 : length
    }

    /// What separates fields: what Python's `str.split()` splits on, as cronsim splits.
    static func isSpace(_ char: Character) -> Bool {
        char.isWhitespace || char.unicodeScalars.allSatisfy { (0x1C...0x1F).contains($0.value) }
    }

    static func fieldOffsets(_ source: String) -> [Int] {
        var offsets: [Int] = []
        var previousWasSpace = true
        for (index, char) in source.enumerated() {
            let isSpace = Self.isSpace(char)
            if !isSpace && previousWasSpace { offsets.append(index) }
            previousWasSpace = isSpace
        }
        return offsets
    }
}

/// A schedule expression that could not be parsed: what is wrong and at which character.
public struct ScheduleError: Error, Sendable, Equatable, CustomStringConvertible {
    public var expression: String
    /// Zero-based character offset into ``expression``.
    public var offset: Int
    public var message: String

    public init(expression: String, offset: Int, message: String) {
        self.expression = expression
        self.offset = offset
        self.message = message
    }

    public var description: String { "\(message) (at character \(offset + 1) of '\(expression)')" }
}
