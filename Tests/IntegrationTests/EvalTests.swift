import Foundation
import JSONSchemaKit
import Testing
import WorkflowTesting

/// `wfctl eval`: an llm step changed (new prompt, new model) tried on the inputs of its recorded
/// runs and on a file of cases, against a loopback stand-in speaking OpenAI's protocol.
@Suite struct EvalTests {
    func job(model: String, prompt: String, server: StandIn) -> String {
        """
        params: { title: { default: untitled } }
        steps:
          - id: label
            llm:
              provider: openai
              base_url: "\(server.url("/v1"))"
              model: \(model)
              prompt: "\(prompt) ${{ params.title }}"
              schema: { type: object, required: [label], properties: { label: { enum: [bug, feature] } } }
        """
    }

    @Test func aChangedStepIsTriedOnTheInputsOfItsRecordedRunsAndOnCases() async throws {
        let dir = try TemporaryDirectory("eval")
        func answer(_ label: String) -> String {
            #"{"openai": {"content": {"label": "\#(label)"}, "prompt_tokens": 40, "completion_tokens": 5}}"#
        }
        let bad = #"{"openai": {"content": "I think it is a bug", "prompt_tokens": 40, "completion_tokens": 8}}"#
        // Three runs, then the evaluation of the newest first (bug, feature, bug before): bug,
        // bug, three answers off the schema; then one case of a file.
        let answers = [
            answer("bug"), answer("feature"), answer("bug"), answer("bug"), answer("bug"), bad, bad, bad,
            answer("feature"),
        ]
        let server = try await StandIn(
            #"{"routes": [{"method": "POST", "path": "/v1/chat/completions", "responses": [\#(answers.joined(separator: ", "))]}]}"#,
            in: dir)
        defer { Task { await server.stop() } }
        try dir.write("jobs/triage.yaml", job(model: "gpt-4o-mini", prompt: "Label this issue:", server: server))
        let daemon = try await TestDaemon.start(
            dir, arguments: ["--prices", BuiltProducts.packageRoot + "/config/prices.yaml"])
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let state = ["--state", dir.file("state")]
        for title in ["crash on start", "add dark mode", "login fails"] {
            let run = try await runProgram(wfctl, ["run", "triage", "--wait", "--param", "title=\(title)"] + state)
            #expect(run.status == 0, "\(run.output)")
        }
        // The step changes: a new prompt, a new model.
        try dir.write("jobs/triage.yaml", job(model: "gpt-4o", prompt: "Classify:", server: server))
        #expect(try await runProgram(wfctl, ["reload"] + state).status == 0)

        let text = try await runProgram(wfctl, ["eval", "triage", "label", "--runs", "3"] + state)
        #expect(text.status == 0, "\(text.output)")
        for line in [
            "step 'label' of triage as defined now (gpt-4o), on 3 cases:", "met the schema: 2/3",
            "agreed with the earlier output: 1/3 exactly", "by field: label 1/3", "invalid_output",
        ] {
            #expect(text.output.contains(line), "\(line)\n\(text.output)")
        }
        // It asked with the new prompt and model, and each run's own parameters, newest first.
        let asked = server.requests().dropFirst(3).compactMap { request -> String? in
            guard case .object(let body)? = request["body"], case .array(let messages)? = body["messages"],
                case .object(let first)? = messages.first
            else { return nil }
            return "\(body["model"]?.stringValue ?? "") \(first["content"]?.stringValue ?? "")"
        }
        #expect(
            asked.prefix(3) == [
                "gpt-4o Classify: login fails", "gpt-4o Classify: add dark mode", "gpt-4o Classify: crash on start",
            ], "\(asked)")
        #expect(server.requests().count == 8, "one call per good case, three for the one off the schema")

        try dir.write("cases.json", #"[{"params": {"title": "menu is slow"}, "expected": {"label": "bug"}}]"#)
        let json = try await runProgram(
            wfctl, ["eval", "triage", "label", "--cases", dir.file("cases.json"), "--json"] + state)
        guard case .object(let report)? = JSONValue.parse(Data(json.output.utf8)) else {
            Issue.record("the JSON report: \(json.output)")
            return
        }
        #expect(
            report["schema_passed"] == .number(1) && report["agreed"] == .number(0) && report["compared"] == .number(1))
        if case .number(let cost)? = report["cost_usd"] {
            #expect(cost > 0)
        } else {
            Issue.record("no cost: \(json.output)")
        }
        // Refusals: a step that is not an llm step, a file that is not cases, no run of a step to take inputs from.
        try dir.write("bad.json", #"{"params": {}}"#)
        let notCases = try await runProgram(
            wfctl, ["eval", "triage", "label", "--cases", dir.file("bad.json")] + state)
        #expect(notCases.status == 65 && notCases.output.contains("is not a JSON array"), "\(notCases.output)")
        let noStep = try await runProgram(wfctl, ["eval", "triage", "nope"] + state)
        #expect(
            noStep.status == 1 && noStep.output.contains("job 'triage' has no step 'nope' (its steps: label)"),
            "\(noStep.output)")
        // No run directory was made for the evaluation: three runs, as before.
        let runs = try FileManager.default.contentsOfDirectory(atPath: dir.file("state/runs/triage"))
        #expect(runs.count == 3)
    }
}
