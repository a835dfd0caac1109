import Foundation
import Schedules
import Testing
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

/// The grammar of cron as cronsim 2.8 reads it, production by production and refusal by refusal:
/// `Tests/Fixtures/conformance/cron-grammar-vectors.json`, made by `scripts/cron-oracle.py` from
/// cronsim itself (signs, spaces and decimals in numbers, names in any case, lists, ranges, steps
/// on `*`, ranges and single values, day-of-week 7, `L`, `LW`, `5L`, `MON#2`, field counts and
/// separators, days that never exist, and random expressions of the same pieces): wfd accepts what
/// it accepts, with the same next fire times, and refuses what it refuses. Debian cron's aliases,
/// which cronsim does not read, are held to entry.c by `aliasesAreDebianCrons`.
@Suite struct CronGrammarTests {
    struct Vectors: Decodable {
        struct Case: Decodable {
            var expr: String
            var valid: Bool
            var nextUTC: [String]?

            enum CodingKeys: String, CodingKey {
                case expr, valid
                case nextUTC = "next_utc"
            }
        }

        var oracle: String
        var cases: [Case]
    }

    @Test func everyProductionAndRefusalMatchesCronsim() throws {
        let path = BuiltProducts.packageRoot + "/Tests/Fixtures/conformance/cron-grammar-vectors.json"
        let vectors = try JSONDecoder().decode(Vectors.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(vectors.cases.count >= 1000)
        let start = try #require(Timestamp.parse("2026-01-31T12:00:00Z"))
        var (accepted, refused) = (0, 0)
        for item in vectors.cases where !item.expr.hasPrefix("@") {
            let cron = try? CronExpression(parsing: item.expr)
            guard item.valid else {
                #expect(cron == nil, "cronsim refuses '\(item.expr)', wfd took it")
                refused += 1
                continue
            }
            guard let cron else {
                Issue.record("cronsim accepts '\(item.expr)', wfd refuses it")
                continue
            }
            var next: [String] = []
            var from = start
            while next.count < 5, let fire = cron.nextFire(after: from, in: .gmt) {
                next.append(Timestamp.rfc3339(fire).replacingOccurrences(of: ".000Z", with: "Z"))
                from = fire
            }
            #expect(next == item.nextUTC ?? [], "'\(item.expr)'")
            accepted += 1
        }
        print("cron grammar (\(vectors.oracle)): \(accepted) accepted, \(refused) refused")
    }

    /// Debian cron's entry.c: `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`
    /// and `@hourly`, case-sensitive, alone; `@reboot` has no fire times.
    @Test func aliasesAreDebianCrons() throws {
        for (alias, fields) in CronExpression.aliases {
            #expect(try Schedule(parsing: alias).normalized == fields)
        }
        for refused in ["@DAILY", "@Daily", "@reboot", "@", "@fortnightly", "@daily 1", "@ daily"] {
            #expect(throws: ScheduleError.self, "\(refused)") { try CronExpression(parsing: refused) }
        }
    }
}
