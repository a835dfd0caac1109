import Foundation
import Testing

@testable import Schedules

@Suite struct TimestampTests {
    let foundation = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    @Test func theFastFormatAgreesWithFoundationButForItsLostMillisecond() throws {
        var generator = SystemRandomNumberGenerator()
        var instants: [Double] = [0, 0.0005, 0.9999, 951_782_400, 951_868_799.999, 4_107_542_399.999, 253_402_300_799]
        for _ in 0..<20_000 { instants.append(Double.random(in: 0..<7_258_118_400, using: &generator)) }
        for _ in 0..<2000 { instants.append(Double(Int.random(in: 0..<7_258_118_400_000, using: &generator)) / 1000) }
        var lost = 0
        for seconds in instants {
            let date = Date(timeIntervalSince1970: seconds)
            let fast = try #require(Timestamp.fastFormat(date))
            if fast == foundation.format(date) { continue }
            // Foundation truncates a Double a hair below a millisecond to the one before.
            let nextMillisecond = (date.timeIntervalSinceReferenceDate * 1000).rounded(.up) / 1000
            #expect(nextMillisecond - date.timeIntervalSinceReferenceDate < 0.000_002, "\(seconds): \(fast)")
            #expect(
                Timestamp.parse(fast).map { abs($0.timeIntervalSince(date)) < 0.000_002 } == true, "\(seconds): \(fast)"
            )
            lost += 1
        }
        #expect(lost > 0, "the instants include times read from records, which Foundation writes a millisecond early")
        #expect(Timestamp.fastFormat(Date(timeIntervalSince1970: -1)) == nil, "before 1970: Foundation's")
        // A hair below a new year: the carried millisecond moves every field, not only the milliseconds
        // (a random instant found this: the second stayed, and the time was written a second early).
        let eve = Date(timeIntervalSinceReferenceDate: 946_684_800 - 978_307_200 - 0.000_000_5)
        let written = try #require(Timestamp.fastFormat(eve))
        #expect(written == "2000-01-01T00:00:00.000Z" || written == "1999-12-31T23:59:59.999Z", "\(written)")
        #expect(Timestamp.parse(written).map { abs($0.timeIntervalSince(eve)) < 0.000_002 } == true, "\(written)")
    }

    @Test func aTimeReadFromARecordIsWrittenBackUnchanged() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let date = Date(
                timeIntervalSince1970: Double(Int.random(in: 0..<7_258_118_400_000, using: &generator)) / 1000)
            let text = foundation.format(date)
            let read = try #require(Timestamp.parse(text))
            #expect(Timestamp.rfc3339(read) == text)
        }
        #expect(Timestamp.rfc3339(Timestamp.parse("2000-02-29T23:59:59.999Z")!) == "2000-02-29T23:59:59.999Z")
    }

    /// The same instant as Foundation's to well under a microsecond (the last bit of the Double
    /// may differ: the two add seconds and milliseconds in another order).
    @Test func theFastParseAgreesWithFoundation() throws {
        var generator = SystemRandomNumberGenerator()
        let whole = Date.ISO8601FormatStyle(timeZone: .gmt)
        for _ in 0..<20_000 {
            let date = Date(
                timeIntervalSince1970: Double(Int.random(in: 0..<7_258_118_400_000, using: &generator)) / 1000)
            for text in [foundation.format(date), whole.format(date)] {
                let expected = try foundation.parse(text.count == 20 ? text.dropLast() + ".000Z" : text)
                let parsed = try #require(Timestamp.parse(text))
                #expect(abs(parsed.timeIntervalSince(expected)) < 0.000_000_5, "\(text)")
                #expect((Timestamp.fastParse(text) != nil) == (date.timeIntervalSinceReferenceDate >= 0), "\(text)")
            }
        }
    }

    @Test func whatTheFastParseDoesNotTakeFallsThroughToFoundation() {
        for text in [
            "2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+01:00",
            "2026-01-01T00:00:00.1Z", "2026-01-01 00:00:00Z", "2026-01-01T00:00:00.12xZ", "１２３４-01-01T00:00:00Z",
        ] {
            #expect(Timestamp.fastParse(text) == nil, "\(text)")
        }
        #expect(Timestamp.parse("2026-01-01T01:00:00+01:00") == Timestamp.parse("2026-01-01T00:00:00.000Z"))
        #expect(Timestamp.fastParse("2024-02-29T23:59:59.999Z") == (try? foundation.parse("2024-02-29T23:59:59.999Z")))
        #expect(Timestamp.fastParse("2024-02-29T23:59:59.999Z")?.timeIntervalSince1970.rounded() == 1_709_251_200)
    }
}
