import Foundation
import WorkflowControl
import WorkflowStore

#if canImport(Glibc)
    import Glibc
#endif

/// Who a request over TCP is (its bearer token's, acting through wfd-web's own user), and
/// whether the token's scopes allow what the route does.
struct TokenAuthority: Sendable {
    /// The bearer tokens a request without a caller must show.
    let tokens: TokenSource?

    /// The scope a route needs of a token.
    public static func scope(_ method: String, _ pattern: String) -> AccessTokens.Scope {
        // Checking a file and previewing a run change nothing.
        guard method == "POST", !["/api/v1/validate", "/api/v1/jobs/{job}/preview"].contains(pattern) else {
            return .read
        }
        return pattern.hasSuffix("/approve") || pattern.hasSuffix("/reject") ? .approve : .operate
    }

    /// The caller a request over TCP is: its bearer token's, acting through wfd-web's own user.
    func authenticate(_ request: APIRequest, needing scope: AccessTokens.Scope) throws(Problem) -> Caller {
        let header = request.headers["authorization"] ?? ""
        guard header.lowercased().hasPrefix("bearer ") else {
            throw Problem(.unauthorized, detail: "send a token: Authorization: Bearer wfd_… (wfctl token add NAME)")
        }
        let secret = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        let known: AccessTokens
        switch tokens?.current() ?? .success(AccessTokens()) {
        case .success(let found): known = found
        case .failure(let error): throw Problem(.unavailable, detail: "the token file cannot be read: \(error)")
        }
        guard let token = known.token(for: secret) else {
            throw Problem(.unauthorized, detail: "no such token (see wfctl token list)")
        }
        return try Self.authorize(token, needing: scope)
    }

    /// The caller `token` is, acting through wfd-web's own user, if it has `scope`.
    public static func authorize(_ token: AccessTokens.Token, needing scope: AccessTokens.Scope) throws(Problem)
        -> Caller
    {
        guard token.scopes.contains(scope) else {
            throw Problem(
                .forbidden,
                detail: "token \(token.name) has scopes \(token.scopes.map(\.rawValue).joined(separator: ", ")); "
                    + "this needs \(scope.rawValue) (wfctl token add \(token.name)-\(scope.rawValue) --scope \(scope.rawValue))"
            )
        }
        return Caller(uid: getuid(), gid: getgid(), token: token.name)
    }
}
