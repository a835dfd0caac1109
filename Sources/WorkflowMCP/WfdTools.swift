import Foundation
import JSONSchemaKit
import JobFormat
import MCP
import WebAPI
import WorkflowControl

#if canImport(Glibc)
    import Glibc
#endif

/// wfd as a Model Context Protocol server, built with the official Swift SDK: tools to read jobs,
/// runs and approvals, check and propose job files, and start, retry or cancel runs; resources for
/// job files and run records. Every tool is a request to wfd's HTTP API (``WebAPI``) as the
/// caller: over stdio (`wfctl mcp`) the local user, with wfd's own rules; over HTTP (wfd-web's
/// `/mcp`) the request's bearer token, held to its scopes (starting, retrying and cancelling need
/// `operate`). An assistant never changes a live job (a proposal goes to `jobs.d/pending/`, for a
/// person to promote) and never decides an approval (the inbox is read only).
public struct WfdTools: Sendable {
    public let api: WebAPI
    /// Where `propose_job` writes drafts (`jobs.d`); nil: proposals are refused.
    public let jobsDirectory: String?
    /// Who a call is: the local caller (stdio), or nil to take the token of the HTTP request.
    public let caller: Caller?

    public init(api: WebAPI, jobsDirectory: String?, caller: Caller?) {
        self.api = api
        self.jobsDirectory = jobsDirectory
        self.caller = caller
    }

    struct ToolSpec: Sendable {
        let name: String
        let description: String
        let arguments: [(name: String, description: String, required: Bool)]
        let readOnly: Bool
    }

    static let specs: [ToolSpec] = [
        ToolSpec(
            name: "list_jobs",
            description: "Every job: state, schedules and triggers, next fire time, last and active run.",
            arguments: [], readOnly: true),
        ToolSpec(
            name: "read_job", description: "One job: its file's text, what wfd indexed of it, its next fire times.",
            arguments: [("job", "The job's id.", true)], readOnly: true),
        ToolSpec(
            name: "job_schema", description: "The JSON Schema of job files.", arguments: [], readOnly: true),
        ToolSpec(
            name: "validate_job",
            description: "Check a job file's text as wfd loads job files: every problem with its line and column.",
            arguments: [("job", "The job's id (its file name).", true), ("text", "The file's YAML.", true)],
            readOnly: true),
        ToolSpec(
            name: "propose_job",
            description:
                "Write a valid job file to jobs.d/pending/, which wfd never loads: a person reads it and runs wfctl promote. Invalid text is refused with its problems.",
            arguments: [("job", "The job's id (its file name).", true), ("text", "The file's YAML.", true)],
            readOnly: false),
        ToolSpec(
            name: "list_runs", description: "Runs, newest first: the active ones, then the ended ones.",
            arguments: [
                ("job", "Only this job's.", false), ("state", "Only runs in this state (failed, succeeded, …).", false),
                ("limit", "At most this many (default 20).", false),
            ], readOnly: true),
        ToolSpec(
            name: "read_run", description: "One run: its record, every step and attempt, its spend.",
            arguments: [("run", "The run's id.", true)], readOnly: true),
        ToolSpec(
            name: "why", description: "Why a run failed: the step, its error, its last lines, how to retry.",
            arguments: [("run", "The run's id.", true)], readOnly: true),
        ToolSpec(
            name: "pending_approvals",
            description: "Steps waiting for a person. Read only: an assistant never decides them.", arguments: [],
            readOnly: true),
        ToolSpec(
            name: "preview_run", description: "What a run would do and cost, without running it.",
            arguments: [("job", "The job's id.", true), ("params", "Parameter values, an object.", false)],
            readOnly: true),
        ToolSpec(
            name: "start_run", description: "Start a run of a job now (needs the operate scope).",
            arguments: [("job", "The job's id.", true), ("params", "Parameter values, an object.", false)],
            readOnly: false),
        ToolSpec(
            name: "retry_run",
            description: "Run an ended run again from its failed steps, or from a step (needs the operate scope).",
            arguments: [("run", "The run's id.", true), ("from", "Also run this step and what follows again.", false)],
            readOnly: false),
        ToolSpec(
            name: "cancel_run", description: "Stop an active run (needs the operate scope).",
            arguments: [("run", "The run's id.", true)], readOnly: false),
    ]

