import Foundation

/// The grammar of systemd 252's `calendar_spec_from_string` (src/shared/calendarspec.c), rule by
/// rule, over the expression's bytes: what it accepts, wfd accepts with the same meaning and the
/// same normalized form; what it refuses, wfd refuses, saying why and where.
///
/// The productions, in the order systemd tries them:
/// 1. A zone at the end: ` UTC` (any case), else the last space-separated word when it names a
///    file of the time zone database (`timezone_is_valid`: `[A-Za-z0-9_+-/]`, no leading,
///    trailing or double `/`, a regular file under `/usr/share/zoneinfo` starting with `TZif`).
///    (systemd also takes the host zone's own abbreviations, `CET`/`CEST`, meaning standard or
///    daylight time only: wfd does not, as its zone is the job's, not the host's.)
/// 2. Nothing left: refused. A shorthand, the whole rest in any case: `minutely`, `hourly`,
///    `daily`, `monthly`, `weekly`, `yearly`/`annually`/`anually`, `quarterly`,
///    `semiannually`/`semi-annually`/`biannually`/`bi-annually`.
/// 3. Else WEEKDAYS? DATE? TIME?, then the end:
///    - WEEKDAYS: names (`Mon` or `Monday`, any case) separated by `,`, ranges by `..` or `-`
///      (never backwards, never two in a row, never open), a trailing `,` allowed; a name must
///      be followed by end, `-`, `.`, `,` or a space; spaces after.
///    - DATE: `@SECONDS` (an instant, in UTC, and nothing after it), or CHAIN-CHAIN (month, day)
///      or CHAIN-CHAIN-CHAIN (year, month, day), with `~` for the last `-` meaning days from the
///      month's end; a first chain followed by `:` or the end is a time, not a date.
///    - TIME: CHAIN:CHAIN[:SECONDS]; none at all is 00:00:00.
///    - CHAIN: `*`, or COMPONENT[,COMPONENT…] (at most 241); COMPONENT: N[..M][/R] with decimal
///      numbers, each followed by end, space, `,`, `-`, `~` or `:`; seconds may have a fraction.
/// 4. Normalization: two-digit years (0–69 → 20xx, 70–99 → 19xx); every weekday or none is no
///    weekday; a range shortened to a multiple of its repetition, one that cannot repeat once
///    (or N..N) a single value; chains sorted, duplicates dropped.
/// 5. Validity: years 1970–2199, months 1–12, days 1–31 (1–28 from the end), hours 0–23,
///    minutes 0–59, seconds below 60; a repetition no longer than its field, and short enough to
///    happen once within its range or field.
///
/// wfd fires on whole seconds: a fraction of a second that is not zero is refused.
struct CalendarEventParser {
    /// A chain entry as systemd keeps it: `stop` -1 when none; seconds in microseconds.
    struct Component: Equatable, Comparable {
        var start: Int
        var stop = -1
        var repeatEvery = 0

        static func < (lhs: Component, rhs: Component) -> Bool {
            (lhs.start, lhs.stop, lhs.repeatEvery) < (rhs.start, rhs.stop, rhs.repeatEvery)
        }
    }

    struct Parsed {
        var weekdays = 0
        var years: [Component]?
        var months: [Component]?
        var days: [Component]?
        var endOfMonth = false
        var hours: [Component]?
        var minutes: [Component]?
        var microseconds: [Component]?
        var utc = false
        var zone: String?
    }

    static let microsecondsPerSecond = 1_000_000
    static let maximumComponents = 240

    let source: String
    let bytes: [UInt8]
    var position = 0
    var parsed = Parsed()

    init(_ source: String) {
        self.source = source
        bytes = Array(source.utf8)
    }

    func fail(_ message: String, at offset: Int? = nil) -> ScheduleError {
        ScheduleError(expression: source, offset: offset ?? position, message: message)
    }

    var current: UInt8 { position < bytes.count ? bytes[position] : 0 }
    func byte(at index: Int) -> UInt8 { index < bytes.count ? bytes[index] : 0 }
    static let space = UInt8(ascii: " ")

    // MARK: - The whole expression

    /// Parses, normalizes and validates the expression.
    static func parse(_ source: String) throws(ScheduleError) -> Parsed {
        var parser = CalendarEventParser(source)
        try parser.parseExpression()
        return parser.parsed
    }

