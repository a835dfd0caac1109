import Foundation
import RunModel
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

/// The UI's sessions and CSRF tokens, signed with one secret key (HMAC-SHA-256).
///
/// A session is a cookie `wfd_session=EXPIRY.TOKEN-NAME.MAC`: who signed in (by the name of the
/// token they gave) until when, signed with the key and the token's digest, so it is refused
/// once it expires, once the token is revoked, and once a token of that name is made anew. A
/// form's CSRF token is the MAC of who is signed in (the session, or the Unix user): a page
/// of another site cannot know it, and a form without it changes nothing.
public struct Sessions: Sendable {
    let key: [UInt8]
    /// How long a session lasts after signing in.
    public static let lifetime: TimeInterval = 12 * 3600
    public static let cookie = "wfd_session"

    init(key: [UInt8]) { self.key = key }

    /// The key in `path` (32 random bytes, made on first use, mode 0600), so that sessions
    /// outlive a restart of wfd-web (systemd starts it on demand and it exits when idle); a
    /// key kept in memory only when the file cannot be written (sessions then end with the process).
    public static func load(path: String?) -> Sessions {
        if let path, let data = FileManager.default.contents(atPath: path), data.count >= 32 {
            return Sessions(key: Array(data))
        }
        var generator = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        if let path {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 {
                let written = key.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                let synced = fsync(fd) == 0
                close(fd)
                if written != key.count || !synced { unlink(path) }
            } else if errno == EEXIST, let data = FileManager.default.contents(atPath: path), data.count >= 32 {
                return Sessions(key: Array(data))  // another wfd-web made it first
            }
        }
        return Sessions(key: key)
    }

    /// HMAC-SHA-256 of `message` (RFC 2104), in hex.
    func mac(_ message: String) -> String {
        var block = key.count > 64 ? SHA256.digest(key) : key
        block += [UInt8](repeating: 0, count: 64 - block.count)
        let inner = SHA256.digest(block.map { $0 ^ 0x36 } + Array(message.utf8))
        return SHA256.hex(block.map { $0 ^ 0x5c } + inner)
    }

    /// The cookie's value for a session of `token` from `now`.
    func issue(for token: AccessTokens.Token, now: Date) -> String {
        let expiry = Int(now.timeIntervalSince1970 + Self.lifetime)
        return "\(expiry).\(token.name).\(mac("session|\(expiry)|\(token.name)|\(token.sha256)"))"
    }

    /// The token a session cookie stands for, if it is signed, current, and its token still exists.
    func verify(_ value: String, tokens: AccessTokens, now: Date) -> AccessTokens.Token? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3, let expiry = Int(parts[0]), Double(expiry) > now.timeIntervalSince1970,
            let token = tokens.tokens.first(where: { $0.name == parts[1] })
        else { return nil }
        return AccessTokens.same(parts[2], mac("session|\(expiry)|\(token.name)|\(token.sha256)")) ? token : nil
    }

    /// The CSRF token of forms shown to `principal` (a session cookie's value, or `uid:N`).
    func csrf(for principal: String) -> String { String(mac("csrf|\(principal)").prefix(32)) }

    func checks(_ given: String?, for principal: String) -> Bool {
        guard let given else { return false }
        return AccessTokens.same(given, csrf(for: principal))
    }

    /// The `Set-Cookie` header of a session (or, with nil, of signing out).
    static func setCookie(_ value: String?) -> String {
        guard let value else {
            return "\(cookie)=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
        }
        return "\(cookie)=\(value); Path=/; Max-Age=\(Int(lifetime)); HttpOnly; Secure; SameSite=Strict"
    }

    /// The value of cookie `name` in a `Cookie` header.
    static func cookie(_ name: String, in header: String?) -> String? {
        for pair in (header ?? "").split(separator: ";") {
            let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == name { return String(parts[1]) }
        }
        return nil
    }
}
