import Foundation
import JobFormat
import RunModel
import RuntimeSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A trigger taken and not yet started: a webhook's delivery, files that changed, another job's
/// run ending. It is on disk (`jobs/<job>/inbox/<run>.json`) before its sender hears it was
/// accepted, and goes once its run is: a restart of wfd loses none.
public struct PendingTrigger: Sendable, Equatable, Codable {
    public var job: JobID
    /// The id its run gets (told to the sender when it was accepted).
    public var run: RunID
    /// Arrival order, over every job.
    public var sequence: UInt64
    public var kind: Trigger
    public var origin: TriggerOrigin
    /// The payload's JSON text, as it came.
    public var payload: String
    /// Parameter values for its run (an agent's job tool gives them); nil: the defaults.
    public var params: [String: String]?

    public init(job: JobID, run: RunID, sequence: UInt64, kind: Trigger, origin: TriggerOrigin, payload: String) {
        (self.job, self.run, self.sequence, self.kind, self.origin, self.payload) =
            (job, run, sequence, kind, origin, payload)
    }
}

/// The jobs' inboxes of pending triggers, and the deliveries webhooks took.
public enum TriggerInbox {
    /// Writes `trigger` durably into its job's inbox.
    public static func put(_ trigger: PendingTrigger, in state: StateDirectory) throws(StoreError) {
        try RecordFile.write(trigger, to: path(trigger.job, trigger.run, in: state))
    }

    /// Takes `run` out of `job`'s inbox (its run is on disk, or it was refused).
    public static func remove(_ job: JobID, _ run: RunID, in state: StateDirectory) {
        unlink(path(job, run, in: state))
    }

    /// Whether `run` of `job` waits in the inbox.
    public static func holds(_ job: JobID, _ run: RunID, in state: StateDirectory) -> Bool {
        access(path(job, run, in: state), F_OK) == 0
    }

    /// Every job's pending triggers, oldest first; `damaged` hears each file that cannot be read.
    public static func load(in state: StateDirectory, damaged: (String, StoreError) -> Void) -> [PendingTrigger] {
        var found: [PendingTrigger] = []
        let jobs = (try? FileManager.default.contentsOfDirectory(atPath: state.jobsRoot)) ?? []
        for name in jobs {
            guard let job = JobID(name) else { continue }
            let directory = state.inbox(job)
            for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where file.hasSuffix(".json") {
                do {
                    found.append(try RecordFile.read(PendingTrigger.self, from: "\(directory)/\(file)"))
                } catch {
                    damaged("\(directory)/\(file)", error)
                }
            }
        }
        return found.sorted { $0.sequence < $1.sequence }
    }

    static func path(_ job: JobID, _ run: RunID, in state: StateDirectory) -> String {
        "\(state.inbox(job))/\(run.rawValue).json"
    }

    // MARK: - Deliveries

    /// The run the delivery `id` of `job` was given, if it was taken.
    public static func delivery(_ id: String, of job: JobID, in state: StateDirectory) -> RunID? {
        guard let data = try? RecordFile.readData(deliveryPath(id, job, in: state)) else { return nil }
        return RunID(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Records durably that the delivery `id` of `job` is run `run`.
    public static func recordDelivery(_ id: String, run: RunID, of job: JobID, in state: StateDirectory)
        throws(StoreError)
    {
        try RecordFile.write(Data((run.rawValue + "\n").utf8), to: deliveryPath(id, job, in: state))
    }

    /// Forgets the delivery `id` (it was refused after all: a redelivery may try again).
    public static func forgetDelivery(_ id: String, of job: JobID, in state: StateDirectory) {
        unlink(deliveryPath(id, job, in: state))
    }

    /// Removes the job's delivery records older than `cutoff` (they only stop a redelivery).
    @discardableResult
    public static func pruneDeliveries(of job: JobID, olderThan cutoff: Date, in state: StateDirectory) -> Int {
        let directory = state.deliveries(job)
        var removed = 0
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            var info = stat()
            let path = "\(directory)/\(file)"
            guard stat(path, &info) == 0, Double(info.st_mtim.tv_sec) < cutoff.timeIntervalSince1970 else { continue }
            if unlink(path) == 0 { removed += 1 }
        }
        return removed
    }

    static func deliveryPath(_ id: String, _ job: JobID, in state: StateDirectory) -> String {
        "\(state.deliveries(job))/\(SHA256.hex(Array(id.utf8)).prefix(32))"
    }
}

/// The arrival order of triggers: nanoseconds of the wall clock, strictly increasing in this
/// process (so that the inbox is read back in the order triggers came, across restarts too).
public enum TriggerSequence {
    private static let last = Locked<UInt64>(0)

    public static func next() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let stamp = UInt64(max(0, now.tv_sec)) * 1_000_000_000 + UInt64(max(0, now.tv_nsec))
        return last.withLock { last in
            last = max(last + 1, stamp)
            return last
        }
    }
}

/// `jobs/<job>/paths.json`: until when the job's path trigger has seen its files. A file changed
/// after it while no wfd was watching (wfd stopped, or the job newly loaded with the same paths
/// after a stop) starts a run when the watch begins; the first watch of a job starts the cursor.
public struct PathCursor: Sendable, Codable, Equatable {
    public var version = 1
    public var seenUntil: Date

    public init(seenUntil: Date) { self.seenUntil = seenUntil }

    enum CodingKeys: String, CodingKey {
        case version
        case seenUntil = "seen_until"
    }

    /// The job's cursor; nil when its path trigger never ran (or the file is unreadable).
    public static func load(_ job: JobID, in state: StateDirectory) -> Date? {
        (try? RecordFile.read(PathCursor.self, from: state.pathCursor(job)))?.seenUntil
    }

    public static func save(_ date: Date, for job: JobID, in state: StateDirectory) throws(StoreError) {
        try RecordFile.write(PathCursor(seenUntil: date), to: state.pathCursor(job))
    }
}
