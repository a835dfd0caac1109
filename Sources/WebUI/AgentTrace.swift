import Foundation
import RunModel

/// An agent step's transcript on the run page: a table per step (per item), a row per turn, with
/// what the model said, each tool call with its arguments, state, decision and result, the
/// answer, and the call's tokens, cost and latency.
enum AgentTrace {
    static func panel(_ transcripts: [AgentTranscript]) -> HTML {
        guard !transcripts.isEmpty else { return "" }
        let tables: [HTML] = transcripts.map { transcript in
            let item: HTML = transcript.item.map { " · item \($0)" } ?? ""
            let rows: [HTML] = transcript.turns.map { turn in
                let call = turn.call
                let cost = call.costUSD.map(Show.usd) ?? "no price"
                var said: [HTML] = []
                if let text = turn.text, !text.isEmpty { said.append("<div class=\"said\">\(clipped(text))</div>") }
                for tool in turn.toolCalls {
                    let decision: HTML =
                        tool.decision.map { " · \($0.approved ? "approved" : "rejected") by \($0.by)" } ?? ""
                    let result: HTML = tool.result.map { "<pre class=\"tool-result\">\(clipped($0))</pre>" } ?? ""
                    said.append(
                        """
                        <div class="tool"><code>\(tool.name) \(clipped(tool.arguments?.jsonText ?? tool.argumentsText ?? ""))</code> \
                        \(Show.state(tool.state.rawValue)) <span class="muted">\(tool.effect.rawValue)\(decision)</span>\(result)</div>
                        """)
                }
                if let answer = turn.answer {
                    said.append("<div class=\"answer\">answer: <code>\(clipped(answer.jsonText))</code></div>")
                }
                if let repair = turn.repair { said.append("<div class=\"error\">off-schema: \(clipped(repair))</div>") }
                let last: HTML = turn.last ? " <span class=\"muted\">(last)</span>" : ""
                return """
                    <tr><td>\(turn.number)\(last)</td><td>#\(turn.attempt)</td><td>\(said)</td>\
                    <td class="call">\(call.inputTokens ?? 0) in, \(call.outputTokens ?? 0) out, \(cost), \(call.latencyMilliseconds) ms</td></tr>
                    """
            }
            return """
                <h3>\(transcript.step)\(item)</h3><table class="agent"><thead><tr><th>Turn</th><th>Attempt</th>\
                <th>Model and tools</th><th>Call</th></tr></thead><tbody>\(rows)</tbody></table>
                """
        }
        return "<h2>Agent</h2><div id=\"agent\">\(tables)</div>"
    }

    static func clipped(_ text: String, _ limit: Int = 600) -> String {
        text.count > limit ? String(text.prefix(limit)) + "…" : text
    }
}
