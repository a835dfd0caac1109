import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Testing
import WebAPI
import WorkflowControl
import WorkflowStore
import WorkflowTesting

/// The routes that change something, against a real wfd over its control socket: each answer
/// is checked against the OpenAPI document, and what wfd did against the state directory.
@Suite struct CommandRouteTests {
    let root = Caller(uid: 0, gid: 0)

    func post(_ api: WebAPI, _ target: String, _ body: String = "", as caller: Caller?) -> APIResponse {
        api.respond(APIRequest(method: "POST", target: target, body: Data(body.utf8), caller: caller))
    }

    func field(_ response: APIResponse, _ name: String) -> String? {
        guard case .object(let fields)? = JSONValue.parse(response.body), case .string(let value)? = fields[name]
        else { return nil }
        return value
    }

    @Test func commandsGoToWfdOnBehalfOfTheCallerAndRefusalsKeepTheirMeaning() async throws {
        let dir = try TemporaryDirectory("webcmd")
        try dir.write(
            "jobs/gate.yaml",
            """
            params: {who: {default: nobody}}
            steps:
              - id: confirm
                approval: { message: "Ship it?", input: { type: object, required: [ticket], properties: { ticket: { type: string } } } }
              - id: ship
                needs: [confirm]
                run: 'echo shipping for $WF_PARAM_WHO; exit 3'
            """)
        let document = try WebAPITests.document()
        let state = StateDirectory(root: dir.file("state"))
        try FileManager.default.createDirectory(atPath: state.root, withIntermediateDirectories: true)
        let api = WebAPI(state: state)

        // wfd is not running yet: 503.
        let down = post(api, "/api/v1/jobs/gate/runs", as: root)
        #expect(down.status == 503, "\(String(decoding: down.body, as: UTF8.self))")
        try WebAPITests.conforms(down, to: "/api/v1/jobs/{job}/runs", document, method: "POST")
        let noMetrics = api.respond(APIRequest(method: "GET", target: "/metrics", caller: root))
        #expect(noMetrics.status == 503, "counters live in wfd's memory")
        try WebAPITests.conforms(noMetrics, to: "/metrics", document)

        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }

        let cases: [(String, String, Caller?, Int, String)] = [
            ("/api/v1/jobs/gate/runs", "", nil, 401, "/api/v1/jobs/{job}/runs"),
            ("/api/v1/jobs/gate/runs", "", Caller(uid: 4242, gid: 4242), 403, "/api/v1/jobs/{job}/runs"),
            ("/api/v1/jobs/nope/runs", "", root, 404, "/api/v1/jobs/{job}/runs"),
            ("/api/v1/jobs/gate/runs", "[1]", root, 400, "/api/v1/jobs/{job}/runs"),
            ("/api/v1/jobs/gate/runs", #"{"params": {"who": 7}}"#, root, 400, "/api/v1/jobs/{job}/runs"),
            ("/api/v1/runs/20200101T000000.000Z-000001/cancel", "", root, 409, "/api/v1/runs/{run}/cancel"),
            ("/api/v1/runs/20200101T000000.000Z-000001/retry", "", root, 404, "/api/v1/runs/{run}/retry"),
        ]
        for (target, body, caller, status, route) in cases {
            let response = post(api, target, body, as: caller)
            #expect(response.status == status, "\(target): \(String(decoding: response.body, as: UTF8.self))")
            try WebAPITests.conforms(response, to: route, document, method: "POST")
        }
        let tooBig = post(
            api, "/api/v1/jobs/gate/runs", String(repeating: " ", count: WebAPI.maximumBody + 1), as: root)
        #expect(tooBig.status == 413)

        // A preview starts nothing: its steps, its approval with the parameter filled in.
        let preview = post(api, "/api/v1/jobs/gate/preview", #"{"params": {"who": "web"}}"#, as: root)
        #expect(preview.status == 200, "\(String(decoding: preview.body, as: UTF8.self))")
        try WebAPITests.conforms(preview, to: "/api/v1/jobs/{job}/preview", document, method: "POST")
        let previewed = try #require(JSONValue.parse(preview.body))
        guard case .object(let fields) = previewed, case .array(let steps)? = fields["steps"] else {
            Issue.record("a preview has steps")
            return
        }
        #expect(steps.count == 2 && fields["params"] == .object(["who": .string("web")]))
        #expect(fields["approvals"] == .array([.string("step 'confirm': Ship it?")]))
        #expect(!FileManager.default.fileExists(atPath: state.runsDirectory(JobID("gate")!)), "nothing ran")
        for (body, job, status) in [(#"{"params": {"nope": "1"}}"#, "gate", 400), ("", "nope", 404)] {
            let refused = post(api, "/api/v1/jobs/\(job)/preview", body, as: root)
            #expect(refused.status == status, "\(String(decoding: refused.body, as: UTF8.self))")
            try WebAPITests.conforms(refused, to: "/api/v1/jobs/{job}/preview", document, method: "POST")
        }

        // A run with a parameter, waiting for approval.
        let started = post(api, "/api/v1/jobs/gate/runs", #"{"params": {"who": "web"}}"#, as: root)
        #expect(started.status == 202, "\(String(decoding: started.body, as: UTF8.self))")
        try WebAPITests.conforms(started, to: "/api/v1/jobs/{job}/runs", document, method: "POST")
        let run = try #require(field(started, "run"))
        let approvals = "/api/v1/runs/\(run)/steps/confirm"
        await waitFor("the approval to wait") {
            post(api, "\(approvals)/approve", #"{"input": {"ticket": 5}}"#, as: root).status == 409
        }
        // The run listing's first page has it among the active runs, as wfd's memory has them
        // (latest.json moved aside: the answer cannot have come from it).
        try FileManager.default.moveItem(atPath: state.latest(JobID("gate")!), toPath: dir.file("latest.aside"))
        let listed = api.respond(APIRequest(method: "GET", target: "/api/v1/runs", caller: root))
        try FileManager.default.moveItem(atPath: dir.file("latest.aside"), toPath: state.latest(JobID("gate")!))
        #expect(
            JSONValue.parse(listed.body)?["active"]?[0]?["id"] == .string(run),
            "\(String(decoding: listed.body, as: UTF8.self))")
        // Prometheus's view says a person is awaited.
        let metrics = api.respond(APIRequest(method: "GET", target: "/metrics", caller: root))
        try WebAPITests.conforms(metrics, to: "/metrics", document)
        #expect(
            String(decoding: metrics.body, as: UTF8.self).contains("\nwfd_approvals_waiting 1.0\n"),
            "\(String(decoding: metrics.body, as: UTF8.self))")
        // The inbox holds it, as wfctl pending prints it.
        let inbox = api.respond(APIRequest(method: "GET", target: "/api/v1/approvals", caller: root))
        try WebAPITests.conforms(inbox, to: "/api/v1/approvals", document)
        let pending = try await runProgram(
            try BuiltProducts.path("wfctl"), ["pending", "--json", "--state", state.root])
        #expect(JSONValue.parse(inbox.body) == JSONValue.parse(Data(pending.output.utf8)))
        #expect(String(decoding: inbox.body, as: UTF8.self).contains(run))
        let wrongInput = post(api, "\(approvals)/approve", #"{"input": {"ticket": 5}}"#, as: root)
        #expect(wrongInput.status == 409, "the input does not fit the step's schema")
        #expect(
            field(wrongInput, "detail")?.contains("ticket") == true,
            "\(String(decoding: wrongInput.body, as: UTF8.self))")
        let stranger = post(
            api, "\(approvals)/approve", #"{"input": {"ticket": "T-1"}}"#, as: Caller(uid: 4242, gid: 4242))
        #expect(stranger.status == 403)
        let approved = post(
            api, "\(approvals)/approve", #"{"input": {"ticket": "T-1"}, "comment": "from the web"}"#, as: root)
        #expect(approved.status == 200, "\(String(decoding: approved.body, as: UTF8.self))")
        try WebAPITests.conforms(approved, to: "/api/v1/runs/{run}/steps/{step}/approve", document, method: "POST")
        let store = RunStore(directory: state)
        let id = try #require(RunID(run))
        // Failed, and let go by the scheduler (run.json is written before latest.json lets go of
        // it: a retry in between is refused as busy).
        await waitFor("the run to fail") {
            (try? store.loadRun(JobID("gate")!, id))?.state == .failed
                && (try? store.loadLatest(JobID("gate")!))?.active == nil
        }
        let confirm = try #require(
            try store.loadSnapshot(JobID("gate")!, id).steps.first { $0.step == StepID("confirm") })
        let decision = try #require(confirm.attempts.last?.decision)
        #expect(decision.by == "uid 0 (root) via root", "who is recorded: \(decision.by)")
        #expect(decision.comment == "from the web")
        let log = try String(
            contentsOfFile: state.runDirectory(JobID("gate")!, id) + "/logs/ship.1.log", encoding: .utf8)
        #expect(log == "shipping for web\n")

        // Retry from the failed step; it fails again (exit 3), recorded with a second attempt.
        // A retry right as the scheduler lets go of the run may be told it is busy (503): again.
        var retried = post(api, "/api/v1/runs/\(run)/retry", as: root)
        for _ in 0..<50 where retried.status == 503 {
            try await Task.sleep(for: .milliseconds(100))
            retried = post(api, "/api/v1/runs/\(run)/retry", as: root)
        }
        #expect(retried.status == 202, "\(String(decoding: retried.body, as: UTF8.self))")
        try WebAPITests.conforms(retried, to: "/api/v1/runs/{run}/retry", document, method: "POST")
        // Ended, and let go by the scheduler: a start before that is refused as busy (it was,
        // once in 30 runs of this suite).
        await waitFor("the retry to end") {
            let ship = try? store.loadSnapshot(JobID("gate")!, id).steps.first { $0.step == StepID("ship") }
            return ship?.attempts.count == 2 && (try? store.loadRun(JobID("gate")!, id))?.state == .failed
                && (try? store.loadLatest(JobID("gate")!))?.active == nil
        }
        // One run per idempotency key, also across a restart of wfd; the key with other values: 409.
        var keyed = APIRequest(method: "POST", target: "/api/v1/jobs/gate/runs", body: Data(), caller: root)
        keyed.headers["idempotency-key"] = "deploy-42"
        // The records say the run ended before the scheduler's loop has let go of it: a start in
        // between is refused as busy (503, the key not taken), as the retry above may be. Again.
        var first = api.respond(keyed)
        for _ in 0..<50 where first.status == 503 {
            try await Task.sleep(for: .milliseconds(100))
            first = api.respond(keyed)
        }
        #expect(first.status == 202, "\(String(decoding: first.body, as: UTF8.self))")
        let again = api.respond(keyed)
        #expect(again.status == 200, "\(String(decoding: again.body, as: UTF8.self))")
        try WebAPITests.conforms(again, to: "/api/v1/jobs/{job}/runs", document, method: "POST")
        #expect(field(again, "run") == field(first, "run") && field(first, "run") != nil)
        let inBody = post(api, "/api/v1/jobs/gate/runs", #"{"idempotency_key": "deploy-42"}"#, as: root)
        #expect(inBody.status == 200 && field(inBody, "run") == field(first, "run"))
        let otherValues = post(
            api, "/api/v1/jobs/gate/runs", #"{"idempotency_key": "deploy-42", "params": {"who": "x"}}"#, as: root)
        #expect(otherValues.status == 409, "\(String(decoding: otherValues.body, as: UTF8.self))")
        let badKey = post(api, "/api/v1/jobs/gate/runs", #"{"idempotency_key": "with space"}"#, as: root)
        #expect(badKey.status == 400)
        let runs = Set(try FileManager.default.contentsOfDirectory(atPath: state.runsDirectory(JobID("gate")!)))
        await daemon.process.stop()
        let restarted = try await TestDaemon.start(dir, log: "wfd2.log")
        defer { Task { await restarted.process.stop() } }
        let afterRestart = api.respond(keyed)
        #expect(afterRestart.status == 200 && field(afterRestart, "run") == field(first, "run"))
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: state.runsDirectory(JobID("gate")!))) == runs)

        let reload = post(api, "/api/v1/reload", as: root)
        #expect(reload.status == 200, "\(String(decoding: reload.body, as: UTF8.self))")
        try WebAPITests.conforms(reload, to: "/api/v1/reload", document, method: "POST")
    }

    func waitFor(_ what: String, _ condition: () async throws -> Bool) async {
        #expect(await eventually(timeout: .seconds(30), waitingFor: what, condition), "\(what)")
    }
}
