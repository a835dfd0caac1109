import Foundation
import Schedules
import Testing
import WorkflowTesting

/// Every case of the shared OnCalendar vectors (`systemd-analyze calendar` of systemd 252): the
/// normalized form, the next elapses, and every invalid expression.
@Suite struct CalendarConformanceTests {
    struct Vectors: Decodable {
        struct Case: Decodable {
            var id: String
            var expr: String
            var tz: String
            var base: String
            var normalized: String
            var next: [String]
            var tags: [String]
        }

        struct Invalid: Decodable {
            var expr: String
            var reason: String
        }

        var cases: [Case]
        var invalid: [Invalid]
    }

    static let vectors: Vectors? = {
        let path = BuiltProducts.packageRoot + "/Tests/Fixtures/conformance/oncalendar-vectors.json"
        return (try? Data(contentsOf: URL(fileURLWithPath: path))).flatMap {
            try? JSONDecoder().decode(Vectors.self, from: $0)
        }
    }()

    @Test func everyCaseNormalizesAndElapsesLikeSystemd() throws {
        let vectors = try #require(Self.vectors, "Tests/Fixtures/conformance/oncalendar-vectors.json")
        #expect(vectors.cases.count == 115)
        var passed = 0
        for item in vectors.cases {
            let zone = try #require(TimeZone(identifier: item.tz))
            let event: CalendarEvent
            do {
                event = try CalendarEvent(parsing: item.expr)
            } catch {
                Issue.record("\(item.id) '\(item.expr)' rejected: \(error)")
                continue
            }
            var current = try #require(Timestamp.parse(item.base))
            var got: [Date] = []
            while got.count < 20, let next = event.nextElapse(after: current, in: zone) {
                got.append(next)
                current = next
            }
            let want = item.next.compactMap(Timestamp.parse)
            let normalizedOK = event.normalized == item.normalized
            if got == want && normalizedOK {
                passed += 1
                continue
            }
            if !normalizedOK {
                Issue.record("\(item.id) '\(item.expr)': normalized '\(event.normalized)', want '\(item.normalized)'")
            }
            if got != want {
                let index =
                    zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                    ?? min(got.count, want.count)
                Issue.record(
                    "\(item.id) '\(item.expr)' \(item.tz) from \(item.base): #\(index) want \(index < want.count ? Timestamp.rfc3339(want[index]) : "none"), got \(index < got.count ? Timestamp.rfc3339(got[index]) : "none") \(item.tags)"
                )
            }
        }
        print("calendar conformance: \(passed)/\(vectors.cases.count) cases")
    }

    @Test func everyInvalidExpressionIsRejected() throws {
        let vectors = try #require(Self.vectors)
        #expect(vectors.invalid.count == 23)
        for item in vectors.invalid {
            #expect(throws: ScheduleError.self, "\(item.expr) (\(item.reason))") {
                try CalendarEvent(parsing: item.expr)
            }
        }
    }
}

/// The grammar of systemd 252's calendar events, production by production and refusal by refusal:
/// `Tests/Fixtures/conformance/calendar-grammar-vectors.json`, made by `scripts/calendar-oracle.py`
/// from `systemd-analyze calendar` (weekday lists and ranges with `..` and `-`, trailing commas,
/// dates of two and three parts, `~`, chains, repetitions, fractions, `@` instants, zones,
/// shorthands, spaces, and random expressions of the same pieces). wfd accepts what systemd
/// accepts, with the same normalized form and the same next elapses, and refuses what it refuses;
/// the one difference is its own: a fraction of a second is refused (wfd fires on whole seconds).
@Suite struct CalendarGrammarTests {
    struct Vectors: Decodable {
        struct Case: Decodable {
            var expr: String
            var valid: Bool
            var normalized: String?
            var nextUTC: [String]?

            enum CodingKeys: String, CodingKey {
                case expr, valid, normalized, fraction
                case nextUTC = "next_utc"
            }
            var fraction: Bool?
        }

        var oracle: String
        var base: String
        var cases: [Case]
    }

    @Test func everyProductionAndRefusalMatchesSystemd() throws {
        let path = BuiltProducts.packageRoot + "/Tests/Fixtures/conformance/calendar-grammar-vectors.json"
        let vectors = try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(vectors.cases.count >= 1000)
        let base = try #require(Timestamp.parse("2026-01-31T12:00:00Z"))
        var (accepted, refused, fractions) = (0, 0, 0)
        for item in vectors.cases {
            let event = try? CalendarEvent(parsing: item.expr)
            guard item.valid else {
                #expect(event == nil, "systemd refuses '\(item.expr)', wfd took it as '\(event?.normalized ?? "")'")
                refused += 1
                continue
            }
            if item.fraction == true {
                #expect(event == nil, "'\(item.expr)' has a fraction of a second: wfd refuses it")
                fractions += 1
                continue
            }
            guard let event else {
                Issue.record("systemd accepts '\(item.expr)' as '\(item.normalized ?? "")', wfd refuses it")
                continue
            }
            #expect(event.normalized == item.normalized, "'\(item.expr)'")
            var next: [String] = []
            var from = base
            while next.count < 5, let elapse = event.nextElapse(after: from, in: .gmt) {
                next.append(Timestamp.rfc3339(elapse).replacingOccurrences(of: ".000Z", with: "Z"))
                from = elapse
            }
            accepted += 1
            #expect(next == item.nextUTC ?? [], "'\(item.expr)' from \(vectors.base)")
        }
        print("calendar grammar (\(vectors.oracle)): \(accepted) accepted, \(refused) refused, \(fractions) fractions")
    }
}
