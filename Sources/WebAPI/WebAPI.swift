import Foundation
import JobFormat
import RunModel
import Schedules
import WorkflowReports
import WorkflowStore

/// A request as the API sees it: the method, the path without its query, the query's parameters.
public struct APIRequest: Sendable, Equatable {
    public var method: String
    public var path: String
    public var query: [String: String]

    public init(method: String, path: String, query: [String: String] = [:]) {
        self.method = method
        self.path = path
        self.query = query
    }

    /// `target` is the request line's path with its query (`/api/v1/stats?since=24h`).
    public init(method: String, target: String) {
        self.method = method
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
public struct APIResponse: Sendable, Equatable {
    public var status: Int
    public var contentType: String
    public var body: Data
    /// Headers besides the content type (`Allow` on a 405).
    public var headers: [String: String]

    public init(status: Int, contentType: String, body: Data, headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }
}

/// wfd's HTTP API over one state directory, read-only: every answer is read from the state
/// directory at the time of the request, with the types `wfctl --json` prints.
public struct WebAPI: Sendable {
    public let state: StateDirectory
    let now: @Sendable () -> Date
    let hostZone: TimeZone

    public init(state: StateDirectory, now: @escaping @Sendable () -> Date = Date.init, hostZone: TimeZone = .current) {
        self.state = state
        self.now = now
        self.hostZone = hostZone
    }

    /// The routes, as the OpenAPI document names them (`{name}` is one path segment).
    public static let routes = [
        "/api/openapi.yaml", "/api/v1/jobs", "/api/v1/jobs/{job}", "/api/v1/runs/{run}", "/api/v1/runs/{run}/why",
        "/api/v1/stats",
    ]

    public func respond(_ request: APIRequest) -> APIResponse {
        let segments = request.path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard let route = Self.match(segments) else {
            return problem(.init(.notFound, detail: "no such resource: see /api/openapi.yaml", instance: request.path))
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            var response = problem(
                .init(.methodNotAllowed, detail: "\(route.pattern) answers GET only", instance: request.path))
            response.headers["Allow"] = "GET, HEAD"
            return response
        }
        do {
            return try answer(route, request)
        } catch {
            var problem = error
            problem.instance = request.path
            return self.problem(problem)
        }
    }

    /// A route with the values of its `{name}` segments.
    struct Route {
        let pattern: String
        let parameters: [String: String]
    }

    static func match(_ segments: [String]) -> Route? {
        for pattern in routes {
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
            return try json(loadStatus())
        case "/api/v1/jobs/{job}":
            let job = try jobID(route.parameters["job"] ?? "")
            guard let status = try loadStatus().jobs.first(where: { $0.job == job }) else {
                throw Problem(.notFound, detail: "no job \(job) in \(state.root): see /api/v1/jobs")
            }
            return try json(status)
        case "/api/v1/runs/{run}":
            let (job, run) = try locate(route.parameters["run"] ?? "")
            do {
                return try json(try RunDetail.load(run, of: job, in: state))
            } catch {
                throw Problem(.unreadable, detail: "cannot read run \(run): \(error)")
            }
        case "/api/v1/runs/{run}/why":
            let (job, run) = try locate(route.parameters["run"] ?? "")
            do {
                return try json(try FailureExplanation.explain(run, of: job, in: state))
            } catch {
                throw Problem(.unreadable, detail: "cannot read run \(run): \(error)")
            }
        case "/api/v1/stats":
            let now = now()
            let text = request.query["since"] ?? "7d"
            guard let since = RunStatistics.instant(text, now: now) else {
                throw Problem(
                    .badRequest, detail: "since takes a duration (24h, 7d) or an RFC 3339 time, not '\(text)'")
            }
            var jobs: [JobID]? = nil
            if let job = request.query["job"] { jobs = [try jobID(job)] }
            return try json(RunStatistics.Report(jobs, in: state, since: since, now: now))
        default:
            throw Problem(.notFound, detail: "no such resource: see /api/openapi.yaml")
        }
    }

    private func loadStatus() throws(Problem) -> StatusReport {
        do {
            return try StatusReport.load(state: state, now: now(), hostZone: hostZone)
        } catch {
            throw Problem(.unreadable, detail: "\(error)")
        }
    }

    private func jobID(_ text: String) throws(Problem) -> JobID {
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

    /// Compact JSON with sorted keys, and slashes as they are (`/etc/wfd`, not `\/etc\/wfd`).
    static let encoder: JSONEncoder = {
        let encoder = Timestamp.makeEncoder(pretty: false)
        encoder.outputFormatting.insert(.withoutEscapingSlashes)
        return encoder
    }()

    private func json(_ value: some Encodable) throws(Problem) -> APIResponse {
        do {
            let body = try Self.encoder.encode(value)
            return APIResponse(status: 200, contentType: "application/json", body: body)
        } catch {
            throw Problem(.unreadable, detail: "cannot encode the answer: \(error)")
        }
    }

    private func problem(_ problem: Problem) -> APIResponse {
        let body = (try? Self.encoder.encode(problem)) ?? Data()
        return APIResponse(status: problem.status, contentType: "application/problem+json", body: body)
    }
}
