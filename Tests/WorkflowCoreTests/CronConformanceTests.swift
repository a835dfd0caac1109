import Foundation
import Testing
import WorkflowCore
import WorkflowTesting

/// Every case of the shared cron vectors (cronsim/croniter as oracles): the 20 next fire times
/// and every invalid expression. Copied into Tests/Fixtures/conformance so a plain clone tests.
@Suite struct CronConformanceTests {
    struct Vectors: Decodable {
        struct Case: Decodable {
            var id: String
            var expr: String
            var tz: String
            var start: String
            var next: [String]
            var tags: [String]
        }

        struct Invalid: Decodable {
            var expr: String
            var category: String
            var reason: String
        }

        var cases: [Case]
        var invalid: [Invalid]
    }

    static let vectors: Vectors? = {
        let path = BuiltProducts.packageRoot + "/Tests/Fixtures/conformance/cron-vectors.json"
        return (try? Data(contentsOf: URL(fileURLWithPath: path))).flatMap {
            try? JSONDecoder().decode(Vectors.self, from: $0)
        }
    }()

    @Test func everyCaseGivesExactlyTheOraclesTwentyFireTimes() throws {
        let vectors = try #require(Self.vectors, "Tests/Fixtures/conformance/cron-vectors.json")
        #expect(vectors.cases.count == 219)
        var failuresByTag: [String: Int] = [:]
        var passed = 0
        for item in vectors.cases {
            let zone = try #require(TimeZone(identifier: item.tz))
            let expression = try CronExpression(parsing: item.expr)
            var current = try #require(Timestamp.parse(item.start))
            var got: [Date] = []
            for _ in item.next {
                guard let next = expression.nextFire(after: current, in: zone) else { break }
                got.append(next)
                current = next
            }
            let want = item.next.compactMap(Timestamp.parse)
            if got == want {
                passed += 1
            } else {
                for tag in item.tags { failuresByTag[tag, default: 0] += 1 }
                let index =
                    zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                    ?? min(got.count, want.count)
                Issue.record(
                    "\(item.id) '\(item.expr)' \(item.tz) from \(item.start): #\(index) want \(index < want.count ? Timestamp.rfc3339(want[index]) : "none"), got \(index < got.count ? Timestamp.rfc3339(got[index]) : "none") \(item.tags)"
                )
            }
        }
        #expect(failuresByTag.isEmpty, "failures by tag: \(failuresByTag)")
        print("cron conformance: \(passed)/\(vectors.cases.count) cases")
    }

    @Test func everyInvalidExpressionIsRejected() throws {
        let vectors = try #require(Self.vectors)
        #expect(vectors.invalid.count == 36)
        for item in vectors.invalid {
            #expect(throws: ScheduleError.self, "\(item.expr) (\(item.reason))") {
                try CronExpression(parsing: item.expr)
            }
        }
    }
}
