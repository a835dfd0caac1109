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
        let level = event.level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        let stamp = Date.now.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
        let line = "\(stamp) \(level) \(event.message)\(fields.isEmpty ? "" : "  \(fields)")\n"
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
}
