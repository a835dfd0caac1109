import Foundation

/// A process's resident memory, from `/proc/PID/statm` (its second field, in pages).
public enum ProcessMemory {
    /// `pid`'s resident bytes (`self`: this process); nil when it is gone or unreadable.
    public static func residentBytes(of pid: String = "self") -> UInt64? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/statm") else { return nil }
        let fields = String(decoding: data, as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return nil }
        return pages * UInt64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
