import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import RuntimeSupport
import Schedules
import Testing
import WebAPI
import WebUI
import WorkflowControl
import WorkflowStore
import WorkflowTesting

/// The web UI in process: sessions (signed, expiring, ended by revoking the token), CSRF, a
/// token's scopes, where signing in may send you, and hostile values on pages (escaped, never
/// markup). The browser test drives the same pages in Chromium.
@Suite struct WebUITests {
    let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!

    struct Setup {
        let ui: WebUI
        let tokens: TokenSource
        let file: String
        let state: StateDirectory
        let run: RunID
        var secrets: [String: String] = [:]
    }

    /// The API test's state (a failed run of `nightly`), tokens `reader` (read) and `approver`
    /// (approve only), and a UI whose clock is `clock`.
    func setUp(_ dir: TemporaryDirectory, clock: Locked<Date>) throws -> Setup {
        let (state, run) = try WebAPITests().seed(dir)
        var tokens = AccessTokens()
        var secrets: [String: String] = [:]
        for (name, scopes) in [("reader", [AccessTokens.Scope.read]), ("approver", [.approve])] {
            let secret = AccessTokens.makeSecret()
            secrets[name] = secret
            tokens.tokens.append(
                AccessTokens.Token(name: name, scopes: scopes, sha256: SHA256.hex(Array(secret.utf8)), createdAt: t0))
        }
        let file = dir.file("tokens.json")
        try RecordFile.write(try Timestamp.makeEncoder().encode(tokens), to: file)
        let source = TokenSource(path: file)
        let api = WebAPI(state: state, tokens: source, now: { clock.withLock { $0 } }, hostZone: .gmt)
        let ui = WebUI(
            api: api, sessionKey: dir.file("session.key"), tokens: source, now: { clock.withLock { $0 } }, zone: .gmt)
        return Setup(ui: ui, tokens: source, file: file, state: state, run: run, secrets: secrets)
    }

    func get(_ ui: WebUI, _ target: String, cookie: String? = nil, caller: Caller? = nil) -> APIResponse {
        var request = APIRequest(method: "GET", target: target, caller: caller)
        if let cookie { request.headers["cookie"] = "other=1; wfd_session=\(cookie)" }
        return ui.respond(request)
    }

    func post(_ ui: WebUI, _ path: String, _ form: String, cookie: String? = nil, caller: Caller? = nil) -> APIResponse
    {
        var request = APIRequest(method: "POST", path: path, body: Data(form.utf8), caller: caller)
        if let cookie { request.headers["cookie"] = "wfd_session=\(cookie)" }
        return ui.respond(request)
    }

    func signIn(_ ui: WebUI, _ secret: String, next: String = "/") throws -> (cookie: String, location: String) {
        let answer = post(ui, "/login", "token=\(secret)&next=\(HTMLQuery.encode(next))")
        #expect(answer.status == 303)
        let header = try #require(answer.headers["Set-Cookie"])
        #expect(header.contains("HttpOnly") && header.contains("Secure") && header.contains("SameSite=Strict"))
        let value = String(header.dropFirst("wfd_session=".count).prefix { $0 != ";" })
        return (value, answer.headers["Location"] ?? "")
    }

    func text(_ response: APIResponse) -> String { String(decoding: response.body, as: UTF8.self) }

    /// The CSRF token a page's forms carry.
    func csrf(in page: APIResponse) throws -> String {
        let html = text(page)
        let marker = "name=\"csrf\" value=\""
        let start = try #require(html.range(of: marker)?.upperBound, "no CSRF field")
        return String(html[start...].prefix { $0 != "\"" })
    }