    mutating func parseExpression() throws(ScheduleError) {
        var end = bytes.count
        if end >= 4, String(decoding: bytes[(end - 4)...], as: UTF8.self).lowercased() == " utc" {
            parsed.utc = true
            end -= 4
        } else if let space = bytes.lastIndex(of: Self.space) {
            let name = String(decoding: bytes[(space + 1)...], as: UTF8.self)
            if TimeZoneName.isValid(name) {
                parsed.zone = name
                end = space
            }
        }
        let body = String(decoding: bytes[..<end], as: UTF8.self)
        guard end > 0 else { throw fail("an empty calendar event (expected e.g. daily or Mon..Fri 09:00)") }
        let parts: [(chain: WritableKeyPath<Parsed, [Component]?>, values: [Int])]? =
            switch body.lowercased() {
            case "minutely": [(\.microseconds, [0])]
            case "hourly": [(\.minutes, [0]), (\.microseconds, [0])]
            case "daily", "weekly": [(\.hours, [0]), (\.minutes, [0]), (\.microseconds, [0])]
            case "monthly": [(\.days, [1]), (\.hours, [0]), (\.minutes, [0]), (\.microseconds, [0])]
            case "yearly", "annually", "anually":
                [(\.months, [1]), (\.days, [1]), (\.hours, [0]), (\.minutes, [0]), (\.microseconds, [0])]
            case "quarterly":
                [(\.months, [1, 4, 7, 10]), (\.days, [1]), (\.hours, [0]), (\.minutes, [0]), (\.microseconds, [0])]
            case "semiannually", "semi-annually", "biannually", "bi-annually":
                [(\.months, [1, 7]), (\.days, [1]), (\.hours, [0]), (\.minutes, [0]), (\.microseconds, [0])]
            default: nil
            }
        if let parts {
            for (chain, values) in parts { parsed[keyPath: chain] = values.map { Component(start: $0) } }
            if body.lowercased() == "weekly" { parsed.weekdays = 1 }
        } else {
            let limit = end
            try parseWeekdays(limit: limit)
            if try !parseDate(limit: limit) { try parseTime(limit: limit) }
            guard position >= limit else {
                throw fail("unexpected '\(rest(limit))'; expected [WEEKDAYS] [YYYY-MM-DD] [HH:MM[:SS]] [ZONE]")
            }
        }
        normalize()
        try validate()
    }

    func rest(_ limit: Int) -> String { String(decoding: bytes[position..<limit], as: UTF8.self) }

    /// The byte at `index`, or 0 at `limit` and past it (where the expression ends for the parser).
    func at(_ index: Int, _ limit: Int) -> UInt8 { index < limit ? bytes[index] : 0 }

    // MARK: - Weekdays

    mutating func parseWeekdays(limit: Int) throws(ScheduleError) {
        var reader = CalendarWeekdays(bytes: bytes, position: position, limit: limit, source: source)
        parsed.weekdays |= try reader.parse()
        position = reader.position
    }

    mutating func skipSpaces(limit: Int) {
        while position < limit, bytes[position] == Self.space { position += 1 }
    }

    // MARK: - Date

    /// Parses a date, if there is one; true when it was an `@SECONDS` instant (no time follows).
    mutating func parseDate(limit: Int) throws(ScheduleError) -> Bool {
        guard position < limit else { return false }
        if bytes[position] == UInt8(ascii: "@") {
            try parseInstant(limit: limit)
            return true
        }
        let start = position
        let first = try parseChain(limit: limit, seconds: false, what: "year or month")
        if [0, UInt8(ascii: ":")].contains(at(position, limit)) {
            position = start  // a time, not a date
            return false
        }
        try dateSeparator(limit: limit)
        let second = try parseChain(limit: limit, seconds: false, what: "month or day")
        if [0, Self.space].contains(at(position, limit)) {
            (parsed.months, parsed.days) = (first, second)
            skipSpaces(limit: limit)
            return false
        }
        if parsed.endOfMonth { throw fail("'~' comes only before the day: e.g. *-02~03 or 2026-*~01") }
        try dateSeparator(limit: limit)
        let third = try parseChain(limit: limit, seconds: false, what: "day")
        guard [0, Self.space].contains(at(position, limit)) else {
            throw fail("a date ends after its day; expected a space and a time, e.g. 2026-01-31 09:00")
        }
        (parsed.years, parsed.months, parsed.days) = (first, second, third)
        skipSpaces(limit: limit)
        return false
    }

