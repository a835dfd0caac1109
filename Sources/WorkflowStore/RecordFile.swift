import Foundation
import JobFormat
import RunModel
import Schedules

#if canImport(Glibc)
    import Glibc
#endif

/// The one durable, atomic way records reach the disk: write `name.tmp`, fsync it, rename it over
/// `name`, fsync the directory. A reader sees the old or the new record, never a torn one, and after
/// a power cut the record is one or the other.
public enum RecordFile {
    /// Writes `data` to `path` durably and atomically, creating the parent directory if needed.
    /// With `syncingDirectory: false` the rename is durable only once the caller fsyncs the
    /// directory (``syncDirectory(_:)``): one fsync then serves several records.
    ///
    /// - Throws: ``StoreError/system(operation:path:errno:)``; the previous record is then intact.
    public static func write(_ data: Data, to path: String, syncingDirectory: Bool = true) throws(StoreError) {
        let directory = PathName.parent(path)
        let temporary = path + ".tmp"
        var fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        if fd < 0 && errno == ENOENT {  // the first record of its directory
            try makeDirectory(directory)
            fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        }
        guard fd >= 0 else { throw .system(operation: "open", path: temporary, errno: errno) }
        do throws(StoreError) {
            try writeAll(fd, data, path: temporary)
            guard fsync(fd) == 0 else { throw StoreError.system(operation: "fsync", path: temporary, errno: errno) }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard close(fd) == 0 else {
            let code = errno
            unlink(temporary)
            throw .system(operation: "close", path: temporary, errno: code)
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .system(operation: "rename", path: path, errno: code)
        }
        if syncingDirectory { try syncDirectory(directory) }
    }

    /// Moves a record that failed its checks aside as `<name>.corrupt-<UTC time>`, never to be
    /// replaced silently, and returns the new path.
    public static func quarantine(_ path: String, at time: Date) throws(StoreError) -> String {
        let stamp = Timestamp.rfc3339(time).replacingOccurrences(of: ":", with: "")
        let target = "\(path).corrupt-\(stamp)"
        guard rename(path, target) == 0 else { throw .system(operation: "rename", path: path, errno: errno) }
        try syncDirectory(PathName.parent(path))
        return target
    }

    /// Encodes `value` as pretty, key-sorted JSON, seals it (``RecordSeal``: the file's next
    /// sequence number and a checksum) and writes it with ``write(_:to:)``.
    public static func write<T: Encodable>(_ value: T, to path: String, syncingDirectory: Bool = true)
        throws(StoreError)
    {
        let json: Data
        do {
            json = try RecordJSON.encode(value)
        } catch {
            throw .corrupt(path: path, reason: "cannot encode: \(error)")
        }
        let previous = (try? readData(path)).flatMap(RecordSeal.seq(of:)) ?? 0
        guard let sealed = RecordSeal.seal(json, seq: previous + 1) else {
            throw .corrupt(path: path, reason: "cannot seal: the record is not a JSON object")
        }
        try write(sealed, to: path, syncingDirectory: syncingDirectory)
    }

    /// Reads, checks and decodes the record at `path`. With `keys` (all of `T`'s), only those
    /// top-level members are decoded: the rest of the file (a list of recent runs, say) is
    /// checksummed, not parsed; a file not in wfd's layout is decoded whole.
    ///
    /// - Throws: ``StoreError/missing(path:)`` when absent, ``StoreError/corrupt(path:reason:)``
    ///   when its checksum does not match or it does not decode.
    public static func read<T: Decodable>(_ type: T.Type, from path: String, keys: [String]? = nil)
        throws(StoreError) -> T
    {
        let data = try readData(path)
        if let problem = RecordSeal.problem(in: data) { throw .corrupt(path: path, reason: problem) }
        do {
            let body = keys.flatMap { members(of: data, keeping: $0) } ?? data
            return try RecordJSON.decode(T.self, from: body)
        } catch {
            throw .corrupt(path: path, reason: "\(error)")
        }
    }

    /// The JSON object made of the top-level members of `data` named in `keys`, or nil when
    /// `data` is not an object laid out as wfd writes records. In that layout (two-space indent)
    /// a top-level member is the only thing that starts with `"` right after a newline and two
    /// spaces: deeper members are indented further, and strings hold no raw newline.
    static func members(of data: Data, keeping keys: [String]) -> Data? {
        data.withUnsafeBytes { raw -> Data? in
            let bytes = raw.bindMemory(to: UInt8.self)
            let (newline, space, quote) = (UInt8(ascii: "\n"), UInt8(ascii: " "), UInt8(ascii: "\""))
            guard bytes.count >= 3, bytes[0] == UInt8(ascii: "{"), bytes[1] == newline else { return nil }
            // Where the object closes: "\n}" and only whitespace after it.
            var close = bytes.count - 1
            while close > 0, bytes[close] == newline || bytes[close] == space { close -= 1 }
            guard close > 1, bytes[close] == UInt8(ascii: "}"), bytes[close - 1] == newline else { return nil }
            var starts: [Int] = []  // the opening quote of each top-level key
            guard let base = bytes.baseAddress else { return nil }
            var index = 1
            // From newline to newline (memchr: a record's lines are tens of bytes long).
            while index + 3 < close {
                if bytes[index + 1] == space, bytes[index + 2] == space, bytes[index + 3] == quote {
                    starts.append(index + 3)
                }
                guard let next = memchr(base + index + 1, Int32(newline), close - index - 1) else { break }
                index = base.distance(to: next.assumingMemoryBound(to: UInt8.self))
            }
            var out = Data("{".utf8)
            for (position, start) in starts.enumerated() {
                var keyEnd = start + 1
                while keyEnd < close, bytes[keyEnd] != quote {
                    if bytes[keyEnd] == UInt8(ascii: "\\") { return nil }  // no escapes in wfd's keys
                    keyEnd += 1
                }
                let key = UnsafeBufferPointer(rebasing: bytes[(start + 1)..<keyEnd])
                // A few keys: compared as bytes, no string made and hashed for every member.
                guard keys.contains(where: { $0.utf8.elementsEqual(key) }) else { continue }
                var end = close - 1  // the last member ends at the newline before "}"
                if position + 1 < starts.count {
                    end = starts[position + 1] - 3  // the newline before the next key
                    guard bytes[end - 1] == UInt8(ascii: ",") else { return nil }
                    end -= 1
                }
                if out.count > 1 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<end]))
            }
            out.append(UInt8(ascii: "}"))
            return out
        }
    }

    /// The bytes at `path`.
    public static func readData(_ path: String) throws(StoreError) -> Data {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw code == ENOENT ? .missing(path: path) : .system(operation: "open", path: path, errno: code)
        }
        defer { close(fd) }
        var info = stat()
        // Records are small: one read of the size fstat gives, more only if the file grew since.
        let size = fstat(fd, &info) == 0 ? max(Int(info.st_size), 0) : -1
        var data = Data(count: size >= 0 ? size + 1 : 64 * 1024)
        var total = 0
        while true {
            if total == data.count { data.count += max(data.count, 4096) }
            let count = data.withUnsafeMutableBytes {
                Glibc.read(fd, $0.baseAddress?.advanced(by: total), $0.count - total)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(operation: "read", path: path, errno: errno)
            }
            if count == 0 { break }
            total += count
            // All fstat promised, and the byte asked beyond it was not there: the end, without
            // one more read to hear it (start-up reads 30,000 records).
            if total == size && total < data.count { break }
        }
        data.count = total
        return data
    }

    /// Creates `path` and its parents (mode 0750) and fsyncs each new directory's parent.
    public static func makeDirectory(_ path: String) throws(StoreError) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return }
        let parent = PathName.parent(path)
        if !parent.isEmpty, parent != path { try makeDirectory(parent) }
        if mkdir(path, 0o750) != 0 && errno != EEXIST {
            throw .system(operation: "mkdir", path: path, errno: errno)
        }
        if !parent.isEmpty { try syncDirectory(parent) }
    }

    /// fsyncs a directory so that renames and creations in it survive a power cut.
    public static func syncDirectory(_ path: String) throws(StoreError) {
        let fd = open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .system(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .system(operation: "fsync", path: path, errno: errno) }
    }

    static func writeAll(_ fd: Int32, _ data: Data, path: String) throws(StoreError) {
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { bytes in
                Glibc.write(fd, bytes.baseAddress?.advanced(by: offset), bytes.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw .system(operation: "write", path: path, errno: errno)
            }
            offset += written
        }
    }
}
