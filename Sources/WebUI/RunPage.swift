import Foundation
import JobFormat
import RunModel
import WebAPI
import WorkflowReports
import WorkflowStore

/// A run: its DAG, the timeline of its attempts, each step's attempts and model calls, its spend
/// against its budget, why it failed, and the forms to retry or cancel it.
struct RunPage {
    let pages: Pages
    let detail: RunDetail
    let why: FailureExplanation?

    init?(_ pages: Pages, run: String) {
        guard case .success(let detail) = pages.read(RunDetail.self, "/api/v1/runs/\(run)") else { return nil }
        self.pages = pages
        self.detail = detail
        why =
            [.failed, .timedOut, .cancelled].contains(detail.run.state)
            ? try? pages.read(FailureExplanation.self, "/api/v1/runs/\(run)/why").get() : nil
    }

    var zone: TimeZone { pages.ui.zone }

    func render() -> APIResponse {
        let run = detail.run
        let took = run.endedAt.map { end in (run.startedAt ?? run.createdAt).distance(to: end) }
        let params: HTML =
            (run.params ?? [:]).isEmpty
            ? ""
            : "<p>Parameters: \((run.params ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))</p>"
        let origin: HTML =
            run.origin.map { origin -> HTML in
                let delivery: HTML = origin.delivery.map { " · delivery <code>\($0)</code>" } ?? ""
                return """
                    <p id="origin">Started by the \(run.trigger.rawValue) trigger: <code>\(origin.source)</code>\(delivery) · \
                    received \(Show.time(origin.receivedAt, zone: zone))</p>
                    """
            } ?? ""
        return pages.render(
            "Run \(run.id)",
            """
            <h1><a href="/jobs/\(run.job)">\(run.job)</a> · <span id="run-id">\(run.id)</span> \(Show.state(run.state.rawValue))</h1>
            <p class="muted">\(run.trigger.rawValue) · started \(Show.time(run.startedAt, zone: zone)) · \
            ended \(Show.time(run.endedAt, zone: zone)) · took \(Show.duration(took)) · trace <code id="trace">\(run.trace.traceID)</code></p>\(origin)\(params)
            \(run.error.map { HTML("<p class=\"error\">\($0)</p>") } ?? "")\(spend())\(whyPanel())\(actions())
            <div id="live" data-live="\(run.state.isTerminal ? "0" : "2")">
            <h2>Steps</h2><div class="scroll">\(RunDiagrams.dag(detail))</div>
            <h2>Timeline</h2><div class="scroll">\(RunDiagrams.gantt(detail, now: pages.ui.now()))</div>
            \(stepsTable())\(AgentTrace.panel(detail.agents ?? []))</div>
            """)
    }

    func spend() -> HTML {
        let spent = detail.spend
        guard spent.calls > 0 || detail.budget != nil else { return "" }
        let usd = detail.budget?.usd.map { " of \(Show.usd($0))" } ?? ""
        let tokens = detail.budget?.tokens.map { " of \($0)" } ?? ""
        return """
            <p class="spend">Spent <b>\(Show.usd(spent.usd))</b>\(usd) · <b>\(spent.tokens)</b> tokens\(tokens) · \
            \(spent.calls) model calls</p>
            """
    }

    func whyPanel() -> HTML {
        guard let why, let step = why.step else { return "" }
        let tail = step.outputTail.joined(separator: "\n")
        let log: HTML =
            step.log == nil
            ? ""
            : "<a href=\"/runs/\(why.run)/steps/\(step.id)/attempts/\(step.attempt)\">the whole log</a>"
        return """
            <section class="why" id="why"><h2>Why it \(why.state.rawValue)</h2>
            <p>Step <b>\(step.id)</b> (\(step.kind)), attempt \(step.attempt) of \(step.attemptsAllowed): \
            \(step.error ?? step.exitCode.map { "exit status \($0)" } ?? "failed")</p>
            \(tail.isEmpty ? "" : HTML("<p>Its last lines:</p><pre class=\"log\">\(tail)</pre>"))\(log)
            \(why.retry.isEmpty ? "" : HTML("<p class=\"muted\">\(why.retry.joined(separator: " · "))</p>"))</section>
            """
    }

