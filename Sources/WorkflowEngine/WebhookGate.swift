import Foundation
import JSONSchemaKit
import JobFormat
import RunModel

/// The checks of one webhook delivery against its job's `on: { webhook: … }`, without I/O: its
/// size, its signature or token (compared in constant time), its JSON, and the job's filter.
public struct WebhookGate: Sendable {
    public let job: JobID
    public let hook: WebhookTrigger
    /// Default values of the job's parameters (the filter may read `params`).
    public let params: [String: String]

    public init(job: Job, hook: WebhookTrigger) {
        self.job = job.id
        self.hook = hook
        params = job.params.compactMapValues(\.defaultValue)
    }

    /// What a delivery may become.
    public enum Verdict: Sendable, Equatable {
        /// Start a run with this payload, headers passed on, and delivery id (when it has one).
        /// `observed`: why verification would have refused it, in `observe` mode.
        case accept(payload: JSONValue, headers: [String: String], delivery: String?, observed: String?)
        /// The filter said no (or could not be decided): nothing starts; 204.
        case filtered(String)
        /// Refused with this HTTP status and reason (never the secret).
        case refuse(status: Int, reason: String)
    }

    /// Checks a delivery: `headers` by lower-case name, `body` as it came, `secret` the shared
    /// secret's value (nil: not available, with `missing` saying why).
    public func check(headers: [String: String], body: Data, secret: String?, missing: String?) -> Verdict {
        guard body.count <= hook.maxBytes else {
            return .refuse(
                status: 413,
                reason: "the payload is \(body.count) bytes; this webhook takes at most \(hook.maxBytes) (max_bytes)")
        }
        var observed: String?
        if let problem = verify(headers: headers, body: body, secret: secret, missing: missing) {
            guard hook.mode == .observe else { return .refuse(status: problem.status, reason: problem.reason) }
            observed = problem.reason
        }
        guard let payload = JSONValue.parse(body) else {
            return .refuse(status: 400, reason: "the payload is not JSON (send Content-Type: application/json)")
        }
        var passed: [String: String] = [:]
        for name in hook.headers { if let value = headers[name] { passed[name] = value } }
        let delivery = headers[hook.deliveryHeaderName].flatMap { RequestKey.isValid($0) ? $0 : nil }
        if let filter = hook.filter, case .success(let expression)? = ConditionExpression.parse(when: filter) {
            let origin = TriggerOrigin(
                source: "POST /hooks/\(job)", delivery: delivery, headers: passed, receivedAt: Date())
            let scope = ConditionScope(variables: [
                "trigger": ConditionValue(origin.value(kind: .webhook, payload: payload)),
                "params": ConditionValue(.object(params.mapValues(JSONValue.string))),
                "job": ConditionValue(.object(["id": .string(job.rawValue)])),
            ])
            let outcome = expression.evaluate(in: scope)
            if outcome.value != true {
                return .filtered(
                    outcome.error.map { "the filter could not be decided: \($0)" } ?? "the filter is false")
            }
        }
        return .accept(payload: payload, headers: passed, delivery: delivery, observed: observed)
    }

    /// Why the delivery does not prove it comes from the secret's holder, or nil when it does.
    func verify(headers: [String: String], body: Data, secret: String?, missing: String?) -> (
        status: Int, reason: String
    )? {
        guard let secret, !secret.isEmpty else {
            return (503, missing ?? "the webhook's secret '\(hook.secret)' is not available to wfd")
        }
        let header = hook.signatureHeaderName
        guard let value = headers[header]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
            return (401, "no \(header) header")
        }
        switch hook.verify {
        case .bearer:
            guard value.lowercased().hasPrefix("bearer ") else {
                return (401, "the authorization is not a bearer token")
            }
            let token = Array(value.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
            return SHA256.constantTimeEqual(
                SHA256.digest(token), SHA256.digest(Array(secret.utf8)))
                ? nil : (401, "the bearer token does not match")
        case .github, .hmac:
            var hex = Substring(value)
            if hex.lowercased().hasPrefix("sha256=") {
                hex = hex.dropFirst(7)
            } else if hook.verify == .github {
                return (401, "\(header) does not start with sha256=")
            }
            guard let given = Self.bytes(hex: hex), given.count == 32 else {
                return (401, "\(header) is not 64 hex digits")
            }
            let expected = SHA256.hmac(key: Array(secret.utf8), message: Array(body))
            return SHA256.constantTimeEqual(given, expected) ? nil : (401, "the signature in \(header) does not match")
        }
    }

    static func bytes(hex: Substring) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
