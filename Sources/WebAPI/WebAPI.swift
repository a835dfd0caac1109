import Foundation
import JobFormat
import RunModel
import Schedules
import WorkflowControl
import WorkflowReports
import WorkflowStore

/// A request as the API sees it: the method, the path without its query, the query's parameters.
public struct APIRequest: Sendable, Equatable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var body: Data
    /// Who sent it, when the connection tells (a Unix socket's peer); nil over TCP.
    public var caller: Caller?
    /// Headers the API reads, by lower-case name (`last-event-id`).
    public var headers: [String: String] = [:]
    /// A token already verified (a signed-in session of the web UI): the request is its, held to
    /// its scopes, as if it came with the token itself.
    public var token: AccessTokens.Token?

    public init(method: String, path: String, query: [String: String] = [:], body: Data = Data(), caller: Caller? = nil)
    {
        self.method = method
        self.path = path
        self.query = query
        self.body = body
        self.caller = caller
    }

    /// `target` is the request line's path with its query (`/api/v1/stats?since=24h`).
    public init(method: String, target: String, body: Data = Data(), caller: Caller? = nil) {
        self.method = method
        self.body = body
        self.caller = caller
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts[0])
        query = [:]
        guard parts.count == 2 else { return }
        for pair in parts[1].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(kv[0]).removingPercentEncoding ?? String(kv[0])
            let value = kv.count == 2 ? String(kv[1]).replacingOccurrences(of: "+", with: " ") : ""
            query[name] = value.removingPercentEncoding ?? value
        }
    }
}

/// What the API answers.
public struct APIResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: Data
    /// Headers besides the content type (`Allow` on a 405).
    public var headers: [String: String]
    /// For a stream (Server-Sent Events): what follows `body`, written as it comes.
    public var stream: AsyncStream<Data>?

    public init(
        status: Int, contentType: String, body: Data, headers: [String: String] = [:], stream: AsyncStream<Data>? = nil
    ) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
        self.stream = stream
    }
}

/// wfd's HTTP API over one state directory: what it reads is read from the state directory at
/// the time of the request, with the types `wfctl --json` prints; what it changes is sent to wfd
/// over its control socket on behalf of the caller.
public struct WebAPI: Sendable {
    public let state: StateDirectory
    let now: @Sendable () -> Date
    let hostZone: TimeZone
    let commands: CommandRoutes
    /// How often a quiet log stream gets a heartbeat comment.
    let heartbeat: Duration
    /// The bearer tokens a request without a caller (over TCP) must show.
    let tokens: TokenSource?

    public init(
        state: StateDirectory, link: (any DaemonLink)? = nil, tokens: TokenSource? = nil,
        now: @escaping @Sendable () -> Date = Date.init, hostZone: TimeZone = .current,
        heartbeat: Duration = .seconds(15)
    ) {
        self.state = state
        self.tokens = tokens
        self.now = now
        self.hostZone = hostZone
        self.heartbeat = heartbeat
        commands = CommandRoutes(state: state, link: link ?? ControlSocketLink(state: state))
    }

    /// The routes, as the OpenAPI document names them (`{name}` is one path segment), and the
    /// method each answers (GET routes answer HEAD too).
    public static let routes: [(method: String, pattern: String)] = [
        ("GET", "/api/openapi.yaml"), ("GET", "/api/v1/jobs"), ("GET", "/api/v1/jobs/{job}"),
        ("GET", "/api/v1/runs"), ("GET", "/api/v1/runs/{run}"), ("GET", "/api/v1/runs/{run}/why"),
        ("GET", "/api/v1/stats"), ("GET", "/api/v1/approvals"), ("GET", "/api/v1/jobs/{job}/definition"),
        ("GET", "/api/v1/runs/{run}/steps/{step}/attempts/{attempt}/log"),
        ("GET", "/api/v1/runs/{run}/steps/{step}/attempts/{attempt}/log/events"),
        ("POST", "/api/v1/jobs/{job}/runs"), ("POST", "/api/v1/runs/{run}/cancel"),
        ("POST", "/api/v1/runs/{run}/retry"),
        ("POST", "/api/v1/runs/{run}/steps/{step}/approve"), ("POST", "/api/v1/runs/{run}/steps/{step}/reject"),
        ("POST", "/api/v1/reload"), ("POST", "/api/v1/validate"), ("GET", "/metrics"),
        ("POST", "/api/v1/jobs/{job}/preview"), ("POST", "/hooks/{job}"),
    ]

