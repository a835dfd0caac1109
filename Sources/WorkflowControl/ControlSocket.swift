import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Unix stream sockets for the control protocol, and the peer's credentials (`SO_PEERCRED`).
public enum ControlSocket {
    /// A failure of the socket itself (not an answer from wfd).
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        public let errno: Int32
    }

    /// The credentials of the process at the other end of `fd`.
    public struct Peer: Sendable, Equatable {
        public var pid: Int32
        public var uid: UInt32
        public var gid: UInt32
        /// The supplementary groups the peer process holds (`SO_PEERGROUPS`), as the kernel saw
        /// them when it connected.
        public var groups: [UInt32] = []
    }

    public static func peer(of fd: Int32) -> Peer? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }: Glibc only exports it with _GNU_SOURCE.
        var credentials: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0, length == 12 else { return nil }
        var peer = Peer(pid: credentials.0, uid: credentials.1, gid: credentials.2)
        // SO_PEERGROUPS (Linux 4.13), which Glibc's module does not name: 59 on every architecture.
        var groups = [gid_t](repeating: 0, count: 256)
        var size = socklen_t(groups.count * MemoryLayout<gid_t>.size)
        if getsockopt(fd, SOL_SOCKET, 59, &groups, &size) == 0 {
            peer.groups = Array(groups.prefix(Int(size) / MemoryLayout<gid_t>.size))
        }
        return peer
    }

    static func address(_ path: String) throws(Failure) -> (sockaddr_un, socklen_t) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "the socket path '\(path)' is too long", errno: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
            raw[bytes.count] = 0
        }
        return (address, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1))
    }

    /// Binds and listens on `path` (replacing a stale socket file), mode 0660.
    public static func listen(at path: String) throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))", errno: errno) }
        var (address, length) = try address(path)
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, chmod(path, 0o660) == 0, Glibc.listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw Failure(description: "cannot listen on \(path): \(String(cString: strerror(code)))", errno: code)
        }
        return fd
    }

    /// A connection to the socket at `path`; the caller closes it.
    public static func connect(to path: String) throws(Failure) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))", errno: errno) }
        var (address, length) = try address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw Failure(description: "cannot connect to \(path): \(String(cString: strerror(code)))", errno: code)
        }
        return fd
    }

    /// Connects to `path`, sends `request` and waits up to `timeout` for the answer.
    public static func exchange(_ request: ControlRequest, at path: String, timeout: Duration) throws(Failure)
        -> ControlResponse
    {
        let fd = try connect(to: path)
        defer { close(fd) }
        guard let data = try? ControlFraming.encode(request) else {
            throw Failure(description: "cannot encode the request", errno: EINVAL)
        }
        try writeAll(fd, data)
        // wfd closes the connection once it has answered: everything up to then is the answer.
        let answer = try readToEnd(fd, timeout: timeout, limit: ControlFraming.maximumResponse)
        guard let newline = answer.firstIndex(of: UInt8(ascii: "\n")) else {
            throw Failure(description: "wfd closed the connection without an answer", errno: ECONNRESET)
        }
        guard var response = try? ControlFraming.decode(ControlResponse.self, from: answer[..<newline]) else {
            throw Failure(description: "wfd's answer is not a control response", errno: EPROTO)
        }
        if let length = response.bodyLength {
            let body = answer[(newline + 1)...]
            guard body.count == length else {
                throw Failure(
                    description: "wfd's answer was cut short (\(body.count) of \(length) bytes)", errno: EPROTO)
            }
            response.message = String(decoding: body, as: UTF8.self)
            response.bodyLength = nil
        }
        return response
    }

    /// Reads until the peer closes the connection, within `timeout`, at most `limit` bytes.
    static func readToEnd(_ fd: Int32, timeout: Duration, limit: Int) throws(Failure) -> Data {
        let deadline = ContinuousClock.now + timeout
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = try receive(fd, into: &chunk, by: deadline, timeout: timeout)
            if count == 0 { return data }
            data.append(contentsOf: chunk[0..<count])
            guard data.count <= limit else { throw tooLong(limit) }
        }
    }

    /// Waits until `deadline` for bytes on `fd` and reads what is there into `chunk`; 0 at end of
    /// stream.
    private static func receive(
        _ fd: Int32, into chunk: inout [UInt8], by deadline: ContinuousClock.Instant, timeout: Duration
    ) throws(Failure) -> Int {
        while true {
            let left = deadline - .now
            let millis = max(
                0, Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, millis)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw Failure(description: "no answer within \(timeout)", errno: ETIMEDOUT) }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw Failure(description: "read: \(String(cString: strerror(errno)))", errno: errno)
            }
            return count
        }
    }

    /// Writes all of `data` to `fd`.
    public static func writeAll(_ fd: Int32, _ data: Data) throws(Failure) {
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes {
                send(fd, $0.baseAddress?.advanced(by: offset), $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw Failure(description: "write: \(String(cString: strerror(errno)))", errno: errno)
            }
            offset += written
        }
    }

    /// Reads one line (without its newline) within `timeout`, at most `limit` bytes; nil at end
    /// of stream. Reads in chunks: a connection carries one message each way, so nothing after
    /// the newline is lost.
    public static func readLine(
        _ fd: Int32, timeout: Duration, limit: Int = ControlFraming.maximumLine
    ) throws(Failure) -> Data? {
        let deadline = ContinuousClock.now + timeout
        var line = Data()
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = try receive(fd, into: &chunk, by: deadline, timeout: timeout)
            if count == 0 { return line.isEmpty ? nil : line }
            let received = chunk[0..<count]
            if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
                line.append(contentsOf: received[..<newline])
                guard line.count <= limit else { throw tooLong(limit) }
                return line
            }
            line.append(contentsOf: received)
            guard line.count <= limit else { throw tooLong(limit) }
        }
    }

    private static func tooLong(_ limit: Int) -> Failure {
        Failure(description: "a control message is longer than \(limit / 1024) KiB", errno: EMSGSIZE)
    }
}
