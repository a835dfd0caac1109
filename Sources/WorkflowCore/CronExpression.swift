import Foundation

/// A cron expression: 5 fields (minute hour day-of-month month day-of-week) or 6 with leading seconds.
///
/// Fields take numbers, `*`, lists (`1,5`), ranges (`1-5`), steps (`*/10`, `5-59/15`, `5/15`) and,
/// for months and weekdays, names (`JAN`, `MON`). Day-of-month and day-of-week follow Vixie cron:
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
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
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
        if !dayOfMonthStar && (dayOfWeekStar || weekdays.bits == 0) {
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
        let domMatch = daysOfMonth.contains(local.day)
        let dowMatch = daysOfWeek.contains(local.weekday)
        if dayOfMonthStar || dayOfWeekStar { return domMatch && dowMatch }
        return domMatch || dowMatch
    }

    static func fieldOffsets(_ source: String) -> [Int] {
        var offsets: [Int] = []
        var previousWasSpace = true
        for (index, char) in source.enumerated() {
            let isSpace = char == " " || char == "\t"
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

enum FieldKind {
    case second, minute, hour, dayOfMonth, month, dayOfWeek

    var name: String {
        switch self {
        case .second: "seconds"
        case .minute: "minutes"
        case .hour: "hours"
        case .dayOfMonth: "day-of-month"
        case .month: "month"
        case .dayOfWeek: "day-of-week"
        }
    }

    var range: ClosedRange<Int> {
        switch self {
        case .second, .minute: 0...59
        case .hour: 0...23
        case .dayOfMonth: 1...31
        case .month: 1...12
        case .dayOfWeek: 0...7
        }
    }

    var names: [String] {
        switch self {
        case .month: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        case .dayOfWeek: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
        default: []
        }
    }

    /// The value a name stands for, or nil.
    func value(ofName name: Substring) -> Int? {
        guard let index = names.firstIndex(of: name.uppercased()) else { return nil }
        return self == .month ? index + 1 : index
    }
}

/// The set of values one cron field allows, as bits.
struct FieldSet: Sendable, Equatable {
    var bits: UInt64

    init(bits: UInt64) { self.bits = bits }

    func contains(_ value: Int) -> Bool { value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0 }

    init(parsing field: String, kind: FieldKind, expression: String, offset: Int) throws(ScheduleError) {
        bits = 0
        var itemOffset = offset
        for item in field.split(separator: ",", omittingEmptySubsequences: false) {
            try add(item: item, kind: kind, expression: expression, offset: itemOffset)
            itemOffset += item.count + 1
        }
    }

    private mutating func add(item: Substring, kind: FieldKind, expression: String, offset: Int) throws(ScheduleError) {
        func fail(_ message: String, at extra: Int = 0) -> ScheduleError {
            ScheduleError(expression: expression, offset: offset + extra, message: "\(kind.name) field: \(message)")
        }
        guard !item.isEmpty else { throw fail("empty list item") }
        let slash = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let rangePart = slash[0]
        var step = 1
        if slash.count == 2 {
            guard let parsed = Int(slash[1]), slash[1].allSatisfy(\.isASCII), parsed > 0, parsed <= 9999 else {
                throw fail("step '\(slash[1])' must be a whole number of at least 1", at: rangePart.count + 1)
            }
            step = parsed
        }
        var low: Int
        var high: Int
        if rangePart == "*" {
            low = kind.range.lowerBound
            high = kind == .dayOfWeek ? 6 : kind.range.upperBound
        } else {
            let bounds = rangePart.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            low = try value(bounds[0], kind: kind, fail: { fail($0) })
            if bounds.count == 2 {
                high = try value(bounds[1], kind: kind, fail: { fail($0, at: bounds[0].count + 1) })
                guard low <= high else {
                    throw fail("range \(low)-\(high) runs backwards; write the smaller value first")
                }
            } else {
                // `5/15` means from 5 to the end, stepping 15.
                high = slash.count == 2 ? (kind == .dayOfWeek ? 6 : kind.range.upperBound) : low
            }
        }
        var current = low
        while current <= high {
            bits |= 1 << UInt64(current)
            current += step
        }
    }

    private func value(
        _ text: Substring, kind: FieldKind, fail: (String) -> ScheduleError
    ) throws(ScheduleError) -> Int {
        if let number = Int(text), text.allSatisfy(\.isASCII) {
            guard kind.range.contains(number) else {
                throw fail("\(number) is out of range \(kind.range.lowerBound)-\(kind.range.upperBound)")
            }
            return number
        }
        if let named = kind.value(ofName: text) { return named }
        let expected =
            kind.names.isEmpty
            ? "a number from \(kind.range.lowerBound) to \(kind.range.upperBound)"
            : "a number from \(kind.range.lowerBound) to \(kind.range.upperBound) or a name like \(kind.names[1])"
        throw fail("'\(text)' is not \(expected)")
    }
}

/// A wall-clock time with carrying arithmetic, for walking the calendar field by field.
struct LocalTime {
    var year: Int
    var month: Int
    var day: Int
    var hour: Int
    var minute: Int
    var second: Int

    /// The wall-clock time `epoch` seconds after 1970-01-01 00:00:00 (no zone involved).
    init(epoch: Int64) {
        let days = epoch >= 0 ? epoch / 86400 : (epoch - 86399) / 86400
        let seconds = Int(epoch - days * 86400)
        (year, month, day) = LocalTime.civil(fromDays: Int(days))
        (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60)
    }

    /// Seconds since 1970-01-01 00:00:00 of this wall-clock time, read as if it were UTC.
    var epoch: Int64 {
        Int64(LocalTime.daysFromCivil(year: year, month: month, day: day)) * 86400
            + Int64(hour * 3600 + minute * 60 + second)
    }

    /// Year, month, day of `days` since 1970-01-01 (Howard Hinnant's algorithm).
    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// 0 = Sunday … 6 = Saturday.
    var weekday: Int {
        let days = LocalTime.daysFromCivil(year: year, month: month, day: day)
        return Int(((days % 7) + 11) % 7)  // 1970-01-01 was a Thursday (4)
    }

    mutating func advanceMonth() {
        (day, hour, minute, second) = (1, 0, 0, 0)
        month += 1
        if month > 12 {
            month = 1
            year += 1
        }
    }

    mutating func advanceDay() {
        (hour, minute, second) = (0, 0, 0)
        day += 1
        if day > LocalTime.daysIn(month: month, year: year) { advanceMonth() }
    }

    mutating func advanceHour() {
        (minute, second) = (0, 0)
        hour += 1
        if hour > 23 { advanceDay() }
    }

    mutating func advanceMinute() {
        second = 0
        minute += 1
        if minute > 59 { advanceHour() }
    }

    mutating func advanceSecond() {
        second += 1
        if second > 59 { advanceMinute() }
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
