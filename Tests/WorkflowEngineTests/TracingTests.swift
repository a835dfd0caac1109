import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Schedules
import Testing
import WorkflowTracing

/// Traces without a collector: where they go (the standard environment variables), the spans a
/// run's records make, and their OTLP JSON. `ReleaseAftermathTests` sends them to a receiver
/// built on the official OTLP definitions.
@Suite struct TracingTests {
    let t0 = Timestamp.parse("2026-12-05T10:00:00Z")!

    @Test func theStandardVariablesSayWhereTracesGo() throws {
        #expect(TracingConfiguration.read([:]) == .off("OTEL_EXPORTER_OTLP_ENDPOINT is not set"))
        #expect(
            TracingConfiguration.read(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"])
                == .off("OTEL_SDK_DISABLED=true"))
        #expect(
            TracingConfiguration.read(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"])
                == .off("OTEL_TRACES_EXPORTER=none"))
        guard case .invalid(let why) = TracingConfiguration.read(["OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"])
        else {
            Issue.record("an endpoint without a scheme is refused")
            return
        }
        #expect(why.contains("is not an http(s) URL") && why.contains("http://localhost:4318"))
        guard
            case .on(let on) = TracingConfiguration.read(
                [
                    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/", "OTEL_SERVICE_NAME": "wfd-prod",
                    "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme, authorization=Bearer%20abc",
                    "OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
                    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                ], hostName: "box")
        else {
            Issue.record("an endpoint turns traces on")
            return
        }
        #expect(on.endpoint.absoluteString == "http://collector:4318/v1/traces")
        #expect(on.headers == ["x-tenant": "acme", "authorization": "Bearer abc"])
        #expect(on.timeout == .milliseconds(2500))
        #expect(on.resource.map(\.0) == ["service.name", "deployment.environment", "host.name"])
        #expect(on.resource.map(\.1) == ["wfd-prod", "prod", "box"])
        #expect(on.notes.count == 1 && on.notes[0].contains("wfd sends http/json"))
        guard
            case .on(let full) = TracingConfiguration.read([
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:1", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t/x",
            ])
        else {
            Issue.record("the traces endpoint is taken as it is")
            return
        }
        #expect(full.endpoint.absoluteString == "https://t/x")
    }

    /// The spans of `step`'s ended attempts.
    func attemptSpans(_ step: String, _ snapshot: RunSnapshot) -> [Span] {
        let prefix = "step \(step)"
        var spans: [Span] = []
        for (_, _, made) in SpanBuilder.endedAttempts(snapshot, except: []) where made.first?.name == prefix {
            spans += made
        }
        return spans
    }

