import Foundation
import JSONSchemaKit
import RunModel

/// An agent's transcript as lines for a person (`wfctl show`): each turn with its tokens, cost
/// and latency, what the model said, each tool call with its arguments and how it ended.
public enum AgentTraceText {
    public static func lines(_ transcript: AgentTranscript, width: Int = 100) -> [String] {
        var lines: [String] = []
        for turn in transcript.turns {
            let call = turn.call
            var cost = "\(call.latencyMilliseconds) ms"
            if let input = call.inputTokens, let output = call.outputTokens { cost += ", \(input)+\(output) tokens" }
            if let usd = call.costUSD { cost += String(format: ", $%.5f", usd) }
            let last = turn.last ? ", last turn: no tools offered" : ""
            lines.append("turn \(turn.number) (attempt \(turn.attempt), \(cost)\(last))")
            if let text = turn.text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty,
                turn.answer == nil || !turn.toolCalls.isEmpty
            {
                lines.append("  said: \(clipped(text, width))")
            }
            for tool in turn.toolCalls {
                let arguments = tool.arguments?.jsonText ?? tool.argumentsText ?? ""
                var end = tool.state.rawValue
                if let decision = tool.decision {
                    end += ", \(decision.approved ? "approved" : "rejected") by \(decision.by)"
                }
                if let took = tool.latencyMilliseconds { end += " in \(took) ms" }
                lines.append("  \(tool.name) \(clipped(arguments, width)) → \(end) [\(tool.effect.rawValue)]")
                if let result = tool.result, !result.isEmpty { lines.append("    \(clipped(result, width))") }
            }
            if let answer = turn.answer { lines.append("  answer: \(clipped(answer.jsonText, width))") }
            if let repair = turn.repair { lines.append("  off-schema, repair asked: \(clipped(repair, width))") }
        }
        return lines
    }

    static func clipped(_ text: String, _ width: Int) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: " ⏎ ")
        return flat.count > width ? String(flat.prefix(width)) + "…" : flat
    }
}
