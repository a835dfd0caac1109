import Foundation
import Glibc
import Logging

/// Plain text on standard error (fd 2) for when there is no journal: `make run`, a terminal, tests.
///
/// `2026-11-25T10:30:00.123Z info  message  job=hello run_id=… step=greet`
public struct StderrLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let name = event.level.rawValue
        let level = name + String(repeating: " ", count: max(0, 8 - name.utf8.count))
        let line = "\(Self.stamp()) \(level) \(event.message)\(fields.isEmpty ? "" : "  \(fields)")\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(2, raw.baseAddress?.advanced(by: offset), raw.count - offset)
                if written <= 0 {
                    if written < 0 && errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// The time now in UTC as `2026-11-25T10:30:00.123`, made without Foundation's formatters
    /// (a line is logged for every step a run starts and ends).
    static func stamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let fields: [(Int, Int)] = [
            (Int(parts.tm_year) + 1900, 4), (Int(parts.tm_mon) + 1, 2), (Int(parts.tm_mday), 2),
            (Int(parts.tm_hour), 2), (Int(parts.tm_min), 2), (Int(parts.tm_sec), 2), (now.tv_nsec / 1_000_000, 3),
        ]
        let separators: [UInt8] = Array("--T::.".utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(23)
        for (index, (value, width)) in fields.enumerated() {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
            if index < separators.count { bytes.append(separators[index]) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
