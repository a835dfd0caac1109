import Foundation
import JobFormat
import RunModel

/// One finished span, as wfd exports it.
public struct Span: Sendable, Equatable {
    /// OTLP's span kinds that wfd uses.
    public enum Kind: Int, Sendable {
        case inside = 1
        case server = 2
        case client = 3
    }

    public enum Value: Sendable, Equatable {
        case string(String)
        case int(Int64)
        case double(Double)
        case bool(Bool)
    }

    public var traceID: String
    public var spanID: String
    public var parentSpanID: String?
    public var name: String
    public var kind: Kind
    public var start: Date
    public var end: Date
    public var attributes: [(String, Value)]
    /// nil: unset; otherwise an error with its message, or ok.
    public var error: String?
    public var ok: Bool

    public init(
        traceID: String, spanID: String, parentSpanID: String?, name: String, kind: Kind, start: Date, end: Date,
        attributes: [(String, Value)], error: String?, ok: Bool
    ) {
        (self.traceID, self.spanID, self.parentSpanID, self.name, self.kind) = (
            traceID, spanID, parentSpanID, name, kind
        )
        (self.start, self.end, self.attributes, self.error, self.ok) = (start, end, attributes, error, ok)
    }

    public static func == (lhs: Span, rhs: Span) -> Bool {
        lhs.traceID == rhs.traceID && lhs.spanID == rhs.spanID && lhs.parentSpanID == rhs.parentSpanID
            && lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.start == rhs.start && lhs.end == rhs.end
            && lhs.error == rhs.error && lhs.ok == rhs.ok
            && lhs.attributes.map(\.0) == rhs.attributes.map(\.0) && lhs.attributes.map(\.1) == rhs.attributes.map(\.1)
    }
}

/// The spans a run's transitions make, built from its records alone (pure): an attempt's span
/// when it ends, with a span per model call under an `llm` step's attempt; the run's root span
/// when the run ends. Ids come from ``TraceContext``, so a wfd that took the run up after a
/// restart names the spans as the one before it did.
public enum SpanBuilder {
    /// An attempt of a run: its step, its item in a `for_each` step, its number.
    public struct AttemptKey: Hashable, Sendable {
        public let step: StepID
        public let item: Int?
        public let number: Int
    }

    /// The spans of every attempt of the run that has ended (with its model calls'), except
    /// those in `known`: each with its attempt and when it ended.
    public static func endedAttempts(
        _ snapshot: RunSnapshot, except known: Set<AttemptKey>, agents: [AgentTranscript] = []
    ) -> [(AttemptKey, Date, [Span])] {
        var found: [(AttemptKey, Date, [Span])] = []
        for step in snapshot.steps {
            for slot in step.items ?? [step] {
                for (index, attempt) in slot.attempts.enumerated() {
                    guard let end = attempt.endedAt else { continue }
                    let key = AttemptKey(step: step.step, item: slot.item, number: attempt.number)
                    guard !known.contains(key) else { continue }
                    let transcript = agents.first { $0.step == step.step && $0.item == slot.item }
                    found.append(
                        (
                            key, end,
                            Self.attempt(step.step, item: slot.item, index: index, snapshot, transcript: transcript)
                        ))
                }
            }
        }
        return found
    }

    /// The run's root span, once it has ended.
    public static func root(_ snapshot: RunSnapshot) -> Span? {
        let run = snapshot.run
        guard run.state.isTerminal, let end = run.endedAt else { return nil }
        let trace = run.trace
        let start = run.retries?.last?.at ?? run.startedAt ?? run.createdAt
        var attributes: [(String, Span.Value)] = [
            ("wfd.job", .string(run.job.rawValue)), ("wfd.run.id", .string(run.id.rawValue)),
            ("wfd.run.trigger", .string(run.trigger.rawValue)), ("wfd.run.state", .string(run.state.rawValue)),
        ]
        if run.episode > 0 { attributes.append(("wfd.run.retries", .int(Int64(run.episode)))) }
        if let origin = run.origin {
            attributes.append(("wfd.trigger.source", .string(origin.source)))
            if let delivery = origin.delivery { attributes.append(("wfd.trigger.delivery", .string(delivery))) }
        }
        let calls = snapshot.steps.flatMap { step in (step.items ?? [step]).flatMap(\.attempts) }.flatMap {
            $0.calls ?? []
        }
        if !calls.isEmpty {
            attributes.append(
                ("gen_ai.usage.input_tokens", .int(Int64(calls.reduce(0) { $0 + ($1.inputTokens ?? 0) }))))
            attributes.append(
                ("gen_ai.usage.output_tokens", .int(Int64(calls.reduce(0) { $0 + ($1.outputTokens ?? 0) }))))
            attributes.append(("wfd.cost_usd", .double(calls.reduce(0) { $0 + ($1.costUSD ?? 0) })))
        }
        return Span(
            traceID: trace.traceID, spanID: trace.rootSpanID(episode: run.episode), parentSpanID: nil,
            name: "run \(run.job)", kind: run.trigger == .webhook ? .server : .inside, start: start,
            end: max(end, start), attributes: attributes,
            error: run.state == .succeeded ? nil : run.error ?? run.state.rawValue,
            ok: run.state == .succeeded)
    }

