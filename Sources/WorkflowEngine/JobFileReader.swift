import Foundation
import WorkflowCore

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

    /// The text of the job file at `path`.
    ///
    /// - Throws: ``JobFileError`` with one diagnostic that names the file and the fix.
    public func read(_ path: String) throws(JobFileError) -> String {
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
        return text
    }

    /// Reads and parses the job file at `path`.
    public func load(_ path: String) throws(JobFileError) -> Job {
        try JobParser().parse(read(path), path: path)
    }
}
