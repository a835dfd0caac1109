import Foundation
import JSONSchemaKit
import Testing
import WorkflowTesting

/// The official JSON-Schema-Test-Suite, draft 2020-12 (required tests), copied into
/// Tests/Fixtures/conformance/json-schema-test-suite with its LICENSE. Schemas the suite expects
/// at http://localhost:1234/ are read from its remotes/ folder. No file or case is excluded.
@Suite struct JSONSchemaConformanceTests {
    static let suite = BuiltProducts.packageRoot + "/Tests/Fixtures/conformance/json-schema-test-suite"
    /// Files left out, with the reason. The goal is none.
    static let excluded: [String: String] = [:]

    struct Group: Decodable {
        struct Case: Decodable {
            var description: String
            var data: JSONValue
            var valid: Bool
        }

        var description: String
        var schema: JSONValue
        var tests: [Case]
    }

    /// The suite's remote documents, as its README says to serve them.
    static func remote(_ uri: String) -> JSONValue? {
        let prefix = "http://localhost:1234/"
        guard uri.hasPrefix(prefix), !uri.contains("..") else { return nil }
        let path = suite + "/remotes/" + uri.dropFirst(prefix.count)
        return (try? Data(contentsOf: URL(fileURLWithPath: path))).flatMap { JSONValue.parse($0) }
    }

    @Test func everyRequiredTestOfDraft202012Passes() throws {
        let directory = Self.suite + "/draft2020-12"
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") }
            .sorted()
        #expect(files.count == 46, "the suite's 46 files of draft 2020-12")
        var passed = 0
        var failures: [String] = []
        for file in files where Self.excluded[file] == nil {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(file)"))
            let groups = try JSONDecoder().decode([Group].self, from: data)
            for group in groups {
                let schema: JSONSchema
                do {
                    schema = try JSONSchema(group.schema, retrieve: Self.remote)
                } catch {
                    failures.append("\(file) | \(group.description): the schema was refused: \(error)")
                    continue
                }
                for test in group.tests {
                    let violations = schema.validate(test.data)
                    if violations.isEmpty == test.valid {
                        passed += 1
                    } else {
                        let said = violations.isEmpty ? "valid" : violations.map(\.description).joined(separator: "; ")
                        failures.append("\(file) | \(group.description) | \(test.description): got \(said)")
                    }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failed:\n\(failures.joined(separator: "\n"))")
        #expect(passed == 1299, "all 1,299 required tests")
    }
}
