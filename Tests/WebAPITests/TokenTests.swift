import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Testing
import WebAPI
import WorkflowControl
import WorkflowStore
import WorkflowTesting

/// Requests without a socket caller (over TCP) and their bearer tokens, made and revoked with
/// the real `wfctl token`, against a real wfd: 401 without a known token, 403 without the scope,
/// and what a token does is recorded under its name.
@Suite struct TokenTests {
    func wfctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runProgram(try BuiltProducts.path("wfctl"), arguments)
    }

    /// Makes a token with `wfctl token add` and returns it.
    func add(_ name: String, _ scopes: String, file: String) async throws -> String {
        let made = try await wfctl(["token", "add", name, "--scope", scopes, "--file", file, "--json"])
        try #require(made.status == 0, "\(made.output)")
        guard case .object(let fields)? = JSONValue.parse(Data(made.output.utf8)),
            case .string(let token)? = fields["token"]
        else { throw TestKitError("no token in \(made.output)") }
        return token
    }

    func request(_ method: String, _ target: String, token: String?, body: String = "") -> APIRequest {
        var request = APIRequest(method: method, target: target, body: Data(body.utf8))
        if let token { request.headers["authorization"] = "Bearer \(token)" }
        return request
    }

    @Test func tokensAreAskedForCheckedForTheirScopeNamedInRecordsAndRevoked() async throws {
        let dir = try TemporaryDirectory("tokens")
        try dir.write(
            "jobs/gate.yaml",
            "steps:\n  - {id: confirm, approval: {message: 'Go?'}}\n  - {id: go, needs: [confirm], run: 'true'}\n")
        let file = dir.file("tokens.json")
        let reader = try await add("dashboard", "read", file: file)
        let deployer = try await add("deploy-bot", "read,operate", file: file)
        let approver = try await add("release-lead", "approve", file: file)
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o640)
        #expect(!(try String(contentsOfFile: file, encoding: .utf8)).contains(reader), "only digests are kept")

        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let api = WebAPI(state: StateDirectory(root: daemon.state), tokens: TokenSource(path: file))
        let document = try WebAPITests.document()

        let none = api.respond(request("GET", "/api/v1/jobs", token: nil))
        #expect(none.status == 401 && none.headers["WWW-Authenticate"] == #"Bearer realm="wfd""#)
        try WebAPITests.conforms(none, to: "/api/v1/jobs", document)
        #expect(api.respond(request("GET", "/api/v1/jobs", token: "wfd_not-a-token")).status == 401)
        #expect(api.respond(request("GET", "/api/openapi.yaml", token: nil)).status == 200, "the document is public")
        #expect(api.respond(request("GET", "/api/v1/jobs", token: reader)).status == 200)
        let refused = api.respond(request("POST", "/api/v1/jobs/gate/runs", token: reader))
        #expect(refused.status == 403)
        #expect(String(decoding: refused.body, as: UTF8.self).contains("this needs operate"))

        let started = api.respond(request("POST", "/api/v1/jobs/gate/runs", token: deployer))
        #expect(started.status == 202, "\(String(decoding: started.body, as: UTF8.self))")
        guard case .object(let fields)? = JSONValue.parse(started.body), case .string(let run)? = fields["run"] else {
            throw TestKitError("no run: \(String(decoding: started.body, as: UTF8.self))")
        }
        let approve = "/api/v1/runs/\(run)/steps/confirm/approve"
        #expect(api.respond(request("POST", approve, token: deployer)).status == 403, "operate is not approve")
        var approved = APIResponse(status: 0, contentType: "", body: Data())
        #expect(
            await eventually(timeout: .seconds(30)) {
                approved = api.respond(request("POST", approve, token: approver, body: #"{"comment": "ok"}"#))
                return approved.status != 409  // not waiting yet
            })
        #expect(approved.status == 200, "\(String(decoding: approved.body, as: UTF8.self))")
        let store = RunStore(directory: StateDirectory(root: daemon.state))
        let step = try store.loadStep(JobID("gate")!, try #require(RunID(run)), StepID("confirm")!)
        #expect(
            step.attempts.last?.decision?.by == "token release-lead via root",
            "\(String(describing: step.attempts.last?.decision))")

        let list = try await wfctl(["token", "list", "--file", file])
        #expect(list.output.contains("deploy-bot  read,operate"), "\(list.output)")
        #expect(try await wfctl(["token", "add", "dashboard", "--file", file]).status == 1, "names are unique")
        #expect(try await wfctl(["token", "add", "bad name", "--file", file]).status == 64)
        #expect(try await wfctl(["token", "add", "x", "--scope", "read,root", "--file", file]).status == 64)
        #expect(try await wfctl(["token", "revoke", "dashboard", "--file", file]).status == 0)
        #expect(api.respond(request("GET", "/api/v1/jobs", token: reader)).status == 401, "revoked at once")
        #expect(api.respond(request("GET", "/api/v1/jobs", token: deployer)).status == 200, "the others stay")
    }
}
