import Foundation
import JSONSchemaKit
import Testing
import WorkflowEngine
import WorkflowTesting

/// `http` steps against a loopback server: what is sent, what counts as success, and which
/// failures may be tried again.
@Suite struct HTTPStepTests {
    let executor = HTTPStepExecutor(maxOutputBytes: 64 * 1024)

    func call(_ method: String, _ url: String, timeout: Duration = .seconds(5)) -> HTTPCall {
        HTTPCall(method: method, url: url, timeout: timeout)
    }

    @Test func aSuccessfulRequestGivesItsBodyAndRecordsTheExchange() async throws {
        let dir = try TemporaryDirectory("http")
        let server = try await StandIn(
            #"{"routes": [{"method": "GET", "path": "/items", "responses": [{"json": {"items": [1, 2]}}]}]}"#, in: dir)
        defer { Task { await server.stop() } }
        var request = call("GET", server.url("/items?state=open"))
        request.headers = ["Accept": "application/json", "X-Trace": "t1"]
        let result = await executor.execute(request, control: StepControl(), logger: CapturedLog().logger)
        #expect(result.outcome == .succeeded)
        #expect(JSONValue.parse(Data(result.stdout ?? [])) == .object(["items": .array([.number(1), .number(2)])]))
        let exchange = try #require(result.http)
        #expect(exchange.method == "GET" && exchange.status == 200 && exchange.url.hasSuffix("/items?state=open"))
        let sent = try #require(server.requests().first)
        #expect(sent["query"] == .string("state=open"))
        #expect(sent["headers"]?.objectValue?["x-trace"] == .string("t1"))
        #expect(sent["headers"]?.objectValue?["user-agent"] == .string("wfd/0.1"))
    }

    @Test func aPostCarriesItsBodyAndIdempotencyKey() async throws {
        let dir = try TemporaryDirectory("http")
        let server = try await StandIn(
            #"{"routes": [{"method": "POST", "path": "/items/7/close", "idempotent": true, "responses": [{"status": 201, "json": {"closed": 7}}]}]}"#,
            in: dir)
        defer { Task { await server.stop() } }
        var request = call("POST", server.url("/items/7/close"))
        request.body = Data(#"{"commit":"abc1234"}"#.utf8)
        request.headers = ["Content-Type": "application/json"]
        request.idempotencyKey = "run-1-7"
        let first = await executor.execute(request, control: StepControl(), logger: CapturedLog().logger)
        let second = await executor.execute(request, control: StepControl(), logger: CapturedLog().logger)
        #expect(first.outcome == .succeeded && second.outcome == .succeeded)
        #expect(first.http?.idempotencyKey == "run-1-7")
        let requests = server.requests()
        #expect(requests.count == 2)
        #expect(requests[0]["body"] == .object(["commit": .string("abc1234")]))
        #expect(requests[0]["idempotency_key"] == .string("run-1-7"))
        #expect(requests[1]["replayed"] == .bool(true), "the server recognised the second as the same request")
    }

    @Test func statusesDecideWhatMayBeTriedAgain() async throws {
        let dir = try TemporaryDirectory("http")
        let server = try await StandIn(
            """
            {"routes": [
              {"method": "GET", "path": "/busy", "responses": [{"status": 429, "headers": {"Retry-After": "7"}, "json": {"error": "slow down"}}]},
              {"method": "POST", "path": "/broken", "responses": [{"status": 500, "body": "boom"}]},
              {"method": "GET", "path": "/missing", "responses": [{"status": 404, "json": {"error": "no such item"}}]},
              {"method": "GET", "path": "/created", "responses": [{"status": 200, "body": "ok"}]}
            ]}
            """, in: dir)
        defer { Task { await server.stop() } }
        let log = CapturedLog().logger

        let busy = await executor.execute(call("GET", server.url("/busy")), control: StepControl(), logger: log)
        #expect(busy.errorKind == .transport && busy.retriable && busy.retryAfter == 7)
        #expect(busy.error?.hasPrefix("answered 429 Too Many Requests") == true)

        let post = await executor.execute(call("POST", server.url("/broken")), control: StepControl(), logger: log)
        #expect(post.errorKind == .transport && !post.retriable, "a POST that may have been done is not sent again")
        var keyed = call("POST", server.url("/broken"))
        keyed.idempotencyKey = "k"
        let repeatable = await executor.execute(keyed, control: StepControl(), logger: log)
        #expect(repeatable.retriable, "with an idempotency key it may be")

        let missing = await executor.execute(call("GET", server.url("/missing")), control: StepControl(), logger: log)
        #expect(missing.errorKind == .httpStatus && !missing.retriable)
        #expect(missing.error == #"answered 404 Not Found: {"error": "no such item"} (expected a 2xx status)"#)

        var strict = call("GET", server.url("/created"))
        strict.expect = [201]
        let unexpected = await executor.execute(strict, control: StepControl(), logger: log)
        #expect(unexpected.outcome == .failed && unexpected.error?.hasSuffix("(expected 201)") == true)
    }

    @Test func noConnectionNoAnswerAndTooMuchAnswerAreFailuresWithTheirReason() async throws {
        let dir = try TemporaryDirectory("http")
        let server = try await StandIn(
            """
            {"routes": [
              {"method": "GET", "path": "/slow", "responses": [{"delay_ms": 3000, "body": "late"}]},
              {"method": "GET", "path": "/huge", "responses": [{"body": "\(String(repeating: "x", count: 70_000))"}]}
            ]}
            """, in: dir)
        defer { Task { await server.stop() } }
        let log = CapturedLog().logger

        let slow = await executor.execute(
            call("GET", server.url("/slow"), timeout: .milliseconds(400)), control: StepControl(), logger: log)
        #expect(slow.errorKind == .transport && slow.retriable && slow.error == "no answer in time")

        let huge = await executor.execute(call("GET", server.url("/huge")), control: StepControl(), logger: log)
        #expect(huge.errorKind == .output && !huge.retriable)

        // A port nothing listens on: the connection is refused, so the request was never sent.
        let closed = try freeLoopbackPort()
        let refused = await executor.execute(
            call("POST", "http://127.0.0.1:\(closed)/x"), control: StepControl(), logger: log)
        #expect(refused.errorKind == .transport && refused.retriable, "\(refused)")
        #expect(refused.error?.hasPrefix("could not connect") == true)
    }

    @Test func cancellingStopsTheRequest() async throws {
        let dir = try TemporaryDirectory("http")
        let server = try await StandIn(
            #"{"routes": [{"method": "GET", "path": "/slow", "responses": [{"delay_ms": 60000, "body": "late"}]}]}"#,
            in: dir)
        defer { Task { await server.stop() } }
        let control = StepControl()
        async let result = executor.execute(
            call("GET", server.url("/slow")), control: control, logger: CapturedLog().logger)
        #expect(await eventually(timeout: .seconds(30)) { !server.requests().isEmpty }, "the request arrived")
        control.terminate(reason: "wfd is stopping")
        let ended = await result
        #expect(ended.outcome == .cancelled && ended.error == "cancelled: wfd is stopping")
    }

    @Test func retryAfterIsReadAsSecondsOrAsADate() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(HTTPStepExecutor.retryAfter("120", now: now) == 120)
        #expect(HTTPStepExecutor.retryAfter("Fri, 15 Jan 2027 08:00:30 GMT", now: now) == 30)
        #expect(HTTPStepExecutor.retryAfter("999999", now: now) == 3600, "at most an hour")
        #expect(HTTPStepExecutor.retryAfter("soon", now: now) == nil)
    }
}

extension JSONValue {
    var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }
}
