import Foundation
import JobFormat
import Schedules
import Testing

@Suite struct CronExpressionTests {
    let utc = TimeZone(identifier: "UTC")!

    func date(_ text: String) -> Date { Timestamp.parse(text)! }

    func fires(_ expression: String, after start: String, count: Int, zone: TimeZone? = nil) throws -> [String] {
        let cron = try CronExpression(parsing: expression)
        var times: [String] = []
        var current = date(start)
        for _ in 0..<count {
            guard let next = cron.nextFire(after: current, in: zone ?? utc) else { break }
            times.append(Timestamp.rfc3339(next))
            current = next
        }
        return times
    }

    @Test func fiveFieldsStepsAndRanges() throws {
        #expect(
            try fires("*/15 9-10 * * *", after: "2026-01-01T09:20:00Z", count: 4) == [
                "2026-01-01T09:30:00.000Z", "2026-01-01T09:45:00.000Z", "2026-01-01T10:00:00.000Z",
                "2026-01-01T10:15:00.000Z",
            ])
        #expect(
            try fires("5-59/20 0 1 JAN,jul *", after: "2026-01-01T00:00:00Z", count: 4) == [
                "2026-01-01T00:05:00.000Z", "2026-01-01T00:25:00.000Z", "2026-01-01T00:45:00.000Z",
                "2026-07-01T00:05:00.000Z",
            ])
    }

    @Test func sixFieldsHaveLeadingSeconds() throws {
        #expect(
            try fires("*/10 * * * * *", after: "2026-01-01T00:00:05.5Z", count: 3) == [
                "2026-01-01T00:00:10.000Z", "2026-01-01T00:00:20.000Z", "2026-01-01T00:00:30.000Z",
            ])
    }

    @Test func nextIsStrictlyAfter() throws {
        #expect(try fires("0 12 * * *", after: "2026-03-01T12:00:00Z", count: 1) == ["2026-03-02T12:00:00.000Z"])
    }

    @Test func vixieDayRuleOrWhenBothRestrictedAndWhenOneIsStar() throws {
        // 2026-02-01 is a Sunday. Both restricted: the 13th OR any Friday.
        #expect(
            try fires("0 0 13 * FRI", after: "2026-02-01T00:00:00Z", count: 3) == [
                "2026-02-06T00:00:00.000Z", "2026-02-13T00:00:00.000Z", "2026-02-20T00:00:00.000Z",
            ])
        // Day-of-month starts with '*': both must match, so only Fridays (every day of month allowed).
        #expect(
            try fires("0 0 */2 * FRI", after: "2026-02-01T00:00:00Z", count: 2) == [
                "2026-02-13T00:00:00.000Z", "2026-02-27T00:00:00.000Z",
            ])
        #expect(try fires("0 0 * * 7", after: "2026-02-02T00:00:00Z", count: 1) == ["2026-02-08T00:00:00.000Z"])
    }

    @Test func readsTimesInTheJobsZone() throws {
        let rome = TimeZone(identifier: "Europe/Rome")!
        #expect(
            try fires("30 9 * * *", after: "2026-06-01T00:00:00Z", count: 1, zone: rome) == ["2026-06-01T07:30:00.000Z"]
        )
    }

    @Test func impossibleDatesAreRejectedAndRareOnesFound() throws {
        #expect(throws: ScheduleError.self) { try CronExpression(parsing: "0 0 30 2 *") }
        #expect(throws: ScheduleError.self) { try CronExpression(parsing: "0 0 31 4,6,9,11 *") }
        // Feb 29 exists; from 2025 the next one is 2028. With a weekday the OR rule makes it common.
        #expect(try fires("0 0 29 2 *", after: "2025-01-01T00:00:00Z", count: 1) == ["2028-02-29T00:00:00.000Z"])
        #expect(try fires("0 0 30 2 MON", after: "2026-02-01T00:00:00Z", count: 1) == ["2026-02-02T00:00:00.000Z"])
    }

    @Test func aliasesExpandAndUnknownOnesAreRefused() throws {
        #expect(try fires("@daily", after: "2026-01-01T10:00:00Z", count: 1) == ["2026-01-02T00:00:00.000Z"])
        #expect(try fires("@hourly", after: "2026-01-01T10:00:00Z", count: 1) == ["2026-01-01T11:00:00.000Z"])
        #expect(try CronExpression(parsing: "@weekly").isFixedTime)
        #expect(try !CronExpression(parsing: "@hourly").isFixedTime)
        #expect(try !CronExpression(parsing: "0 2 * * * *").isFixedTime, "six fields follow the wall clock")
        #expect(throws: ScheduleError.self) { try CronExpression(parsing: "@reboot") }
        #expect(throws: ScheduleError.self) { try CronExpression(parsing: "@weekly 1") }
    }

    /// The two DST models, in America/New_York (spring 2024-03-10, fall 2024-11-03).
    @Test func dstFixedTimeAndWallClockJobsDiffer() throws {
        let york = TimeZone(identifier: "America/New_York")!
        // 02:30 does not exist on 2024-03-10: a fixed-time job fires once when the gap ends.
        #expect(
            try fires("30 2 * * *", after: "2024-03-09T12:00:00Z", count: 2, zone: york) == [
                "2024-03-10T07:00:00.000Z", "2024-03-11T06:30:00.000Z",
            ])
        // 01:30 happens twice on 2024-11-03: a fixed-time job fires at the first, a wall-clock job at both.
        #expect(
            try fires("30 1 * * *", after: "2024-11-03T04:00:00Z", count: 1, zone: york) == ["2024-11-03T05:30:00.000Z"]
        )
        #expect(
            try fires("30 * * * *", after: "2024-11-03T05:00:00Z", count: 2, zone: york) == [
                "2024-11-03T05:30:00.000Z", "2024-11-03T06:30:00.000Z",
            ])
    }

    @Test(arguments: [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "minutes field: 60 is out of range 0-59"),
        ("* * 0 * *", "day-of-month field: 0 is out of range 1-31"),
        ("* * * 13 *", "month field: 13 is out of range 1-12"),
        ("* * * * 8", "day-of-week field: 8 is out of range 0-7"),
        ("*/0 * * * *", "step '0' must be a whole number of at least 1"),
        ("5-1 * * * *", "runs backwards"),
        ("a * * * *", "'a' is not a number from 0 to 59"),
        ("1,,2 * * * *", "empty list item"),
        ("* * * FOO *", "'FOO' is not a number from 1 to 12 or a name like FEB"),
    ])
    func invalidExpressionsSayWhatIsWrong(expression: String, message: String) {
        #expect {
            try CronExpression(parsing: expression)
        } throws: { error in
            (error as? ScheduleError)?.message.contains(message) == true
        }
    }

    @Test func errorOffsetsPointIntoTheExpression() {
        do {
            _ = try CronExpression(parsing: "0 1,2,99 * * *")
            Issue.record("accepted an hour of 99")
        } catch {
            #expect(error.offset == 6)
        }
    }

    @Test func durations() {
        #expect(StepDuration.parse("90s") == .seconds(90))
        #expect(StepDuration.parse("1h30m") == .seconds(5400))
        #expect(StepDuration.parse("2d") == .seconds(172_800))
        #expect(StepDuration.parse("250ms") == .milliseconds(250))
        #expect(StepDuration.parse("45") == .seconds(45))
        for bad in ["", "0s", "1x", "h", "-5s", "1.5h", "99999999999999999d"] {
            #expect(StepDuration.parse(bad) == nil, "\(bad)")
        }
        #expect(StepDuration.format(.seconds(5400)) == "1h30m")
        #expect(StepDuration.format(.milliseconds(1500)) == "1s500ms")
    }
}