    /// The tools as MCP lists them.
    public static var tools: [Tool] {
        specs.map { spec in
            var properties: [String: Value] = [:]
            for argument in spec.arguments {
                let type = argument.name == "params" ? "object" : argument.name == "limit" ? "integer" : "string"
                properties[argument.name] = .object([
                    "type": .string(type), "description": .string(argument.description),
                ])
            }
            return Tool(
                name: spec.name, description: spec.description,
                inputSchema: .object([
                    "type": .string("object"), "properties": .object(properties),
                    "required": .array(spec.arguments.filter(\.required).map { .string($0.name) }),
                ]),
                annotations: .init(readOnlyHint: spec.readOnly, destructiveHint: spec.name == "cancel_run"))
        }
    }

    /// A server with the tools and resources, not yet started on a transport.
    public func makeServer(version: String) async -> Server {
        let server = Server(
            name: "wfd", version: version,
            instructions:
                "wfd runs recurring workflows. Read jobs and runs, explain failures, check and propose job files (a person promotes them), start, retry or cancel runs. Approvals are decided by people only.",
            capabilities: .init(
                resources: .init(subscribe: false, listChanged: false), tools: .init(listChanged: false)))
        let tools = self
        await server.withMethodHandler(ListTools.self) { _ in ListTools.Result(tools: Self.tools) }
        await server.withMethodHandler(CallTool.self) { params in
            let http = Server.currentHandlerContext?.httpContext
            return tools.call(params.name, params.arguments ?? [:], authorization: Self.header("authorization", http))
        }
        await server.withMethodHandler(ListResources.self) { _ in
            ListResources.Result(
                resources: tools.resources(
                    authorization: Self.header("authorization", Server.currentHandlerContext?.httpContext)))
        }
        await server.withMethodHandler(ReadResource.self) { params in
            let authorization = Self.header("authorization", Server.currentHandlerContext?.httpContext)
            return try tools.read(params.uri, authorization: authorization)
        }
        return server
    }

    /// Runs `work` (the API: file reads, wfd's control socket, which may wait a minute) on a
    /// thread of its own, never on the concurrency pool's few threads.
    static func blocking<Answer: Sendable>(_ work: @escaping @Sendable () -> Answer) async -> Answer {
        await withCheckedContinuation { (done: CheckedContinuation<Answer, Never>) in
            let thread = Thread { done.resume(returning: work()) }
            thread.name = "wfd-mcp-call"
            thread.start()
        }
    }

    static func header(_ name: String, _ request: HTTPRequest?) -> String? {
        request?.headers.first { $0.key.lowercased() == name }?.value
    }

    /// An API request as this server's caller.
    func request(_ method: String, _ target: String, body: Data = Data(), authorization: String?) -> APIResponse {
        var asked = APIRequest(method: method, target: target, body: body, caller: caller)
        if caller == nil, let authorization { asked.headers["authorization"] = authorization }
        return api.respond(asked)
    }

    /// The tool's answer: the API's JSON, or its problem as an error the model can read.
    func answer(_ response: APIResponse) -> CallTool.Result {
        let text = String(decoding: response.body, as: UTF8.self)
        guard response.status < 300 else {
            var detail = text
            if case .object(let problem)? = JSONValue.parse(response.body), case .string(let said)? = problem["detail"]
            {
                detail = said
            }
            return CallTool.Result(
                content: [.text(text: "\(response.status): \(detail)", annotations: nil, _meta: nil)], isError: true)
        }
        return CallTool.Result(content: [.text(text: text, annotations: nil, _meta: nil)], isError: false)
    }

