import Foundation
import JobFormat
import RunModel
import WebAPI
import WorkflowControl
import WorkflowStore

/// wfd's web UI: pages rendered on the server from the same records the API answers with,
/// forms that send the API's commands on behalf of who is signed in, and the API itself under
/// `/api/`. It reads without JavaScript; a little script keeps pages live and follows logs.
public struct WebUI: Sendable {
    public let api: WebAPI
    let sessions: Sessions
    let tokens: TokenSource?
    let now: @Sendable () -> Date
    let zone: TimeZone

    public init(
        api: WebAPI, sessionKey: String?, tokens: TokenSource?, now: @escaping @Sendable () -> Date = Date.init,
        zone: TimeZone = .current
    ) {
        self.api = api
        sessions = Sessions.load(path: sessionKey)
        self.tokens = tokens
        self.now = now
        self.zone = zone
    }

    var state: StateDirectory { api.state }

    /// Who a page is shown to: a Unix user (the socket's peer) or a signed-in token.
    struct Viewer {
        var caller: Caller?
        var token: AccessTokens.Token?
        /// What CSRF tokens are bound to.
        var principal: String
        var name: String
    }

    public func respond(_ request: APIRequest) -> APIResponse {
        if request.path == "/api" || request.path.hasPrefix("/api/") || request.path == "/metrics"
            || request.path.hasPrefix("/hooks/")
        {
            return api.respond(request)
        }
        let segments = request.path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        if request.method == "GET" || request.method == "HEAD", let asset = Assets.answer(segments) { return asset }
        if segments == ["login"] { return request.method == "POST" ? signIn(request) : signInPage(request) }
        guard let viewer = viewer(of: request) else {
            guard request.method == "GET" || request.method == "HEAD" else {
                return Page.problem(status: 401, "Sign in first: your session has ended or never began.")
            }
            let query = request.query.sorted { $0.key < $1.key }.map { "\(HTML.query($0.key))=\(HTML.query($0.value))" }
            let next = HTML.query(request.path + (query.isEmpty ? "" : "?" + query.joined(separator: "&")))
            return APIResponse(
                status: 303, contentType: "text/plain", body: Data(), headers: ["Location": "/login?next=\(next)"])
        }
        if let token = viewer.token, !token.scopes.contains(.read), request.method != "POST" {
            return Page.problem(
                status: 403,
                "Token \(token.name) may not read (its scopes: \(token.scopes.map(\.rawValue).joined(separator: ", ")))."
            )
        }
        if request.method == "POST" { return act(request, segments, viewer) }
        guard request.method == "GET" || request.method == "HEAD" else {
            return Page.problem(status: 405, "\(request.method) is not something a page answers.")
        }
        let pages = Pages(ui: self, viewer: viewer, query: request.query)
        switch segments.count {
        case 0: return pages.jobs()
        case 1 where segments[0] == "approvals": return pages.approvals()
        case 2 where segments[0] == "jobs":
            guard let job = JobID(segments[1]) else { return pages.failed(Problem(.notFound, detail: "no such job")) }
            return JobPage(pages: pages, job: job.rawValue).render()
        case 2 where segments[0] == "runs":
            guard let run = RunID(segments[1]), let page = RunPage(pages, run: run.rawValue) else {
                return pages.failed(Problem(.notFound, detail: "no run \(segments[1]): see the jobs"))
            }
            return page.render()
        case 6 where segments[0] == "runs" && segments[2] == "steps" && segments[4] == "attempts":
            return pages.log(run: segments[1], step: segments[3], attempt: segments[5])
        case 7
        where segments[0] == "runs" && segments[2] == "steps" && segments[4] == "attempts" && segments[6] == "events":
            // The API's stream, for the page's script (which the session's cookie lets in).
            guard let run = RunID(segments[1]), let step = StepID(segments[3]), let attempt = Int(segments[5]) else {
                return Page.problem(status: 404, "No such attempt.")
            }
            var follow = APIRequest(
                method: "GET", path: "/api/v1/runs/\(run)/steps/\(step)/attempts/\(attempt)/log/events",
                query: request.query, caller: viewer.caller)
            follow.token = viewer.token
            follow.headers = request.headers
            return api.respond(follow)
        default: return Page.problem(status: 404, "No such page. The jobs are at /.")
        }
    }

    /// The signed-in token (over TCP) or the Unix user at the other end of the socket.
    func viewer(of request: APIRequest) -> Viewer? {
        if let caller = request.caller {
            let name = caller.uid == 0 ? "root" : "uid \(caller.uid)"
            return Viewer(caller: caller, token: nil, principal: "uid:\(caller.uid)", name: name)
        }
        guard let value = Sessions.cookie(Sessions.cookie, in: request.headers["cookie"]),
            case .success(let known)? = tokens?.current(),
            let token = sessions.verify(value, tokens: known, now: now())
        else { return nil }
        return Viewer(caller: nil, token: token, principal: value, name: "token \(token.name)")
    }

    func signInPage(_ request: APIRequest, next asked: String? = nil, error: String? = nil) -> APIResponse {
        let next = Self.localPath(asked ?? request.query["next"])
        let body: HTML = """
            <section class="signin"><h1>Sign in to wfd</h1>
            <p>Give a token made with <code>wfctl token add NAME --scope read,operate,approve</code>.
            The page keeps you signed in for \(Int(Sessions.lifetime / 3600)) hours with a cookie that scripts cannot read.</p>
            \(error.map { HTML("<p class=\"error\">\($0)</p>") } ?? "")
            <form method="post" action="/login"><input type="hidden" name="next" value="\(next)">
            <label>Token <input type="password" name="token" id="token" autocomplete="off" required autofocus></label>
            <button type="submit" id="signin">Sign in</button></form></section>
            """
        return Page.render(title: "Sign in", body: body, viewer: nil, status: error == nil ? 200 : 401)
    }

