#if canImport(Glibc)
    import Glibc
#endif

/// The account a step runs as (`user:`): its ids, groups and home, as the system's databases
/// say now.
public struct UserAccount: Sendable, Equatable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// Every group of the account, its primary group included.
    public var groups: [UInt32]
    public var home: String
    /// The login shell (`SHELL`), `/bin/sh` when the database names none.
    public var shell: String

    /// Why an account cannot be used.
    public struct Problem: Error, Sendable {
        public let message: String
    }

    /// The account wfd itself runs as (its effective uid), or nil when the password database has
    /// no entry for it (a container's arbitrary uid).
    public static func own() -> UserAccount? {
        if case .success(let account) = resolve(String(geteuid())) { return account }
        return nil
    }

    /// The account named `spec` (a login name or a numeric uid), or why it cannot be used, in one
    /// sentence. Running as another account than wfd's own needs wfd to run as root.
    public static func resolve(_ spec: String) -> Result<UserAccount, Problem> {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        let found: Int32 =
            if let uid = UInt32(spec) {
                getpwuid_r(uid, &entry, &buffer, buffer.count, &result)
            } else {
                getpwnam_r(spec, &entry, &buffer, buffer.count, &result)
            }
        guard found == 0, result != nil, let namePointer = entry.pw_name else {
            return .failure(Problem(message: "no user '\(spec)' on this system (user:)"))
        }
        let name = String(cString: namePointer)
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(namePointer, entry.pw_gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(namePointer, entry.pw_gid, &groups, &count)
        }
        let account = UserAccount(
            name: name, uid: entry.pw_uid, gid: entry.pw_gid, groups: Array(groups.prefix(Int(max(0, count)))),
            home: entry.pw_dir.map { String(cString: $0) } ?? "/",
            shell: entry.pw_shell.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/bin/sh")
        if geteuid() != 0, account.uid != geteuid() {
            return .failure(
                Problem(
                    message:
                        "wfd runs as uid \(geteuid()), and only a wfd running as root can run a step as '\(name)' (user:)"
                ))
        }
        return .success(account)
    }
}
