import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Schedules
import Testing
import WebAPI
import WorkflowControl
import WorkflowStore
import WorkflowTesting
import Yams

/// Every route of the API, answered in process over a state directory that holds a failed run,
/// and checked against the OpenAPI document: status, content type, and the body against the
/// response's schema (JSON Schema 2020-12, by JSONSchemaKit).
@Suite struct WebAPITests {
    let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!

    /// A job with a failed run (its first step succeeded, its second failed with status 2).
    func seed(_ dir: TemporaryDirectory, schedules: [String] = ["0 3 * * *"]) throws -> (StateDirectory, RunID) {
        let state = StateDirectory(root: dir.path)
        let store = RunStore(directory: state)
        let job = Job(
            id: JobID("nightly")!, description: "Nightly", schedules: try schedules.map { try Schedule(parsing: $0) },
            steps: [
                StepDefinition(id: StepID("fetch")!, run: "true"),
                StepDefinition(id: StepID("load")!, run: "exit 2", needs: [StepID("fetch")!]),
            ])
        try store.saveJobInfo(
            JobInfo(id: job.id, job: job, file: "/etc/wfd/jobs.d/nightly.yaml", errors: [], loadedAt: t0))
        var snapshot = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 1), trigger: .schedule, scheduledFor: t0, createdAt: t0)
        try store.saveSpec(job, run: snapshot.run.id)
        (snapshot, _) = try RunMachine.apply(snapshot, .start(at: t0))
        (snapshot, _) = try RunMachine.apply(
            snapshot, .attemptEnded(StepID("fetch")!, AttemptResult(outcome: .succeeded, exitCode: 0), at: t0 + 1))
        (snapshot, _) = try RunMachine.apply(
            snapshot,
            .attemptEnded(
                StepID("load")!, AttemptResult(outcome: .failed, exitCode: 2, error: "exited with status 2"),
                at: t0 + 5))
        for step in snapshot.steps { try store.save(step) }
        try store.save(snapshot.run)
        try FileManager.default.createDirectory(
            atPath: state.logsDirectory(job.id, snapshot.run.id), withIntermediateDirectories: true)
        try "fetched\n".write(
            toFile: state.logsDirectory(job.id, snapshot.run.id) + "/fetch.1.log", atomically: true, encoding: .utf8)
        try "loading\nno space left\n".write(
            toFile: state.logsDirectory(job.id, snapshot.run.id) + "/load.1.log", atomically: true, encoding: .utf8)
        return (state, snapshot.run.id)
    }

    /// The OpenAPI document as a JSON value.
    static func document() throws -> JSONValue {
        let loaded = try #require(try Yams.load(yaml: OpenAPIDocument.text))
        let data = try JSONSerialization.data(withJSONObject: loaded)
        return try #require(JSONValue.parse(data))
    }

    /// The schema of `method` `path`'s answer with `status` and `contentType`, able to resolve the
    /// document's `#/components/...` references: the whole document with a `$ref` to it.
    static func schema(
        _ document: JSONValue, _ method: String, _ path: String, _ status: Int, _ contentType: String
    ) throws -> JSONSchema {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
        }
        guard case .object(var root) = document else { throw TestKitError("the document is not an object") }
        guard case .object(let paths)? = root["paths"], case .object(let item)? = paths[path],
            case .object(let operation)? = item[method.lowercased()],
            case .object(let responses)? = operation["responses"], let response = responses[String(status)]
        else { throw TestKitError("the document has no \(method) \(path) answer \(status)") }
        // A response may be a reference to #/components/responses/...
        var pointer = "#/paths/\(escape(path))/\(method.lowercased())/responses/\(status)"
        if case .object(let members) = response, case .string(let reference)? = members["$ref"] {
            pointer = reference
        }
        root["$ref"] = .string("\(pointer)/content/\(escape(contentType))/schema")
        return try JSONSchema(.object(root), checkAgainstMetaSchema: false)
    }

    /// Checks `response` against the document: its status is one the route declares, and its
    /// body is valid against that answer's schema.
    static func conforms(
        _ response: APIResponse, to path: String, _ document: JSONValue, method: String = "GET",
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let schema = try Self.schema(document, method, path, response.status, response.contentType)
        let body: JSONValue =
            response.contentType.hasSuffix("json")
            ? try #require(JSONValue.parse(response.body), sourceLocation: sourceLocation)
            : .string(String(decoding: response.body, as: UTF8.self))
        let violations = schema.validate(body)
        #expect(
            violations.isEmpty,
            "\(path) \(response.status): \(violations)\n\(String(decoding: response.body, as: UTF8.self))",
            sourceLocation: sourceLocation)
    }

    @Test func theDocumentDescribesExactlyTheRoutesTheAPIAnswers() throws {
        guard case .object(let root) = try Self.document(), case .object(let paths)? = root["paths"] else {
            throw TestKitError("no paths")
        }
        var documented: Set<String> = []
        for (path, item) in paths {
            guard case .object(let operations) = item else { continue }
            for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") }
        }
        #expect(documented == Set(WebAPI.routes.map { "\($0.method) \($0.pattern)" }))
        #expect(root["openapi"] == .string("3.1.0"))
    }

    @Test func everyRouteAnswersWhatTheDocumentSays() async throws {
        let dir = try TemporaryDirectory("webapi")
        let (state, run) = try seed(dir)
        let api = WebAPI(state: state, now: { self.t0 + 60 }, hostZone: .gmt)
        let document = try Self.document()
        let requests: [(String, String)] = [
            ("/api/openapi.yaml", "/api/openapi.yaml"),
            ("/api/v1/jobs", "/api/v1/jobs"),
            ("/api/v1/jobs/{job}", "/api/v1/jobs/nightly"),
            ("/api/v1/runs", "/api/v1/runs?job=nightly&state=failed"),
            ("/api/v1/runs/{run}", "/api/v1/runs/\(run)"),
            ("/api/v1/runs/{run}/why", "/api/v1/runs/\(run)/why"),
            ("/api/v1/stats", "/api/v1/stats?job=nightly&since=24h"),
            ("/api/v1/approvals", "/api/v1/approvals"),
            ("/api/v1/jobs/{job}/definition", "/api/v1/jobs/nightly/definition?next=3"),
            ("/api/v1/runs/{run}/steps/{step}/attempts/{attempt}/log", "/api/v1/runs/\(run)/steps/load/attempts/1/log"),
            (
                "/api/v1/runs/{run}/steps/{step}/attempts/{attempt}/log/events",
                "/api/v1/runs/\(run)/steps/load/attempts/1/log/events"
            ),
        ]
        // /metrics comes from a running wfd's memory: CommandRouteTests asks one.
        #expect(
            Set(requests.map(\.0))
                == Set(WebAPI.routes.filter { $0.method == "GET" }.map(\.pattern)).subtracting(["/metrics"]),
            "every GET")
        for (route, target) in requests {
            var response = api.respond(APIRequest(method: "GET", target: target, caller: .root))
            for await chunk in response.stream ?? AsyncStream { $0.finish() } { response.body += chunk }
            #expect(response.status == 200, "\(target): \(String(decoding: response.body, as: UTF8.self))")
            try Self.conforms(response, to: route, document)
        }
        // What the answers say, beyond their shape.
        let job = try #require(
            JSONValue.parse(api.respond(APIRequest(method: "GET", target: "/api/v1/jobs/nightly", caller: .root)).body))
        #expect(job["last_run"]?["state"] == .string("failed"))
        #expect(job["next_fire"] == .string("2026-01-01T03:00:00.000Z"))
        let definition = try #require(
            JSONValue.parse(
                api.respond(APIRequest(method: "GET", target: "/api/v1/jobs/nightly/definition?next=3", caller: .root))
                    .body))
        #expect(
            definition["next"]
                == .array([
                    .string("2026-01-01T03:00:00.000Z"), .string("2026-01-02T03:00:00.000Z"),
                    .string("2026-01-03T03:00:00.000Z"),
                ]))
        let why = try #require(
            JSONValue.parse(
                api.respond(APIRequest(method: "GET", target: "/api/v1/runs/\(run)/why", caller: .root)).body))
        #expect(why["step"]?["id"] == .string("load"))
        #expect(why["step"]?["exit_code"] == .number(2))
        let stats = try #require(
            JSONValue.parse(
                api.respond(APIRequest(method: "GET", target: "/api/v1/stats?since=24h", caller: .root)).body))
        #expect(stats["jobs"]?[0]?["failed"] == .number(1))
        #expect(stats["since"] == .string("2025-12-31T00:01:00.000Z"))
        let log = api.respond(
            APIRequest(method: "GET", target: "/api/v1/runs/\(run)/steps/load/attempts/1/log", caller: .root))
        #expect(String(decoding: log.body, as: UTF8.self) == "loading\nno space left\n")
        let head = api.respond(APIRequest(method: "HEAD", path: "/api/v1/jobs", caller: .root))
        #expect(head.status == 200)
    }

    @Test func errorsAreProblemDetailsWithTheirStatus() throws {
        let dir = try TemporaryDirectory("webapi")
        let (state, _) = try seed(dir)
        let api = WebAPI(state: state, now: { self.t0 }, hostZone: .gmt)
        let document = try Self.document()
        let cases: [(String, String, String?, Int)] = [
            ("GET", "/api/v1/jobs/Not%20A%20Job", "/api/v1/jobs/{job}", 400),
            ("GET", "/api/v1/jobs/missing", "/api/v1/jobs/{job}", 404),
            ("GET", "/api/v1/runs/.hidden", "/api/v1/runs/{run}", 400),
            ("GET", "/api/v1/runs/a%2F..%2Fb", "/api/v1/runs/{run}", 400),
            ("GET", "/api/v1/runs/not-a-run", "/api/v1/runs/{run}", 404),
            ("GET", "/api/v1/runs/20200101T000000.000Z-000001", "/api/v1/runs/{run}", 404),
            ("GET", "/api/v1/runs/20200101T000000.000Z-000001/why", "/api/v1/runs/{run}/why", 404),
            ("GET", "/api/v1/stats?since=yesterday", "/api/v1/stats", 400),
            ("GET", "/api/v1/stats?job=..", "/api/v1/stats", 400),
            ("GET", "/api/v1/runs/20200101T000000.000Z-000001/steps/a/attempts/1/log", nil, 404),
            (
                "GET", "/api/v1/runs/20200101T000000.000Z-000001/steps/a/attempts/1/log/events",
                "/api/v1/runs/{run}/steps/{step}/attempts/{attempt}/log/events", 404
            ),
            ("GET", "/api/v1/nothing", nil, 404),
            ("GET", "/etc/passwd", nil, 404),
            ("GET", "/api/v1/jobs/../../../etc/passwd", nil, 404),
            ("POST", "/api/v1/jobs", nil, 405),
            ("GET", "/api/v1/runs/20200101T000000.000Z-000001/cancel", nil, 405),
            ("DELETE", "/api/v1/runs/20200101T000000.000Z-000001", nil, 405),
        ]
        for (method, target, route, status) in cases {
            let response = api.respond(APIRequest(method: method, target: target, caller: .root))
            #expect(response.status == status, "\(method) \(target): \(String(decoding: response.body, as: UTF8.self))")
            #expect(response.contentType == "application/problem+json")
            let problem = try #require(JSONValue.parse(response.body))
            #expect(problem["status"] == .number(Double(status)))
            #expect(problem["instance"] == .string(APIRequest(method: method, target: target, caller: .root).path))
            if let route { try Self.conforms(response, to: route, document) }
            if status == 405 { #expect(response.headers["Allow"] == (method == "GET" ? "POST" : "GET, HEAD")) }
        }
    }

    /// One source: the API's answers are what `wfctl --json` prints, value for value.
    @Test func answersAreWhatWfctlPrints() async throws {
        let dir = try TemporaryDirectory("webapi")
        let (state, run) = try seed(dir, schedules: [])
        let api = WebAPI(state: state, hostZone: .gmt)
        let wfctl = try BuiltProducts.path("wfctl")
        for (arguments, target) in [
            (["show", run.rawValue, "--json"], "/api/v1/runs/\(run)"),
            (["status", "--json"], "/api/v1/jobs"),
        ] {
            let printed = try await runProgram(wfctl, arguments + ["--state", state.root])
            #expect(printed.status == 0, "\(printed.output)")
            let answer = api.respond(APIRequest(method: "GET", target: target, caller: .root))
            #expect(JSONValue.parse(Data(printed.output.utf8)) == JSONValue.parse(answer.body), "\(arguments)")
        }
    }

    /// POST /api/v1/validate says of a file's text what `wfctl validate --json` says of the file.
    @Test func validateSaysWhatWfctlValidateSays() async throws {
        let dir = try TemporaryDirectory("validate")
        let api = WebAPI(state: StateDirectory(root: dir.path))
        let document = try WebAPITests.document()
        for (name, text) in [
            ("good.yaml", "steps:\n  - {id: a, run: 'true'}\n"),
            ("bad.yaml", "schedule: '61 * * * *'\nsteps:\n  - {id: a, run: 'true', needs: [b]}\n  - {id: A}\n"),
        ] {
            try dir.write(name, text)
            let answer = api.respond(
                APIRequest(
                    method: "POST", target: "/api/v1/validate?file=\(name)", body: Data(text.utf8), caller: .root))
            #expect(answer.status == 200)
            try Self.conforms(answer, to: "/api/v1/validate", document, method: "POST")
            let printed = try await runProgram(try BuiltProducts.path("wfctl"), ["validate", "--json", dir.file(name)])
            guard case .object(let report)? = JSONValue.parse(Data(printed.output.utf8)),
                case .array(let files)? = report["files"], case .object(var first)? = files.first,
                case .object(var mine)? = JSONValue.parse(answer.body)
            else { throw TestKitError("\(printed.output)") }
            // The same but for the file's path: wfctl names the file it read, the API the name given.
            first["file"] = nil
            mine["file"] = nil
            func withoutPaths(_ value: JSONValue?) -> JSONValue? {
                guard case .array(let items)? = value else { return value }
                return .array(
                    items.map { item in
                        guard case .object(var fields) = item else { return item }
                        fields["file"] = nil
                        return .object(fields)
                    })
            }
            #expect(withoutPaths(first["diagnostics"]) == withoutPaths(mine["diagnostics"]), "\(name)")
            if name == "bad.yaml" {
                guard case .array(let problems)? = mine["diagnostics"] else { throw TestKitError("no diagnostics") }
                #expect(problems.count >= 2 && mine["valid"] == .bool(false), "\(problems)")
            }
            first["diagnostics"] = nil
            mine["diagnostics"] = nil
            #expect(first == mine, "\(name)")
        }
        let bad = api.respond(
            APIRequest(method: "POST", target: "/api/v1/validate?file=../x.yaml", body: Data(), caller: .root))
        #expect(bad.status == 400)
    }

    @Test func theDocumentInDocsIsTheOneServed() throws {
        let docs = try String(contentsOfFile: BuiltProducts.packageRoot + "/docs/openapi.yaml", encoding: .utf8)
        #expect(docs == OpenAPIDocument.text, "regenerate it: wfd-web openapi > docs/openapi.yaml")
    }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members[key]
    }

    subscript(index: Int) -> JSONValue? {
        guard case .array(let items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }
}

extension Caller {
    /// The caller as a Unix socket would tell: root.
    static let root = Caller(uid: 0, gid: 0)
}
