import Foundation
import RunModel
import RuntimeSupport
import Schedules

/// The bearer tokens of the API over TCP: named, each with scopes, kept as SHA-256 digests only
/// (a token is 32 random bytes, so a plain digest cannot be guessed back) in a file wfctl
/// manages (`wfctl token add/list/revoke`) and wfd-web reads (group `wfd`, mode 0640).
public struct AccessTokens: Sendable, Codable, Equatable {
    public enum Scope: String, Sendable, Codable, CaseIterable, Comparable {
        /// Everything that reads (GET).
        case read
        /// Start, retry and cancel runs; reload.
        case operate
        /// Approve and reject waiting steps.
        case approve

        public static func < (a: Scope, b: Scope) -> Bool {
            allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
        }
    }

    public struct Token: Sendable, Codable, Equatable {
        public var name: String
        public var scopes: [Scope]
        /// SHA-256 of the token, 64 hex digits.
        public var sha256: String
        public var createdAt: Date

        public init(name: String, scopes: [Scope], sha256: String, createdAt: Date) {
            (self.name, self.scopes, self.sha256, self.createdAt) = (name, scopes, sha256, createdAt)
        }

        enum CodingKeys: String, CodingKey {
            case name, scopes, sha256
            case createdAt = "created_at"
        }
    }

    public var version = 1
    public var tokens: [Token] = []

    public init() {}

    /// The default file: next to the jobs, in wfd's configuration directory.
    public static let defaultPath = "/etc/wfd/tokens.json"

    /// A token name: what records name as who did something (`token deploy-bot via wfd-web`).
    public static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 64
            && text.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") }
    }

    private static func isAlnum(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }

    /// A new token: `wfd_` and 43 base64url characters (32 random bytes).
    public static func makeSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let text = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "wfd_" + text
    }

    /// The token `secret` names, compared digest to digest in constant time; nil when none.
    public func token(for secret: String) -> Token? {
        let digest = SHA256.hex(Array(secret.utf8))
        var found: Token?
        for token in tokens where Self.same(token.sha256, digest) { found = token }
        return found
    }

    /// Whether `given` is `expected`, compared in a time that does not depend on where they
    /// differ (for secrets and what is made from them: digests, MACs).
    public static func same(_ given: String, _ expected: String) -> Bool {
        let (given, expected) = (Array(given.utf8), Array(expected.utf8))
        guard given.count == expected.count else { return false }
        var difference: UInt8 = 0
        for index in given.indices { difference |= given[index] ^ expected[index] }
        return difference == 0
    }

    /// Reads the file; a missing file is no tokens.
    public static func load(_ path: String) throws(StoreError) -> AccessTokens {
        let data: Data
        do {
            data = try RecordFile.readData(path)
        } catch .missing {
            return AccessTokens()
        }
        do {
            return try Timestamp.makeDecoder().decode(AccessTokens.self, from: data)
        } catch {
            throw .corrupt(path: path, reason: "\(error)")
        }
    }
}

/// The token file as wfd-web reads it: loaded again whenever it changes (its size or time of
/// change differ), so `wfctl token add` and `revoke` take effect at the next request.
public final class TokenSource: Sendable {
    public let path: String
    private let cache = Locked<(stamp: [Int], tokens: AccessTokens)?>(nil)

    public init(path: String) { self.path = path }

    /// The tokens as the file says now; a file that cannot be read gives no tokens (and every
    /// request over TCP is refused, with the reason).
    public func current() -> Result<AccessTokens, StoreError> {
        var info = stat()
        guard stat(path, &info) == 0 else { return .success(AccessTokens()) }
        let stamp = [Int(info.st_size), Int(info.st_ctim.tv_sec), Int(info.st_ctim.tv_nsec), Int(info.st_ino)]
        if let cached = cache.withLock({ $0 }), cached.stamp == stamp { return .success(cached.tokens) }
        do {
            let tokens = try AccessTokens.load(path)
            cache.withLock { $0 = (stamp, tokens) }
            return .success(tokens)
        } catch {
            return .failure(error)
        }
    }
}
