import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Names of the time zone database, as systemd checks them.
enum TimeZoneName {
    /// systemd's `timezone_is_valid`: a name of the time zone database, checked on disk.
    static func isValid(_ name: String) -> Bool {
        if name == "UTC" { return true }
        guard let first = name.utf8.first, first != UInt8(ascii: "/"), name.utf8.count < 4096 else { return false }
        var slash = false
        for byte in name.utf8 {
            let allowed =
                (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || "-_+/".utf8.contains(byte)
            guard allowed else { return false }
            if byte == UInt8(ascii: "/") {
                if slash { return false }
                slash = true
            } else {
                slash = false
            }
        }
        if slash { return false }
        let path = "/usr/share/zoneinfo/" + name
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
            let handle = FileHandle(forReadingAtPath: path)
        else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data("TZif".utf8)
    }
}
