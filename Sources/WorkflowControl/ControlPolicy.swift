#if canImport(Glibc)
    import Glibc
#endif

/// Who may send commands to wfd: root, wfd's own user, and members of one group (default `wfd`),
/// checked against the peer's credentials (`SO_PEERCRED`, `SO_PEERGROUPS`) and its groups as the
/// system knows them.
public struct ControlPolicy: Sendable {
    /// Always allowed: root and the user wfd runs as.
    public let users: Set<UInt32>
    /// The group whose members may control wfd, as configured.
    public let groupName: String?
    /// The group's id, nil when no such group exists.
    public let groupID: UInt32?
    /// Users who may send a command on behalf of another (``ControlRequest/onBehalfOf``): wfd-web's,
    /// which passes on who its callers are. Anyone else who names another caller is refused.
    public let delegates: Set<UInt32>

    public init(users: Set<UInt32>, groupName: String?, delegates: Set<UInt32> = []) {
        self.users = users
        self.groupName = groupName
        self.delegates = delegates
        groupID = groupName.flatMap(Self.groupID(named:))
    }

    /// The uid of the user `name`, when the system knows it.
    public static func userID(named name: String) -> UInt32? {
        var passwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwnam_r(name, &passwd, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return passwd.pw_uid
    }

    /// Who a command comes from: the peer, or (when a delegate or root sends it) the caller it
    /// names. A refusal when anyone else names a caller.
    public func caller(peer: Caller, onBehalfOf named: Caller?) -> Result<Caller, ControlRefusal> {
        guard var named else { return .success(peer) }
        guard delegates.contains(peer.uid) || peer.uid == 0 else {
            return .failure(
                ControlRefusal(
                    .permissionDenied,
                    "permission denied: uid \(peer.uid) may not send commands on behalf of another user"))
        }
        named.via = Self.userName(of: peer.uid) ?? "uid \(peer.uid)"
        return .success(named)
    }

    /// nil when `uid` (whose primary group is `gid`, holding the supplementary `groups`) may
    /// control wfd; else why not, in one sentence. A member is one whose process holds the group
    /// (`sg`, systemd's `SupplementaryGroups=`) or whom the system's group database names as one
    /// (`usermod -aG`, before logging in again).
    public func refusal(uid: UInt32, gid: UInt32, groups: [UInt32] = []) -> String? {
        if users.contains(uid) { return nil }
        if let groupID,
            gid == groupID || groups.contains(groupID) || Self.groups(of: uid, primary: gid).contains(groupID)
        {
            return nil
        }
        let who = users.sorted().map { $0 == 0 ? "root" : "uid \($0) (wfd's user)" }.joined(separator: ", ")
        guard let groupName else { return "uid \(uid) is not \(who); only they may control wfd" }
        guard groupID != nil else {
            return "uid \(uid) is not \(who), and group '\(groupName)' does not exist: create it "
                + "(groupadd \(groupName)) and add the user to it to allow them"
        }
        return "uid \(uid) is not \(who) or a member of group '\(groupName)': add it with "
            + "usermod -aG \(groupName) USER (and log in again)"
    }

    /// The user name of `uid`, when the system knows it.
    public static func userName(of uid: UInt32) -> String? {
        var passwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &passwd, &buffer, buffer.count, &result) == 0, result != nil, let name = passwd.pw_name
        else { return nil }
        return String(cString: name)
    }

    static func groupID(named name: String) -> UInt32? {
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return group.gr_gid
    }

    /// The groups of the user `uid` in the system's databases (its supplementary groups as they
    /// are now, which is what `usermod -aG` changes).
    static func groups(of uid: UInt32, primary: UInt32) -> [UInt32] {
        var passwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &passwd, &buffer, buffer.count, &result) == 0, result != nil, let name = passwd.pw_name
        else { return [] }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(name, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(name, primary, &groups, &count) >= 0 else { return [] }
        }
        return Array(groups.prefix(Int(count)))
    }
}

/// Who sent a command: a process's credentials, and the delegate it came through, if any.
public struct Caller: Sendable, Codable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    /// Supplementary groups, as the kernel reported them (may be empty: the group database is
    /// asked as well).
    public var groups: [UInt32]
    /// The API token the caller used (over TCP): then it is named rather than the uid, which is
    /// the delegate's own.
    public var token: String?
    /// The delegate's name (`wfd-web`), set by wfd, never taken from the request.
    public var via: String?

    public init(uid: UInt32, gid: UInt32, groups: [UInt32] = [], token: String? = nil, via: String? = nil) {
        (self.uid, self.gid, self.groups, self.token, self.via) = (uid, gid, groups, token, via)
    }

    /// How records name the caller: `uid 1000 (alice)` or `token deploy-bot`, with ` via wfd-web`
    /// for a delegated one.
    public var description: String {
        let name = ControlPolicy.userName(of: uid).map { " (\($0))" } ?? ""
        let who = token.map { "token \($0)" } ?? "uid \(uid)\(name)"
        return who + (via.map { " via \($0)" } ?? "")
    }

    enum CodingKeys: String, CodingKey {
        case uid, gid, groups, token
    }
}
