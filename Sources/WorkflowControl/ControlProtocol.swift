import Foundation
import Schedules

/// A request to the running wfd over its control socket: one JSON object on one line. This is
/// the wire format; code speaks ``ControlCommand`` (``init(_:)``, ``decoded()``).
public struct ControlRequest: Sendable, Codable, Equatable {
    /// `reload` (re-read jobs.d and answer when done), `run` (start a run of `job` now), `cancel`
    /// (stop `run`), `retry` (run `run` of `job` again), `approve` or `reject` (decide on `step`
    /// of `run`, which waits), `status` (the status, from wfd's memory), or `ping`.
    public var command: String
    /// The job, for `run`.
    public var job: String?
    /// The run, for `cancel` and `retry`.
    public var run: String?
    /// For `retry`: also run this step and everything after it again.
    public var from: String?
    /// For `retry`: steps to record as done by hand.
    public var skip: [String]?
    /// For `retry`: the outputs of skipped steps, by step.
    public var outputs: [String: String]?
    /// For `run`: parameter values.
    public var params: [String: String]?
    /// For `approve` and `reject`: the waiting step, and its item in a `for_each` step.
    public var step: String?
    public var item: Int?
    /// For `approve`: the data the approval asks for, as JSON text.
    public var input: String?
    /// For `approve` and `reject`: why, in the approver's words.
    public var comment: String?
    /// For `status`: `text` (the table) or `json`; and whether the table is coloured.
    public var format: String?
    public var colour: Bool?
    /// Sent by a delegate (wfd-web): the caller it acts for, whose rights and name apply. wfd
    /// refuses it from anyone but its delegates.
    public var onBehalfOf: Caller?
    /// For `run`: a repeated request with this key starts nothing and answers with the first run.
    public var idempotencyKey: String?
    /// For `deliver`: the webhook request's headers (lower-case names) and its body, in base64.
    public var headers: [String: String]?
    public var body: String?
    /// For `draft`: the model that writes the job file.
    public var model: ModelChoice?

    enum CodingKeys: String, CodingKey {
        case command, job, run, from, skip, outputs, params, step, item, input, comment, format, colour, headers, body
        case model
        case onBehalfOf = "on_behalf_of"
        case idempotencyKey = "idempotency_key"
    }

    public init(command: String, job: String? = nil, run: String? = nil) {
        self.command = command
        self.job = job
        self.run = run
    }
}

/// A model to call, as an `llm` step names one.
public struct ModelChoice: Sendable, Codable, Equatable {
    public var provider: String
    public var model: String
    public var baseURL: String?
    public var apiKeySecret: String?

    public init(provider: String, model: String, baseURL: String? = nil, apiKeySecret: String? = nil) {
        (self.provider, self.model, self.baseURL, self.apiKeySecret) = (provider, model, baseURL, apiKeySecret)
    }

    enum CodingKeys: String, CodingKey {
        case provider, model
        case baseURL = "base_url"
        case apiKeySecret = "api_key_secret"
    }
}

/// wfd's answer: one JSON object on one line.
public struct ControlResponse: Sendable, Codable, Equatable {
    public var ok: Bool
    public var message: String
    /// Set when `ok` is false: why.
    public var error: ControlError?
    /// The run started, for `run`.
    public var run: String?
    /// For `status`: the bytes of the answer that follow this line as they are (a table of
    /// 10,000 jobs is a megabyte, cheaper sent raw than as a JSON string).
    public var bodyLength: Int?

    /// For `run` with an idempotency key: true when the run had been started by an earlier
    /// request with the key (nothing new was started).
    public var existing: Bool?
    /// For `deliver`: the HTTP status wfd-web answers the webhook's sender with.
    public var status: Int?

    enum CodingKeys: String, CodingKey {
        case ok, message, error, run, existing, status
        case bodyLength = "body_length"
    }

    public init(ok: Bool, message: String, error: ControlError? = nil, run: String? = nil) {
        self.ok = ok
        self.message = message
        self.error = error
        self.run = run
    }
}

/// Line framing for control messages: JSON without newlines, then `\n`; lines are capped.
public enum ControlFraming {
    /// The longest request wfd accepts: room for the outputs `retry --skip` hands over.
    public static let maximumLine = 4 * 1024 * 1024
    /// The longest answer wfctl accepts: room for the status of 100,000 jobs.
    public static let maximumResponse = 512 * 1024 * 1024

    public static func encode<T: Encodable>(_ value: T) throws -> Data {
        try Timestamp.makeEncoder(pretty: false).encode(value) + Data("\n".utf8)
    }

    public static func decode<T: Decodable>(_ type: T.Type, from line: Data) throws -> T {
        try Timestamp.makeDecoder().decode(T.self, from: line)
    }
}
