import Foundation

/// A wall-clock time with carrying arithmetic, for walking the calendar field by field.
public struct LocalTime {
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
    public static func civil(fromDays days: Int) -> (Int, Int, Int) {
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

    public static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