    /// A run with a process step, an HTTP step and a model step with a repaired answer: each
    /// attempt is a span under the run's root, each model call one under its attempt, with the
    /// GenAI attributes; the ids are the ones the steps were given as their traceparent.
    @Test func aRunsRecordsMakeItsSpans() throws {
        let job = try JobParser().parse(
            """
            steps:
              - id: fetch
                http: { url: "https://example.com/x" }
              - id: classify
                needs: [fetch]
                llm: { provider: openai, model: gpt-4o-mini, prompt: "classify ${{ steps.fetch.output }}" }
              - id: publish
                needs: [classify]
                run: 'exit 3'
            """, path: "/j/traced.yaml")
        var snapshot = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 1), trigger: .webhook, scheduledFor: nil, createdAt: t0)
        snapshot.run.traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        snapshot.run.origin = TriggerOrigin(source: "POST /hooks/traced", delivery: "d-1", receivedAt: t0)
        var fetch = Attempt(number: 1, plannedAt: t0, startedAt: t0 + 0.01, log: nil)
        fetch.endedAt = t0 + 0.2
        fetch.outcome = .succeeded
        fetch.http = HTTPExchange(method: "GET", url: "https://example.com/x", idempotencyKey: nil)
        fetch.http?.status = 200
        snapshot.steps[0].attempts = [fetch]
        snapshot.steps[0].state = .succeeded
        var classify = Attempt(number: 2, plannedAt: t0 + 0.3, startedAt: t0 + 0.3, log: nil)
        classify.endedAt = t0 + 2
        classify.outcome = .succeeded
        var first = ModelCall(provider: .openai, model: "gpt-4o-mini", promptSHA256: "x", startedAt: t0 + 0.3)
        (first.latencyMilliseconds, first.inputTokens, first.outputTokens, first.costUSD, first.result, first.status) =
            (600, 300, 20, 0.0001, "invalid_output", 200)
        var second = first
        (second.startedAt, second.result, second.inputTokens, second.outputTokens) = (t0 + 1, "ok", 380, 150)
        classify.calls = [first, second]
        snapshot.steps[1].attempts = [classify]
        var publish = Attempt(number: 1, plannedAt: t0 + 2, startedAt: t0 + 2.1, log: nil)
        (publish.endedAt, publish.outcome, publish.exitCode, publish.error) = (
            t0 + 2.2, .failed, 3, "exited with status 3"
        )
        snapshot.steps[2].attempts = [publish]
        snapshot.run.state = .failed
        (snapshot.run.startedAt, snapshot.run.endedAt, snapshot.run.error) = (t0, t0 + 2.3, "step 'publish' failed")

        let trace = snapshot.run.trace
        let root = try #require(SpanBuilder.root(snapshot))
        #expect(root.spanID == trace.rootSpanID(episode: 0) && root.parentSpanID == nil && root.kind == .server)
        #expect(root.name == "run traced" && root.error == "step 'publish' failed" && root.end == t0 + 2.3)
        #expect(root.attributes.contains { $0.0 == "wfd.trigger.delivery" && $0.1 == .string("d-1") })
        #expect(root.attributes.contains { $0.0 == "gen_ai.usage.input_tokens" && $0.1 == .int(680) })

        let http = attemptSpans("fetch", snapshot)
        #expect(http.count == 1 && http[0].kind == .client && http[0].ok)
        #expect(http[0].spanID == trace.attemptSpanID(step: StepID("fetch")!, item: nil, attempt: 1))
        #expect(http[0].parentSpanID == root.spanID && http[0].start == t0 + 0.01 && http[0].end == t0 + 0.2)
        #expect(http[0].attributes.contains { $0.0 == "http.response.status_code" && $0.1 == .int(200) })

        let model = attemptSpans("classify", snapshot)
        #expect(model.map(\.name) == ["step classify", "chat gpt-4o-mini", "chat gpt-4o-mini"])
        let attemptSpan = trace.attemptSpanID(step: StepID("classify")!, item: nil, attempt: 2)
        #expect(model.dropFirst().allSatisfy { $0.parentSpanID == attemptSpan && $0.kind == .client })
        #expect(model[1].error == "invalid_output" && model[2].ok)
        #expect(model[2].spanID == trace.callSpanID(step: StepID("classify")!, item: nil, attempt: 2, call: 1))
        #expect(model[2].end == t0 + 1.6)
        for (key, value) in [
            ("gen_ai.system", Span.Value.string("openai")), ("gen_ai.request.model", .string("gpt-4o-mini")),
            ("gen_ai.usage.input_tokens", .int(380)), ("gen_ai.usage.output_tokens", .int(150)),
            ("gen_ai.operation.name", .string("chat")), ("wfd.cost_usd", .double(0.0001)),
        ] {
            #expect(model[2].attributes.contains { $0.0 == key && $0.1 == value }, "\(key)")
        }
        let failed = attemptSpans("publish", snapshot)
        #expect(failed.first?.error == "exited with status 3" && failed.first?.ok == false)
        let all = SpanBuilder.endedAttempts(snapshot, except: [])
        #expect(all.count == 3)
        #expect(
            SpanBuilder.endedAttempts(snapshot, except: Set(all.map(\.0))).isEmpty, "what was sent is not sent again")

        // A retry is a new episode: a root of its own, and later attempts hang under it.
        snapshot.run.retries = [RetryNote(at: t0 + 10, from: nil, skipped: [], reset: [StepID("publish")!])]
        #expect(SpanBuilder.root(snapshot)?.spanID == trace.rootSpanID(episode: 1))
        #expect(trace.rootSpanID(episode: 1) != trace.rootSpanID(episode: 0))
        #expect(trace.traceparent(span: root.spanID) == "00-4bf92f3577b34da6a3ce929d0e0e4736-\(root.spanID)-01")
    }

    @Test func spansAreOTLPsJSONEncoding() throws {
        let span = Span(
            traceID: "4bf92f3577b34da6a3ce929d0e0e4736", spanID: "00f067aa0ba902b7", parentSpanID: "b7ad6b7169203331",
            name: "step a", kind: .client, start: t0, end: t0 + 0.0015,
            attributes: [("k", .string("v")), ("n", .int(3)), ("d", .double(0.5)), ("b", .bool(true))], error: "boom",
            ok: false)
        let body = OTLPJSON.body([span], resource: [("service.name", "wfd")], version: "1.0")
        let parsed = try #require(JSONValue.parse(body))
        func field(_ value: JSONValue?, _ name: String) -> JSONValue? {
            if case .object(let fields)? = value { fields[name] } else { nil }
        }
        func first(_ value: JSONValue?) -> JSONValue? {
            if case .array(let items)? = value { items.first } else { nil }
        }
        let scope = first(field(first(field(parsed, "resourceSpans")), "scopeSpans"))
        guard case .object(let encoded)? = first(field(scope, "spans")) else {
            Issue.record("resourceSpans[0].scopeSpans[0].spans[0]: \(String(decoding: body, as: UTF8.self))")
            return
        }
        #expect(field(field(scope, "scope"), "name") == .string("wfd"))
        #expect(encoded["traceId"] == .string("4bf92f3577b34da6a3ce929d0e0e4736"))
        #expect(encoded["parentSpanId"] == .string("b7ad6b7169203331"))
        #expect(encoded["kind"] == .number(3))
        #expect(encoded["startTimeUnixNano"] == .string("1796464800000000000"))
        #expect(encoded["endTimeUnixNano"] == .string("1796464800001500000"))
        #expect(encoded["status"] == .object(["code": .number(2), "message": .string("boom")]))
        #expect(
            encoded["attributes"]
                == .array([
                    .object(["key": .string("k"), "value": .object(["stringValue": .string("v")])]),
                    .object(["key": .string("n"), "value": .object(["intValue": .string("3")])]),
                    .object(["key": .string("d"), "value": .object(["doubleValue": .number(0.5)])]),
                    .object(["key": .string("b"), "value": .object(["boolValue": .bool(true)])]),
                ]))
    }

    @Test func anAgentsToolCallsAreSpansOfTheAttemptThatRanThem() throws {
        let job = try JobParser().parse(
            """
            steps:
              - id: act
                agent:
                  provider: openai
                  model: m
                  instructions: go
                  tools: [{ name: close, http: { method: POST, url: "https://t.test/${{ args.id }}" }, approve: true }]
            """, path: "/j/agentic.yaml")
        var snapshot = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 2), trigger: .manual, scheduledFor: nil, createdAt: t0)
        snapshot.run.traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        var waited = Attempt(number: 1, plannedAt: t0, startedAt: t0, log: nil)
        (waited.endedAt, waited.outcome) = (t0 + 1, .succeeded)
        var ran = Attempt(number: 2, plannedAt: t0 + 5, startedAt: t0 + 5, log: nil)
        (ran.endedAt, ran.outcome) = (t0 + 6, .succeeded)
        snapshot.steps[0].attempts = [waited, ran]
        var transcript = AgentTranscript(
            job: job.id, run: snapshot.run.id, step: StepID("act")!, item: nil, startedAt: t0)
        var turn = AgentTurn(
            number: 1, attempt: 1, call: ModelCall(provider: .openai, model: "m", promptSHA256: "x", startedAt: t0),
            last: false)
        var close = AgentToolCall(id: "c1", name: "close", arguments: .object(["id": .string("7")]), effect: .effectful)
        (close.state, close.startedAt, close.endedAt) = (.succeeded, t0 + 5.1, t0 + 5.3)
        close.decision = Decision(approved: true, by: "ann", at: t0 + 5)
        turn.toolCalls = [close]
        transcript.turns = [turn]
        let trace = snapshot.run.trace
        let spans = SpanBuilder.endedAttempts(snapshot, except: [], agents: [transcript])
        let first = try #require(spans.first { $0.0.number == 1 }?.2)
        let second = try #require(spans.first { $0.0.number == 2 }?.2)
        #expect(first.map(\.name) == ["step act"], "the call ran in the second attempt")
        #expect(second.map(\.name) == ["step act", "execute_tool close"])
        let tool = second[1]
        #expect(tool.parentSpanID == trace.attemptSpanID(step: StepID("act")!, item: nil, attempt: 2))
        #expect(tool.spanID == trace.toolSpanID(step: StepID("act")!, item: nil, attempt: 2, call: "c1"))
        #expect(tool.start == t0 + 5.1 && tool.end == t0 + 5.3 && tool.ok)
        for (key, value) in [
            ("gen_ai.operation.name", Span.Value.string("execute_tool")), ("gen_ai.tool.name", .string("close")),
            ("gen_ai.tool.call.id", .string("c1")), ("wfd.tool.effect", .string("effectful")),
            ("wfd.decision", .string("approved")),
        ] {
            #expect(tool.attributes.contains { $0.0 == key && $0.1 == value }, "\(key)")
        }
    }
}
