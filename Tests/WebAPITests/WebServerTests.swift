import Foundation
import JSONSchemaKit
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// The real wfd-web on a Unix socket, against clients that misbehave: silent ones, one that sends
/// a byte at a time, an oversized body, oversized headers. None of them holds up anyone else, the
/// idle ones are let go, and the server answers on.
@Suite struct WebServerTests {
    func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw TestKitError("connect \(path): \(String(cString: strerror(errno)))") }
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    func send(_ fd: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// Everything the server sends until it closes the connection (or 10 s pass).
    func readAll(_ fd: Int32) -> String {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            data += buffer[0..<count]
        }
        return String(decoding: data, as: UTF8.self)
    }

    @Test func misbehavingClientsHoldUpNoOneAndAreLetGo() async throws {
        let dir = try TemporaryDirectory("web-server")
        let (state, _) = try WebAPITests().seed(dir)
        let path = dir.file("web.sock")
        let server = try DaemonProcess(
            executable: try BuiltProducts.path("wfd-web"),
            arguments: ["serve", "--listen", "unix:" + path, "--state", state.root, "--idle-timeout", "2"],
            environment: ["PATH": "/usr/bin:/bin"], stderrPath: dir.file("web.log"))
        defer { Task { await server.stop() } }
        #expect(await eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: path) })

        // 100 connections that say nothing, and one that sends its request a byte at a time.
        let silent = try (0..<100).map { _ in try connect(path) }
        let slow = try connect(path)
        let request = "GET /api/v1/jobs/nightly HTTP/1.1\r\nHost: wfd\r\nConnection: close\r\n\r\n"
        for byte in request.prefix(10) { send(slow, String(byte)) }

        // Meanwhile a normal client is answered at once.
        let normal = try connect(path)
        send(normal, request)
        let answer = readAll(normal)
        close(normal)
        #expect(answer.hasPrefix("HTTP/1.1 200 "), "\(answer.prefix(300))")

        // The slow one finishes its request and gets its answer.
        for byte in request.dropFirst(10) { send(slow, String(byte)) }
        #expect(readAll(slow).hasPrefix("HTTP/1.1 200 "))
        close(slow)

        // An oversized body: 413, the server goes on.
        let big = try connect(path)
        let body = String(repeating: "x", count: 2 << 20)
        send(
            big,
            "POST /api/v1/jobs/nightly/runs HTTP/1.1\r\nHost: wfd\r\nConnection: close\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                + body)
        #expect(readAll(big).hasPrefix("HTTP/1.1 413 "))
        close(big)

        // Headers past the parser's limit: the connection is refused, the server goes on.
        let huge = try connect(path)
        send(huge, "GET /api/v1/jobs HTTP/1.1\r\nHost: wfd\r\nX-Big: \(String(repeating: "y", count: 200_000))\r\n\r\n")
        let refused = readAll(huge)
        close(huge)
        #expect(!refused.hasPrefix("HTTP/1.1 200 "), "\(refused.prefix(200))")

        // The silent ones are closed after the idle timeout (2 s): each reads an end of file.
        let started = ContinuousClock.now
        for fd in silent {
            var byte: UInt8 = 0
            #expect(read(fd, &byte, 1) == 0, "let go")
            close(fd)
        }
        #expect(ContinuousClock.now - started < .seconds(15) * testTimeoutScale)
        let after = try connect(path)
        send(after, request)
        #expect(readAll(after).hasPrefix("HTTP/1.1 200 "), "the server answers on")
        close(after)
    }

    /// The run listing through the real server: every page of 90 runs over HTTP, each `next`
    /// given back as the client got it, none repeated or skipped.
    @Test func aClientPagesThroughTheRunsOverHTTP() async throws {
        let dir = try TemporaryDirectory("web-paging")
        let state = StateDirectory(root: dir.file("state"))
        let ended = try RunListingTests().seed(state)
        let path = dir.file("web.sock")
        let server = try DaemonProcess(
            executable: try BuiltProducts.path("wfd-web"),
            arguments: ["serve", "--listen", "unix:" + path, "--state", state.root],
            environment: ["PATH": "/usr/bin:/bin"], stderrPath: dir.file("web.log"))
        defer { Task { await server.stop() } }
        #expect(await eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: path) })

        var ids: [String] = []
        var cursor: String? = nil
        var pages = 0
        repeat {
            let fd = try connect(path)
            let target = "/api/v1/runs?limit=8&trigger=schedule,manual" + (cursor.map { "&cursor=\($0)" } ?? "")
            send(fd, "GET \(target) HTTP/1.1\r\nHost: wfd\r\nConnection: close\r\n\r\n")
            let answer = readAll(fd)
            close(fd)
            #expect(answer.hasPrefix("HTTP/1.1 200 "), "\(answer.prefix(300))")
            let body = try #require(answer.range(of: "\r\n\r\n").map { String(answer[$0.upperBound...]) })
            let page = try #require(JSONValue.parse(Data(body.utf8)))
            guard case .array(let runs)? = page["runs"] else { throw TestKitError("no runs: \(body)") }
            for run in runs {
                if case .string(let id)? = run["id"] { ids.append(id) }
            }
            cursor = nil
            if case .string(let next)? = page["next"] { cursor = next }
            pages += 1
        } while cursor != nil && pages < 50
        #expect(pages == 12)
        #expect(ids == ended.reversed().map(\.id.rawValue))
    }
}
