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
            guard dayMatches else {
                let length = LocalTime.daysIn(month: local.month, year: local.year)
                Self.skip(
                    &local, daysFromEnd ? nil : days, \.day, first: 1, size: length, crossing: \.year,
                    { $0.advanceDay() },
                    parent: { $0.advanceMonth() })
                continue
            }
            guard weekdayMatches(local) else {
                local.advanceDay()
                continue
            }
            guard Self.matches(hours, local.hour) else {
                Self.skip(
                    &local, hours, \.hour, size: 24, crossing: \.month, { $0.advanceHour() },
                    parent: { $0.advanceDay() })
                continue
            }
            guard Self.matches(minutes, local.minute) else {
                Self.skip(
                    &local, minutes, \.minute, size: 60, crossing: \.day, { $0.advanceMinute() },
                    parent: { $0.advanceHour() })
                continue
            }
            guard Self.matches(seconds, local.second) else {
                Self.skip(
                    &local, seconds, \.second, size: 60, crossing: \.hour, { $0.advanceSecond() },
                    parent: { $0.advanceMinute() })
                continue
            }
            return local
        }
        return nil
    }

    /// Moves `local` past a value of `field` that does not match: to the next value (`advance`),
    /// or, when systemd's ``candidate`` lies past the field's end (`size` values from `first`), to the start of
    /// the next parent unit (`parent`), keeping the carried remainder in `field` when the carry
    /// changed `crossing` (the unit above the parent), as systemd 252 does.
    static func skip(
        _ local: inout LocalTime, _ chain: [CalendarComponent]?, _ field: WritableKeyPath<LocalTime, Int>,
        first: Int = 0, size: Int, crossing: KeyPath<LocalTime, Int>, _ advance: (inout LocalTime) -> Void,
        parent: (inout LocalTime) -> Void
    ) {
        guard let next = candidate(chain, local[keyPath: field]), next >= first + size else {
            advance(&local)
            return
        }
        var carried = local
        parent(&carried)
        if carried[keyPath: crossing] != local[keyPath: crossing] { carried[keyPath: field] = next - size }
        local = carried
    }

    /// systemd's `find_matching_component`: the smallest value at or after `value` that a chain's
    /// entry gives, which for an open repetition (`1/19`) may lie past the field's end. systemd
    /// then lets mktime carry it (hour 39 of Jan 31 is Feb 1 15:00) and resets only the unit below
    /// the highest one that changed (`tm_within_bounds`): within the parent's own parent the
    /// carried unit starts again from its first value, as a plain scan would; across it (a new
    /// month after an hour, a new day after a minute, a new hour after a second, a new year after
    /// a day) the carried remainder stays, and the values before it are skipped. The caller copies
    /// that.
    static func candidate(_ chain: [CalendarComponent]?, _ value: Int) -> Int? {
        guard let chain else { return nil }
        return chain.compactMap { component -> Int? in
            if component.start >= value { return component.start }
            guard component.repeatEvery > 0 else { return nil }
            let steps = (value - component.start + component.repeatEvery - 1) / component.repeatEvery
            let next = component.start + component.repeatEvery * steps
            return component.stop.map { next <= $0 ? next : nil } ?? next
        }.min()
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