    @Test func aSessionIsSignedExpiresAndEndsWithItsToken() throws {
        let dir = try TemporaryDirectory("webui-session")
        let clock = Locked(t0)
        let setup = try setUp(dir, clock: clock)
        let ui = setup.ui

        // Not signed in: to the sign-in page, remembering where to go; a wrong token is refused.
        let away = get(ui, "/jobs/nightly?state=failed")
        #expect(away.status == 303 && away.headers["Location"] == "/login?next=%2Fjobs%2Fnightly%3Fstate%3Dfailed")
        let wrong = post(ui, "/login", "token=wfd_nope&next=%2Fjobs%2Fnightly")
        #expect(wrong.status == 401 && wrong.headers["Set-Cookie"] == nil && text(wrong).contains("No such token"))
        #expect(text(wrong).contains("value=\"/jobs/nightly\""), "the form keeps where to go")

        let (cookie, location) = try signIn(ui, setup.secrets["reader"]!, next: "/jobs/nightly")
        #expect(location == "/jobs/nightly")
        #expect(get(ui, "/jobs/nightly", cookie: cookie).status == 200)
        #expect(text(get(ui, "/", cookie: cookie)).contains("token reader"))

        // A cookie changed by a byte, or of another key, is no session.
        var forged = Array(cookie)
        forged[forged.count - 1] = forged.last == "0" ? "1" : "0"
        #expect(get(ui, "/", cookie: String(forged)).status == 303)
        let otherUI = WebUI(
            api: ui.api, sessionKey: dir.file("other.key"), tokens: setup.tokens, now: { clock.withLock { $0 } })
        #expect(get(otherUI, "/", cookie: cookie).status == 303)
        // A second wfd-web with the same key file takes it (sessions outlive a restart).
        let restarted = WebUI(
            api: ui.api, sessionKey: dir.file("session.key"), tokens: setup.tokens, now: { clock.withLock { $0 } })
        #expect(get(restarted, "/", cookie: cookie).status == 200)

        // Twelve hours on, it has expired.
        clock.withLock { $0 = t0 + 12 * 3600 + 1 }
        #expect(get(ui, "/", cookie: cookie).status == 303)
        clock.withLock { $0 = t0 }

        // Revoking the token ends its sessions at once.
        var known = try AccessTokens.load(setup.file)
        known.tokens.removeAll { $0.name == "reader" }
        try RecordFile.write(try Timestamp.makeEncoder().encode(known), to: setup.file)
        #expect(get(ui, "/", cookie: cookie).status == 303)
    }

    @Test func formsNeedTheirCSRFTokenAndTheTokensScopeAndSigningInStaysOnTheSite() throws {
        let dir = try TemporaryDirectory("webui-csrf")
        let setup = try setUp(dir, clock: Locked(t0))
        let ui = setup.ui
        let (reader, _) = try signIn(ui, setup.secrets["reader"]!)
        let page = get(ui, "/runs/\(setup.run)", cookie: reader)
        #expect(page.status == 200)
        let token = try csrf(in: page)
        let before = try RunStore(directory: setup.state).loadRun(JobID("nightly")!, setup.run)

        // No token, a wrong one, another session's: 403, and wfd is not asked (it does not run
        // here: had the form gone through, the answer would be 503).
        for form in ["back=/", "csrf=\(String(repeating: "0", count: 32))", "csrf="] {
            let refused = post(ui, "/runs/\(setup.run)/retry", form, cookie: reader)
            #expect(refused.status == 403 && text(refused).contains("CSRF"), "\(form)")
        }
        let (approver, _) = try signIn(ui, setup.secrets["approver"]!)
        #expect(post(ui, "/runs/\(setup.run)/retry", "csrf=\(token)", cookie: approver).status == 403)
        // Without a session: 401.
        #expect(post(ui, "/runs/\(setup.run)/retry", "csrf=\(token)").status == 401)
        // With its token, a read-only session is refused by the API's scope check, said on the page.
        let scoped = post(ui, "/runs/\(setup.run)/retry", "csrf=\(token)&back=/runs/\(setup.run)", cookie: reader)
        #expect(scoped.status == 303)
        let said = try #require(scoped.headers["Location"])
        #expect(said.hasPrefix("/runs/\(setup.run)?error=") && said.contains("operate"), "\(said)")
        #expect(try RunStore(directory: setup.state).loadRun(JobID("nightly")!, setup.run) == before)
        // A token without read sees no page.
        #expect(get(ui, "/", cookie: approver).status == 403)

        // Signing in goes to a page of this site only.
        for next in [
            "//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
            "/jobs\r\nSet-Cookie: wfd_session=x", "/\u{7F}",
        ] {
            let (_, location) = try signIn(ui, setup.secrets["reader"]!, next: next)
            #expect(location == "/", "\(next) -> \(location)")
        }
        // A form's `back` is held to the site too.
        let back = post(ui, "/runs/\(setup.run)/retry", "csrf=\(token)&back=//evil.example", cookie: reader)
        #expect(back.headers["Location"]?.hasPrefix("/?error=") == true, "\(back.headers)")
    }

