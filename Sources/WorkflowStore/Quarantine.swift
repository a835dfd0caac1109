import Foundation

/// `quarantine.json`: every record wfd moved aside because it failed its checks, so that
/// `wfctl status` and `wfctl fsck` can report them without walking the history.
public struct QuarantineLog: Sendable, Equatable, Codable {
    public static let currentVersion = 1
    /// How many entries are kept (the files themselves stay until a person removes them).
    public static let keep = 1000

    public var version: Int
    public var entries: [Entry]

    public struct Entry: Sendable, Equatable, Codable {
        /// The record's path, relative to the state directory.
        public var path: String
        /// Where it was moved, relative to the state directory.
        public var movedTo: String
        public var reason: String
        public var at: Date

        public init(path: String, movedTo: String, reason: String, at: Date) {
            self.path = path
            self.movedTo = movedTo
            self.reason = reason
            self.at = at
        }

        enum CodingKeys: String, CodingKey {
            case path, reason, at
            case movedTo = "moved_to"
        }
    }

    public init(entries: [Entry] = []) {
        version = Self.currentVersion
        self.entries = entries
    }
}

extension StateDirectory {
    public var quarantineLog: String { file("quarantine.json") }

    /// `path` relative to the state directory, when it is inside it.
    public func relative(_ path: String) -> String {
        path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
    }
}

extension RunStore {
    /// Moves the record at `path` aside (``RecordFile/quarantine(_:at:)``) and notes it in
    /// `quarantine.json`. Returns the entry, for the caller to log.
    @discardableResult
    public func quarantine(_ path: String, reason: String, at: Date) throws(StoreError) -> QuarantineLog.Entry {
        let moved = try RecordFile.quarantine(path, at: at)
        let entry = QuarantineLog.Entry(
            path: directory.relative(path), movedTo: directory.relative(moved), reason: reason, at: at)
        var log: QuarantineLog
        do {
            log = try RecordFile.read(QuarantineLog.self, from: directory.quarantineLog)
        } catch .missing {
            log = QuarantineLog()
        } catch {
            // The log itself is damaged: keep it for a person, start a new one.
            let kept = try RecordFile.quarantine(directory.quarantineLog, at: at)
            log = QuarantineLog(entries: [
                QuarantineLog.Entry(
                    path: "quarantine.json", movedTo: directory.relative(kept), reason: "\(error)", at: at)
            ])
        }
        log.entries.append(entry)
        if log.entries.count > QuarantineLog.keep { log.entries.removeFirst(log.entries.count - QuarantineLog.keep) }
        try RecordFile.write(log, to: directory.quarantineLog)
        return entry
    }

    public func loadQuarantineLog() -> QuarantineLog {
        (try? RecordFile.read(QuarantineLog.self, from: directory.quarantineLog)) ?? QuarantineLog()
    }
}
