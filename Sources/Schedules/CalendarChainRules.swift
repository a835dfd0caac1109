import Foundation

/// systemd 252's rules for a parsed chain of calendar components (src/shared/calendarspec.c):
/// `normalize_chain` and `chain_valid`.
enum CalendarChainRules {
    typealias Component = CalendarEventParser.Component

    /// A range shortened to a multiple of its repetition, one that cannot repeat once (or N..N)
    /// a single value; sorted, duplicates dropped.
    static func normalize(_ chain: [Component]) -> [Component] {
        var result: [Component] = []
        for var component in chain {
            if component.stop > component.start && component.repeatEvery > 0 {
                component.stop -= (component.stop - component.start) % component.repeatEvery
            }
            // A repetition that cannot happen once, or N..N: a single value.
            if (component.stop > component.start && component.repeatEvery > 0
                && component.start + component.repeatEvery > component.stop) || component.start == component.stop
            {
                component.repeatEvery = 0
                component.stop = -1
            }
            result.append(component)
        }
        var unique: [Component] = []
        for component in result.sorted() where unique.last != component { unique.append(component) }
        return unique
    }

    /// systemd's `chain_valid`: what is wrong with the chain of a field whose values run over
    /// `range`, or nil.
    static func problem(in chain: [Component], _ range: ClosedRange<Int>, _ what: String, endOfMonth: Bool)
        -> String?
    {
        let (from, to) = (range.lowerBound, range.upperBound)
        let scale = what == "second" ? CalendarEventParser.microsecondsPerSecond : 1
        var upper = to
        func show(_ value: Int) -> String { String(value / scale) }
        let field = endOfMonth ? "days from the month's end" : "\(what)s"
        for component in chain {
            // systemd takes 3 off the last day for every entry of a chain from the month's end
            // (chain_valid recurses with the limit it lowered): `*~27,7` is refused, `*~05,06` not.
            if endOfMonth { upper -= 3 }
            guard component.start >= from, component.start <= upper else {
                return ("\(what) \(show(component.start)) is out of range: \(field) run \(show(from))..\(show(upper))")
            }
            guard component.repeatEvery <= upper - from else {
                return ("the repetition /\(show(component.repeatEvery)) is longer than the \(what)s' range")
            }
            if component.stop >= 0 {
                guard component.stop >= from, component.stop <= upper else {
                    return
                        ("\(what) \(show(component.stop)) is out of range: \(field) run \(show(from))..\(show(upper))")
                }
                guard component.start + component.repeatEvery <= component.stop else {
                    return ("the \(what) range \(show(component.start))..\(show(component.stop)) ends before it starts")
                }
            } else if endOfMonth
                ? component.start - component.repeatEvery < from : component.start + component.repeatEvery > upper
            {
                return
                    ("\(what) \(show(component.start)) repeated every \(show(component.repeatEvery)) never repeats "
                    + "within \(show(from))..\(show(upper))")
            }
        }
        return nil
    }

}
