import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Schedules
import WebAPI
import WorkflowReports
import WorkflowStore

/// What every page is rendered with: the UI, who looks, and the page's query.
struct Pages {
    let ui: WebUI
    let viewer: WebUI.Viewer
    let query: [String: String]

    var csrf: String { ui.sessions.csrf(for: viewer.principal) }
    var state: StateDirectory { ui.state }

    func render(_ title: String, _ body: HTML, status: Int = 200) -> APIResponse {
        Page.render(
            title: title, body: body, viewer: viewer, csrf: csrf, status: status,
            notice: (query["done"], query["error"]))
    }

    /// What the API answers `GET path` with for the viewer, decoded.
    func read<T: Decodable>(_ type: T.Type, _ path: String) -> Result<T, Problem> {
        var request = APIRequest(method: "GET", target: path, caller: viewer.caller)
        request.token = viewer.token
        let answer = ui.api.respond(request)
        guard answer.status == 200 else {
            let problem = try? JSONDecoder().decode(Problem.self, from: answer.body)
            return .failure(problem ?? Problem(.unreadable, detail: "the API answered \(answer.status)"))
        }
        do {
            return .success(try Timestamp.makeDecoder().decode(T.self, from: answer.body))
        } catch {
            return .failure(Problem(.unreadable, detail: "\(error)"))
        }
    }

    func failed(_ problem: Problem) -> APIResponse {
        render(
            "Error \(problem.status)", "<h1>\(problem.title)</h1><p class=\"error\">\(problem.detail)</p>",
            status: problem.status)
    }

    // MARK: The jobs

    /// Every job as `wfctl status` shows it, filtered by `?q=` (and live by the script).
    func jobs() -> APIResponse {
        let report: StatusReport
        switch read(StatusReport.self, "/api/v1/jobs") {
        case .success(let found): report = found
        case .failure(let problem): return failed(problem)
        }
        let filter = (query["q"] ?? "").lowercased()
        let shown = report.jobs.filter {
            filter.isEmpty || $0.job.rawValue.contains(filter) || ($0.description ?? "").lowercased().contains(filter)
        }
        let rows: [HTML] = shown.map { job in
            let rate = job.successRate.map { "\($0.succeeded)/\($0.ended)" } ?? "-"
            let last: HTML =
                job.lastRun.map {
                    "\(Show.state($0.state.rawValue)) <a href=\"/runs/\($0.id)\">\(Show.time($0.endedAt, zone: ui.zone))</a>"
                } ?? "-"
            let active: HTML =
                job.activeRun.map { "<a href=\"/runs/\($0.id)\">\(Show.state($0.state.rawValue))</a>" } ?? ""
            let problems: HTML =
                job.errors.isEmpty
                ? "" : "<div class=\"error\">\(job.errors.map(\.description).joined(separator: "; "))</div>"
            return """
                <tr data-job="\(job.job)"><td><a href="/jobs/\(job.job)">\(job.job)</a><div class="muted">\(job.description)</div>\(problems)</td>\
                <td>\(job.state.rawValue)</td><td><code>\((job.schedules + (job.triggers ?? []).map { "on \($0)" }).joined(separator: "; "))</code></td>\
                <td>\(Show.time(job.nextFire, zone: ui.zone))</td><td>\(last)</td><td>\(rate)</td><td>\(active)</td></tr>
                """
        }
        let daemon: HTML =
            report.daemon.running
            ? "wfd \(report.daemon.version ?? "") is running (pid \(report.daemon.pid.map(String.init) ?? "?"))"
            : "<span class=\"error\">wfd is not running</span>: what is shown is read from the state directory"
        return render(
            "Jobs",
            """
            <h1>Jobs</h1><p class="muted">\(daemon). \(report.jobs.count) jobs.</p>
            <form method="get" action="/" class="filter"><input type="search" name="q" id="filter" value="\(query["q"] ?? "")" \
            placeholder="filter by name or description"><button type="submit">Filter</button></form>
            <div id="live" data-live="5"><table class="jobs"><thead><tr><th>Job</th><th>State</th><th>Schedule</th><th>Next</th>\
            <th>Last run</th><th>Succeeded</th><th>Active</th></tr></thead><tbody>\(rows)</tbody></table></div>
            """)
    }

    // MARK: The approvals inbox

