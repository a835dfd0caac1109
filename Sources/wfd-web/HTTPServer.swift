import Foundation
import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import WebAPI
import WebUI
import WorkflowControl

/// A socket wfd-web answers on.
enum Listener: Sendable, Equatable {
    case unix(path: String)
    case tcp(host: String, port: Int)
    /// Handed over by systemd (socket activation): already bound and listening.
    case activated(descriptor: Int32)

    /// `unix:PATH` or `HOST:PORT` (`[::1]:8737` for IPv6).
    init?(_ text: String) {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") || path.hasPrefix(".") else { return nil }
            self = .unix(path: path)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self = .tcp(host: host, port: port)
    }

    /// The sockets systemd passed this process (LISTEN_PID, LISTEN_FDS: descriptors from 3 on),
    /// which are then taken out of the environment, as sd_listen_fds(3) does.
    static func activated() -> [Listener] {
        let environment = ProcessInfo.processInfo.environment
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
            let count = environment["LISTEN_FDS"].flatMap(Int32.init), count > 0
        else { return [] }
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        return (0..<count).map { .activated(descriptor: 3 + $0) }
    }
}

/// HTTP/1.1 over NIO with Hummingbird's HTTP/1 channel (parsing, keep-alive, idle timeouts), each
/// request answered by ``WebUI`` (which hands `/api/` to ``WebAPI``). Each connection is served on its own task: a silent or slow
/// client holds only its own connection, and is closed after the idle timeout.
struct HTTPServer: Sendable {
    let ui: WebUI
    let mcp: MCPEndpoint
    let idleTimeout: Int
    let logger = Logger(label: "wfd-web")

    func serve(_ listeners: [Listener]) async throws {
        let channel = HTTP1Channel(
            responder: { request, writer, connection in
                // Up to one byte past the limit is kept (the API answers 413 to that); the rest
                // is read and dropped, so the connection stays usable.
                var received = ByteBuffer()
                for try await part in request.body where received.readableBytes <= WebAPI.maximumBody {
                    received.writeImmutableBuffer(part)
                }
                if request.head.path == "/mcp" || request.head.path?.hasPrefix("/mcp?") == true {
                    var headers: [String: String] = [:]
                    for field in request.headers {
                        let name = field.name.canonicalName
                        headers[name] = headers[name].map { "\($0), \(field.value)" } ?? field.value
                    }
                    let answer = await mcp.respond(
                        method: request.method.rawValue, headers: headers, body: Data(received.readableBytesView))
                    var head = HTTPResponse(status: .init(code: answer.status))
                    for (name, value) in answer.headers {
                        if let field = HTTPField.Name(name) { head.headerFields[field] = value }
                    }
                    head.headerFields[.contentLength] = String(answer.body.count)
                    try await writer.write(
                        response: head, body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
                    return
                }
                let caller = try? await Self.caller(of: connection)
                var asked = APIRequest(
                    method: request.method.rawValue, target: request.head.path ?? "/",
                    body: Data(received.readableBytesView),
                    caller: caller)
                if let name = HTTPField.Name("Last-Event-ID"), let id = request.headers[name] {
                    asked.headers["last-event-id"] = id
                }
                if asked.path.hasPrefix("/hooks/") {
                    // A webhook's headers go to wfd, which checks its signature and passes on
                    // the ones its job allows (repeated fields joined, as HTTP allows).
                    for field in request.headers {
                        let name = field.name.canonicalName
                        asked.headers[name] = asked.headers[name].map { "\($0), \(field.value)" } ?? field.value
                    }
                } else {
                    for (field, name) in [
                        (HTTPField.Name.authorization, "authorization"), (.cookie, "cookie"),
                        (.contentType, "content-type"),
                    ] {
                        if let value = request.headers[field] { asked.headers[name] = value }
                    }
                }
                // Reading files and waiting for wfd block: on NIO's thread pool, not the concurrency pool.
                let answer = try await NIOThreadPool.singleton.runIfActive { [asked] in ui.respond(asked) }
                var head = HTTPResponse(status: .init(code: answer.status))
                head.headerFields[.contentType] = answer.contentType
                for (name, value) in answer.headers.sorted(by: { $0.key < $1.key }) {
                    if let field = HTTPField.Name(name) { head.headerFields[field] = value }
                }
                if let stream = answer.stream, request.method != .head {
                    // Sent as it comes (chunked); a client that goes away ends the loop, and with
                    // it the stream.
                    var body = try await writer.writeHead(head)
                    for await chunk in stream { try await body.write(ByteBuffer(bytes: chunk)) }
                    try await body.finish(nil)
                    return
                }
                head.headerFields[.contentLength] = String(answer.body.count)
                let body =
                    request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body))
                try await writer.write(response: head, body: body)
            },
            configuration: .init(idleTimeout: .seconds(Int64(idleTimeout))))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for listener in listeners {
                let server = try await bind(listener, channel)
                logger.info("wfd-web answering on \(listener)")
                group.addTask {
                    try await withThrowingDiscardingTaskGroup { connections in
                        try await server.executeThenClose { inbound in
                            for try await connection in inbound {
                                connections.addTask { await channel.handle(value: connection, logger: logger) }
                            }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The credentials of the process at the other end of a Unix socket (`SO_PEERCRED`); nil
    /// over TCP.
    static func caller(of connection: any Channel) async throws -> Caller? {
        guard let provider = connection as? any SocketOptionProvider,
            connection.localAddress?.protocol == .unix
        else { return nil }
        // struct ucred (pid, uid, gid): Glibc's module does not export it.
        let credentials: (Int32, UInt32, UInt32) = try await provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED)
        ).get()
        return Caller(uid: credentials.1, gid: credentials.2)
    }

    private func bind(_ listener: Listener, _ channel: HTTP1Channel) async throws -> NIOAsyncChannel<
        HTTP1Channel.Value, Never
    > {
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        let setUp: @Sendable (any Channel) -> EventLoopFuture<HTTP1Channel.Value> = { child in
            channel.setup(channel: child, logger: logger)
        }
        switch listener {
        case .unix(let path):
            let server = try await bootstrap.bind(
                unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: setUp)
            chmod(path, 0o660)
            return server
        case .tcp(let host, let port):
            return try await bootstrap.bind(host: host, port: port, childChannelInitializer: setUp)
        case .activated(let descriptor):
            return try await bootstrap.bind(descriptor, childChannelInitializer: setUp)
        }
    }
}
