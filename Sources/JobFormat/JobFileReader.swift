import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads job files the way cron reads crontabs: only regular files, not writable by group or
/// others, owned by root or by wfd's own user, at most 1 MiB of UTF-8. A job file says what runs
/// as wfd's user, so a file anyone else could have changed is refused, with the fix in the message.
public struct JobFileReader: Sendable {
    /// The owners accepted besides root.
    public var allowedOwners: Set<uid_t>

    public init(allowedOwners: Set<uid_t> = [0, geteuid()]) { self.allowedOwners = allowedOwners.union([0]) }

    /// The job files of `directory`, sorted, or the reason it cannot be listed.
    public static func jobFiles(in directory: String) -> Result<[String], JobFileError> {
        do {
            let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            return .success(names.filter(JobParser.isJobFileName).sorted().map { "\(directory)/\($0)" })
        } catch {
            return .failure(
                JobFileError([
                    Diagnostic(
                        file: directory, line: 0, column: 0,
                        message: "cannot read the jobs directory: \(error.localizedDescription)",
                        hint: "create it, or point wfd at another one with --jobs")
                ]))
        }
    }

    /// The text of the job file at `path`.
    ///
    /// - Throws: ``JobFileError`` with one diagnostic that names the file and the fix.
    public func read(_ path: String) throws(JobFileError) -> String {
        try readSigned(path).text
    }

    /// The text of the job file at `path` and the signature of the version read (taken before
    /// the read, so a change during the read shows as a changed signature next time).
    public func readSigned(_ path: String) throws(JobFileError) -> (text: String, signature: FileSignature) {
        func refuse(_ message: String, _ hint: String) -> JobFileError {
            JobFileError([Diagnostic(file: path, line: 1, column: 1, message: message, hint: hint)])
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw refuse("cannot open the job file: \(reason)", "check that wfd may read it")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw refuse("cannot inspect the job file: \(String(cString: strerror(errno)))", "check the file")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw refuse("not a regular file", "job files must be plain files; remove or rename this one")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw refuse(
                "the job file is writable by group or others, so anyone could change what wfd runs",
                "run: chmod go-w \(path)")
        }
        guard allowedOwners.contains(info.st_uid) else {
            throw refuse(
                "the job file is owned by uid \(info.st_uid), not by root or wfd's user",
                "run: chown root \(path)")
        }
        guard info.st_size <= JobParser.maximumFileSize else {
            throw refuse(
                "the job file is \(info.st_size) bytes, more than the 1 MiB limit",
                "a job file describes steps; keep data and scripts in files of their own")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size) + 1)
        var total = 0
        while total < bytes.count {
            let count = bytes.withUnsafeMutableBytes {
                Glibc.read(fd, $0.baseAddress?.advanced(by: total), $0.count - total)
            }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw refuse("cannot read the job file: \(String(cString: strerror(errno)))", "check the file")
            }
            if count == 0 { break }
            total += count
        }
        guard total <= JobParser.maximumFileSize else {
            throw refuse("the job file is larger than the 1 MiB limit", "keep data and scripts in files of their own")
        }
        guard let text = String(validating: bytes[0..<total], as: UTF8.self) else {
            throw refuse("the job file is not UTF-8 text", "save it as UTF-8")
        }
        return (text, FileSignature(info))
    }

    /// Reads and parses the job file at `path`.
    public func load(_ path: String) throws(JobFileError) -> Job {
        try JobParser().parse(read(path), path: path)
    }
}

/// What `stat` says of a file version: device, inode, size, modification and change times. Any
/// write, rename over, chmod or chown changes it, so an equal signature means the file need not be
/// read again, unless it was changed so recently that a second change within the same clock tick
/// could leave it equal (see ``isSettled(at:)``).
public struct FileSignature: Sendable, Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: timespec
    var changed: timespec

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = info.st_mtim
        changed = info.st_ctim
    }

    /// The signature of the file at `path` now (following symlinks, as `open` does), or nil.
    public static func of(_ path: String) -> FileSignature? {
        var info = stat()
        return stat(path, &info) == 0 ? FileSignature(info) : nil
    }

    /// Whether the version was at least `margin` seconds old at `time`: file times advance by
    /// clock ticks, so a file written again within the tick of the version read keeps its
    /// signature (git calls such index entries racy). Such a version is read again at the next
    /// load.
    public func isSettled(at time: timespec, margin: Int) -> Bool {
        let latest = max(modified.tv_sec, changed.tv_sec)
        return latest + margin <= time.tv_sec
    }

    public static func == (a: FileSignature, b: FileSignature) -> Bool {
        a.device == b.device && a.inode == b.inode && a.size == b.size
            && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
            && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
    }
}
