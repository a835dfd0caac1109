import Foundation
import Logging
import RunModel

/// What an `http` step sends, its templates filled.
public struct HTTPCall: Sendable {
    public var method: String
    /// With the query.
    public var url: String
    /// Rendered, secrets included: never recorded.
    public var headers: [String: String]
    public var body: Data?
    /// The whole exchange's limit.
    public var timeout: Duration
    /// Statuses that count as success; empty: any 2xx.
    public var expect: [Int]
    public var idempotencyKey: String?

    public init(method: String, url: String, headers: [String: String] = [:], body: Data? = nil, timeout: Duration) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        expect = []
    }

    /// A request that may be sent twice without harm: a method HTTP calls idempotent, or one the
    /// server can recognise by its idempotency key.
    var repeatable: Bool {
        ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"].contains(method) || idempotencyKey != nil
    }
}

/// Runs `http` steps: one request, its response body the step's output.
public struct HTTPStepExecutor: Sendable {
    public var transport: HTTPTransport
    /// The largest response body taken as output.
    public var maxOutputBytes: Int

    public init(transport: HTTPTransport = .shared, maxOutputBytes: Int = 1 << 20) {
        self.transport = transport
        self.maxOutputBytes = maxOutputBytes
    }

    public func execute(_ call: HTTPCall, control: StepControl, logger: Logger) async -> AttemptResult {
        var exchange = HTTPExchange(method: call.method, url: call.url, idempotencyKey: call.idempotencyKey)
        guard let url = URL(string: call.url), let scheme = url.scheme, ["http", "https"].contains(scheme) else {
            return .failure(.start, "'\(call.url)' is not an http or https URL", retriable: false)
        }
        var headers = call.headers
        if let key = call.idempotencyKey { headers["Idempotency-Key"] = key }
        if headers.keys.first(where: { $0.lowercased() == "user-agent" }) == nil { headers["User-Agent"] = "wfd/0.1" }
        let sent = headers
        let started = ContinuousClock.now
        let outcome = await Self.race(control: control) {
            await transport.send(
                method: call.method, url: url, headers: sent, body: call.body, timeout: call.timeout,
                limit: maxOutputBytes)
        }
        let took = started.duration(to: .now)
        exchange.latencyMilliseconds =
            took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000
        var result: AttemptResult
        switch outcome {
        case .stopped(let reason):
            result = AttemptResult(outcome: .cancelled, error: "cancelled: \(reason)")
        case .finished(.failure(let failure)):
            result = Self.result(for: failure, call: call)
        case .finished(.success(let response)):
            exchange.status = response.status
            exchange.responseBytes = response.body.count
            result = Self.result(for: response, call: call)
        }
        result.http = exchange
        let status = exchange.status.map(String.init) ?? "no answer"
        logger.info("\(call.method) \(call.url) → \(status) in \(exchange.latencyMilliseconds) ms")
        return result
    }

    static func result(for failure: HTTPTransport.Failure, call: HTTPCall) -> AttemptResult {
        switch failure {
        case .cancelled:
            return AttemptResult(outcome: .cancelled, error: "cancelled")
        case .unreachable:
            return .failure(.transport, failure.message)  // never sent: safe to send again
        case .broken, .timedOut:
            if call.repeatable { return .failure(.transport, failure.message) }
            return .failure(
                .transport,
                "\(failure.message); the \(call.method) may have reached the server, so it is not sent again "
                    + "without an idempotency_key", retriable: false)
        case .tooLarge:
            return .failure(
                .output, "\(failure.message): the output limit (write big data to a file instead)", retriable: false)
        case .invalid:
            return .failure(.start, failure.message, retriable: false)
        }
    }

    static func result(for response: HTTPTransport.Response, call: HTTPCall) -> AttemptResult {
        let wanted = call.expect.isEmpty ? (200..<300).contains(response.status) : call.expect.contains(response.status)
        if wanted {
            var result = AttemptResult.success
            result.exitCode = nil
            result.stdout = Array(response.body)
            return result
        }
        let preview = String(decoding: response.body.prefix(200), as: UTF8.self)
            .replacingOccurrences(of: "\n", with: " ")
        let said =
            "answered \(response.status) \(HTTPURLStatus.reason(response.status))"
            + (preview.isEmpty ? "" : ": \(preview)")
        let expected = call.expect.isEmpty ? "a 2xx status" : call.expect.map(String.init).joined(separator: ", ")
        switch response.status {
        case 429, 502, 503, 504, 408:
            var result = AttemptResult.failure(.transport, "\(said) (expected \(expected))")
            result.retryAfter = retryAfter(response.headers["retry-after"])
            return result
        case 500...599:
            return .failure(.transport, "\(said) (expected \(expected))", retriable: call.repeatable)
        default:
            return .failure(.httpStatus, "\(said) (expected \(expected))", retriable: false)
        }
    }

    /// `Retry-After` in seconds (a number of seconds or an HTTP date), at most an hour.
    public static func retryAfter(_ header: String?, now: Date = Date()) -> TimeInterval? {
        guard let header = header?.trimmingCharacters(in: .whitespaces), !header.isEmpty else { return nil }
        if let seconds = Double(header), seconds >= 0 { return min(seconds, 3600) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: header) else { return nil }
        return min(max(0, date.timeIntervalSince(now)), 3600)
    }

    enum Raced<T: Sendable>: Sendable {
        case finished(T)
        case stopped(String)
    }

    /// Runs `work` until it ends or `control` asks to stop (the work's task is then cancelled).
    static func race<T: Sendable>(control: StepControl, _ work: @escaping @Sendable () async -> T) async -> Raced<T> {
        await withTaskGroup(of: Raced<T>?.self) { group in
            group.addTask { .finished(await work()) }
            group.addTask { await control.waitForTermination().map { Raced.stopped($0) } }
            var first: Raced<T>?
            while first == nil, let next = await group.next() { first = next }
            group.cancelAll()
            return first ?? .stopped("stopped")
        }
    }
}

/// Reason phrases for the statuses a step is likely to meet.
enum HTTPURLStatus {
    static func reason(_ status: Int) -> String {
        let reasons = [
            200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently", 302: "Found",
            304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 410: "Gone",
            413: "Content Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Content",
            429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout",
        ]
        return reasons[status] ?? ""
    }
}