    /// Times in the host's zone, durations and amounts as a person reads them.
    @Test func timesAndDurationsReadAsAPersonExpects() throws {
        let dir = try TemporaryDirectory("webui-times")
        let setup = try setUp(dir, clock: Locked(t0 + 60))
        let page = text(get(setup.ui, "/runs/\(setup.run)", caller: Caller(uid: 0, gid: 0)))
        #expect(page.contains("started 2026-01-01 00:00:00") && page.contains("took 5.0 s"), "\(page.prefix(2000))")
        let tokyo = WebUI(
            api: setup.ui.api, sessionKey: nil, tokens: setup.tokens, now: { self.t0 },
            zone: try #require(TimeZone(identifier: "Asia/Tokyo")))
        #expect(text(get(tokyo, "/runs/\(setup.run)", caller: Caller(uid: 0, gid: 0))).contains("2026-01-01 09:00:05"))
    }

    /// A job whose description, step names and log hold markup: the pages show it as text.
    /// What starts a job (`on:`) is on the jobs page and the job's page; what started a run, and
    /// its trace id, on the run's page (a hostile webhook source shown as text).
    @Test func triggersAndTracesAreShown() throws {
        let dir = try TemporaryDirectory("webui-triggers")
        let setup = try setUp(dir, clock: Locked(t0))
        let root = Caller(uid: 0, gid: 0)
        let store = RunStore(directory: setup.state)
        let job = try JobParser().parse(
            "on: { webhook: { secret: s }, job: nightly, states: [failed] }\nsteps: [{id: a, run: 'true'}]\n",
            path: "/etc/wfd/jobs.d/hooked.yaml")
        try store.saveJobInfo(
            JobInfo(id: job.id, job: job, file: "/etc/wfd/jobs.d/hooked.yaml", errors: [], loadedAt: t0))
        var snapshot = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 7), trigger: .webhook, scheduledFor: nil, createdAt: t0)
        snapshot.run.origin = TriggerOrigin(source: "POST /hooks/hooked", delivery: "<b>d-1</b>", receivedAt: t0)
        snapshot.run.traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        try store.saveSpec(job, run: snapshot.run.id)
        (snapshot, _) = try RunMachine.apply(snapshot, .start(at: t0))
        try store.save(snapshot.run)
        let list = text(get(setup.ui, "/", caller: root))
        #expect(list.contains("on webhook (github); on job nightly (failed)"), "\(list)")
        let page = text(get(setup.ui, "/jobs/hooked", caller: root))
        #expect(page.contains("Started also by: <code>webhook (github); job nightly (failed)</code>"), "\(page)")
        let run = text(get(setup.ui, "/runs/\(snapshot.run.id)", caller: root))
        #expect(run.contains("Started by the webhook trigger: <code>POST /hooks/hooked</code>"), "\(run)")
        #expect(run.contains("delivery <code>&lt;b&gt;d-1&lt;/b&gt;</code>"))
        #expect(run.contains("trace <code id=\"trace\">4bf92f3577b34da6a3ce929d0e0e4736</code>"))
    }

    @Test func anAgentsTranscriptIsShownTurnByTurnAsText() throws {
        let dir = try TemporaryDirectory("webui-agent")
        let setup = try setUp(dir, clock: Locked(t0))
        let root = Caller(uid: 0, gid: 0)
        let store = RunStore(directory: setup.state)
        let job = try JobParser().parse(
            """
            steps:
              - id: act
                agent:
                  provider: openai
                  model: m
                  instructions: go
                  tools: [{ name: look, http: { url: "https://example.test/${{ args.id }}" } }]
            """, path: "/etc/wfd/jobs.d/agentic.yaml")
        var snapshot = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 9), trigger: .manual, scheduledFor: nil, createdAt: t0)
        try store.saveSpec(job, run: snapshot.run.id)
        (snapshot, _) = try RunMachine.apply(snapshot, .start(at: t0))
        try store.save(snapshot.run)
        var transcript = AgentTranscript(
            job: job.id, run: snapshot.run.id, step: StepID("act")!, item: nil, startedAt: t0)
        var first = AgentTurn(
            number: 1, attempt: 1, call: ModelCall(provider: .openai, model: "m", promptSHA256: "x", startedAt: t0),
            last: false)
        first.call.inputTokens = 120
        first.text = "<b>Looking</b>"
        var look = AgentToolCall(id: "c1", name: "look", arguments: .object(["id": .string("7")]), effect: .idempotent)
        look.state = .succeeded
        look.result = "HTTP 200\n<script>alert(1)</script>"
        look.decision = Decision(approved: true, by: "ann", at: t0)
        first.toolCalls = [look]
        var second = AgentTurn(number: 2, attempt: 2, call: first.call, last: true)
        second.answer = .object(["done": .bool(true)])
        transcript.turns = [first, second]
        try store.save(transcript)
        let page = text(get(setup.ui, "/runs/\(snapshot.run.id)", caller: root))
        #expect(page.contains("<h2>Agent</h2>"), "\(page)")
        #expect(page.contains("<code>look {&quot;id&quot;:&quot;7&quot;}</code>"), "\(page)")
        #expect(page.contains("approved by ann") && page.contains("120 in"))
        #expect(page.contains("&lt;b&gt;Looking&lt;/b&gt;") && !page.contains("<script>alert(1)"))
        #expect(page.contains("answer: <code>{&quot;done&quot;:true}</code>") && page.contains("(last)"))
        let api = setup.ui.api.respond(
            APIRequest(method: "GET", target: "/api/v1/runs/\(snapshot.run.id)", caller: root))
        guard case .object(let detail)? = JSONValue.parse(api.body), case .array(let agents)? = detail["agents"],
            case .object(let agent)? = agents.first, case .array(let turns)? = agent["turns"]
        else {
            Issue.record("no agents in \(text(api))")
            return
        }
        #expect(turns.count == 2 && turns[0].jsonText.contains(#""result":"HTTP 200\n<script>alert(1)</script>""#))
    }

    @Test func hostileValuesAreShownAsTextNeverAsMarkup() throws {
        let dir = try TemporaryDirectory("webui-hostile")
        let setup = try setUp(dir, clock: Locked(t0))
        let root = Caller(uid: 0, gid: 0)
        let evil = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>"
        let store = RunStore(directory: setup.state)
        var info = try store.loadJobInfo(JobID("nightly")!)
        info.description = evil
        try store.saveJobInfo(info)
        let logs = setup.state.logsDirectory(JobID("nightly")!, setup.run)
        try (evil + "\n").write(toFile: logs + "/load.1.log", atomically: true, encoding: .utf8)
        for target in [
            "/", "/jobs/nightly", "/runs/\(setup.run)", "/runs/\(setup.run)/steps/load/attempts/1",
            "/?q=\(HTMLQuery.encode(evil))", "/runs/\(setup.run)?error=\(HTMLQuery.encode(evil))",
        ] {
            let page = get(setup.ui, target, caller: root)
            #expect(page.status == 200, "\(target): \(text(page).prefix(300))")
            #expect(!text(page).contains("<script>alert") && !text(page).contains("<img src=x"), "\(target)")
            #expect(page.headers["Content-Security-Policy"]?.contains("script-src 'self'") == true)
        }
        #expect(text(get(setup.ui, "/jobs/nightly", caller: root)).contains("&lt;script&gt;alert(&#39;x&#39;)"))
        // Paths that lead nowhere, or out: 404 or 400, never a file.
        for target in [
            "/runs/..%2F..%2Fetc%2Fpasswd", "/jobs/..%2F..", "/runs/\(setup.run)/steps/..%2F..%2Frun/attempts/1",
            "/static/..%2Fwfd.css", "/nope",
        ] {
            let page = get(setup.ui, target, caller: root)
            #expect([400, 404].contains(page.status), "\(target): \(page.status)")
            #expect(!text(page).contains("root:x:0:0"))
        }
    }
}

/// Percent-encoding for a query value in these tests.
enum HTMLQuery {
    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}
