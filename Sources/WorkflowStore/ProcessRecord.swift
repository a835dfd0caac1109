import Foundation
import JobFormat

#if canImport(Glibc)
    import Glibc
#endif

/// `runs/<job>/<run>/processes`: one line per spawned attempt, `<step> <item|-> <attempt> <pid>
/// <start time>`, appended without fsync. It lets the next wfd find the process group of an
/// attempt that outlived a killed wfd (outside systemd nothing else stops it) and kill it before
/// anything runs again. A power cut loses lines, and the processes with them.
public enum ProcessRecord {
    public struct Entry: Sendable, Equatable {
        public var step: StepID
        public var item: Int?
        public var attempt: Int
        public var pid: Int32
        /// The process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22): a
        /// pid reused by another process does not match it.
        public var startTime: UInt64

        public init(step: StepID, item: Int?, attempt: Int, pid: Int32, startTime: UInt64) {
            self.step = step
            self.item = item
            self.attempt = attempt
            self.pid = pid
            self.startTime = startTime
        }
    }

    public static func path(_ directory: StateDirectory, _ job: JobID, _ run: RunID) -> String {
        directory.runFile(job, run, relative: "processes")
    }

    /// Notes the process `pid` of an attempt; best effort (a failure only loses this safety net).
    public static func append(_ entry: Entry, to path: String) {
        let line =
            "\(entry.step.rawValue) \(entry.item.map(String.init) ?? "-") \(entry.attempt) \(entry.pid) \(entry.startTime)\n"
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return }
        _ = Array(line.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    public static func read(_ path: String) -> [Entry] {
        guard let data = try? RecordFile.readData(path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count == 5, let step = StepID(String(fields[0])), let attempt = Int(fields[2]),
                let pid = Int32(fields[3]), let start = UInt64(fields[4])
            else { return nil }
            return Entry(step: step, item: Int(fields[1]), attempt: attempt, pid: pid, startTime: start)
        }
    }

    /// The start time of process `pid`, or nil when there is no such process (or only a zombie).
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let data = try? RecordFile.readData("/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // The command name (field 2) may hold spaces; the fields after its ')' are plain.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3); the start time is field 22.
        guard fields.count > 19, fields[0] != "Z" else { return nil }
        return UInt64(fields[19])
    }
}
