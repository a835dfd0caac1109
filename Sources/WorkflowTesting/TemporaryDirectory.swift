import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A fresh directory under `/tmp`, removed with everything in it when released.
public final class TemporaryDirectory: Sendable {
    public let path: String

    /// Creates `/tmp/wfd-test-<prefix>-XXXXXX`.
    public init(_ prefix: String = "t") throws {
        var template = Array("/tmp/wfd-test-\(prefix)-XXXXXX".utf8CString)
        let made: String? = template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let made else { throw TestKitError("mkdtemp failed: \(String(cString: strerror(errno)))") }
        path = made
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

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