    /// Every step that waits for a person, with its message, the data it was given and a form
    /// to approve (with input for the step's schema) or reject.
    func approvals() -> APIResponse {
        let pending: [PendingDecision]
        switch read([PendingDecision].self, "/api/v1/approvals") {
        case .success(let found): pending = found
        case .failure(let problem): return failed(problem)
        }
        let store = RunStore(directory: state)
        let items: [HTML] = pending.map { decision in
            var schema: HTML = ""
            var data: [HTML] = []
            if let job = JobID(decision.job), let run = RunID(decision.run), let step = StepID(decision.step),
                let snapshot = try? store.loadSnapshot(job, run),
                let definition = snapshot.spec.steps.first(where: { $0.id == step })
            {
                if case .approval(let approval) = definition.kind, let input = approval.input {
                    schema = "<p>Input, checked against this schema:</p><pre class=\"json\">\(Show.json(input))</pre>"
                }
                for need in definition.needs {
                    guard let value = snapshot.steps.first(where: { $0.step == need })?.value else { continue }
                    data.append("<dt>\(need) said</dt><dd><pre class=\"json\">\(Show.json(value))</pre></dd>")
                }
            }
            let item: HTML = decision.item.map { "<input type=\"hidden\" name=\"item\" value=\"\($0)\">" } ?? ""
            let base = "/runs/\(decision.run)/steps/\(decision.step)"
            return """
                <article class="decision" data-run="\(decision.run)" data-step="\(decision.step)">
                <h2><a href="/runs/\(decision.run)">\(decision.job) · \(decision.step)</a> <span class="muted">\(decision.kind)</span></h2>
                <p class="message">\(decision.message)</p>
                <p class="muted">waiting since \(Show.time(decision.since, zone: ui.zone))\
                \(decision.deadline.map { HTML("; decided by its timeout at \(Show.time($0, zone: ui.zone))") } ?? "")</p>
                \(data.isEmpty ? "" : HTML("<dl class=\"data\">\(data)</dl>"))\(schema)
                <form method="post" action="\(base)/approve" class="approve">\(Page.formFields(csrf, back: "/approvals"))\(item)
                <label>Input (JSON) <textarea name="input" rows="3"></textarea></label>
                <label>Comment <input type="text" name="comment"></label>
                <button type="submit" class="approve-button">Approve</button></form>
                <form method="post" action="\(base)/reject" class="reject">\(Page.formFields(csrf, back: "/approvals"))\(item)
                <label>Comment <input type="text" name="comment"></label><button type="submit" class="danger">Reject</button></form>
                </article>
                """
        }
        return render(
            "Approvals",
            """
            <h1>Approvals</h1><div id="live" data-live="5">\
            \(items.isEmpty ? HTML("<p class=\"muted\" id=\"empty\">Nothing waits for a person.</p>") : HTML("\(items)"))</div>
            """)
    }

    // MARK: A step's log

    /// An attempt's log as it is, followed live by the script, with how to find its journal entries.
    func log(run: String, step: String, attempt: String) -> APIResponse {
        guard let id = RunID(run), let stepID = StepID(step), let number = Int(attempt), number >= 1 else {
            return failed(Problem(.badRequest, detail: "'\(run)/\(step)/\(attempt)' names no attempt"))
        }
        guard let job = RunDetail.job(of: id, in: state),
            let stepRecord = try? RunStore(directory: state).loadStep(job, id, stepID)
        else { return failed(Problem(.notFound, detail: "run \(run) has no step \(step)")) }
        let record = stepRecord.attempts.first { $0.number == number }
        var request = APIRequest(
            method: "GET", path: "/api/v1/runs/\(id)/steps/\(stepID)/attempts/\(number)/log", caller: viewer.caller)
        request.token = viewer.token
        let answer = ui.api.respond(request)
        // No log yet is an empty page that fills as the attempt writes.
        guard answer.status == 200 || answer.status == 404 else {
            return failed(
                (try? JSONDecoder().decode(Problem.self, from: answer.body)) ?? Problem(.unreadable, detail: "?"))
        }
        let text = answer.status == 200 ? String(decoding: answer.body, as: UTF8.self) : ""
        let ended: HTML = record?.outcome.map { "ended: \(Show.state($0.rawValue))" } ?? "running"
        let fields: HTML = """
            <table class="fields"><tr><th>RUN_ID</th><td>\(run)</td></tr><tr><th>STEP</th><td>\(step)</td></tr>\
            <tr><th>ATTEMPT</th><td>\(attempt)</td></tr><tr><th>exit status</th><td id="exit-status">\(record?.exitCode.map(String.init) ?? "-")</td></tr>\
            <tr><th>started</th><td>\(Show.time(record?.startedAt, zone: ui.zone))</td></tr>\
            <tr><th>took</th><td>\(Show.duration(record?.durationMilliseconds.map { Double($0) / 1000 }))</td></tr></table>
            <p>Its entries in the journal: <code>journalctl -u wfd RUN_ID=\(run) STEP=\(step) ATTEMPT=\(attempt)</code></p>
            """
        return render(
            "Log of \(step)",
            """
            <h1><a href="/runs/\(run)">\(run)</a> · \(step) · attempt \(attempt)</h1>
            <p id="log-state" class="muted">\(ended)</p>\(fields)
            <pre id="log" class="log" data-follow="/runs/\(run)/steps/\(step)/attempts/\(attempt)/events" \
            data-offset="\(text.utf8.count)" data-ended="\(record?.outcome != nil ? "1" : "0")">\(text)</pre>
            """)
    }
}