    mutating func dateSeparator(limit: Int) throws(ScheduleError) {
        switch at(position, limit) {
        case UInt8(ascii: "~"): parsed.endOfMonth = true
        case UInt8(ascii: "-"): break
        default: throw fail("expected '-' or '~' in the date (YEAR-MONTH-DAY, MONTH-DAY or MONTH~DAY)")
        }
        position += 1
    }

    /// `@SECONDS`: read as `strtoul` reads (spaces and a sign may come first), in UTC.
    mutating func parseInstant(limit: Int) throws(ScheduleError) {
        position += 1
        var index = position
        while index < limit, [9, 10, 11, 12, 13, 32].contains(bytes[index]) { index += 1 }
        var negative = false
        if index < limit, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        let digits = index
        var value: UInt64 = 0
        while index < limit, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            guard !overflow, !carry else { throw fail("the instant @… is out of range") }
            value = sum
            index += 1
        }
        guard index > digits else { throw fail("'@' is followed by seconds since 1970, e.g. @1767225600") }
        position = index
        // strtoul negates in unsigned arithmetic; as a signed time_t that is the negative number.
        let seconds = negative ? 0 &- Int64(bitPattern: value) : Int64(bitPattern: value)
        // Years 1970 to 2199 (systemd reads any instant, then refuses other years).
        guard seconds >= 0, seconds < 7_258_118_400 else {
            let written = String(decoding: bytes[digits..<index], as: UTF8.self)
            throw fail("the instant @\(negative ? "-" : "")\(written) is outside the years 1970 to 2199")
        }
        let local = LocalTime(epoch: seconds)
        parsed.utc = true
        parsed.years = [Component(start: local.year)]
        parsed.months = [Component(start: local.month)]
        parsed.days = [Component(start: local.day)]
        parsed.hours = [Component(start: local.hour)]
        parsed.minutes = [Component(start: local.minute)]
        parsed.microseconds = [Component(start: local.second * Self.microsecondsPerSecond)]
    }

    // MARK: - Time

    mutating func parseTime(limit: Int) throws(ScheduleError) {
        guard position < limit else {
            (parsed.hours, parsed.minutes, parsed.microseconds) = (
                [Component(start: 0)], [.init(start: 0)], [.init(start: 0)]
            )
            return
        }
        let hours = try parseChain(limit: limit, seconds: false, what: "hour")
        guard at(position, limit) == UInt8(ascii: ":") else {
            throw fail("expected ':' after the hour; a time is HH:MM or HH:MM:SS")
        }
        position += 1
        let minutes = try parseChain(limit: limit, seconds: false, what: "minute")
        var seconds: [Component]? = [Component(start: 0)]
        if position < limit {
            guard bytes[position] == UInt8(ascii: ":") else {
                throw fail("expected ':' after the minute, or the end of the time")
            }
            position += 1
            seconds = try parseChain(limit: limit, seconds: true, what: "second")
            guard position >= limit else { throw fail("unexpected '\(rest(limit))' after the seconds") }
        }
        (parsed.hours, parsed.minutes, parsed.microseconds) = (hours, minutes, seconds)
    }

    // MARK: - Chains

    mutating func parseChain(limit: Int, seconds: Bool, what: String) throws(ScheduleError) -> [Component]? {
        if at(position, limit) == UInt8(ascii: "*") {
            position += 1
            return seconds ? [Component(start: 0, repeatEvery: Self.microsecondsPerSecond)] : nil
        }
        var chain: [Component] = []
        while true {
            guard chain.count <= Self.maximumComponents else {
                throw fail("more than \(Self.maximumComponents + 1) entries in a \(what) list")
            }
            var component = Component(start: try number(limit: limit, seconds: seconds, what: what))
            if at(position, limit) == UInt8(ascii: "."), at(position + 1, limit) == UInt8(ascii: ".") {
                position += 2
                component.stop = try number(limit: limit, seconds: seconds, what: what)
                component.repeatEvery = seconds ? Self.microsecondsPerSecond : 1
            }
            if at(position, limit) == UInt8(ascii: "/") {
                position += 1
                let offset = position
                component.repeatEvery = try number(limit: limit, seconds: seconds, what: "repetition")
                guard component.repeatEvery > 0 else { throw fail("a repetition of 0 never repeats", at: offset) }
            } else if seconds, component.stop >= 0, component.start + component.repeatEvery > component.stop {
                throw fail("the \(what) range ends before a second has passed")
            }
            guard
                [0, Self.space, UInt8(ascii: ","), UInt8(ascii: "-"), UInt8(ascii: "~"), UInt8(ascii: ":")].contains(
                    at(position, limit))
            else {
                throw fail(
                    "unexpected '\(Character(UnicodeScalar(at(position, limit))))' in the \(what); "
                        + "expected N, N..M, N/R or N..M/R, separated by ','")
            }
            chain.append(component)
            guard at(position, limit) == UInt8(ascii: ",") else { return chain }
            position += 1
        }
    }

    /// A decimal number (a seconds' one in microseconds, with its fraction), as
    /// `parse_component_decimal` reads it.
    mutating func number(limit: Int, seconds: Bool, what: String) throws(ScheduleError) -> Int {
        let start = position
        var value = 0
        while position < limit, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") {
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow, times <= Int(Int32.max) else {
                throw fail("the \(what) \(rest(limit)) is too large", at: start)
            }
            value = times + Int(bytes[position] - UInt8(ascii: "0"))
            position += 1
        }
        guard position > start else {
            let found = position < limit ? "'\(Character(UnicodeScalar(bytes[position])))'" : "the end"
            throw fail("expected a \(what) (a number or *), found \(found)")
        }
        guard seconds else {
            guard value <= Int(Int32.max) else { throw fail("the \(what) is too large", at: start) }
            return value
        }
        value *= Self.microsecondsPerSecond
        if at(position, limit) == UInt8(ascii: "."), at(position + 1, limit) != UInt8(ascii: ".") {
            position += 1
            // parse_fractional_part_u: six digits (padded), rounded by the seventh, the rest read.
            var fraction = 0
            var count = 0
            while count < 6, at(position, limit) >= UInt8(ascii: "0"), at(position, limit) <= UInt8(ascii: "9") {
                fraction = fraction * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                position += 1
                count += 1
            }
            guard count > 0 else { throw fail("a '.' in the seconds is followed by digits, e.g. 00.5") }
            for _ in count..<6 { fraction *= 10 }
            if count == 6, at(position, limit) >= UInt8(ascii: "5"), at(position, limit) <= UInt8(ascii: "9") {
                fraction += 1
            }
            while at(position, limit) >= UInt8(ascii: "0"), at(position, limit) <= UInt8(ascii: "9") { position += 1 }
            value += fraction
        }
        guard value <= Int(Int32.max) else { throw fail("the \(what) is too large", at: start) }
        return value
    }

    // MARK: - Normalization and validity

    mutating func normalize() {
        if parsed.zone == "UTC" {
            parsed.utc = true
            parsed.zone = nil
        }
        if parsed.weekdays <= 0 || parsed.weekdays >= 127 { parsed.weekdays = 0 }
        if parsed.endOfMonth && parsed.days == nil { parsed.endOfMonth = false }
        parsed.years = parsed.years.map { chain in
            chain.map { component in
                var fixed = component
                for path in [\Component.start, \Component.stop] {
                    let value = fixed[keyPath: path]
                    if value >= 0 && value < 70 { fixed[keyPath: path] = value + 2000 }
                    if value >= 70 && value < 100 { fixed[keyPath: path] = value + 1900 }
                }
                return fixed
            }
        }
        for path in [
            \Parsed.years, \Parsed.months, \Parsed.days, \Parsed.hours, \Parsed.minutes, \Parsed.microseconds,
        ] {
            parsed[keyPath: path] = parsed[keyPath: path].map(CalendarChainRules.normalize)
        }
    }

    func validate() throws(ScheduleError) {
        let checks: [([Component]?, ClosedRange<Int>, String, Bool)] = [
            (parsed.years, 1970...2199, "year", false), (parsed.months, 1...12, "month", false),
            (parsed.days, 1...31, "day", parsed.endOfMonth), (parsed.hours, 0...23, "hour", false),
            (parsed.minutes, 0...59, "minute", false),
            (parsed.microseconds, 0...(60 * Self.microsecondsPerSecond - 1), "second", false),
        ]
        for (chain, range, what, endOfMonth) in checks {
            if let problem = CalendarChainRules.problem(in: chain ?? [], range, what, endOfMonth: endOfMonth) {
                throw fail(problem, at: 0)
            }
        }
        for component in parsed.microseconds ?? []
        where [component.start, max(0, component.stop), component.repeatEvery].contains(where: {
            $0 % Self.microsecondsPerSecond != 0
        }) {
            throw fail("fractions of a second are not supported (wfd fires on whole seconds)", at: 0)
        }
    }

}
