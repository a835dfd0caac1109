import CSystemd
import Glibc
import Logging

/// A swift-log handler that writes structured entries to journald with `sd_journal_sendv`.
///
/// Metadata keys become journal fields: upper-cased, anything outside `[A-Z0-9_]` turned into `_`
/// (so `run_id` is `RUN_ID`). `CODE_FILE`, `CODE_LINE`, `CODE_FUNC` and `SYSLOG_IDENTIFIER` are added.
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    let identifier: String

    public init(identifier: String) { self.identifier = identifier }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String] = [
            "MESSAGE=\(event.message.description)",
            "PRIORITY=\(Self.priority(event.level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged {
            guard let name = Self.fieldName(key) else { continue }
            fields.append("\(name)=\(value.description)")
        }
        Self.send(fields)
    }

    /// Sends one entry; each element is `FIELD=value`. Returns what `sd_journal_sendv` returned.
    @discardableResult
    public static func send(_ fields: [String]) -> Int32 {
        let buffers = fields.map { Array($0.utf8) }
        return withIOVecs(buffers, [], 0) { vectors in
            vectors.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
    }

    /// Builds `iovec`s that point into `buffers`, keeping every buffer alive for the call.
    private static func withIOVecs<R>(
        _ buffers: [[UInt8]], _ done: [iovec], _ index: Int, _ body: ([iovec]) -> R
    ) -> R {
        guard index < buffers.count else { return body(done) }
        return buffers[index].withUnsafeBytes { raw in
            let vector = iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count)
            return withIOVecs(buffers, done + [vector], index + 1, body)
        }
    }

    /// The journal field name for a metadata key, or nil when none can be made.
    public static func fieldName(_ key: String) -> String? {
        var name = String(
            key.uppercased().unicodeScalars.map { scalar -> Character in
                (scalar.isASCII && (("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)))
                    ? Character(scalar) : "_"
            })
        while name.first == "_" || name.first?.isNumber == true { name.removeFirst() }
        if name.count > 64 { name = String(name.prefix(64)) }
        return name.isEmpty ? nil : name
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
