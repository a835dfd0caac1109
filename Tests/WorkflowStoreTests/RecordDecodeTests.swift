import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Schedules
import Testing
import WorkflowStore
import WorkflowTesting

/// ``RecordJSON/decode(_:from:)`` reads what Foundation's decoder configured by
/// ``Timestamp/makeDecoder()`` reads, as the same values, and refuses what it refuses.
@Suite struct RecordDecodeTests {
    /// Both decoders on `data`: equal values, or both fail.
    func expectSameReading<T: Decodable & Equatable>(
        _ type: T.Type, _ data: Data, _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let foundation = Result { try Timestamp.makeDecoder().decode(type, from: data) }
        let ours = Result { try RecordJSON.decode(type, from: data) }
        switch (foundation, ours) {
        case (.success(let expected), .success(let actual)):
            #expect(actual == expected, "\(what)", sourceLocation: sourceLocation)
        case (.failure, .failure): break
        case (.success, .failure(let error)):
            Issue.record("ours refused what Foundation read: \(error) \(what)", sourceLocation: sourceLocation)
        case (.failure(let error), .success):
            Issue.record("ours read what Foundation refused (\(error)) \(what)", sourceLocation: sourceLocation)
        }
    }

    /// `value` written, read by both (equal), and written again: the same bytes.
    func expectRoundTrip<T: Codable & Equatable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let data = try RecordJSON.encode(value)
        expectSameReading(T.self, data, sourceLocation: sourceLocation)
        let again = try RecordJSON.encode(try RecordJSON.decode(T.self, from: data))
        #expect(
            String(decoding: again, as: UTF8.self) == String(decoding: data, as: UTF8.self),
            sourceLocation: sourceLocation)
    }

    @Test func everyRecordTypeWithEveryFieldReadsBackAsFoundationReadsIt() throws {
        let at = RecordJSONTests.at
        let step = try RecordJSONTests.fullStep()
        try expectRoundTrip(step)
        try expectRoundTrip(StepRecord(job: step.job, run: step.run, step: StepDefinition(id: step.step, run: "true")))
        var run = RunRecord(
            job: Job(id: step.job, steps: []), id: step.run, trigger: .manual, scheduledFor: at, createdAt: at)
        run.state = .failed
        run.endedAt = at
        run.error = "step 'x' failed"
        run.timedOut = true
        run.params = ["b": "2", "a": "1"]
        run.retries = [RetryNote(at: at, from: step.step, skipped: [step.step], reset: [])]
        try expectRoundTrip(run)
        var latest = LatestRuns(job: step.job, last: RunSummary(run), active: RunSummary(run))
        latest.recent = [LatestRuns.RecentRun(id: step.run, state: .succeeded)]
        latest.successRate = SuccessCounts(succeeded: 3, ended: 4)
        try expectRoundTrip(latest)
        let diagnostic = Diagnostic(file: "/x.yaml", line: 3, column: 7, message: "bad", hint: "fix")
        try expectRoundTrip(JobInfo(id: step.job, job: nil, file: "/jobs.d/x.yaml", errors: [diagnostic], loadedAt: at))
        var mark = ScheduleMark(job: step.job)
        mark.lastFireTime = at
        mark.recent = [
            ScheduleMark.Decision(
                fireTime: at, trigger: .catchup, outcome: .skipped, reason: "overlap", decidedAt: at, run: step.run)
        ]
        try expectRoundTrip(mark)
    }

    @Test func everyJobOfTheCorpusReadsBackAsFoundationReadsIt() throws {
        for file in try RecordJSONTests.corpusJobFiles() {
            try expectRoundTrip(try JobParser().parse(try String(contentsOfFile: file, encoding: .utf8), path: file))
        }
    }

    /// The files of the JSON Schema suite as they are (not as wfd writes them): any layout,
    /// escapes, unicode, numbers of every form.
    @Test func everyDocumentOfTheSchemaSuiteIsReadAsFoundationReadsIt() throws {
        let suite = BuiltProducts.packageRoot + "/Tests/Fixtures/conformance/json-schema-test-suite"
        let files = try #require(FileManager.default.enumerator(atPath: suite)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".json") }
        #expect(files.count > 100)
        for file in files {
            expectSameReading(JSONValue.self, try Data(contentsOf: URL(fileURLWithPath: "\(suite)/\(file)")), file)
        }
    }

    static let documents = [
        // Valid (trailing commas too: Foundation reads them).
        "{}", "[]", "0", "-0", "1.5", "-1.5e-3", "1E2", "1e+2", "123456789012345678901234567890", "1e400", "true",
        "null", " \n\t\r[1 , 2 ]\n", #""\u0000 \ud83d\ude00 \u00e9 \/ \b\f\n\r\t \"""#, #"{"a":1,"a":2}"#,
        #"{"":[[],{}]}"#, "\"é💥\u{2028}\"", "[1,]", "{\"a\":1,}", "[1,\n]",
        // Invalid.
        "", " ", "{", "[", "01", "-", "1.", ".5", "1e", "+1", "tru", "nul", "NaN", "Infinity",
        // Bad string content where nobody reads it (a duplicate key's second value): read by both.
        "{\"a\": 1, \"a\": \"\u{1E}\"}", #"{"a": 1, "a": "\x"}"#, #"{"a": 1, "a": "\ud800"}"#,
        #"{"a": 1, "a": "\u12"}"#, #"{"a": 1, "a": "\u"}"#, #"{"a": 1, "a": "\ud800\u0041"}"#,
        "{\"a\": 1, \"\u{1E}\": 2}", #"{"a": 1, "a": "\ud800\u12"}"#, #"{"a": 1, "a": "\ud800\"}"#,
        #"{"a": 1, "a": "\ueorg"}"#, #"{"a": 1, "a": "\u1"}", "b": 2}"#, #"{"a": 1, "a": "\ud800\uzzzz"}"#,
        #"["\u1"]"]"#, #"["\uabc"]"#,
        "[1 2]", "{\"a\" 1}", "{a:1}", "'a'", "\"\t\"", "\"\n\"", #""\x""#, #""\u12""#, #""\ud800""#, #""\udc00""#,
        #""\ud800\u0041""#, "\"abc", "[1]]", "{}{}", "// c\n1", "[,]", "{,}", "[1,,]", "[1,,2]", "{\"a\":1,,}",
    ]

    @Test(arguments: documents) func aDocumentIsReadOrRefusedAsFoundationDoes(text: String) {
        expectSameReading(JSONValue.self, Data(text.utf8), text)
    }

    /// Refused when read; a member that is not read may hold it (Foundation reads a duplicate
    /// key's first value only, and only the members a type asks for).
    @Test func invalidUTF8InAStringIsRefusedWhenItIsRead() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            expectSameReading(JSONValue.self, Data(bytes), "\(bytes)")
            expectSameReading(JSONValue.self, Data(#"{"a": 1, "a": "#.utf8 + bytes + Data("}".utf8)), "\(bytes)")
            expectSameReading(JSONValue.self, Data(#"{"a": "#.utf8 + bytes + Data(#", "a": 1}"#.utf8)), "\(bytes)")
            expectSameReading(JSONValue.self, Data([0x7B] + bytes + Array(#": 1}"#.utf8)), "key \(bytes)")
            let unread = Data("{\"a\": {}, \"a\": {\"".utf8 + bytes + "\": 1}}".utf8)
            expectSameReading(JSONValue.self, unread, "key of an unread object \(bytes)")
            expectSameReading(
                SuccessCounts.self, Data(#"{"succeeded": 1, "ended": 2, "x": "#.utf8 + bytes + Data("}".utf8)),
                "\(bytes)")
        }
    }

    struct Numbers: Codable, Equatable {
        var int: Int?
        var int8: Int8?
        var uint: UInt?
        var uint64: UInt64?
        var double: Double?
        var float: Float?
    }

    /// Each number text read as each type: the same value, or refused by both.
    @Test func numbersAreReadIntoEachTypeAsFoundationReadsThem() {
        let texts = [
            "0", "-0", "1", "-1", "127", "128", "-129", "255", "1.0", "1.5", "1e2", "1E2", "2.5e1", "-1e0",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "18446744073709551615",
            "18446744073709551616", "1e19", "3.4028235e38", "3.5e38", "1e-400", "4.9e-324", "0.1", "1e309",
        ]
        for text in texts {
            for key in ["int", "int8", "uint", "uint64", "double", "float"] {
                expectSameReading(Numbers.self, Data("{\"\(key)\": \(text)}".utf8), "\(key) \(text)")
            }
        }
    }

    struct Kinds: Codable, Equatable {
        var flag: Bool?
        var text: String?
        var list: [Int]?
        var map: [String: Int]?
        var date: Date?
    }

    /// A value of the wrong kind is refused by both; null and absence read as nil by both.
    @Test func valuesOfTheWrongKindAreRefusedAsFoundationRefusesThem() {
        let values = [
            "true", "1", "\"x\"", "[1]", "{\"a\": 1}", "null", "\"2026-11-30T06:00:00.123Z\"", "\"2026-11-30\"",
            "[\"a\"]", "{\"a\": \"b\"}",
        ]
        for value in values {
            for key in ["flag", "text", "list", "map", "date"] {
                expectSameReading(Kinds.self, Data("{\"\(key)\": \(value)}".utf8), "\(key) \(value)")
            }
        }
        expectSameReading(Kinds.self, Data("{}".utf8))
        expectSameReading(Kinds.self, Data("[]".utf8))
    }

    @Test func nestingIsLimitedWhereFoundationLimitsIt() {
        for depth in [510, 511, 512, 513] {
            let open = String(repeating: "[", count: depth), close = String(repeating: "]", count: depth)
            expectSameReading(JSONValue.self, Data((open + close).utf8), "\(depth) empty")
            expectSameReading(JSONValue.self, Data((open + "1" + close).utf8), "\(depth) with a number")
        }
    }

    @Test func aRequiredKeyThatIsMissingIsRefused() {
        expectSameReading(SuccessCounts.self, Data(#"{"succeeded": 1}"#.utf8))
        expectSameReading(SuccessCounts.self, Data(#"{"succeeded": 1, "ended": null}"#.utf8))
        expectSameReading(SuccessCounts.self, Data(#"{"succeeded": 1, "ended": 2, "other": [1, {}]}"#.utf8))
    }
}
