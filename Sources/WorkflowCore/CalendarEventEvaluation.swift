import Foundation

extension CalendarEvent {
    /// The first elapse strictly after `date`, in the expression's zone or else `defaultZone`; nil
    /// when the event never elapses again (a past date, or beyond the year 2199).
    public func nextElapse(after date: Date, in defaultZone: TimeZone) -> Date? {
        let zone = timeZone.flatMap(TimeZone.init(identifier:)) ?? defaultZone
        let start = Int64(date.timeIntervalSince1970.rounded(.down))
        let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(start))))
        var from = LocalTime(epoch: start + offset + 1)
        while let local = firstMatch(from: from) {
            // A time in a gap does not elapse that day. Of a repeated time, the first occurrence
            // after the start: its first pass, unless the start itself lies in the second pass.
            if let instant = Self.instants(of: local.epoch, in: zone).first(where: { $0 > start }) {
                return Date(timeIntervalSince1970: TimeInterval(instant))
            }
            from = LocalTime(epoch: local.epoch + 1)
        }
        return nil
    }

    /// The instants at which the wall clock of `zone` reads `wall` (seconds since 1970 read as
    /// UTC): none in a gap, two in a repeat, in order.
    static func instants(of wall: Int64, in zone: TimeZone) -> [Int64] {
        func offset(_ instant: Int64) -> Int64 {
            Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(instant))))
        }
        return Set([offset(wall - 86400), offset(wall + 86400)]).map { wall - $0 }.filter { offset($0) == wall - $0 }
            .sorted()
    }

    func firstMatch(from: LocalTime) -> LocalTime? {
        var local = from
        while local.year <= 2199 {
            guard Self.matches(years, local.year) else {
                if let years,
                    !years.contains(where: {
                        $0.stop == nil && $0.repeatEvery == 0
                            ? $0.start > local.year : ($0.stop ?? 2199) > local.year || $0.repeatEvery > 0
                    })
                {
                    return nil  // every listed year is past
                }
                local.advanceYear()
                continue
            }
            guard Self.matches(months, local.month) else {
                local.advanceMonth()
                continue
            }
            let dayMatches =
                daysFromEnd
                ? Self.matchesFromEnd(
                    days, day: local.day, length: LocalTime.daysIn(month: local.month, year: local.year))
                : Self.matches(days, local.day)
            guard dayMatches, weekdayMatches(local) else {
                local.advanceDay()
                continue
            }
            guard Self.matches(hours, local.hour) else {
                local.advanceHour()
                continue
            }
            guard Self.matches(minutes, local.minute) else {
                local.advanceMinute()
                continue
            }
            guard Self.matches(seconds, local.second) else {
                local.advanceSecond()
                continue
            }
            return local
        }
        return nil
    }

    func weekdayMatches(_ local: LocalTime) -> Bool {
        guard let weekdays else { return true }
        return weekdays & (1 << UInt8((local.weekday + 6) % 7)) != 0
    }

    /// `~N` is the N-th last day; a repetition (`~07/1`) runs from there toward the month's end,
    /// and a range `~N..M` spans from the N-th last to the M-th last day.
    static func matchesFromEnd(_ chain: [CalendarComponent]?, day: Int, length: Int) -> Bool {
        guard let chain else { return true }
        return chain.contains { component in
            let first = length - component.start + 1
            let last = component.stop.map { length - $0 + 1 } ?? (component.repeatEvery > 0 ? length : first)
            guard day >= min(first, last), day <= max(first, last) else { return false }
            return component.repeatEvery > 0
                ? (day - first) % component.repeatEvery == 0 : component.stop != nil || day == first
        }
    }

    static func matches(_ chain: [CalendarComponent]?, _ value: Int) -> Bool {
        guard let chain else { return true }
        return chain.contains { $0.matches(value) }
    }
}

extension LocalTime {
    mutating func advanceYear() {
        (month, day, hour, minute, second) = (1, 1, 0, 0, 0)
        year += 1
    }
}
