import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh directory under `/tmp`, removed with everything in it when released.
///
/// Its name carries the test process's PID: the first directory a test process makes sweeps away
/// those of test processes that are gone (killed, crashed: their clean-up never ran), lazily
/// unmounting anything still mounted below them first.
public final class TemporaryDirectory: Sendable {
    public let path: String

    /// Creates `/tmp/wfd-test-<pid>-<prefix>-XXXXXX`.
    public init(_ prefix: String = "t") throws {
        _ = Self.sweptOnce
        var template = Array("/tmp/wfd-test-\(getpid())-\(prefix)-XXXXXX".utf8CString)
        let made: String? = template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let made else { throw TestKitError("mkdtemp failed: \(String(cString: strerror(errno)))") }
        path = made
    }

    deinit { Self.remove(path) }

    /// Removes `path` and everything in it; a daemon that was still writing there as its test
    /// ended can add a file between the listing and the last `rmdir`, so it tries a few times.
    static func remove(_ path: String) {
        for _ in 0..<5 {
            if (try? FileManager.default.removeItem(atPath: path)) != nil { return }
            if !FileManager.default.fileExists(atPath: path) { return }
            usleep(20_000)
        }
    }

    /// The sweep, done by the first directory made.
    private static let sweptOnce: Void = sweepLeftovers()

    /// Removes the `/tmp/wfd-test-<pid>-…` directories of test processes that no longer exist.
    static func sweepLeftovers() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/tmp") else { return }
        let mounts = ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "")
            .split(separator: "\n").compactMap { line -> String? in
                let fields = line.split(separator: " ")
                return fields.count > 4 ? String(fields[4]) : nil
            }
        for name in names where name.hasPrefix("wfd-test-") {
            let rest = name.dropFirst("wfd-test-".count)
            guard let pid = Int32(rest.prefix { $0.isNumber }), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            let directory = "/tmp/\(name)"
            // Deepest first: a mount inside a mount.
            for mount in mounts.filter({ $0.hasPrefix(directory + "/") }).sorted(by: { $0.count > $1.count }) {
                umount2(mount, Int32(MNT_DETACH))
            }
            remove(directory)
        }
    }

    /// `path/relative`.
    public func file(_ relative: String) -> String { "\(path)/\(relative)" }

    /// Writes `text` to `path/relative`, creating parent directories.
    public func write(_ relative: String, _ text: String) throws {
        let target = file(relative)
        try FileManager.default.createDirectory(
            atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: target, atomically: true, encoding: .utf8)
    }
}

/// A failure of the test kit itself.
public struct TestKitError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
