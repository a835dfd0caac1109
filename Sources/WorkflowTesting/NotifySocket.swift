import Foundation
import RuntimeSupport

#if canImport(Glibc)
    import Glibc
#endif

/// An abstract `AF_UNIX` datagram socket that plays the service manager's side of `sd_notify`.
///
/// Give a child `NOTIFY_SOCKET=` ``address``; every datagram it sends is kept, in order. A thread of
/// its own receives, so waiting never blocks the concurrency pool.
public final class NotifySocket: Sendable {
    /// `@wfd-test-…`, for `NOTIFY_SOCKET`.
    public let address: String
    private let fd: Int32
    private let received = Locked<[String]>([])
    private let closed = Locked(false)

    public init() throws {
        let name = "wfd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestKitError("socket: \(String(cString: strerror(errno)))") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(name.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { path in
            path[0] = 0  // abstract namespace
            for (index, byte) in bytes.enumerated() { path[index + 1] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + bytes.count)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            close(fd)
            throw TestKitError("bind: \(String(cString: strerror(errno)))")
        }
        self.fd = fd
        address = "@" + name
        let thread = Thread { [self] in receiveLoop() }
        thread.start()
    }

    deinit {
        closed.withLock { $0 = true }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// Every message received so far.
    public var messages: [String] { received.withLock { $0 } }

    /// Waits until a message after index `from` satisfies `predicate`; returns its index, or nil
    /// after `timeout` (times ``testTimeoutScale``).
    public func waitFor(
        from start: Int = 0, timeout: Duration = .seconds(30), fileID: String = #fileID, line: Int = #line,
        _ predicate: (String) -> Bool
    ) async -> Int? {
        let deadline = ContinuousClock.now + timeout * testTimeoutScale
        func find() -> Int? {
            let current = messages
            guard start < current.count else { return nil }
            return current[start...].firstIndex(where: predicate)
        }
        while ContinuousClock.now < deadline {
            if let index = find() { return index }
            try? await Task.sleep(for: .milliseconds(10))
        }
        // Once more: a test that was not scheduled for a while (a busy machine) may wake past the
        // deadline with the message long there.
        if let index = find() { return index }
        let seen = messages.suffix(from: min(start, messages.count)).joined(separator: " | ")
        FileHandle.standardError.write(
            Data("NotifySocket.waitFor: gave up at \(fileID):\(line) after \(timeout); received: \(seen)\n".utf8))
        return nil
    }

    private func receiveLoop() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !closed.withLock({ $0 }) {
            var pollfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pollfd, 1, 100) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { continue }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            received.withLock { $0.append(text) }
        }
    }
}