    static func attempt(
        _ step: StepID, item: Int?, index: Int, _ snapshot: RunSnapshot, transcript: AgentTranscript? = nil
    ) -> [Span] {
        var record = snapshot.step(step)
        if let item { record = record?.items?.first { $0.item == item } }
        guard let attempts = record?.attempts, attempts.indices.contains(index), let end = attempts[index].endedAt
        else { return [] }
        let attempt = attempts[index]
        let run = snapshot.run
        let trace = run.trace
        let definition = snapshot.definition(of: step)
        let kindName = definition?.kind.name ?? "step"
        let start = min(attempt.startedAt ?? attempt.plannedAt ?? end, end)
        let spanID = trace.attemptSpanID(step: step, item: item, attempt: attempt.number)
        var attributes: [(String, Span.Value)] = [
            ("wfd.job", .string(run.job.rawValue)), ("wfd.run.id", .string(run.id.rawValue)),
            ("wfd.step", .string(step.rawValue)), ("wfd.step.kind", .string(kindName)),
            ("wfd.attempt", .int(Int64(attempt.number))),
            ("wfd.outcome", .string(attempt.outcome?.rawValue ?? "unknown")),
        ]
        if let item { attributes.append(("wfd.item", .int(Int64(item)))) }
        if let kind = attempt.errorKind { attributes.append(("error.type", .string(kind.rawValue))) }
        if let code = attempt.exitCode { attributes.append(("process.exit.code", .int(Int64(code)))) }
        if let unit = attempt.unit { attributes.append(("wfd.unit", .string(unit))) }
        if let exchange = attempt.http {
            attributes.append(("http.request.method", .string(exchange.method)))
            attributes.append(("url.full", .string(exchange.url)))
            if let status = exchange.status { attributes.append(("http.response.status_code", .int(Int64(status)))) }
        }
        if let decision = attempt.decision {
            attributes.append(("wfd.decision", .string(decision.approved ? "approved" : "rejected")))
            attributes.append(("wfd.decision.by", .string(decision.by)))
        }
        let failed = attempt.outcome != .succeeded
        var spans = [
            Span(
                traceID: trace.traceID, spanID: spanID, parentSpanID: trace.rootSpanID(episode: run.episode),
                name: "step \(step)\(item.map { "[\($0)]" } ?? "")", kind: attempt.http != nil ? .client : .inside,
                start: start, end: end, attributes: attributes,
                error: failed ? attempt.error ?? attempt.outcome?.rawValue : nil,
                ok: !failed)
        ]
        for (index, call) in (attempt.calls ?? []).enumerated() {
            spans.append(
                Self.call(
                    call, index: index, step: step, item: item, attempt: attempt.number, parent: spanID, trace: trace))
        }
        // An agent's tool calls that ended during this attempt.
        for turn in transcript?.turns ?? [] {
            for tool in turn.toolCalls {
                guard let began = tool.startedAt, let ended = tool.endedAt, ended >= start, ended <= end else {
                    continue
                }
                var toolAttributes: [(String, Span.Value)] = [
                    ("gen_ai.operation.name", .string("execute_tool")), ("gen_ai.tool.name", .string(tool.name)),
                    ("gen_ai.tool.call.id", .string(tool.id)), ("wfd.tool.effect", .string(tool.effect.rawValue)),
                    ("wfd.tool.state", .string(tool.state.rawValue)), ("wfd.agent.turn", .int(Int64(turn.number))),
                ]
                if let decision = tool.decision {
                    toolAttributes.append(("wfd.decision", .string(decision.approved ? "approved" : "rejected")))
                }
                let ok = tool.state == .succeeded
                spans.append(
                    Span(
                        traceID: trace.traceID,
                        spanID: trace.toolSpanID(step: step, item: item, attempt: attempt.number, call: tool.id),
                        parentSpanID: spanID, name: "execute_tool \(tool.name)", kind: .inside, start: began,
                        end: max(ended, began), attributes: toolAttributes, error: ok ? nil : tool.state.rawValue,
                        ok: ok))
            }
        }
        return spans
    }

    /// A model call, with the GenAI semantic conventions' attributes.
    static func call(
        _ call: ModelCall, index: Int, step: StepID, item: Int?, attempt: Int, parent: String, trace: TraceContext
    ) -> Span {
        var attributes: [(String, Span.Value)] = [
            ("gen_ai.operation.name", .string("chat")), ("gen_ai.system", .string(call.provider.rawValue)),
            ("gen_ai.request.model", .string(call.model)), ("wfd.llm.result", .string(call.result)),
        ]
        if let tokens = call.inputTokens { attributes.append(("gen_ai.usage.input_tokens", .int(Int64(tokens)))) }
        if let tokens = call.outputTokens { attributes.append(("gen_ai.usage.output_tokens", .int(Int64(tokens)))) }
        if let cost = call.costUSD { attributes.append(("wfd.cost_usd", .double(cost))) }
        if let status = call.status { attributes.append(("http.response.status_code", .int(Int64(status)))) }
        let ok = call.result == "ok"
        return Span(
            traceID: trace.traceID, spanID: trace.callSpanID(step: step, item: item, attempt: attempt, call: index),
            parentSpanID: parent, name: "chat \(call.model)", kind: .client, start: call.startedAt,
            end: call.startedAt.addingTimeInterval(Double(call.latencyMilliseconds) / 1000), attributes: attributes,
            error: ok ? nil : call.error ?? call.result, ok: ok)
    }
}
