import Foundation
import RunModel

/// An error as RFC 9457 problem details (`application/problem+json`): what went wrong, for
/// people (`title`, `detail`) and for programs (`type`, `status`).
public struct Problem: Sendable, Codable, Equatable, Error {
    /// A URI naming the kind of problem; `https://wfd.invalid/problems/<kind>`.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    /// The request's path.
    public var instance: String?

    public init(_ kind: Kind, detail: String, instance: String? = nil) {
        type = "https://wfd.invalid/problems/\(kind.rawValue)"
        title = kind.title
        status = kind.status
        self.detail = detail
        self.instance = instance
    }

    public enum Kind: String, Sendable, CaseIterable {
        case notFound = "not-found"
        case methodNotAllowed = "method-not-allowed"
        case badRequest = "bad-request"
        case unreadable = "unreadable"
        /// No credentials, or ones no token matches (over TCP).
        case unauthorized = "unauthorized"
        /// The caller may not do this (wfd's rules, as for wfctl; or the token lacks the scope).
        case forbidden = "forbidden"
        /// Not possible in the run's present state (not active, not retryable, not waiting).
        case conflict = "conflict"
        /// wfd is not running, or did not answer.
        case unavailable = "unavailable"
        /// wfd tried and failed.
        case failed = "failed"
        case tooLarge = "too-large"
        case unsupportedMediaType = "unsupported-media-type"

        var status: Int {
            switch self {
            case .notFound: 404
            case .methodNotAllowed: 405
            case .badRequest: 400
            case .unreadable, .failed: 500
            case .unauthorized: 401
            case .forbidden: 403
            case .conflict: 409
            case .unavailable: 503
            case .tooLarge: 413
            case .unsupportedMediaType: 415
            }
        }

        var title: String {
            switch self {
            case .notFound: "Not found"
            case .methodNotAllowed: "Method not allowed"
            case .badRequest: "Bad request"
            case .unreadable: "The state directory could not be read"
            case .unauthorized: "Unauthorized"
            case .forbidden: "Forbidden"
            case .conflict: "Not possible now"
            case .unavailable: "wfd is not available"
            case .failed: "wfd could not do it"
            case .tooLarge: "Request body too large"
            case .unsupportedMediaType: "Unsupported media type"
            }
        }
    }
}

extension Problem {
    /// The problem as an answer (`application/problem+json`).
    var response: APIResponse {
        let body = (try? RecordJSON.encode(self)) ?? Data()
        return APIResponse(status: status, contentType: "application/problem+json", body: body)
    }
}
