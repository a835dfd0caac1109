import Foundation
import JSONSchemaKit
import RunModel
import Schedules
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// wfd as an MCP server, driven by a client nobody here wrote: PyPI's official `mcp` SDK
/// (`make mcp-client`, `scripts/mcp-client.py`), over stdio (`wfctl mcp`) and over wfd-web's
/// streamable HTTP `/mcp` with tokens, through every tool, the resources and refused calls.
@Suite struct MCPTests {
    struct Outcome: Decodable {
        struct Call: Decodable {
            let tool: String
            let error: Bool
            let text: String
        }

        struct Read: Decodable {
            let uri: String
            let text: String?
            let failure: String?
        }

        let server: String
        let tools: [String]
        let readOnly: [String: Bool]
        let resources: [String]
        let calls: [Call]
        let reads: [Read]

        enum CodingKeys: String, CodingKey {
            case server, tools, resources, calls, reads
            case readOnly = "read_only"
        }

        func call(_ tool: String) -> Call? { calls.first { $0.tool == tool } }
    }

    /// Runs the Python client with `plan` against the server `target` describes.
    static func drive(_ plan: String, _ target: [String], in dir: TemporaryDirectory) async throws -> Outcome {
        let root = BuiltProducts.packageRoot
        guard FileManager.default.fileExists(atPath: root + "/.build-tools/python/mcp") else {
            throw TestKitError("the mcp client is not installed: run make mcp-client")
        }
        try dir.write("plan.json", plan)
        let (status, output) = try await runProgram(
            "/usr/bin/python3", [root + "/scripts/mcp-client.py", dir.file("plan.json")] + target,
            environment: ["PATH": "/usr/bin:/bin", "PYTHONPATH": root + "/.build-tools/python"])
        guard status == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw TestKitError("the MCP client failed (\(status)): \(output.suffix(3000))")
        }
        return try JSONDecoder().decode(Outcome.self, from: Data(line.utf8))
    }

    /// The status of a POST of `{}` to `url` (Python's urllib: no curl needed), 0 without an answer.
    static func status(_ url: String, authorization: String? = nil) async -> Int {
        let script = """
            import sys, urllib.request, urllib.error
            request = urllib.request.Request(sys.argv[1], data=b"{}", method="POST", headers={"Content-Type": "application/json"})
            if len(sys.argv) > 2: request.add_header("Authorization", sys.argv[2])
            try: print(urllib.request.urlopen(request, timeout=10).status)
            except urllib.error.HTTPError as error: print(error.code)
            except Exception: print(0)
            """
        let output =
            (try? await runProgram("/usr/bin/python3", ["-c", script, url] + (authorization.map { [$0] } ?? [])))?
            .output
        return Int(output?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
    }

    static let tools = [
        "list_jobs", "read_job", "job_schema", "validate_job", "propose_job", "list_runs", "read_run", "why",
        "pending_approvals", "preview_run", "start_run", "retry_run", "cancel_run",
    ]

    @Test func aRealMCPClientDrivesWfdOverStdioAndHTTPAndIsRefusedWhatItMayNotDo() async throws {
        let dir = try TemporaryDirectory("mcp")
        try dir.write("jobs/hello.yaml", "steps: [{id: a, run: 'echo hi'}]\n")
        try dir.write("jobs/broken.yaml", "steps: [{id: a, run: 'exit 3'}]\n")
        try dir.write(
            "jobs/gate.yaml", "steps:\n  - {id: ok, approval: {message: 'Ship it?'}}\n")
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let state = ["--state", dir.file("state")]
        #expect(try await runProgram(wfctl, ["run", "broken", "--wait"] + state).status == 1)
        #expect(try await runProgram(wfctl, ["run", "gate"] + state).status == 0)
        let failed = try #require(
            try FileManager.default.contentsOfDirectory(atPath: dir.file("state/runs/broken")).first)

        // Over stdio, as the local user: every tool.
        let plan = """
            {"calls": [
              {"tool": "list_jobs"}, {"tool": "read_job", "arguments": {"job": "hello"}}, {"tool": "job_schema"},
              {"tool": "validate_job", "arguments": {"job": "x", "text": "steps: [{id: a, cmd: b}]"}},
              {"tool": "propose_job", "arguments": {"job": "bad", "text": "steps: [{id: a, cmd: b}]"}},
              {"tool": "propose_job", "arguments": {"job": "newone", "text": "steps: [{id: a, run: 'echo new'}]"}},
              {"tool": "list_runs", "arguments": {"job": "broken"}}, {"tool": "read_run", "arguments": {"run": "\(failed)"}},
              {"tool": "why", "arguments": {"run": "\(failed)"}}, {"tool": "pending_approvals"},
              {"tool": "preview_run", "arguments": {"job": "hello"}}, {"tool": "start_run", "arguments": {"job": "hello"}},
              {"tool": "retry_run", "arguments": {"run": "\(failed)"}},
              {"tool": "cancel_run", "arguments": {"run": "20200101T000000.000Z-000001"}},
              {"tool": "approve", "arguments": {"run": "x", "step": "ok"}}
            ], "read": ["wfd://jobs/hello", "wfd://runs/\(failed)", "wfd://elsewhere"]}
            """
        let local = try await Self.drive(
            plan, ["stdio", wfctl, "mcp", "--jobs", dir.file("jobs")] + state, in: dir)
        #expect(local.server == "wfd" && local.tools == Self.tools)
        #expect(local.readOnly["list_jobs"] == true && local.readOnly["start_run"] == false)
        #expect(local.resources.contains("wfd://jobs/hello") && local.resources.contains("wfd://runs/\(failed)"))
        #expect(local.call("list_jobs")?.text.contains(#""job" : "gate""#) == true)
        #expect(local.call("read_job")?.text.contains("echo hi") == true)
        #expect(local.call("job_schema")?.text.contains(#""$schema""#) == true)
        #expect(local.call("validate_job")?.text.contains("unknown key 'cmd'") == true)
        #expect(local.call("propose_job").map { $0.error && $0.text.hasPrefix("not proposed") } == true)
        let proposed = try #require(local.calls.last { $0.tool == "propose_job" })
        #expect(!proposed.error && proposed.text.contains("jobs/pending/newone.yaml"), "\(proposed.text)")
        #expect(FileManager.default.fileExists(atPath: dir.file("jobs/pending/newone.yaml")))
        #expect(!FileManager.default.fileExists(atPath: dir.file("jobs/pending/bad.yaml")))
        #expect(local.call("list_runs")?.text.contains(failed) == true)
        #expect(local.call("read_run")?.text.contains("exited with status 3") == true)
        #expect(local.call("why")?.text.contains("wfctl retry \(failed)") == true)
        #expect(local.call("pending_approvals")?.text.contains("Ship it?") == true)
        #expect(local.call("preview_run")?.text.contains(#""steps""#) == true)
        #expect(local.call("start_run").map { !$0.error && $0.text.contains("started run") } == true)
        #expect(local.call("retry_run").map { !$0.error && $0.text.contains("retrying run \(failed)") } == true)
        #expect(local.call("cancel_run").map { $0.error && $0.text.hasPrefix("409") } == true)
        #expect(local.call("approve").map { $0.error && $0.text.contains("cannot approve or reject") } == true)
        #expect(local.reads.first?.text == "steps: [{id: a, run: 'echo hi'}]\n")
        #expect(local.reads[1].text?.contains(#""id" : "\#(failed)""#) == true, "\(local.reads[1])")
        #expect(local.reads.last?.failure?.contains("unknown resource wfd://elsewhere") == true)

        // Over HTTP, with tokens: a read token reads and is refused starting; an operate one starts.
        var tokens = AccessTokens()
        var secrets: [String: String] = [:]
        for (name, scopes) in [("reader", [AccessTokens.Scope.read]), ("operator", [.read, .operate])] {
            let secret = AccessTokens.makeSecret()
            secrets[name] = secret
            tokens.tokens.append(
                AccessTokens.Token(
                    name: name, scopes: scopes, sha256: SHA256.hex(Array(secret.utf8)), createdAt: Date()))
        }
        try RecordFile.write(try Timestamp.makeEncoder().encode(tokens), to: dir.file("tokens.json"))
        let port = try freeLoopbackPort()
        let web = try DaemonProcess(
            executable: try BuiltProducts.path("wfd-web"),
            arguments: [
                "serve", "--listen", "127.0.0.1:\(port)", "--state", dir.file("state"), "--tokens",
                dir.file("tokens.json"), "--jobs", dir.file("jobs"),
            ],
            environment: ["PATH": "/usr/bin:/bin"], stderrPath: dir.file("web.log"))
        defer { Task { await web.stop() } }
        let url = "http://127.0.0.1:\(port)/mcp"
        #expect(await eventually(timeout: .seconds(20)) { await Self.status(url) != 0 })
        let start = #"{"calls": [{"tool": "list_jobs"}, {"tool": "start_run", "arguments": {"job": "hello"}}]}"#
        let reader = try await Self.drive(start, ["http", url, secrets["reader"] ?? ""], in: dir)
        #expect(reader.tools == Self.tools && reader.call("list_jobs")?.error == false)
        let refused = try #require(reader.call("start_run"))
        #expect(
            refused.error && refused.text.contains("403: token reader has scopes read; this needs operate"),
            "\(refused.text)")
        let operated = try await Self.drive(start, ["http", url, secrets["operator"] ?? ""], in: dir)
        #expect(operated.call("start_run").map { !$0.error && $0.text.contains("started run") } == true)
        // Without a token, or with a wrong one: 401, before anything MCP.
        #expect(await Self.status(url) == 401)
        #expect(await Self.status(url, authorization: "Bearer wfd_nope") == 401)
    }
}
