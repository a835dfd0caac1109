import Foundation
import RuntimeSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Sends HTTP requests for `http` and `llm` steps: URLSession (libcurl and the system's TLS and
/// CA store underneath), no cookies, no cache, a cap on the response body, an overall deadline,
/// and cancellation.
///
/// URLSession rather than async-http-client: it costs nothing to build (AHC and its NIO and
/// BoringSSL took 5 min 48 s of a clean release build here), its TLS comes from Debian's
/// libcurl/OpenSSL with their security updates, and the 0.3–0.4 ms it loses per loopback request
/// (1.07 ms median against 0.67–0.80) is noise next to a model call.
public final class HTTPTransport: Sendable {
    public struct Response: Sendable {
        public var status: Int
        /// Header names in lower case.
        public var headers: [String: String]
        public var body: Data
    }

    public enum Failure: Error, Sendable, Equatable {
        /// No connection was made: the request was never sent.
        case unreachable(String)
        /// The connection broke or the server stopped answering; the request may have been seen.
        case broken(String)
        case timedOut
        case tooLarge(limit: Int)
        case cancelled
        case invalid(String)

        public var message: String {
            switch self {
            case .unreachable(let why): "could not connect: \(why)"
            case .broken(let why): "the connection failed: \(why)"
            case .timedOut: "no answer in time"
            case .tooLarge(let limit): "the response is larger than \(limit) bytes"
            case .cancelled: "cancelled"
            case .invalid(let why): why
            }
        }
    }

    public static let shared = HTTPTransport()

    private let delegate = Delegate()
    private let session: URLSession

    init() {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalAndRemoteCacheData
        configuration.httpMaximumConnectionsPerHost = 16
        session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
    }

    /// Sends one request; never throws (a failure is a value). `timeout` bounds the whole exchange.
    public func send(
        method: String, url: URL, headers: [String: String], body: Data?, timeout: Duration, limit: Int
    ) async -> Result<Response, Failure> {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = max(1, Double(timeout.components.seconds))
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let task = session.dataTask(with: request)
        let timer = Task { [delegate] in
            do { try await Task.sleep(for: timeout) } catch { return }
            if delegate.expire(task) { task.cancel() }
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                delegate.register(task, limit: limit, continuation: continuation)
                task.resume()
            }
        } onCancel: {
            delegate.cancelled(task)
            task.cancel()
        }
    }

    /// Routes URLSession's callbacks to the request they belong to.
    final class Delegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        // @unchecked: the only state is `pending`, behind its Mutex.
        struct Pending {
            var data = Data()
            var limit: Int
            var response: HTTPURLResponse?
            var overflowed = false
            var expired = false
            var cancelled = false
            let continuation: CheckedContinuation<Result<Response, Failure>, Never>
        }

        private let pending = Locked<[Int: Pending]>([:])

        func register(
            _ task: URLSessionTask, limit: Int, continuation: CheckedContinuation<Result<Response, Failure>, Never>
        ) {
            pending.withLock { $0[task.taskIdentifier] = Pending(limit: limit, continuation: continuation) }
        }

        /// The deadline passed: true when the request was still going (the caller cancels it).
        func expire(_ task: URLSessionTask) -> Bool {
            pending.withLock { pending in
                guard pending[task.taskIdentifier] != nil else { return false }
                pending[task.taskIdentifier]?.expired = true
                return true
            }
        }

        func cancelled(_ task: URLSessionTask) {
            pending.withLock { $0[task.taskIdentifier]?.cancelled = true }
        }

        func urlSession(
            _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
            completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
        ) {
            pending.withLock { $0[dataTask.taskIdentifier]?.response = response as? HTTPURLResponse }
            completionHandler(.allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            let overflow: Bool = pending.withLock { pending in
                guard var entry = pending[dataTask.taskIdentifier], !entry.overflowed else { return false }
                if entry.data.count + data.count > entry.limit {
                    entry.overflowed = true
                } else {
                    entry.data.append(data)
                }
                pending[dataTask.taskIdentifier] = entry
                return entry.overflowed
            }
            if overflow { dataTask.cancel() }
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
            guard let entry = pending.withLock({ $0.removeValue(forKey: task.taskIdentifier) }) else { return }
            let result: Result<Response, Failure>
            if entry.overflowed {
                result = .failure(.tooLarge(limit: entry.limit))
            } else if entry.cancelled {
                result = .failure(.cancelled)
            } else if entry.expired {
                result = .failure(.timedOut)
            } else if let error {
                result = .failure(Self.failure(error))
            } else if let response = entry.response {
                var headers: [String: String] = [:]
                for (name, value) in response.allHeaderFields {
                    if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
                }
                result = .success(Response(status: response.statusCode, headers: headers, body: entry.data))
            } else {
                result = .failure(.broken("no response"))
            }
            entry.continuation.resume(returning: result)
        }

        static func failure(_ error: any Error) -> Failure {
            guard let urlError = error as? URLError else { return .broken("\(error)") }
            switch urlError.code {
            case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet:
                return .unreachable(urlError.localizedDescription)
            case .timedOut: return .timedOut
            case .cancelled: return .cancelled
            case .badURL, .unsupportedURL: return .invalid("the URL cannot be used: \(urlError.localizedDescription)")
            default: return .broken(urlError.localizedDescription)
            }
        }
    }
}