    func call(_ name: String, _ arguments: [String: Value], authorization: String?) -> CallTool.Result {
        func string(_ key: String) -> String? { arguments[key]?.stringValue }
        func refuse(_ message: String) -> CallTool.Result {
            CallTool.Result(content: [.text(text: message, annotations: nil, _meta: nil)], isError: true)
        }
        func escaped(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
        }
        func need(_ key: String) -> String? { string(key).flatMap { $0.isEmpty ? nil : $0 } }
        func paramsBody() -> Data {
            guard case .object(let given)? = arguments["params"] else { return Data("{}".utf8) }
            let params = given.compactMapValues {
                $0.stringValue.map(JSONValue.string) ?? $0.intValue.map { .string(String($0)) }
            }
            return Data(JSONValue.object(["params": .object(params)]).jsonText.utf8)
        }
        switch name {
        case "list_jobs": return answer(request("GET", "/api/v1/jobs", authorization: authorization))
        case "read_job":
            guard let job = need("job") else { return refuse("read_job needs a job") }
            return answer(request("GET", "/api/v1/jobs/\(escaped(job))/definition", authorization: authorization))
        case "job_schema":
            return CallTool.Result(content: [.text(text: JobSchema.text, annotations: nil, _meta: nil)], isError: false)
        case "validate_job":
            guard let job = need("job"), let text = string("text") else {
                return refuse("validate_job needs a job and its text")
            }
            return answer(
                request(
                    "POST", "/api/v1/validate?file=\(escaped(job)).yaml", body: Data(text.utf8),
                    authorization: authorization))
        case "propose_job":
            guard let job = need("job"), let text = string("text") else {
                return refuse("propose_job needs a job and its text")
            }
            return propose(job, text, authorization: authorization)
        case "list_runs":
            var query = ["limit=\(arguments["limit"]?.intValue ?? 20)"]
            if let job = string("job") { query.append("job=\(escaped(job))") }
            if let state = string("state") { query.append("state=\(escaped(state))") }
            return answer(request("GET", "/api/v1/runs?" + query.joined(separator: "&"), authorization: authorization))
        case "read_run":
            guard let run = need("run") else { return refuse("read_run needs a run") }
            return answer(request("GET", "/api/v1/runs/\(escaped(run))", authorization: authorization))
        case "why":
            guard let run = need("run") else { return refuse("why needs a run") }
            return answer(request("GET", "/api/v1/runs/\(escaped(run))/why", authorization: authorization))
        case "pending_approvals": return answer(request("GET", "/api/v1/approvals", authorization: authorization))
        case "preview_run":
            guard let job = need("job") else { return refuse("preview_run needs a job") }
            return answer(
                request(
                    "POST", "/api/v1/jobs/\(escaped(job))/preview", body: paramsBody(), authorization: authorization))
        case "start_run":
            guard let job = need("job") else { return refuse("start_run needs a job") }
            return answer(
                request("POST", "/api/v1/jobs/\(escaped(job))/runs", body: paramsBody(), authorization: authorization))
        case "retry_run":
            guard let run = need("run") else { return refuse("retry_run needs a run") }
            let body = string("from").map { JSONValue.object(["from": .string($0)]).jsonText } ?? "{}"
            return answer(
                request(
                    "POST", "/api/v1/runs/\(escaped(run))/retry", body: Data(body.utf8), authorization: authorization))
        case "cancel_run":
            guard let run = need("run") else { return refuse("cancel_run needs a run") }
            return answer(request("POST", "/api/v1/runs/\(escaped(run))/cancel", authorization: authorization))
        default:
            return refuse("no tool '\(name)': see tools/list (an assistant cannot approve or reject)")
        }
    }

