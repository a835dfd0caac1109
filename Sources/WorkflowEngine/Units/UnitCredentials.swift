import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The files a unit's secrets are loaded from (`LoadCredential=`): one directory per unit, only
/// its owner (root) can read, under wfd's runtime directory (tmpfs: a secret never reaches a
/// disk). systemd copies them into the unit's own `$CREDENTIALS_DIRECTORY` when it starts.
struct UnitCredentials: Sendable {
    /// Where the units' directories are made (`$RUNTIME_DIRECTORY/credentials`).
    let root: String

    func directory(of unit: String) -> String {
        "\(root)/\(unit.replacingOccurrences(of: "\\", with: "_"))"
    }

    /// Writes `secrets` (name → value) for `unit`; returns the `LoadCredential=` pairs.
    func write(_ secrets: [String: String], for unit: String) throws(UnitError) -> [UnitProperty.Pair] {
        let path = directory(of: unit)
        try? FileManager.default.createDirectory(
            atPath: (root as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try makePrivateDirectory(root)
        try makePrivateDirectory(path)
        return try secrets.sorted { $0.key < $1.key }.map { (secret, value) throws(UnitError) in
            let file = "\(path)/\(secret)"
            try writePrivate(Array(value.utf8), to: file)
            return UnitProperty.Pair(secret, file)
        }
    }

    func remove(_ directory: String?) {
        guard let directory else { return }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func makePrivateDirectory(_ path: String) throws(UnitError) {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw UnitError(name: "", message: "mkdir \(path): \(String(cString: strerror(errno)))")
        }
        chmod(path, 0o700)
    }

    private func writePrivate(_ bytes: [UInt8], to path: String) throws(UnitError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw UnitError(name: "", message: "\(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            throw UnitError(name: "", message: "\(path): \(String(cString: strerror(errno)))")
        }
    }
}
