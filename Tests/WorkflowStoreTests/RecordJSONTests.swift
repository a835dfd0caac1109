import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Schedules
import Testing
import WorkflowStore
import WorkflowTesting

/// ``RecordJSON`` writes records byte for byte as Foundation's encoder configured by
/// ``Timestamp/makeEncoder(pretty:)`` does: for every record type with every field set, every
/// job of the corpus, and thousands of JSON documents of the JSON Schema suite (hostile keys,
/// strings and numbers).
@Suite struct RecordJSONTests {
    static let at = Date(timeIntervalSince1970: 1_796_000_000.123)

    func expectSameBytes<T: Encodable>(
        _ value: T, _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation
    )
        throws
    {
        let foundation = try Timestamp.makeEncoder().encode(value)
        let ours = try RecordJSON.encode(value)
        #expect(
            String(decoding: ours, as: UTF8.self) == String(decoding: foundation, as: UTF8.self), "\(what)",
            sourceLocation: sourceLocation)
    }

    static func fullStep() throws -> StepRecord {
        let job = try #require(JobID("release"))
        let run = try #require(RunID("20261130T040000.000Z-abcdef"))
        let definition = StepDefinition(
            id: try #require(StepID("summarise")), run: "echo hi", needs: [try #require(StepID("fetch"))])
        var step = StepRecord(job: job, run: run, step: definition)
        step.state = .waiting
        step.error = "quote \" backslash \\ slash / newline \n tab \t nul \u{0} bell \u{7} é 💥 \u{2028}"
        step.retryAt = at
        step.attemptsBefore = 2
        step.waiting = WaitInfo(kind: .approval, since: at, deadline: at.addingTimeInterval(3600), message: "ok?")
        step.budgetApproval = Decision(
            approved: true, by: "ann", uid: 1000, at: at, comment: "fine",
            input: .object(["n": .number(1.5), "list": .array([.null, .bool(false), .string("x")])]))
        var attempt = Attempt(number: 3, plannedAt: at, startedAt: at, log: "logs/summarise.3.log")
        attempt.endedAt = at.addingTimeInterval(1.5)
        attempt.outcome = .failed
        attempt.exitCode = -1
        attempt.signal = 15
        attempt.error = "exit status 1"
        attempt.output = "outputs/summarise"
        attempt.durationMilliseconds = 1500
        attempt.byHand = false
        attempt.errorKind = .exitStatus
        var call = ModelCall(provider: .anthropic, model: "claude", promptSHA256: "ab", startedAt: at)
        call.latencyMilliseconds = 812
        call.status = 200
        call.inputTokens = 1200
        call.outputTokens = 90
        call.costUSD = 0.012345
        call.result = "ok"
        attempt.calls = [call, call]
        var exchange = HTTPExchange(method: "POST", url: "https://x.example/a?b=c&d=/e", idempotencyKey: "k")
        exchange.status = 503
        exchange.latencyMilliseconds = 12
        exchange.responseBytes = 0
        attempt.http = exchange
        attempt.decision = Decision(approved: false, by: "bob", at: at)
        step.attempts = [Attempt(number: 1, plannedAt: at, startedAt: at, log: nil), attempt]
        step.items = [
            StepRecord(item: 0, of: step, value: .string("first")),
            StepRecord(item: 1, of: step, value: .object([:])),
            StepRecord(item: 2, of: step, value: .array([])),
        ]
        return step
    }

    @Test func everyRecordTypeWithEveryFieldIsWrittenAsFoundationWritesIt() throws {
        let step = try Self.fullStep()
        try expectSameBytes(step)
        try expectSameBytes(StepRecord(job: step.job, run: step.run, step: StepDefinition(id: step.step, run: "true")))
        var run = RunRecord(
            job: Job(id: step.job, steps: []), id: step.run, trigger: .manual, scheduledFor: Self.at, createdAt: Self.at
        )
        run.state = .failed
        run.startedAt = Self.at
        run.endedAt = Self.at
        run.error = "step 'x' failed"
        run.cancelReason = "asked"
        run.timedOut = true
        run.interrupted = true
        run.params = ["b": "2", "a": "1"]
        run.retries = [RetryNote(at: Self.at, from: step.step, skipped: [step.step], reset: [])]
        try expectSameBytes(run)
        var latest = LatestRuns(job: step.job, last: RunSummary(run), active: RunSummary(run))
        latest.recent = [LatestRuns.RecentRun(id: step.run, state: .succeeded)]
        latest.successRate = SuccessCounts(succeeded: 3, ended: 4)
        try expectSameBytes(latest)
        try expectSameBytes(LatestRuns(job: step.job))
        let diagnostic = Diagnostic(file: "/x.yaml", line: 3, column: 7, message: "bad", hint: "fix")
        try expectSameBytes(
            JobInfo(id: step.job, job: nil, file: "/jobs.d/x.yaml", errors: [diagnostic], loadedAt: Self.at))
        var mark = ScheduleMark(job: step.job)
        mark.lastFireTime = Self.at
        mark.recent = [
            ScheduleMark.Decision(
                fireTime: Self.at, trigger: .catchup, outcome: .skipped, reason: "overlap", decidedAt: Self.at,
                run: step.run)
        ]
        try expectSameBytes(mark)
    }

    /// The example jobs and the valid jobs of the test corpus.
    static func corpusJobFiles() throws -> [String] {
        let root = BuiltProducts.packageRoot
        var files = try FileManager.default.contentsOfDirectory(atPath: root + "/jobs.d").filter(
            JobParser.isJobFileName
        )
        .map { "\(root)/jobs.d/\($0)" }
        files += try FileManager.default.contentsOfDirectory(atPath: root + "/Tests/Fixtures/jobs/valid").map {
            "\(root)/Tests/Fixtures/jobs/valid/\($0)"
        }
        #expect(files.count >= 5)
        return files
    }

    @Test func everyJobOfTheCorpusIsWrittenAsFoundationWritesIt() throws {
        for file in try Self.corpusJobFiles() {
            let job = try JobParser().parse(try String(contentsOfFile: file, encoding: .utf8), path: file)
            try expectSameBytes(job, file)
        }
    }

    /// Every JSON document of the JSON Schema test suite (schemas and instances): unicode and
    /// escaped keys and strings, big, small, negative and fractional numbers, deep nesting.
    @Test func everyDocumentOfTheSchemaSuiteIsWrittenAsFoundationWritesIt() throws {
        let suite = BuiltProducts.packageRoot + "/Tests/Fixtures/conformance/json-schema-test-suite"
        let files = try #require(FileManager.default.enumerator(atPath: suite)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".json") }
        var documents = 0
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(suite)/\(file)"))
            guard let value = JSONValue.parse(data) else { continue }
            try expectSameBytes(value, file)
            documents += 1
        }
        #expect(documents > 100)
    }

    @Test func numbersAndStringsAtTheEdgesAreWrittenAsFoundationWritesThem() throws {
        let numbers: [Double] = [
            0, -0.0, 0.1, -0.1, 1, -1, 1.5, 100, 4096, 123_456.789, 1e15, 1e16, 1e21, 1e-7, 0.000001,
            9_007_199_254_740_992, 9_007_199_254_740_991, -9_007_199_254_740_992, 9_007_199_254_740_994,
            .leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .pi, 1 / 3,
        ]
        try expectSameBytes(numbers)
        try expectSameBytes(numbers.filter { abs($0) < 1e38 }.map(Float.init))
        try expectSameBytes([Int.min, Int.max, 0])
        try expectSameBytes([UInt64.max])
        let controls = String(decoding: (0..<0x80).map { UInt8($0) }, as: UTF8.self)
        try expectSameBytes([controls: controls, "": "", "/": "\\"])
        let nested: [[String]] = [[], [""]]
        try expectSameBytes(nested)
        let empty: [String: [String: Int]] = ["a": [:]]
        try expectSameBytes(empty)
        #expect(throws: EncodingError.self) { try RecordJSON.encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try RecordJSON.encode(["x": Double.infinity]) }
    }

    /// A type that writes a key twice, and one that writes nothing.
    struct Twice: Encodable {
        enum Keys: String, CodingKey { case b, a }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(1, forKey: .b)
            try container.encode("first", forKey: .a)
            try container.encode(2, forKey: .b)
        }
    }

    struct Nothing: Encodable {
        func encode(to encoder: any Encoder) throws {}
    }

    @Test func aKeyWrittenTwiceKeepsItsLastValueAndAnEmptyValueIsAnObject() throws {
        try expectSameBytes(Twice())
        try expectSameBytes([Nothing()])
    }
}
