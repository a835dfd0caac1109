import Foundation

/// systemd 252's `parse_weekdays`: names (`Mon` or `Monday`, any case) separated by `,`, ranges by
/// `..` or `-` (never backwards, never two in a row, never open), a trailing `,` allowed; a name
/// is followed by the end, `-`, `.`, `,` or a space, and spaces after the list are skipped.
struct CalendarWeekdays {
    static let names: [(name: String, number: Int)] = [
        ("monday", 0), ("mon", 0), ("tuesday", 1), ("tue", 1), ("wednesday", 2), ("wed", 2), ("thursday", 3),
        ("thu", 3), ("friday", 4), ("fri", 4), ("saturday", 5), ("sat", 5), ("sunday", 6), ("sun", 6),
    ]
    static let space = UInt8(ascii: " ")

    let bytes: [UInt8]
    var position: Int
    let limit: Int
    let source: String

    func at(_ index: Int) -> UInt8 { index < limit ? bytes[index] : 0 }

    func fail(_ message: String) -> ScheduleError {
        ScheduleError(expression: source, offset: position, message: message)
    }

    mutating func skipSpaces() {
        while position < limit, bytes[position] == Self.space { position += 1 }
    }

    /// Reads the list at ``position`` (none is no error: then nothing is read); the bits of the
    /// days it names, bit 0 Monday.
    mutating func parse() throws(ScheduleError) -> Int {
        var bits = 0
        var rangeStart = -1
        var first = true
        while true {
            var matched: (name: String, number: Int)?
            for entry in Self.names {
                let length = entry.name.utf8.count
                guard position + length <= limit,
                    String(decoding: bytes[position..<(position + length)], as: UTF8.self).lowercased() == entry.name
                else { continue }
                let next = at(position + length)
                guard [0, UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ","), Self.space].contains(next) else {
                    throw fail(
                        "'\(String(decoding: bytes[position..<min(limit, position + length + 1)], as: UTF8.self))' "
                            + "is not a weekday: a weekday (Mon or Monday) is followed by a space, ',', '..' or '-'")
                }
                bits |= 1 << entry.number
                if rangeStart >= 0 {
                    guard rangeStart <= entry.number else {
                        throw fail(
                            "the weekday range ends before it starts (systemd's ranges run Monday to Sunday, "
                                + "never backwards; list the days instead, e.g. Fri..Sun,Mon)")
                    }
                    for day in (rangeStart + 1)..<max(rangeStart + 1, entry.number) { bits |= 1 << day }
                }
                position += length
                matched = entry
                break
            }
            guard let matched else {
                if first { return bits }
                throw fail("expected a weekday (Mon, Tue, … or Monday, Tuesday, …)")
            }
            switch at(position) {
            case 0: return bits
            case Self.space:
                skipSpaces()
                return bits
            case UInt8(ascii: "."):
                guard rangeStart < 0 else { throw fail("a weekday range cannot go on into another range") }
                guard at(position + 1) == UInt8(ascii: ".") else {
                    throw fail("a weekday range is written with '..', e.g. Mon..Fri")
                }
                rangeStart = matched.number
                position += 2
            case UInt8(ascii: "-"):
                guard rangeStart < 0 else { throw fail("a weekday range cannot go on into another range") }
                rangeStart = matched.number
                position += 1
            default:  // ','
                rangeStart = -1
                position += 1
            }
            if [0, Self.space].contains(at(position)) {
                guard rangeStart < 0 else { throw fail("the weekday range has no end, e.g. Mon..Fri") }
                skipSpaces()
                return bits
            }
            first = false
        }
    }
}
