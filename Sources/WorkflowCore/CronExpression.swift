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

    /// Parses `source`. Throws ``ScheduleError`` naming the field and the character at fault.
    public init(parsing source: String) throws(ScheduleError) {
        self.source = source
        let fields = source.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let offsets = Self.fieldOffsets(source)
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
    }

    /// The first instant strictly after `date` at which the expression fires, in `timeZone`;
    /// nil when there is none within eight years (for example `0 0 30 2 *`).
    public func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let start = Date(timeIntervalSince1970: (date.timeIntervalSince1970).rounded(.down) + 1)
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: start)
        guard var local = LocalTime(parts) else { return nil }
        let limitYear = local.year + 8
        while local.year <= limitYear {
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
            if let instant = calendar.date(from: local.components), instant > date {
                return instant
            }
            local.advanceSecond()
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
            guard let parsed = Int(slash[1]), parsed > 0, parsed <= kind.range.upperBound else {
                throw fail(
                    "step '\(slash[1])' must be a number from 1 to \(kind.range.upperBound)", at: rangePart.count + 1)
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

    init?(_ parts: DateComponents) {
        guard let year = parts.year, let month = parts.month, let day = parts.day, let hour = parts.hour,
            let minute = parts.minute, let second = parts.second
        else { return nil }
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (
            year, month, day, hour, minute, second
        )
    }

    var components: DateComponents {
        DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
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
