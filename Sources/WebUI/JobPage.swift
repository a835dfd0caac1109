import Foundation
import JobFormat
import RunModel
import WebAPI
import WorkflowReports
import WorkflowStore

/// A job: its file (read-only, highlighted), its next fire times, its history with filters and
/// paging, how often it succeeded and how long it took as a chart, and a form to run it now.
struct JobPage {
    let pages: Pages
    let job: String

    var zone: TimeZone { pages.ui.zone }

    func render() -> APIResponse {
        let detail: JobDetail
        switch pages.read(JobDetail.self, "/api/v1/jobs/\(job)/definition?next=5") {
        case .success(let found): detail = found
        case .failure(let problem): return pages.failed(problem)
        }
        let trend = (try? pages.read(RunListing.self, "/api/v1/runs?job=\(job)&limit=50").get())?.runs ?? []
        let history: RunListing
        switch pages.read(
            RunListing.self, "/api/v1/runs?job=\(job)&limit=25&" + filterQuery(cursor: pages.query["cursor"]))
        {
        case .success(let found): history = found
        case .failure(let problem): return pages.failed(problem)
        }
        let next: [HTML] = detail.next.map { "<li>\(Show.time($0, zone: zone))</li>" }
        return pages.render(
            "Job \(job)",
            """
            <h1>\(job)</h1><p class="muted">\(detail.info.description ?? "")</p>
            <p>Schedule: <code>\(detail.info.schedules.joined(separator: "; "))</code>\
            \(detail.info.timezone.map { HTML(" in \($0)") } ?? "") · \(detail.info.enabled ? "enabled" : "disabled")</p>
            \((detail.info.triggers ?? []).isEmpty ? "" : HTML("<p>Started also by: <code>\((detail.info.triggers ?? []).joined(separator: "; "))</code></p>"))
            \(next.isEmpty ? "" : HTML("<p>Next fire times:</p><ol class=\"next\">\(next)</ol>"))
            \(runForm())
            <h2>How it went</h2>\(Self.chart(Array(trend.reversed())))
            <h2>History</h2>\(filters())\(table(history))
            <h2>Its file</h2><p class="muted">\(detail.info.file)</p><pre class="yaml" id="file">\(Self.highlight(detail.text ?? "(the file cannot be read)"))</pre>
            """)
    }

    func runForm() -> HTML {
        """
        <form method="post" action="/jobs/\(job)/run" class="actions" id="run-form">\(Page.formFields(pages.csrf, back: "/jobs/\(job)"))
        <label>Parameters, one NAME=VALUE a line <textarea name="params" rows="2"></textarea></label>
        <button type="submit" id="run-now">Run now</button></form>
        """
    }

    /// The page's history filters (and `cursor`) as a query: `state=failed&cursor=…`.
    func filterQuery(cursor: String?) -> String {
        var words: [String] = []
        for (name, value) in [("state", pages.query["state"]), ("trigger", pages.query["trigger"]), ("cursor", cursor)]
        {
            if let value { words.append("\(name)=\(HTML.query(value))") }
        }
        return words.joined(separator: "&")
    }

    func filters() -> HTML {
        func select(_ name: String, _ values: [String]) -> HTML {
            let options: [HTML] = values.map { value in
                pages.query[name] == value
                    ? "<option value=\"\(value)\" selected>\(value)</option>"
                    : "<option value=\"\(value)\">\(value)</option>"
            }
            return
                "<label>\(name) <select name=\"\(name)\"><option value=\"\">(any)</option>\(options)</select></label>"
        }
        return """
            <form method="get" action="/jobs/\(job)" class="filter">\(select("state", RunState.allCases.map(\.rawValue)))\
            \(select("trigger", Trigger.allCases.map(\.rawValue)))<button type="submit">Show</button></form>
            """
    }

    func table(_ history: RunListing) -> HTML {
        let rows: [HTML] = ((history.active ?? []) + history.runs).map { run in
            let took = run.endedAt.map { end in (run.startedAt ?? end).distance(to: end) }
            return """
                <tr><td><a href="/runs/\(run.id)">\(run.id)</a></td><td>\(Show.state(run.state.rawValue))</td>\
                <td>\(run.trigger.rawValue)</td><td>\(Show.time(run.startedAt, zone: zone))</td><td>\(Show.duration(took))</td>\
                <td>\(run.error ?? "")</td></tr>
                """
        }
        var more: HTML = ""
        if let next = history.next {
            more = "<p><a href=\"/jobs/\(job)?\(filterQuery(cursor: next))\" id=\"older\">Older runs</a></p>"
        }
        return """
            <table class="runs" id="history"><thead><tr><th>Run</th><th>State</th><th>Trigger</th><th>Started</th>\
            <th>Took</th><th>Error</th></tr></thead><tbody>\(rows)</tbody></table>\(more)
            """
    }

    /// The last runs (oldest first) as bars: the height is how long each took, the colour how it ended.
    static func chart(_ runs: [RunIndex.Entry]) -> HTML {
        let ended = runs.filter { $0.endedAt != nil }
        guard !ended.isEmpty else { return "<p class=\"muted\">No run has ended yet.</p>" }
        let took = ended.map { run in
            max(0, (run.startedAt ?? run.endedAt ?? Date()).distance(to: run.endedAt ?? Date()))
        }
        let longest = max(took.max() ?? 0, 0.001)
        let (height, bar) = (120.0, 12)
        var bars: [HTML] = []
        for (index, run) in ended.enumerated() {
            let h = max(2, took[index] / longest * height)
            bars.append(
                """
                <a href="/runs/\(run.id)"><rect class="bar st-\(run.state.rawValue)" x="\(8 + index * (bar + 3))" \
                y="\(Show.decimal(10 + height - h, places: 1))" width="\(bar)" height="\(Show.decimal(h, places: 1))">\
                <title>\(run.id): \(run.state.rawValue), \(Show.duration(took[index]))</title></rect></a>
                """)
        }
        let succeeded = ended.filter { $0.state == .succeeded }.count
        let width = 16 + ended.count * (bar + 3)
        return """
            <p>\(succeeded) of the last \(ended.count) runs succeeded \
            (\(Int((Double(succeeded) / Double(ended.count) * 100).rounded())) %); the longest took \(Show.duration(longest)).</p>
            <svg class="chart" id="chart" width="\(width)" height="\(Int(height) + 20)" xmlns="http://www.w3.org/2000/svg" \
            role="img" aria-label="how long each of the last runs took">\(bars)</svg>
            """
    }

    /// A job file's YAML with its comments and keys marked (a line at a time: enough for job files).
    static func highlight(_ text: String) -> HTML {
        let lines: [HTML] = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            var code = Substring(line)
            var comment: Substring = ""
            if let hash = line.firstIndex(of: "#"), hash == line.startIndex || line[line.index(before: hash)] == " " {
                code = line[..<hash]
                comment = line[hash...]
            }
            let indent = code.prefix { $0 == " " || $0 == "-" }
            let rest = code.dropFirst(indent.count)
            var out: HTML = "\(String(indent))"
            if let colon = rest.firstIndex(of: ":"),
                rest[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }),
                !rest[..<colon].isEmpty
            {
                out = "\(out)<span class=\"k\">\(String(rest[..<colon]))</span>\(String(rest[colon...]))"
            } else {
                out = "\(out)\(String(rest))"
            }
            if !comment.isEmpty { out = "\(out)<span class=\"c\">\(String(comment))</span>" }
            return out
        }
        return HTML(trusted: lines.map(\.text).joined(separator: "\n"))
    }
}
