import Foundation
import JSONSchemaKit
import JobFormat
import RuntimeSupport

#if canImport(Glibc)
    import Glibc
#endif

/// An MCP server an agent uses, started as a child of wfd and spoken to over its stdin and stdout
/// (newline-delimited JSON-RPC 2.0, the MCP stdio transport): `initialize`, `tools/list`,
/// `tools/call`. Its stderr goes to a log file of the run. Blocking reads happen on
/// ``BlockingIO``'s threads; one request at a time.
final class MCPStdioClient: Sendable {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A tool as the server lists it.
    struct ListedTool: Sendable {
        let name: String
        let description: String
        let inputSchema: JSONValue
    }

    let name: String
    private let child: ChildProcess
    private let state = Locked(State())

    private struct State {
        var nextID = 1
        var buffer: [UInt8] = []
        var closed = false
    }

    private init(name: String, child: ChildProcess) {
        self.name = name
        self.child = child
    }

    /// Starts `server` and initializes the session.
    static func start(
        _ server: MCPServerSpec, environment: [String: String], workingDirectory: String, stderrPath: String,
        timeout: Duration
    ) async throws(Failure) -> MCPStdioClient {
        var path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        if let own = server.env["PATH"] { path = own }
        guard let program = ShellExecutor.directCommand(server.command[0], path: path)?.0 else {
            throw Failure(
                description: "MCP server '\(server.name)': '\(server.command[0])' is not a program on \(path)")
        }
        var request = ChildProcess.Request(
            program: program, arguments: Array(server.command.dropFirst()),
            environment: environment.merging(server.env) { _, own in own }, workingDirectory: workingDirectory,
            account: nil)
        request.stdinPipe = true
        request.stderrPath = stderrPath
        let spawning = request
        let started = await BlockingIO.shared.run { ChildProcess.spawn(spawning) }
        let child: ChildProcess
        switch started {
        case .success(let spawned): child = spawned
        case .failure(let error):
            throw Failure(description: "MCP server '\(server.name)' could not start: \(error.description)")
        }
        let client = MCPStdioClient(name: server.name, child: child)
        do throws(Failure) {
            _ = try await client.request(
                "initialize",
                [
                    "protocolVersion": .string("2025-06-18"), "capabilities": .object([:]),
                    "clientInfo": .object(["name": .string("wfd"), "version": .string("1")]),
                ], timeout: timeout)
            try await client.notify("notifications/initialized")
        } catch {
            await client.stop()
            throw error
        }
        return client
    }

    /// The server's tools.
    func tools(timeout: Duration) async throws(Failure) -> [ListedTool] {
        let result = try await request("tools/list", [:], timeout: timeout)
        guard case .object(let fields) = result, case .array(let tools)? = fields["tools"] else {
            throw Failure(description: "MCP server '\(name)' answered tools/list without tools")
        }
        return tools.compactMap { tool in
            guard case .object(let fields) = tool, case .string(let name)? = fields["name"] else { return nil }
            let description: String = if case .string(let text)? = fields["description"] { text } else { name }
            return ListedTool(
                name: name, description: description,
                inputSchema: fields["inputSchema"] ?? .object(["type": .string("object")]))
        }
    }

    /// Calls `tool`: its text content, and whether the server calls it an error.
    func call(_ tool: String, arguments: JSONValue, timeout: Duration) async throws(Failure) -> (
        text: String, isError: Bool
    ) {
        let result = try await request(
            "tools/call", ["name": .string(tool), "arguments": arguments], timeout: timeout)
        guard case .object(let fields) = result else { return (result.jsonText, false) }
        var texts: [String] = []
        if case .array(let content)? = fields["content"] {
            for case .object(let block) in content {
                if case .string(let text)? = block["text"] {
                    texts.append(text)
                } else {
                    texts.append(JSONValue.object(block).jsonText)
                }
            }
        }
        if texts.isEmpty, let structured = fields["structuredContent"] { texts.append(structured.jsonText) }
        return (texts.joined(separator: "\n"), fields["isError"] == .bool(true))
    }

    /// Closes its stdin, then ends it (SIGTERM, SIGKILL after a second) and reaps it.
    func stop() async {
        let child = child
        let first = state.withLock { state in
            defer { state.closed = true }
            return !state.closed
        }
        guard first else { return }
        await BlockingIO.shared.run {
            close(child.stdin)
            var status: Int32 = 0
            for round in 0..<40 {
                if waitpid(child.pid, &status, WNOHANG) == child.pid { break }
                if round == 10 { kill(child.pid, SIGTERM) }
                if round == 30 { kill(child.pid, SIGKILL) }
                usleep(50_000)
            }
            if waitpid(child.pid, &status, WNOHANG) == 0 {
                kill(child.pid, SIGKILL)
                while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
            }
            close(child.stdout)
            close(child.pidfd)
        }
    }

    private func notify(_ method: String) async throws(Failure) {
        try await write(.object(["jsonrpc": .string("2.0"), "method": .string(method)]))
    }

    private func request(_ method: String, _ params: [String: JSONValue], timeout: Duration) async throws(Failure)
        -> JSONValue
    {
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        try await write(
            .object([
                "jsonrpc": .string("2.0"), "id": .number(Double(id)), "method": .string(method),
                "params": .object(params),
            ]))
        let deadline = ContinuousClock.now + timeout
        while true {
            let message = try await readMessage(until: deadline, method: method)
            guard case .object(let fields) = message, fields["id"] == .number(Double(id)) else { continue }
            if case .object(let error)? = fields["error"] {
                let text: String =
                    if case .string(let said)? = error["message"] { said } else { JSONValue.object(error).jsonText }
                throw Failure(description: "MCP server '\(name)' refused \(method): \(text)")
            }
            return fields["result"] ?? .null
        }
    }

    private func write(_ message: JSONValue) async throws(Failure) {
        let line = Array((message.jsonText + "\n").utf8)
        let fd = child.stdin
        let written = await BlockingIO.shared.run { () -> Bool in
            var offset = 0
            while offset < line.count {
                let count = line[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { return false }
                offset += count
            }
            return true
        }
        if !written { throw Failure(description: "MCP server '\(name)' closed its input (it exited?)") }
    }

    /// The next JSON line the server writes.
    private func readMessage(until deadline: ContinuousClock.Instant, method: String) async throws(Failure)
        -> JSONValue
    {
        let (fd, name) = (child.stdout, name)
        let state = state
        let outcome: Result<JSONValue, Failure> = await BlockingIO.shared.run {
            while true {
                let line: [UInt8]? = state.withLock { state in
                    guard let newline = state.buffer.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
                    defer { state.buffer.removeSubrange(...newline) }
                    return Array(state.buffer[..<newline])
                }
                if let line {
                    if let value = JSONValue.parse(Data(line)) { return .success(value) }
                    continue  // not JSON-RPC (a stray print): skipped
                }
                let left = ContinuousClock.now.duration(to: deadline)
                guard left > .zero else {
                    return .failure(Failure(description: "MCP server '\(name)' did not answer \(method) in time"))
                }
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let waited = poll(&poller, 1, Int32(min(left.components.seconds * 1000 + 1, 1000)))
                if waited <= 0 { continue }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count == 0 {
                    return .failure(Failure(description: "MCP server '\(name)' exited during \(method)"))
                }
                if count > 0 { state.withLock { $0.buffer += chunk[..<count] } }
            }
        }
        return try outcome.get()
    }
}
