import Foundation
import JobFormat
import RunModel
import Schedules

#if canImport(Glibc)
    import Glibc
#endif

/// `runs.jsonl` in the state directory: the ended runs of every job, one line each (the line
/// of the job's own `runs.jsonl`) in the order they ended, so that a listing of every job's
/// runs reads one file from its end and a page costs the same on the first day and after 10⁶
/// runs. Like the jobs' indexes it is derived from the run records, appended without fsync and
/// rebuilt from the jobs' indexes (``rebuild()``): by the upgrade to state format 2, by
/// `wfctl fsck --repair`, and by wfd's hourly retention pass once runs it no longer keeps make
/// up more than half of it.
///
/// A run retried and ended again has a second line, and the first one is stale; readers tell
/// them apart by the run record (``RunListing`` in WorkflowReports).
public struct RunHistory: Sendable {
    public let directory: StateDirectory

    public init(directory: StateDirectory) { self.directory = directory }

    public var path: String { directory.file("runs.jsonl") }
    /// Shared by appenders, exclusive while the file is rebuilt (a line appended to the file
    /// being replaced would be lost).
    var lockPath: String { directory.file("runs.lock") }

    /// Appends `line` (one encoded index entry, ending in a newline) for `run`, unless a crash
    /// made wfd save the run twice: a line for the same id and end time near the end of the
    /// file is left alone.
    func append(_ line: Data, of run: RunRecord) throws(StoreError) {
        let lock = try FileLock.lock(lockPath, shared: true)
        defer { withExtendedLifetime(lock) {} }
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        let size = lseek(fd, 0, SEEK_END)
        let tail = Self.read(fd, from: max(0, size - 16 * 1024), to: size)
        if Self.contains(tail, run) { return }
        var line = line
        if let last = tail.last, last != UInt8(ascii: "\n") { line.insert(UInt8(ascii: "\n"), at: 0) }
        try RecordFile.writeAll(fd, line, path: path)
    }

    /// Whether `tail` holds a line for `run` as it ended this time.
    static func contains(_ tail: [UInt8], _ run: RunRecord) -> Bool {
        let needle = Array("\"id\":\"\(run.id.rawValue)\"".utf8)
        guard tail.count >= needle.count else { return false }
        let decoder = Timestamp.makeDecoder()
        for line in tail.split(separator: UInt8(ascii: "\n")) where line.count >= needle.count {
            guard line.indices.dropLast(needle.count - 1).contains(where: { line[$0...].starts(with: needle) }),
                let entry = try? decoder.decode(RunIndex.Entry.self, from: Data(line))
            else { continue }
            if entry.id == run.id, entry.endedAt == run.endedAt { return true }
        }
        return false
    }

    /// Writes the file again from the jobs' indexes: every run they list once, as it ended
    /// last, in the order of the end times. Safe to run again; appenders wait meanwhile.
    public func rebuild() throws(StoreError) {
        let lock = try FileLock.lock(lockPath, shared: false)
        defer { withExtendedLifetime(lock) {} }
        let index = RunIndex(directory: directory)
        let jobs = ((try? FileManager.default.contentsOfDirectory(atPath: directory.jobsRoot)) ?? []).compactMap(
            JobID.init)
        var entries: [RunIndex.Entry] = []
        for job in jobs {
            // Lines from before index lines named their job get it here: this index is every job's.
            entries += index.all(job).values.map { entry in
                var entry = entry
                entry.job = entry.job ?? job
                return entry
            }
        }
        entries.sort { ($0.endedAt ?? .distantPast, $0.id) < ($1.endedAt ?? .distantPast, $1.id) }
        let encoder = Timestamp.makeEncoder(pretty: false)
        var data = Data()
        for entry in entries {
            guard let line = try? encoder.encode(entry) else { continue }
            data += line + Data("\n".utf8)
        }
        try RecordFile.write(data, to: path)
    }

    /// True when the file is more than twice the size of the jobs' indexes together (and over
    /// 1 MiB): most of it names runs that retention deleted.
    public func isBloated() -> Bool {
        var own = stat()
        guard stat(path, &own) == 0, own.st_size > 1 << 20 else { return false }
        var kept: off_t = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.jobsRoot)) ?? [] {
            var one = stat()
            if let job = JobID(name), stat(directory.runIndex(job), &one) == 0 { kept += one.st_size }
        }
        return own.st_size > 2 * kept
    }

    static func read(_ fd: Int32, from start: off_t, to end: off_t) -> [UInt8] {
        guard end > start else { return [] }
        var buffer = [UInt8](repeating: 0, count: Int(end - start))
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, start) }
        return Array(buffer.prefix(max(0, count)))  // short at the end of the file
    }
}

