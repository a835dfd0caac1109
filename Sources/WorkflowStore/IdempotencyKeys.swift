import Foundation
import JobFormat
import RunModel
import Schedules

/// `jobs/<job>/keys.json`: the idempotency keys of the job's latest manual runs (the last 1,000),
/// each with the run it started and a digest of the parameter values it was asked with.
public struct IdempotencyKeys: Sendable, Codable, Equatable {
    public struct Entry: Sendable, Codable, Equatable {
        public var key: String
        public var run: RunID
        /// SHA-256 of the parameter values, sorted by name, as `name=value` lines.
        public var params: String
        public var at: Date

        public init(key: String, run: RunID, params: String, at: Date) {
            (self.key, self.run, self.params, self.at) = (key, run, params, at)
        }
    }

    public var version = 1
    public var entries: [Entry] = []
    public static let kept = 1_000

    public init() {}

    public func entry(for key: String) -> Entry? { entries.last { $0.key == key } }

    /// The digest that tells two requests' values apart.
    public static func digest(of params: [String: String]) -> String {
        SHA256.hex(Array(params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)\n" }.joined().utf8))
    }

    public static func load(_ job: JobID, in state: StateDirectory) throws(StoreError) -> IdempotencyKeys {
        do {
            return try RecordFile.read(IdempotencyKeys.self, from: state.idempotencyKeys(job))
        } catch .missing {
            return IdempotencyKeys()
        }
    }

    /// Adds `entry` and writes the file durably (the oldest entries past ``kept`` are dropped).
    public static func record(_ entry: Entry, for job: JobID, in state: StateDirectory) throws(StoreError) {
        var keys = try load(job, in: state)
        keys.entries.append(entry)
        keys.entries.removeFirst(max(0, keys.entries.count - kept))
        try RecordFile.write(keys, to: state.idempotencyKeys(job))
    }
}
