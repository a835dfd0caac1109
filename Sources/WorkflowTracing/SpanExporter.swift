import Dispatch
import Foundation
import Logging
import RuntimeSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Sends spans to an OTLP/HTTP receiver from a thread of its own, within 50 ms of their coming:
/// the spans of those 50 ms, and of a request that is out, go together (at most 512 a request).
/// A wfd that is killed loses only the spans of its last moment; the others are out already. A request that fails for a reason that can
/// pass (no answer, 429, 502, 503, 504) is tried again three times, 0.5, 1 and 2 s apart; then,
/// or at once for any other answer, its spans are dropped and counted. At most 4,096 spans wait:
/// past that the oldest are dropped and counted. Failures are logged once a minute at most, with
/// how many spans they cost. ``stop(within:)`` sends what waits before it returns.
public final class SpanExporter: Sendable {
    public let configuration: TracingConfiguration
    let version: String
    let logger: Logger

    struct State {
        var waiting: [Span] = []
        var dropped = 0
        var stopping = false
        var finished = false
        var lastWarning: ContinuousClock.Instant?
    }

    private let state = Locked(State())
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    static let capacity = 4096
    static let batch = 512
    /// How long spans wait for others to go with them.
    static let linger = 0.05

    public init(configuration: TracingConfiguration, version: String, logger: Logger) {
        self.configuration = configuration
        self.version = version
        self.logger = logger
    }

    public func enqueue(_ spans: [Span]) {
        guard !spans.isEmpty else { return }
        state.withLock { state in
            state.waiting += spans
            let over = state.waiting.count - Self.capacity
            if over > 0 {
                state.waiting.removeFirst(over)
                state.dropped += over
            }
        }
        wake.signal()
    }

    public func start() {
        let thread = Thread { self.loop() }
        thread.name = "wfd-traces"
        thread.start()
    }

    /// Sends what waits (within `seconds`) and ends the thread.
    public func stop(within seconds: Double = 5) {
        state.withLock { $0.stopping = true }
        wake.signal()
        _ = done.wait(timeout: .now() + seconds)
    }

    private func loop() {
        defer { done.signal() }
        while true {
            _ = wake.wait(timeout: .now() + 1)
            // Gather what comes in the next moment into the same request, unless wfd is stopping.
            if !state.withLock({ $0.stopping || $0.waiting.count >= Self.batch }) {
                Thread.sleep(forTimeInterval: Self.linger)
            }
            while true {
                let (batch, stopping) = state.withLock { state -> ([Span], Bool) in
                    let taken = Array(state.waiting.prefix(Self.batch))
                    state.waiting.removeFirst(taken.count)
                    return (taken, state.stopping)
                }
                if !batch.isEmpty { send(batch, tries: stopping ? 1 : 4) }
                if batch.count < Self.batch {
                    if stopping { return }
                    break
                }
            }
        }
    }

    private func send(_ spans: [Span], tries: Int) {
        let body = OTLPJSON.body(spans, resource: configuration.resource, version: version)
        var problem = ""
        for attempt in 0..<tries {
            if attempt > 0 { Thread.sleep(forTimeInterval: 0.5 * Double(1 << (attempt - 1))) }
            switch post(body) {
            case .success:
                return
            case .failure(let failure):
                problem = failure.message
                if !failure.retriable { break }
            }
        }
        let (dropped, warn) = state.withLock { state -> (Int, Bool) in
            state.dropped += spans.count
            let now = ContinuousClock.now
            let warn = state.lastWarning.map { now - $0 > .seconds(60) } ?? true
            if warn { state.lastWarning = now }
            return (state.dropped, warn)
        }
        if warn {
            logger.warning(
                "cannot export traces to \(configuration.endpoint.absoluteString): \(problem) (\(dropped) spans dropped so far)"
            )
        }
    }

    struct Failure: Error {
        let message: String
        let retriable: Bool
    }

    /// One POST, waited for on this thread.
    private func post(_ body: Data) -> Result<Void, Failure> {
        var request = URLRequest(url: configuration.endpoint)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        for (name, value) in configuration.headers { request.setValue(value, forHTTPHeaderField: name) }
        let seconds =
            Double(configuration.timeout.components.seconds)
            + Double(configuration.timeout.components.attoseconds) / 1e18
        request.timeoutInterval = seconds
        let answer = Locked<Result<Void, Failure>?>(nil)
        let finished = DispatchSemaphore(value: 0)
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            let result: Result<Void, Failure>
            if let error {
                result = .failure(Failure(message: "\(error.localizedDescription)", retriable: true))
            } else if let status = (response as? HTTPURLResponse)?.statusCode, !(200..<300).contains(status) {
                let text = data.map { String(decoding: $0.prefix(200), as: UTF8.self) } ?? ""
                result = .failure(
                    Failure(message: "HTTP \(status) \(text)", retriable: [429, 502, 503, 504].contains(status)))
            } else {
                result = .success(())
            }
            answer.withLock { $0 = result }
            finished.signal()
        }
        task.resume()
        if finished.wait(timeout: .now() + seconds + 1) == .timedOut {
            task.cancel()
            return .failure(Failure(message: "no answer within \(Int(seconds)) s", retriable: true))
        }
        return answer.withLock { $0 } ?? .failure(Failure(message: "no answer", retriable: true))
    }
}