    func actions() -> HTML {
        let run = detail.run
        let back = "/runs/\(run.id)"
        let fields = Page.formFields(pages.csrf, back: back)
        if !run.state.isTerminal {
            return """
                <form method="post" action="/runs/\(run.id)/cancel" class="actions">\(fields)\
                <button type="submit" class="danger" id="cancel">Cancel the run</button></form>
                """
        }
        let options: [HTML] = detail.steps.map { "<option value=\"\($0.step)\">\($0.step)</option>" }
        return """
            <form method="post" action="/runs/\(run.id)/retry" class="actions" id="retry-form">\(fields)
            <label>From step <select name="from"><option value="">(where it failed)</option>\(options)</select></label>
            <label>Skip step <select name="skip"><option value="">(none)</option>\(options)</select></label>
            <label>with output <input type="text" name="output" placeholder="what the skipped step would have said"></label>
            <button type="submit" id="retry">Retry</button></form>
            """
    }

    func stepsTable() -> HTML {
        let rows: [HTML] = detail.steps.flatMap { step -> [HTML] in
            let attempts = step.attempts.isEmpty ? [nil] : step.attempts.map(Optional.some)
            return attempts.enumerated().map { index, attempt -> HTML in
                let first: HTML =
                    index == 0
                    ? "<td rowspan=\"\(attempts.count)\">\(step.step)</td><td rowspan=\"\(attempts.count)\">\(Show.state(step.state.rawValue))</td>"
                    : ""
                guard let attempt else {
                    return "<tr>\(first)<td colspan=\"5\" class=\"muted\">no attempt yet</td></tr>"
                }
                let calls: [HTML] = (attempt.calls ?? []).map { call in
                    let cost = call.costUSD.map(Show.usd) ?? "no price"
                    return """
                        <div class="call">\(call.model): \(call.inputTokens ?? 0) in, \(call.outputTokens ?? 0) out, \
                        \(cost), \(call.latencyMilliseconds) ms, \(call.result)</div>
                        """
                }
                let outcome: HTML = attempt.outcome.map { Show.state($0.rawValue) } ?? Show.state("running")
                let log: HTML =
                    attempt.log == nil
                    ? "" : "<a href=\"/runs/\(step.run)/steps/\(step.step)/attempts/\(attempt.number)\">log</a>"
                return """
                    <tr>\(first)<td>#\(attempt.number) \(outcome)</td><td>\(attempt.exitCode.map(String.init) ?? "-")</td>\
                    <td>\(Show.duration(attempt.durationMilliseconds.map { Double($0) / 1000 }))</td>\
                    <td>\(calls)\(attempt.error.map { HTML("<div class=\"error\">\($0)</div>") } ?? "")</td><td>\(log)</td></tr>
                    """
            }
        }
        return """
            <h2>Attempts</h2><table class="steps"><thead><tr><th>Step</th><th>State</th><th>Attempt</th><th>Exit</th>\
            <th>Took</th><th>Model calls, errors</th><th></th></tr></thead><tbody>\(rows)</tbody></table>
            """
    }
}

