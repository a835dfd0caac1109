import Foundation
import JSONSchemaKit
import Testing
import WorkflowTesting

/// `wfctl run JOB --dry-run` against a running wfd: what a run would do, from the job as wfd
/// loaded it and its prices, and nothing started.
@Suite struct DryRunTests {
    @Test func aDryRunShowsWhatARunWouldDoAndStartsNothing() async throws {
        let dir = try TemporaryDirectory("dry-run")
        try dir.write(
            "jobs/gated.yaml",
            """
            params: { env: { default: staging } }
            budget: { usd: 0.01 }
            steps:
              - id: plan
                llm: { provider: openai, model: gpt-4o-mini, prompt: "Plan a deploy to ${{ params.env }}", max_tokens: 500 }
              - id: prod_only
                needs: [plan]
                when: ${{ params.env == "prod" }}
                run: 'true'
              - id: check
                needs: [plan]
                approval: { message: "Deploy to ${{ params.env }}?" }
            """)
        let daemon = try await TestDaemon.start(
            dir, arguments: ["--prices", BuiltProducts.packageRoot + "/config/prices.yaml"])
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let state = ["--state", dir.file("state")]
        let text = try await runProgram(wfctl, ["run", "gated", "--dry-run"] + state)
        #expect(text.status == 0, "\(text.output)")
        for line in [
            "dry run of gated: nothing is started", "1. plan [llm]", "9 calls at most",
            #"when ${{ params.env == "prod" }} → skipped (false for these parameters)"#,
            "waits for a person: Deploy to staging?", "within the budget even at its worst",
        ] {
            #expect(text.output.contains(line), "\(line)\n\(text.output)")
        }
        let prod = try await runProgram(wfctl, ["run", "gated", "--dry-run", "--json", "--param", "env=prod"] + state)
        guard case .object(let preview)? = JSONValue.parse(Data(prod.output.utf8)),
            case .array(let steps)? = preview["steps"], case .object(let prodOnly)? = steps.dropFirst().first
        else {
            Issue.record("the JSON preview: \(prod.output)")
            return
        }
        #expect(prodOnly["decided"] == .bool(true))
        let wrong = try await runProgram(wfctl, ["run", "gated", "--dry-run", "--param", "nope=1"] + state)
        #expect(wrong.status != 0 && wrong.output.contains("job 'gated' has no parameter 'nope'"), "\(wrong.output)")
        let both = try await runProgram(wfctl, ["run", "gated", "--dry-run", "--wait"] + state)
        #expect(both.status == 64 && both.output.contains("--dry-run starts nothing"), "\(both.output)")
        #expect(!FileManager.default.fileExists(atPath: dir.file("state/runs/gated")), "nothing ran")
    }
}
