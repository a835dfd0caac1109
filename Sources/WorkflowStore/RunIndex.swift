import Foundation
import JobFormat
import RunModel
import Schedules

#if canImport(Glibc)
    import Glibc
#endif

/// `jobs/<job>/runs.jsonl`: one JSON line per ended run (a run retried and ended again appears
/// again; the last line of an id wins), and the same line in every job's ``RunHistory``. Appended without fsync: the index is derived from the
/// run records, which are durable, and `wfctl fsck --repair` rebuilds it; a torn last line is
/// skipped by readers and cut off by the next append.
public struct RunIndex: Sendable {
    public let directory: StateDirectory

    public init(directory: StateDirectory) { self.directory = directory }

    /// One line of the index: the run's summary, as in `latest.json`.
    public typealias Entry = RunSummary

    /// Appends the ended run `run`.
    public func append(_ run: RunRecord) throws(StoreError) {
        let path = directory.runIndex(run.job)
        guard var line = try? Timestamp.makeEncoder(pretty: false).encode(Entry(run)) else {
            throw .corrupt(path: path, reason: "cannot encode the index entry of \(run.id)")
        }
        line.append(UInt8(ascii: "\n"))
        let entry = line
        try RecordFile.makeDirectory(directory.jobDirectory(run.job))
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        // A line torn by a crash is ended first, so the new line stands on its own.
        var last: UInt8 = UInt8(ascii: "\n")
        let size = lseek(fd, 0, SEEK_END)
        if size > 0, pread(fd, &last, 1, size - 1) == 1, last != UInt8(ascii: "\n") {
            line.insert(UInt8(ascii: "\n"), at: 0)
        }
        try RecordFile.writeAll(fd, line, path: path)
        try RunHistory(directory: directory).append(entry, of: run)
    }

    /// The newest `limit` runs of `job`, newest first, read from the end of the index: the cost
    /// depends on `limit`, not on the length of the history. With `stop`, reading ends at the
    /// first entry (newest first) it is true for, which is left out: `wfctl stats --since` reads
    /// only as far back as it needs.
    public func recent(_ job: JobID, limit: Int, stop: ((Entry) -> Bool)? = nil) -> [Entry] {
        guard limit > 0 else { return [] }
        var seen: Set<RunID> = []
        var entries: [Entry] = []
        IndexScan(path: directory.runIndex(job)).backwards { entry, _ in
            if let stop, stop(entry) { return false }
            if seen.insert(entry.id).inserted { entries.append(entry) }
            return entries.count < limit
        }
        return entries
    }

    /// Every run of `job` in the index, the last line of each id.
    public func all(_ job: JobID) -> [RunID: Entry] {
        guard let data = try? RecordFile.readData(directory.runIndex(job)) else { return [:] }
        let decoder = Timestamp.makeDecoder()
        var entries: [RunID: Entry] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let entry = try? decoder.decode(Entry.self, from: Data(line)) { entries[entry.id] = entry }
        }
        return entries
    }

    /// Replaces the index of `job` with `entries` (oldest first), durably: after retention, or
    /// to rebuild it from the run records.
    public func rewrite(_ job: JobID, _ entries: [Entry]) throws(StoreError) {
        let encoder = Timestamp.makeEncoder(pretty: false)
        var data = Data()
        for entry in entries {
            guard let line = try? encoder.encode(entry) else { continue }
            data += line + Data("\n".utf8)
        }
        try RecordFile.write(data, to: directory.runIndex(job))
    }
}