/// The run's drawings, as SVG in the page: the DAG in layers, and a Gantt chart of its attempts.
enum RunDiagrams {
    /// Each step in the layer after the deepest of its needs, in the order of the definition
    /// within a layer; edges from a need to the step; boxes coloured by state and linked to the
    /// step's latest log.
    static func dag(_ detail: RunDetail) -> HTML {
        var layer: [StepID: Int] = [:]
        func depth(_ id: StepID, _ seen: Set<StepID> = []) -> Int {
            if let known = layer[id] { return known }
            guard let step = detail.steps.first(where: { $0.step == id }), !seen.contains(id) else { return 0 }
            let value = step.needs.map { depth($0, seen.union([id])) + 1 }.max() ?? 0
            layer[id] = value
            return value
        }
        var rows: [Int: Int] = [:]
        var position: [StepID: (x: Int, y: Int)] = [:]
        for step in detail.steps {
            let column = depth(step.step)
            let row = rows[column, default: 0]
            rows[column] = row + 1
            position[step.step] = (20 + column * 190, 16 + row * 50)
        }
        let (boxWidth, boxHeight) = (150, 32)
        var edges: [HTML] = []
        var boxes: [HTML] = []
        for step in detail.steps {
            guard let to = position[step.step] else { continue }
            for need in step.needs {
                guard let from = position[need] else { continue }
                let (x1, y1, x2, y2) = (from.x + boxWidth, from.y + boxHeight / 2, to.x, to.y + boxHeight / 2)
                edges.append("<path class=\"edge\" d=\"M\(x1),\(y1) C\(x1 + 20),\(y1) \(x2 - 20),\(y2) \(x2),\(y2)\"/>")
            }
            let label = step.step.rawValue.count > 19 ? String(step.step.rawValue.prefix(18)) + "…" : step.step.rawValue
            let box: HTML = """
                <g class="node st-\(step.state.rawValue)" data-step="\(step.step)"><title>\(step.step): \(step.state.rawValue)</title>\
                <rect x="\(to.x)" y="\(to.y)" width="\(boxWidth)" height="\(boxHeight)" rx="6"/>\
                <text x="\(to.x + 10)" y="\(to.y + 21)">\(label)</text></g>
                """
            if let attempt = step.attempts.last, attempt.log != nil {
                boxes.append("<a href=\"/runs/\(step.run)/steps/\(step.step)/attempts/\(attempt.number)\">\(box)</a>")
            } else {
                boxes.append(box)
            }
        }
        let width = 40 + ((position.values.map(\.x).max() ?? 0) + boxWidth)
        let height = 32 + ((position.values.map(\.y).max() ?? 0) + boxHeight)
        return """
            <svg class="dag" id="dag" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" \
            xmlns="http://www.w3.org/2000/svg" role="img" aria-label="the steps and what each needs">\(edges)\(boxes)</svg>
            """
    }

    /// One row per step, one bar per attempt from its start to its end (now, while it runs).
    static func gantt(_ detail: RunDetail, now: Date) -> HTML {
        let attempts = detail.steps.flatMap { step in
            step.attempts.compactMap { attempt in
                attempt.startedAt.map { (step: step.step, attempt: attempt, start: $0, end: attempt.endedAt ?? now) }
            }
        }
        guard let first = attempts.map(\.start).min(), let last = attempts.map(\.end).max() else {
            return "<p class=\"muted\">No attempt has started yet.</p>"
        }
        let span = max(first.distance(to: last), 0.001)
        let (left, width, rowHeight) = (170.0, 620.0, 22)
        let order = detail.steps.map(\.step).filter { id in attempts.contains { $0.step == id } }
        var bars: [HTML] = []
        for (row, id) in order.enumerated() {
            let y = 8 + row * rowHeight
            bars.append("<text x=\"4\" y=\"\(y + 14)\">\(id)</text>")
            for item in attempts where item.step == id {
                let x = left + first.distance(to: item.start) / span * width
                let w = max(2, item.start.distance(to: item.end) / span * width)
                let outcome = item.attempt.outcome?.rawValue ?? "running"
                bars.append(
                    """
                    <rect class="bar st-\(outcome)" x="\(Show.decimal(x, places: 1))" y="\(y + 2)" width="\(Show.decimal(w, places: 1))" \
                    height="\(rowHeight - 6)"><title>\(id) #\(item.attempt.number): \(outcome), \
                    \(Show.duration(item.start.distance(to: item.end)))</title></rect>
                    """)
            }
        }
        let height = 28 + order.count * rowHeight
        let axis: HTML = """
            <line class="axis" x1="\(Int(left))" y1="\(height - 16)" x2="\(Int(left + width))" y2="\(height - 16)"/>\
            <text x="\(Int(left))" y="\(height - 2)">0</text>\
            <text x="\(Int(left + width) - 60)" y="\(height - 2)">\(Show.duration(span))</text>
            """
        return """
            <svg class="gantt" id="gantt" width="\(Int(left + width + 20))" height="\(height)" \
            xmlns="http://www.w3.org/2000/svg" role="img" aria-label="when each attempt ran">\(bars)\(axis)</svg>
            """
    }
}