    func signIn(_ request: APIRequest) -> APIResponse {
        let form = Form(request.body)
        guard case .success(let known)? = tokens?.current(), let token = known.token(for: form["token"] ?? "") else {
            return signInPage(
                request, next: form["next"], error: "No such token. wfctl token list shows the tokens there are.")
        }
        let next = Self.localPath(form["next"])
        return APIResponse(
            status: 303, contentType: "text/plain", body: Data(),
            headers: ["Location": next, "Set-Cookie": Sessions.setCookie(sessions.issue(for: token, now: now()))])
    }

    /// A path on this site to go to after signing in: `/` unless `text` is one (never `//host`,
    /// and nothing that could end the `Location` header: no control characters).
    static func localPath(_ text: String?) -> String {
        guard let text, text.hasPrefix("/"), !text.hasPrefix("//"), !text.contains("\\"),
            !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { return "/" }
        return text
    }

    /// A form sent: checked for its CSRF token, then turned into the API's command, sent on
    /// behalf of the viewer; the answer is a redirection back with what happened.
    func act(_ request: APIRequest, _ segments: [String], _ viewer: Viewer) -> APIResponse {
        let form = Form(request.body)
        guard sessions.checks(form["csrf"], for: viewer.principal) else {
            return Page.problem(status: 403, "This form has no valid CSRF token: reload the page and send it again.")
        }
        if segments == ["logout"] {
            return APIResponse(
                status: 303, contentType: "text/plain", body: Data(),
                headers: ["Location": "/login", "Set-Cookie": Sessions.setCookie(nil)])
        }
        guard let command = FormCommand(segments, form) else {
            return Page.problem(status: 404, "No such action.")
        }
        var call = APIRequest(method: "POST", path: command.path, body: command.body, caller: viewer.caller)
        call.token = viewer.token
        let answer = api.respond(call)
        var back = Self.localPath(form["back"])
        let said: String
        if (200..<300).contains(answer.status) {
            let run = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["run"] as? String
            if command.startsRun, let run { back = "/runs/\(run)" }
            said = "done=" + HTML.query(command.done)
        } else {
            let detail = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["detail"] as? String
            said = "error=" + HTML.query(detail ?? "the API answered \(answer.status)")
        }
        let separator = back.contains("?") ? "&" : "?"
        return APIResponse(
            status: 303, contentType: "text/plain", body: Data(), headers: ["Location": back + separator + said])
    }
}

/// An `application/x-www-form-urlencoded` body.
struct Form {
    var values: [String: String] = [:]

    init(_ body: Data) {
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            values[decode(parts[0])] = parts.count == 2 ? decode(parts[1]) : ""
        }
    }

    subscript(name: String) -> String? { values[name].flatMap { $0.isEmpty ? nil : $0 } }
}

/// What a form asks the API for.
struct FormCommand {
    var path: String
    var body: Data
    /// What the page says when it is done.
    var done: String
    var startsRun = false

    init?(_ segments: [String], _ form: Form) {
        // Every id checked before it goes into the API's path.
        guard segments.count >= 2, JobID(segments[1]) != nil || RunID(segments[1]) != nil,
            segments.count < 5 || StepID(segments[3]) != nil
        else { return nil }
        func json(_ object: [String: Any]) -> Data {
            (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        }
        switch (segments.count, segments.first, segments.last) {
        case (3, "jobs", "run"):
            path = "/api/v1/jobs/\(segments[1])/runs"
            var params: [String: String] = [:]
            for line in (form["params"] ?? "").split(whereSeparator: \.isNewline) {
                let pair = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if pair.count == 2 { params[pair[0]] = pair[1] }
            }
            body = json(["params": params])
            done = "started a run of \(segments[1])"
            startsRun = true
        case (3, "runs", "cancel"):
            path = "/api/v1/runs/\(segments[1])/cancel"
            body = json([:])
            done = "cancelled"
        case (3, "runs", "retry"):
            path = "/api/v1/runs/\(segments[1])/retry"
            var object: [String: Any] = [:]
            if let from = form["from"] { object["from"] = from }
            if let skip = form["skip"] { object["skip"] = [skip] }
            if let skip = form["skip"], let output = form["output"] { object["outputs"] = [skip: output] }
            body = json(object)
            done = "retried"
        case (5, "runs", "approve"), (5, "runs", "reject"):
            guard segments[2] == "steps" else { return nil }
            path = "/api/v1/runs/\(segments[1])/steps/\(segments[3])/\(segments[4])"
            var object: [String: Any] = [:]
            if let comment = form["comment"] { object["comment"] = comment }
            if let item = form["item"].flatMap(Int.init) { object["item"] = item }
            if let input = form["input"] {
                // Given as JSON; what is not JSON goes as a string, and the step's schema judges it.
                object["input"] =
                    (try? JSONSerialization.jsonObject(with: Data(input.utf8), options: [.fragmentsAllowed])) ?? input
            }
            body = json(object)
            done = segments[4] == "approve" ? "approved \(segments[3])" : "rejected \(segments[3])"
        default:
            return nil
        }
    }
}