/// Reads an index file (a job's `runs.jsonl` or ``RunHistory``'s) from a byte offset towards its
/// start, a line at a time, in chunks: what a page costs depends on the page, not on the file.
public struct IndexScan: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// The file's size; nil when there is no file.
    public func size() -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    /// The entry whose line starts at `offset`, if a line starts there (the byte before it ends
    /// a line) and holds one.
    public func entry(at offset: Int64) -> RunIndex.Entry? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let bytes = RunHistory.read(fd, from: off_t(max(0, offset - 1)), to: off_t(offset + 64 * 1024))
        guard offset == 0 || bytes.first == UInt8(ascii: "\n") else { return nil }
        let line = bytes.dropFirst(offset == 0 ? 0 : 1).prefix { $0 != UInt8(ascii: "\n") }
        return try? Timestamp.makeDecoder().decode(RunIndex.Entry.self, from: Data(line))
    }

    /// Calls `visit` with each entry before `before` (the file's end when nil), newest first,
    /// and the offset its line starts at, until `visit` says stop or `lines` lines were read.
    /// Returns the offset reading stopped at (0: the start of the file was reached).
    @discardableResult
    public func backwards(
        before: Int64? = nil, lines: Int = .max, _ visit: (RunIndex.Entry, Int64) -> Bool
    ) -> Int64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var end = min(off_t(before ?? .max), lseek(fd, 0, SEEK_END))
        var carry: [UInt8] = []
        var read = 0
        let decoder = Timestamp.makeDecoder()
        let chunk = 64 * 1024
        while end > 0 {
            let start = max(0, end - off_t(chunk))
            var buffer = RunHistory.read(fd, from: start, to: end)
            guard !buffer.isEmpty else { break }
            buffer += carry
            var pieces = buffer.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            // The first piece may be the end of a line that starts in the previous chunk.
            carry = start > 0 ? Array(pieces.removeFirst()) : []
            var lineEnd = Int64(start) + Int64(buffer.count)
            for piece in pieces.reversed() {
                let lineStart = lineEnd - Int64(piece.count)
                defer { lineEnd = lineStart - 1 }
                guard !piece.isEmpty else { continue }
                read += 1
                if let entry = try? decoder.decode(RunIndex.Entry.self, from: Data(piece)), !visit(entry, lineStart) {
                    return lineStart
                }
                if read >= lines { return lineStart }
            }
            end = start
        }
        return 0
    }

    /// The offset after the last line of a run that ended at or before `instant`: the file is in
    /// the order runs ended, so a binary search finds it in about 20 reads of 10⁶ lines.
    public func offset(endedBy instant: Date) -> Int64? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let size = Int64(lseek(fd, 0, SEEK_END))
        let decoder = Timestamp.makeDecoder()
        /// The first whole line starting after `offset`, with where it starts and ends.
        func line(after offset: Int64) -> (entry: RunIndex.Entry?, start: Int64, end: Int64)? {
            var position = offset
            var bytes: [UInt8] = []
            if offset > 0 {  // skip to the next line's start
                var found = false
                while !found && position < size {
                    let piece = RunHistory.read(fd, from: off_t(position), to: off_t(min(size, position + 4096)))
                    guard let newline = piece.firstIndex(of: UInt8(ascii: "\n")) else {
                        position += Int64(piece.count)
                        if piece.isEmpty { return nil }
                        continue
                    }
                    position += Int64(newline) + 1
                    found = true
                }
            }
            let start = position
            while position < size {
                let piece = RunHistory.read(fd, from: off_t(position), to: off_t(min(size, position + 4096)))
                if piece.isEmpty { break }
                if let newline = piece.firstIndex(of: UInt8(ascii: "\n")) {
                    bytes += piece[..<newline]
                    position += Int64(newline) + 1
                    return (try? decoder.decode(RunIndex.Entry.self, from: Data(bytes)), start, position)
                }
                bytes += piece
                position += Int64(piece.count)
            }
            return start < size ? (try? decoder.decode(RunIndex.Entry.self, from: Data(bytes)), start, size) : nil
        }
        // Invariant: lines starting before `low` ended by `instant`; those starting at `high` or after did not.
        var low: Int64 = 0
        var high = size
        while high - low > 4096 {
            let middle = (low + high) / 2
            guard let found = line(after: middle), found.start < high else {
                high = middle
                continue
            }
            if (found.entry?.endedAt ?? .distantPast) <= instant { low = found.end } else { high = found.start }
        }
        var position = low
        while position < high, let found = line(after: position == 0 ? 0 : position - 1) {
            if (found.entry?.endedAt ?? .distantPast) > instant { return found.start }
            position = found.end
        }
        return high
    }
}
