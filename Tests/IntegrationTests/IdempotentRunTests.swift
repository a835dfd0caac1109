import Foundation
import JSONSchemaKit
import Testing
import WorkflowTesting

/// `wfctl run --key`: one run per idempotency key, whoever asks how often.
@Suite struct IdempotentRunTests {
    @Test func aKeyStartsOneRunAndARepeatReportsIt() async throws {
        let dir = try TemporaryDirectory("keyed")
        try dir.write("jobs/hello.yaml", "params: {who: {default: x}}\nsteps:\n  - {id: a, run: 'echo hi'}\n")
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        func run(_ extra: [String]) async throws -> (status: Int32, fields: [String: JSONValue], output: String) {
            let result = try await runProgram(wfctl, ["run", "hello", "--json", "--state", daemon.state] + extra)
            guard case .object(let fields)? = JSONValue.parse(Data(result.output.utf8)) else {
                return (result.status, [:], result.output)
            }
            return (result.status, fields, result.output)
        }
        let first = try await run(["--key", "nightly-2026-12-05"])
        #expect(first.status == 0 && first.fields["existing"] == .bool(false), "\(first.output)")
        let again = try await run(["--key", "nightly-2026-12-05"])
        #expect(again.status == 0 && again.fields["existing"] == .bool(true), "\(again.output)")
        #expect(again.fields["run"] == first.fields["run"])
        let other = try await run(["--key", "nightly-2026-12-05", "--param", "who=y"])
        #expect(other.status == 1 && other.output.contains("other parameter values"), "\(other.output)")
        let bad = try await runProgram(wfctl, ["run", "hello", "--key", "has space", "--state", daemon.state])
        #expect(bad.status == 64)
        let runs = try FileManager.default.contentsOfDirectory(atPath: daemon.state + "/runs/hello")
        #expect(runs.count == 1, "\(runs)")
    }
}
