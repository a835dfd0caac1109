import Foundation
import Testing
import WorkflowCore
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
