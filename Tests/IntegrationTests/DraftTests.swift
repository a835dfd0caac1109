import Foundation
import JSONSchemaKit
import Testing
import WorkflowTesting

/// `wfctl draft` and `wfctl promote` against a running wfd and a loopback stand-in speaking
/// OpenAI's protocol: the model's file is checked by wfd's parser, its problems go back with
/// their line and column, the corrected file waits in jobs.d/pending/ (never loaded) until
/// promoted, and wfd loads it then.
@Suite struct DraftTests {
    @Test func aModelsDraftIsCorrectedByTheParsersProblemsAndWaitsUntilPromoted() async throws {
        let dir = try TemporaryDirectory("draft")
        let broken = "```yaml\nschedule: \"* * * * *\"\nsteps:\n  - id: hello\n    cmd: echo hello\n```"
        let fixed = "schedule: \"* * * * *\"\nsteps:\n  - id: hello\n    run: echo hello\n"
        func answer(_ text: String) -> String {
            let content = String(decoding: try! JSONEncoder().encode(text), as: UTF8.self)
            return #"{"openai": {"content": \#(content), "prompt_tokens": 900, "completion_tokens": 40}}"#
        }
        let server = try await StandIn(
            #"{"routes": [{"method": "POST", "path": "/v1/chat/completions", "responses": [\#(answer(broken)), \#(answer(fixed)), \#(answer(broken))]}]}"#,
            in: dir)
        defer { Task { await server.stop() } }
        try dir.write("credentials/openai_key", "sk-draft-0123456789\n")
        let daemon = try await TestDaemon.start(
            dir, environment: ["CREDENTIALS_DIRECTORY": dir.file("credentials")])
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let common = ["--state", dir.file("state")]
        let jobs = ["--jobs", dir.file("jobs")]
        let model = ["--base-url", server.url("/v1"), "--model", "drafter", "--api-key-secret", "openai_key"]

        let drafted = try await runProgram(
            wfctl, ["draft", "hello-draft", "Say hello every minute"] + model + jobs + common)
        let pending = dir.file("jobs/pending/hello-draft.yaml")
        #expect(drafted.status == 0, "\(drafted.output)")
        #expect(
            drafted.output.contains(
                "wrote \(pending) (2 answers from drafter): valid; read it, then wfctl promote hello-draft"))
        #expect(try String(contentsOfFile: pending, encoding: .utf8) == fixed)
        // The model had the schema; its first file's problem went back with line and column.
        let requests = server.requests()
        guard requests.count == 2, case .object(let first)? = requests[0]["body"],
            case .array(let opening)? = first["messages"],
            case .object(let second)? = requests[1]["body"], case .array(let repair)? = second["messages"]
        else {
            Issue.record("two requests: \(requests)")
            return
        }
        #expect(opening.first.map { "\($0)".contains("\\\"$schema\\\"") } == true, "the system message has the schema")
        #expect(opening.first.map { "\($0)".contains("## Job keys") } == true, "and the format's documentation")
        #expect(requests[0]["headers"]?.field("authorization") == .string("Bearer sk-draft-0123456789"))
        let asked = repair.last.flatMap { if case .object(let m) = $0 { m["content"]?.stringValue } else { nil } } ?? ""
        #expect(asked.contains("\(pending):4:5: unknown key 'cmd' in a step (did you mean 'run'?)"), "\(asked)")

        // Never loaded while it is a draft.
        try await Task.sleep(for: .milliseconds(500))
        #expect(!(try await runProgram(wfctl, ["status"] + common)).output.contains("hello-draft"))
        let promoted = try await runProgram(wfctl, ["promote", "hello-draft"] + jobs)
        #expect(
            promoted.status == 0 && promoted.output.contains("promoted \(dir.file("jobs/hello-draft.yaml"))"),
            "\(promoted.output)")
        #expect(
            await eventually(waitingFor: "wfd to load it") {
                (try? await runProgram(wfctl, ["status"] + common))?.output.contains("hello-draft") == true
            })
        let again = try await runProgram(wfctl, ["promote", "hello-draft"] + jobs)
        #expect(again.status == 1 && again.output.contains("no draft \(pending) (drafts: none)"), "\(again.output)")

        // A draft still invalid when the repairs run out is written, with its problems, and exits 65;
        // promote refuses it and leaves it where it is.
        let invalid = try await runProgram(
            wfctl, ["draft", "other", "Say hello", "--repairs", "0"] + model + jobs + common)
        #expect(invalid.status == 65 && invalid.output.contains("still invalid:"), "\(invalid.output)")
        #expect(invalid.output.contains("pending/other.yaml:4:5: unknown key 'cmd'"))
        let refused = try await runProgram(wfctl, ["promote", "other"] + jobs)
        #expect(refused.status == 65 && refused.output.contains("unknown key 'cmd'"), "\(refused.output)")
        #expect(FileManager.default.fileExists(atPath: dir.file("jobs/pending/other.yaml")))
        #expect(!FileManager.default.fileExists(atPath: dir.file("jobs/other.yaml")))
    }
}
