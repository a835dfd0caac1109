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
