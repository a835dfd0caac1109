import Foundation
import JSONSchemaKit
import Schedules
import Testing
import WorkflowTesting
import Yams

@testable import JobFormat
@testable import RunModel

/// The corpus in Tests/Fixtures/jobs against the parser and the published schema.
@Suite struct JobCorpusTests {
    static let root = BuiltProducts.packageRoot + "/Tests/Fixtures/jobs"

    struct Case {
        let path: String
        let text: String
        let line: Int
        let column: Int
        let message: String
        let schema: String
    }

    static func invalidCases() throws -> [Case] {
        let directory = root + "/invalid"
        return try FileManager.default.contentsOfDirectory(atPath: directory).sorted().map { name in
            let path = "\(directory)/\(name)"
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let lines = text.split(separator: "\n").map(String.init)
            guard let expect = lines.first(where: { $0.hasPrefix("# expect: ") })?.dropFirst(10),
                let space = expect.firstIndex(of: " "),
                let schema = lines.first(where: { $0.hasPrefix("# schema: ") })?.dropFirst(10)
            else { throw TestKitError("\(name) lacks its '# expect:' and '# schema:' lines") }
            let position = expect[..<space].split(separator: ":").compactMap { Int($0) }
            guard position.count == 2 else { throw TestKitError("\(name): bad position in '# expect:'") }
            return Case(
                path: path, text: text, line: position[0], column: position[1],
                message: String(expect[expect.index(after: space)...]), schema: String(schema))
        }
    }

    static func validFiles() throws -> [String] {
        let shipped = BuiltProducts.packageRoot + "/jobs.d"
        let extra = root + "/valid"
        return try FileManager.default.contentsOfDirectory(atPath: shipped).filter(JobParser.isJobFileName).map {
            "\(shipped)/\($0)"
        } + FileManager.default.contentsOfDirectory(atPath: extra).map { "\(extra)/\($0)" }
    }

    @Test func everyInvalidFileIsRejectedAtTheRightLineAndColumn() throws {
        let cases = try Self.invalidCases()
        #expect(cases.count >= 40)
        for item in cases {
            do {
                _ = try JobParser().parse(item.text, path: item.path)
                Issue.record("\(item.path) was accepted")
            } catch {
                let matching = error.diagnostics.first {
                    $0.line == item.line && $0.column == item.column && $0.message.hasPrefix(item.message)
                }
                #expect(
                    matching != nil, "\(item.path): expected \(item.line):\(item.column) \(item.message), got \(error)")
                #expect(error.diagnostics.allSatisfy { $0.file == item.path })
            }
        }
    }

    @Test func everyShippedExampleAndValidFileParses() throws {
        let files = try Self.validFiles()
        #expect(files.count >= 4)
        for file in files {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            #expect(throws: Never.self, "\(file)") { try JobParser().parse(text, path: file) }
        }
    }

    /// The schema's verdict on every file equals the parser's, except where the corpus says the
    /// mistake is one JSON Schema cannot express.
    @Test func theSchemaAgreesWithTheParser() async throws {
        let work = try TemporaryDirectory("schema")
        try JobSchema.text.write(toFile: work.file("schema.json"), atomically: true, encoding: .utf8)
        var expected: [String: String] = [:]
        var documents: [String] = []
        func convert(_ path: String, expect verdict: String) throws {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            guard let node = try Yams.compose(yaml: text) else { throw TestKitError("\(path) is empty") }
            var reader = JobReader(path: path)
            guard let json = reader.json(node) else { throw TestKitError("\(path) does not convert") }
            let out = work.file("\(documents.count).json")
            try Timestamp.makeEncoder().encode(json).write(to: URL(fileURLWithPath: out))
            documents.append(out)
            expected[out] = verdict
        }
        for file in try Self.validFiles() { try convert(file, expect: "valid") }
        for item in try Self.invalidCases() where item.schema != "n/a" {
            try convert(item.path, expect: item.schema == "reject" ? "invalid" : "valid")
        }
        let result = try await runProgram(
            "/usr/bin/env", ["python3", Self.root + "/check-schema.py", work.file("schema.json")] + documents)
        #expect(result.status == 0, "\(result.output)")
        let verdicts = Dictionary(
            result.output.split(separator: "\n").compactMap { line -> (String, String)? in
                let parts = line.split(separator: " ")
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            }, uniquingKeysWith: { first, _ in first })
        #expect(verdicts.count == documents.count, "\(result.output)")
        for document in documents {
            #expect(
                verdicts[document] == expected[document], "\(document) (see the order of validFiles and invalidCases)")
        }
    }

    /// The schema names exactly the keys the parser reads, object by object.
    @Test func theSchemaHasTheParsersKeys() throws {
        let schema = try JSONDecoder().decode(JSONValue.self, from: Data(JobSchema.text.utf8))
        func keys(_ path: [String]) -> Set<String> {
            var node = schema
            for key in path {
                guard case .object(let object) = node, let next = object[key] else { return [] }
                node = next
            }
            guard case .object(let object) = node, case .object(let properties)? = object["properties"] else {
                return []
            }
            return Set(properties.keys)
        }
        #expect(keys([]) == Set(JobParser.jobKeys))
        #expect(keys(["$defs", "step"]) == Set(JobReader.stepKeys))
        #expect(keys(["$defs", "step", "properties", "http"]) == Set(JobReader.httpKeys))
        #expect(keys(["$defs", "step", "properties", "llm"]) == Set(JobReader.llmKeys))
        #expect(keys(["$defs", "step", "properties", "approval"]) == Set(JobReader.approvalKeys))
        #expect(keys(["$defs", "step", "properties", "agent"]) == Set(JobReader.agentKeys))
        #expect(
            keys(["$defs", "step", "properties", "agent", "properties", "tools", "items"]) == Set(JobReader.toolKeys))
        #expect(
            keys(["$defs", "step", "properties", "agent", "properties", "mcp_servers", "items"])
                == Set(JobReader.mcpServerKeys))
        #expect(keys(["$defs", "step", "properties", "retry"]) == Set(JobReader.retryKeys))
        #expect(keys(["$defs", "budget"]) == ["usd", "tokens"])
        #expect(keys(["properties", "retention"]) == ["keep_runs", "keep_days"])
        #expect(keys(["properties", "on"]) == Set(JobReader.triggerKeys))
        #expect(keys(["properties", "on", "properties", "webhook"]) == Set(JobReader.webhookKeys))
    }

    /// What wfctl draft gives a model is docs/job-format.md as it is (scripts/embed-format-guide.py).
    @Test func theEmbeddedGuideIsTheDocumentation() throws {
        let docs = try String(contentsOfFile: BuiltProducts.packageRoot + "/docs/job-format.md", encoding: .utf8)
        #expect(JobFormatGuide.text == docs, "run scripts/embed-format-guide.py after changing docs/job-format.md")
    }

    /// docs/job-format.md documents every key the schema has.
    @Test func theDocumentationCoversEveryKey() throws {
        let docs = try String(contentsOfFile: BuiltProducts.packageRoot + "/docs/job-format.md", encoding: .utf8)
        let all =
            JobParser.jobKeys + JobReader.stepKeys + JobReader.httpKeys + JobReader.llmKeys + JobReader.approvalKeys
            + JobReader.retryKeys + JobReader.triggerKeys + JobReader.webhookKeys + JobReader.agentKeys
            + JobReader.toolKeys + JobReader.mcpServerKeys
            + ["usd", "tokens", "keep_runs", "keep_days", "default", "required"]
        for key in Set(all) { #expect(docs.contains("`\(key)`"), "docs/job-format.md does not mention `\(key)`") }
    }
}