    /// `propose_job`: checked as wfd loads job files (the caller must be able to read jobs), then
    /// written to `jobs.d/pending/<job>.yaml`.
    func propose(_ job: String, _ text: String, authorization: String?) -> CallTool.Result {
        let checked = request(
            "POST", "/api/v1/validate?file=\(job).yaml", body: Data(text.utf8), authorization: authorization)
        guard checked.status == 200 else { return answer(checked) }
        guard case .object(let verdict)? = JSONValue.parse(checked.body), verdict["valid"] == .bool(true) else {
            return CallTool.Result(
                content: [
                    .text(
                        text: "not proposed: the file has problems\n" + String(decoding: checked.body, as: UTF8.self),
                        annotations: nil, _meta: nil)
                ],
                isError: true)
        }
        guard let jobsDirectory else {
            return CallTool.Result(
                content: [
                    .text(
                        text: "this server takes no proposals (it knows no jobs directory)", annotations: nil,
                        _meta: nil)
                ], isError: true)
        }
        let pending = jobsDirectory + "/pending"
        let path = "\(pending)/\(job).yaml"
        do {
            try FileManager.default.createDirectory(atPath: pending, withIntermediateDirectories: true)
            let temporary = path + ".tmp"
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            chmod(temporary, 0o644)
            guard rename(temporary, path) == 0 else { throw POSIXError(.EIO) }
        } catch {
            return CallTool.Result(
                content: [.text(text: "cannot write \(path): \(error)", annotations: nil, _meta: nil)], isError: true)
        }
        return CallTool.Result(
            content: [
                .text(
                    text: "proposed \(path): wfd does not load it; a person reads it and runs wfctl promote \(job)",
                    annotations: nil, _meta: nil)
            ], isError: false)
    }

    /// Each job's file and each of the newest 50 runs' records.
    func resources(authorization: String?) -> [Resource] {
        var found: [Resource] = []
        let jobs = request("GET", "/api/v1/jobs", authorization: authorization)
        if case .object(let report)? = JSONValue.parse(jobs.body), case .array(let entries)? = report["jobs"] {
            for case .object(let entry) in entries {
                guard case .string(let id)? = entry["job"] else { continue }
                found.append(
                    Resource(
                        name: "job \(id)", uri: "wfd://jobs/\(id)", description: "The job file of \(id).",
                        mimeType: "application/yaml"))
            }
        }
        let runs = request("GET", "/api/v1/runs?limit=50", authorization: authorization)
        if case .object(let page)? = JSONValue.parse(runs.body), case .array(let entries)? = page["runs"] {
            for case .object(let entry) in entries {
                guard case .string(let id)? = entry["id"] else { continue }
                found.append(
                    Resource(
                        name: "run \(id)", uri: "wfd://runs/\(id)", description: "The record of run \(id).",
                        mimeType: "application/json"))
            }
        }
        return found
    }

    struct Unreadable: Error, CustomStringConvertible {
        let description: String
    }

    func read(_ uri: String, authorization: String?) throws -> ReadResource.Result {
        if uri.hasPrefix("wfd://jobs/") {
            let job = String(uri.dropFirst("wfd://jobs/".count))
            let response = request("GET", "/api/v1/jobs/\(job)/definition", authorization: authorization)
            guard response.status == 200, case .object(let detail)? = JSONValue.parse(response.body),
                case .string(let text)? = detail["text"]
            else {
                throw MCPError.invalidParams("no job file \(uri): \(String(decoding: response.body, as: UTF8.self))")
            }
            return ReadResource.Result(contents: [.text(text, uri: uri, mimeType: "application/yaml")])
        }
        if uri.hasPrefix("wfd://runs/") {
            let run = String(uri.dropFirst("wfd://runs/".count))
            let response = request("GET", "/api/v1/runs/\(run)", authorization: authorization)
            guard response.status == 200 else {
                throw MCPError.invalidParams("no run \(uri): \(String(decoding: response.body, as: UTF8.self))")
            }
            return ReadResource.Result(
                contents: [
                    .text(String(decoding: response.body, as: UTF8.self), uri: uri, mimeType: "application/json")
                ])
        }
        throw MCPError.invalidParams("unknown resource \(uri): wfd://jobs/<job> or wfd://runs/<run>")
    }
}