    /// The largest request body the API takes (a command's; larger ones get 413).
    public static let maximumBody = CommandRoutes.maximumBody

    public func respond(_ request: APIRequest) -> APIResponse {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard let route = Self.match(segments) else {
            return Problem(.notFound, detail: "no such resource: see /api/openapi.yaml", instance: request.path)
                .response
        }
        let methods = Self.routes.filter { $0.pattern == route.pattern }.map(\.method)
        let allowed = methods.contains("GET") ? methods + ["HEAD"] : methods
        guard allowed.contains(request.method) else {
            var response = Problem(
                .methodNotAllowed, detail: "\(route.pattern) answers \(allowed.joined(separator: ", ")) only",
                instance: request.path
            ).response
            response.headers["Allow"] = allowed.joined(separator: ", ")
            return response
        }
        if route.pattern == "/hooks/{job}" {
            return WebhookRoute(link: commands.link).respond(job: route.parameters["job"] ?? "", request)
        }
        do throws(Problem) {
            var request = request
            if let token = request.token {
                request.caller = try TokenAuthority.authorize(
                    token, needing: TokenAuthority.scope(request.method, route.pattern))
            } else if request.caller == nil, route.pattern != "/api/openapi.yaml" {
                request.caller = try TokenAuthority(tokens: tokens).authenticate(
                    request, needing: TokenAuthority.scope(request.method, route.pattern))
            }
            if route.pattern == "/api/v1/validate" { return try validate(request) }
            if request.method == "POST" {
                guard request.body.count <= CommandRoutes.maximumBody else {
                    throw Problem(.tooLarge, detail: "a command's body is at most \(CommandRoutes.maximumBody) bytes")
                }
                let command = try commands.command(
                    route.pattern, route.parameters, body: request.body, headers: request.headers)
                return try commands.send(command, as: request.caller)
            }
            return try answer(route, request)
        } catch {
            var problem = error
            problem.instance = request.path
            var response = problem.response
            if problem.status == 401 { response.headers["WWW-Authenticate"] = #"Bearer realm="wfd""# }
            return response
        }
    }

    /// The caller a request with this `Authorization` header is (its bearer token's), if the token
    /// has `scope`: for what answers beside the API with the same tokens (wfd-web's `/mcp`).
    public func caller(authorization: String?, needing scope: AccessTokens.Scope) -> Result<Caller, Problem> {
        var request = APIRequest(method: "GET", path: "/mcp")
        request.headers["authorization"] = authorization
        do throws(Problem) {
            return .success(try TokenAuthority(tokens: tokens).authenticate(request, needing: scope))
        } catch {
            return .failure(error)
        }
    }

    /// `POST /api/v1/validate`: the body is a job file's text, `?file=NAME.yaml` its name (which
    /// gives the job id); the answer is what `wfctl validate --json` says of such a file.
    private func validate(_ request: APIRequest) throws(Problem) -> APIResponse {
        guard request.body.count <= CommandRoutes.maximumBody else {
            throw Problem(.tooLarge, detail: "a job file is at most \(CommandRoutes.maximumBody) bytes here")
        }
        let file = request.query["file"] ?? "job.yaml"
        guard !file.contains("/"), JobParser.jobID(forFileName: file) != nil else {
            throw Problem(.badRequest, detail: "file=\(file): a job file's name is its job id and .yaml (backup.yaml)")
        }
        guard let text = String(data: request.body, encoding: .utf8) else {
            throw Problem(.badRequest, detail: "the body is not UTF-8 text")
        }
        return try json(JobFileCheck.check(text, file: file))
    }

    /// A route with the values of its `{name}` segments.
    struct Route {
        let pattern: String
        let parameters: [String: String]
    }

    static func match(_ segments: [String]) -> Route? {
        for pattern in routes.map(\.pattern) {
            let parts = pattern.split(separator: "/").map(String.init)
            guard parts.count == segments.count else { continue }
            var parameters: [String: String] = [:]
            let matches = zip(parts, segments).allSatisfy { part, segment in
                if part.hasPrefix("{") {
                    parameters[String(part.dropFirst().dropLast())] = segment.removingPercentEncoding ?? segment
                    return !segment.isEmpty
                }
                return part == segment
            }
            if matches { return Route(pattern: pattern, parameters: parameters) }
        }
        return nil
    }

    private func answer(_ route: Route, _ request: APIRequest) throws(Problem) -> APIResponse {
        switch route.pattern {
        case "/api/openapi.yaml":
            return APIResponse(status: 200, contentType: "application/yaml", body: Data(OpenAPIDocument.text.utf8))
        case "/api/v1/jobs":
            // From the running wfd's memory (what wfctl status shows), else from the records.
            if let caller = request.caller,
                case .success(let answer) = commands.link.send(.status(.json), as: caller, timeout: .seconds(10)),
                answer.ok
            {
                return APIResponse(status: 200, contentType: "application/json", body: Data(answer.message.utf8))
            }
            return try json(loadStatus())
        case "/api/v1/jobs/{job}":
            let job = try Self.jobID(route.parameters["job"] ?? "")
            guard let status = try loadStatus(only: job).jobs.first else {
                throw Problem(.notFound, detail: "no job \(job) in \(state.root): see /api/v1/jobs")
            }
            return try json(status)
        case "/api/v1/runs":
            return try listRuns(request.query, caller: request.caller)
        case "/api/v1/runs/{run}":
            return try fromRun(route.parameters) { run, job throws(StoreError) in
                try RunDetail.load(run, of: job, in: state)
            }
        case "/api/v1/runs/{run}/why":
            return try fromRun(route.parameters) { run, job throws(StoreError) in
                try FailureExplanation.explain(run, of: job, in: state)
            }
        case "/api/v1/jobs/{job}/definition":
            let job = try Self.jobID(route.parameters["job"] ?? "")
            let text = request.query["next"] ?? "5"
            guard let count = Int(text), (0...100).contains(count) else {
                throw Problem(.badRequest, detail: "next is how many fire times to give, 0 to 100, not '\(text)'")
            }
            guard let detail = JobDetail.load(job, in: state, now: now(), hostZone: hostZone, count: count) else {
                throw Problem(.notFound, detail: "no job \(job) in \(state.root): see /api/v1/jobs")
            }
            return try json(detail)
        case "/api/v1/approvals":
            return try json(PendingDecision.load(state))
        case "/api/v1/runs/{run}/steps/{step}/attempts/{attempt}/log":
            let follow = try logFollow(route.parameters)
            guard let data = FileManager.default.contents(atPath: follow.path) else {
                throw Problem(.notFound, detail: "attempt \(follow.attempt) of step \(follow.step) has no log (yet)")
            }
            return APIResponse(status: 200, contentType: "text/plain; charset=utf-8", body: data)
        case "/api/v1/runs/{run}/steps/{step}/attempts/{attempt}/log/events":
            let follow = try logFollow(route.parameters)
            let from = request.headers["last-event-id"] ?? request.query["offset"] ?? "0"
            guard let offset = Int(from), offset >= 0 else {
                throw Problem(.badRequest, detail: "Last-Event-ID (or offset) is a byte offset, not '\(from)'")
            }
            return APIResponse(
                status: 200, contentType: "text/event-stream", body: Data(), headers: ["Cache-Control": "no-cache"],
                stream: follow.events(from: offset))
        case "/metrics":
            // Counters live in wfd's memory: with wfd stopped there are none to give.
            guard let caller = request.caller else { throw Problem(.unauthorized, detail: "send a token") }
            let answer: ControlResponse
            switch commands.link.send(.status(.metrics), as: caller, timeout: .seconds(10)) {
            case .success(let got): answer = got
            case .failure(let problem): throw problem
            }
            guard answer.ok else {
                throw Problem(.unavailable, detail: "wfd did not give its metrics: \(answer.message)")
            }
            return APIResponse(
                status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Data(answer.message.utf8))
        case "/api/v1/stats":
            let now = now()
            let text = request.query["since"] ?? "7d"
            guard let since = RunStatistics.instant(text, now: now) else {
                throw Problem(
                    .badRequest, detail: "since takes a duration (24h, 7d) or an RFC 3339 time, not '\(text)'")
            }
            var jobs: [JobID]? = nil
            if let job = request.query["job"] { jobs = [try Self.jobID(job)] }
            return try json(RunStatistics.Report(jobs, in: state, since: since, now: now))
        default:
            throw Problem(.notFound, detail: "no such resource: see /api/openapi.yaml")
        }
    }

    /// `GET /api/v1/runs`: a page of ``RunListing``; its first page's active runs as the running
    /// wfd knows them (from its memory, not 10,000 files), else as the records say.
    private func listRuns(_ query: [String: String], caller: Caller?) throws(Problem) -> APIResponse {
        let asked = try RunsQuery(query, now: now())
        var running: [JobID: RunID]? = nil
        if asked.cursor == nil, asked.filter.job == nil, let caller,
            case .success(let answer) = commands.link.send(.status(.active), as: caller, timeout: .seconds(10)),
            answer.ok
        {
            running = RunsQuery.active(answer.message)
        }
        return try json(
            RunListing.load(asked.filter, in: state, limit: asked.limit, after: asked.cursor, running: running))
    }

    /// What `read` makes of the run the route names, as JSON; a record that cannot be read is a 500.
    private func fromRun(
        _ parameters: [String: String], _ read: (RunID, JobID) throws(StoreError) -> some Encodable
    ) throws(Problem) -> APIResponse {
        let (job, run) = try locate(parameters["run"] ?? "")
        do {
            return try json(try read(run, job))
        } catch {
            throw Problem(.unreadable, detail: "cannot read run \(run): \(error)")
        }
    }

    /// The attempt a log route names; 404 when its run or step does not exist.
    private func logFollow(_ parameters: [String: String]) throws(Problem) -> LogFollow {
        let (job, run) = try locate(parameters["run"] ?? "")
        let step = try CommandRoutes.stepID(parameters["step"] ?? "")
        let text = parameters["attempt"] ?? ""
        guard let attempt = Int(text), attempt >= 1 else {
            throw Problem(.badRequest, detail: "'\(text)' is not an attempt number (1, 2, …)")
        }
        guard FileManager.default.fileExists(atPath: state.stepRecord(job, run, step)) else {
            throw Problem(.notFound, detail: "run \(run) has no step \(step)")
        }
        return LogFollow(
            state: state, job: job, run: run, step: step, attempt: attempt, heartbeat: heartbeat,
            watcher: .shared)
    }

    private func loadStatus(only job: JobID? = nil) throws(Problem) -> StatusReport {
        do {
            return try StatusReport.load(state: state, now: now(), hostZone: hostZone, only: job)
        } catch {
            throw Problem(.unreadable, detail: "\(error)")
        }
    }

    static func jobID(_ text: String) throws(Problem) -> JobID {
        guard let job = JobID(text) else {
            throw Problem(.badRequest, detail: "'\(text)' is not a job id: \(JobID.rule)")
        }
        return job
    }

    private func locate(_ text: String) throws(Problem) -> (JobID, RunID) {
        guard let run = RunID(text) else { throw Problem(.badRequest, detail: "'\(text)' is not a run id") }
        guard let job = RunDetail.job(of: run, in: state) else {
            throw Problem(.notFound, detail: "no run \(run) in \(state.root)")
        }
        return (job, run)
    }

    private func json(_ value: some Encodable) throws(Problem) -> APIResponse { try Self.json(value) }

    static func json(_ value: some Encodable, status: Int = 200) throws(Problem) -> APIResponse {
        do {
            // wfd's own encoder (what the records are written with): several times Foundation's speed.
            let body = try RecordJSON.encode(value)
            return APIResponse(status: status, contentType: "application/json", body: body)
        } catch {
            throw Problem(.unreadable, detail: "cannot encode the answer: \(error)")
        }
    }
}
