/// The fields of a cron expression and how each is parsed.
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

/// The set of values one cron field allows, as bits, and the days cronsim's extensions name.
///
/// An item is parsed as cronsim 2.8's `Field.parse` does, in its order: a list (`1,5`) is the union
/// of its items; in day-of-week, `5L` (the last Friday of the month) and `MON#2` (the second
/// Monday, 1 to 5); `TERM/STEP` (a step of at least 1: every STEP-th value of TERM, where a single
/// value runs to the end of the field, and `L`/`LW` ignore the step); `A-B` (names allowed, never
/// backwards); in day-of-month `L` (the last day) and `LW` (the last weekday); else a value: a
/// number of ASCII digits only (no sign) in the field's range, or a month or weekday name.
/// Day-of-week takes 0 to 7, 7 being Sunday too.
struct FieldSet: Sendable, Equatable {
    var bits: UInt64
    /// Day-of-month `L`: the month's last day.
    var lastDay = false
    /// Day-of-month `LW`: the month's last weekday (Monday to Friday).
    var lastWeekday = false
    /// Day-of-week `nL`: the last such weekday of the month (bit 0 = Sunday).
    var lastOfMonth: UInt8 = 0
    /// Day-of-week `n#k`: bit `weekday * 8 + k` (weekday 0 = Sunday, k 1 to 5).
    var nth: UInt64 = 0

    init(bits: UInt64) { self.bits = bits }

    func contains(_ value: Int) -> Bool { value >= 0 && value < 64 && bits & (1 << UInt64(value)) != 0 }

    /// True when the field names no plain value and no extension.
    var isEmpty: Bool { bits == 0 && !lastDay && !lastWeekday && lastOfMonth == 0 && nth == 0 }

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
        let upper = item.uppercased()
        guard !item.isEmpty else { throw fail("empty list item") }
        if kind == .dayOfWeek, upper.contains("L") {
            let number = item.dropLast()
            guard upper.hasSuffix("L"), !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw fail("'\(item)' is not a last weekday of the month: a weekday number and L, e.g. 5L")
            }
            lastOfMonth |= 1 << UInt8(try value(number, kind: kind, fail: { fail($0) }) % 7)
            return
        }
        if kind == .dayOfWeek, let hash = item.firstIndex(of: "#") {
            let count = item[item.index(after: hash)...]
            let weekday = try value(item[..<hash], kind: kind, fail: { fail($0) }) % 7
            guard let nth = Self.digits(count), (1...5).contains(nth) else {
                throw fail(
                    "'\(count)' after '#' must be 1 to 5 (the n-th such weekday of the month)",
                    at: item.distance(from: item.startIndex, to: hash) + 1)
            }
            self.nth |= 1 << UInt64(weekday * 8 + nth)
            return
        }
        if let slash = item.firstIndex(of: "/") {
            let term = item[..<slash]
            let stepText = item[item.index(after: slash)...]
            let stepOffset = item.distance(from: item.startIndex, to: slash) + 1
            guard let step = Self.digits(stepText), step > 0 else {
                throw fail("step '\(stepText)' must be a whole number of at least 1", at: stepOffset)
            }
            var values = FieldSet(bits: 0)
            try values.add(item: term, kind: kind, expression: expression, offset: offset)
            if values.lastDay || values.lastWeekday {  // L/2 is L
                (lastDay, lastWeekday) = (lastDay || values.lastDay, lastWeekday || values.lastWeekday)
                return
            }
            let listed = (0..<64).filter { values.contains($0) }
            if listed.count == 1 {  // a single value runs to the end of the field
                for value in stride(from: listed[0], through: kind.range.upperBound, by: step) {
                    bits |= 1 << UInt64(value)
                }
            } else {
                for (index, value) in listed.enumerated() where index % step == 0 { bits |= 1 << UInt64(value) }
            }
            return
        }
        if item == "*" {
            for value in kind.range { bits |= 1 << UInt64(value) }
            return
        }
        if let dash = item.firstIndex(of: "-") {
            let low = try value(item[..<dash], kind: kind, fail: { fail($0) })
            let high = try value(
                item[item.index(after: dash)...], kind: kind,
                fail: { fail($0, at: item.distance(from: item.startIndex, to: dash) + 1) })
            guard low <= high else { throw fail("range \(low)-\(high) runs backwards; write the smaller value first") }
            for value in low...high { bits |= 1 << UInt64(value) }
            return
        }
        if kind == .dayOfMonth, upper == "LW" || upper == "L" {
            if upper == "L" { lastDay = true } else { lastWeekday = true }
            return
        }
        bits |= 1 << UInt64(try value(item, kind: kind, fail: { fail($0) }))
    }

    /// A number written with ASCII digits only (no sign, no space), or nil; a huge one is
    /// `Int.max` (as a step it then takes only the first value).
    static func digits(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text) ?? Int.max
    }

    private func value(
        _ text: Substring, kind: FieldKind, fail: (String) -> ScheduleError
    ) throws(ScheduleError) -> Int {
        if let number = Self.digits(text) {
            guard kind.range.contains(number) else {
                throw fail("\(text) is out of range \(kind.range.lowerBound)-\(kind.range.upperBound)")
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
