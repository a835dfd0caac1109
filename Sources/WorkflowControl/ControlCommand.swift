import Foundation
import JobFormat

/// What `wfctl` asks of wfd, typed. On the wire it travels as a ``ControlRequest`` (the JSON
/// object `wfctl` has always sent): ``ControlRequest/init(_:)`` writes one, and
/// ``ControlRequest/decoded()`` reads one back, refusing what does not fit with the reason.
public enum ControlCommand: Sendable, Equatable {
    case ping
    /// The status from wfd's memory: the table (coloured or not) or its JSON.
    case status(StatusFormat)
    /// Re-read jobs.d and answer once the new jobs are in effect.
    case reload
    /// Start a run of the job now, with these parameter values. With an idempotency `key`, a
    /// second request with the same key (for the same job and values) starts nothing and is
    /// answered with the run the first one started.
    case run(JobID, params: [String: String], key: String? = nil)
    case cancel(RunID)
    /// Run an ended run again: its failed steps and what follows them, or from `from`; `skip`
    /// are recorded as done by hand, with `outputs` (text, by step) as their outputs.
    case retry(JobID, RunID, from: StepID?, skip: [StepID], outputs: [StepID: String])
    /// Approve or reject a waiting step (item `item` of a `for_each` step).
    case decide(Decision)
    /// A webhook's request for the job (`POST /hooks/<job>` on wfd-web): wfd verifies it, filters
    /// it and starts (or queues) a run; the answer's `status` is what its sender hears.
    case deliver(JobID, headers: [String: String], body: Data)
    /// What a run of the job with these parameter values would do, without running it: the
    /// preview's JSON follows the answer's line (`wfctl run --dry-run`).
    case preview(JobID, params: [String: String])
    /// Call an `llm` step as defined now on the inputs of the newest `runs` runs where it
    /// succeeded, or on `cases` (a JSON array): the report's JSON follows the answer's line.
    case eval(JobID, StepID, runs: Int, cases: String?)
    /// A model writes the job file `job` from `description`, corrected while wfd's parser finds
    /// problems (at most `repairs` times): the outcome's JSON (the text, whether it is valid, its
    /// problems) follows the answer's line. wfd writes nothing.
    case draft(JobID, description: String, model: ModelChoice, repairs: Int)

    public enum StatusFormat: Sendable, Equatable {
        case table(colour: Bool)
        case json
        /// Only the runs in progress: `{"job": "run id"}` (what a listing of runs starts with).
        case active
        /// wfd's metrics in Prometheus's text format (`wfctl metrics`, wfd-web's `/metrics`).
        case metrics
    }

    public struct Decision: Sendable, Equatable {
        public var approve: Bool
        public var run: RunID
        public var step: StepID
        /// For a `for_each` step: the item's position.
        public var item: Int?
        /// The data the approval asks for, as JSON text.
        public var input: String?
        /// Why, in the approver's words.
        public var comment: String?

        public init(approve: Bool, run: RunID, step: StepID) {
            (self.approve, self.run, self.step) = (approve, run, step)
        }
    }
}

/// Why wfd did not do what it was asked: stored as its raw string in ``ControlResponse/error``.
public enum ControlError: String, Sendable, Codable, CaseIterable {
    case permissionDenied = "permission_denied"
    case unknownCommand = "unknown_command"
    case badRequest = "bad_request"
    case failed
    case noSuchJob = "no_such_job"
    case noSuchRun = "no_such_run"
    case notRetryable = "not_retryable"
    case notActive = "not_active"
    case busy
    /// A decision the run refused (the step does not wait, the input does not fit its schema, …).
    case refused

    /// A code this wfctl does not know (a newer wfd's) reads as `failed`.
    public init(from decoder: any Decoder) throws {
        self = ControlError(rawValue: try decoder.singleValueContainer().decode(String.self)) ?? .failed
    }
}

/// A request that cannot be carried out as sent, and why.
public struct ControlRefusal: Error, Sendable, Equatable {
    public let code: ControlError
    public let message: String

    public init(_ code: ControlError, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ControlRequest {
    /// The request that carries `command`.
    public init(_ command: ControlCommand) {
        switch command {
        case .ping: self.init(command: "ping")
        case .reload: self.init(command: "reload")
        case .status(let format):
            self.init(command: "status")
            switch format {
            case .table(let colour):
                self.format = "text"
                self.colour = colour
            case .json: self.format = "json"
            case .active: self.format = "active"
            case .metrics: self.format = "metrics"
            }
        case .run(let job, let params, let key):
            self.init(command: "run", job: job.rawValue)
            self.params = params.isEmpty ? nil : params
            idempotencyKey = key
        case .cancel(let run): self.init(command: "cancel", run: run.rawValue)
        case .retry(let job, let run, let from, let skip, let outputs):
            self.init(command: "retry", job: job.rawValue, run: run.rawValue)
            self.from = from?.rawValue
            self.skip = skip.isEmpty ? nil : skip.map(\.rawValue)
            self.outputs = outputs.isEmpty ? nil : Dictionary(uniqueKeysWithValues: outputs.map { ($0.rawValue, $1) })
        case .draft(let job, let description, let model, let repairs):
            self.init(command: "draft", job: job.rawValue)
            input = description
            self.model = model
            item = repairs
        case .eval(let job, let step, let runs, let cases):
            self.init(command: "eval", job: job.rawValue)
            self.step = step.rawValue
            item = runs
            input = cases
        case .preview(let job, let params):
            self.init(command: "preview", job: job.rawValue)
            self.params = params.isEmpty ? nil : params
        case .deliver(let job, let headers, let body):
            self.init(command: "deliver", job: job.rawValue)
            self.headers = headers
            self.body = body.base64EncodedString()
        case .decide(let decision):
            self.init(command: decision.approve ? "approve" : "reject", run: decision.run.rawValue)
            step = decision.step.rawValue
            item = decision.item
            input = decision.input
            comment = decision.comment
        }
    }

    /// The command this request carries, or why it is not one.
    public func decoded() -> Result<ControlCommand, ControlRefusal> {
        func bad(_ message: String) -> Result<ControlCommand, ControlRefusal> {
            .failure(ControlRefusal(.badRequest, message))
        }
        switch command {
        case "ping": return .success(.ping)
        case "reload": return .success(.reload)
        case "status":
            switch format ?? "text" {
            case "text": return .success(.status(.table(colour: colour ?? false)))
            case "json": return .success(.status(.json))
            case "active": return .success(.status(.active))
            case "metrics": return .success(.status(.metrics))
            default: return bad("status format must be text, json, active or metrics")
            }
        case "run":
            guard let name = job, let job = JobID(name) else { return bad("run needs a job id") }
            if let key = idempotencyKey, !Self.isIdempotencyKey(key) {
                return bad("an idempotency key is 1 to 255 visible ASCII characters")
            }
            return .success(.run(job, params: params ?? [:], key: idempotencyKey))
        case "cancel":
            guard let name = run, let run = RunID(name) else { return bad("cancel needs a run id") }
            return .success(.cancel(run))
        case "retry":
            guard let jobName = job, let job = JobID(jobName), let runName = run, let run = RunID(runName) else {
                return bad("retry needs a job id and a run id")
            }
            if let bad = ([from].compactMap { $0 } + (skip ?? []) + (outputs ?? [:]).keys.sorted()).first(where: {
                StepID($0) == nil
            }) {
                return .failure(ControlRefusal(.badRequest, "'\(bad)' is not a step id"))
            }
            let skipped = (skip ?? []).compactMap(StepID.init)
            let texts = (outputs ?? [:]).compactMap { name, text in StepID(name).map { ($0, text) } }
            return .success(
                .retry(
                    job, run, from: from.flatMap(StepID.init), skip: skipped,
                    outputs: Dictionary(texts, uniquingKeysWith: { first, _ in first })))
        case "draft":
            guard let name = job, let job = JobID(name) else { return bad("draft needs a job id") }
            guard let description = input, !description.isEmpty else { return bad("draft needs a description") }
            guard let model, ["openai", "anthropic"].contains(model.provider), !model.model.isEmpty else {
                return bad("draft needs a model: provider openai or anthropic, and its name")
            }
            let repairs = item ?? 3
            guard (0...10).contains(repairs) else { return bad("draft takes 0 to 10 repairs") }
            return .success(.draft(job, description: description, model: model, repairs: repairs))
        case "eval":
            guard let name = job, let job = JobID(name), let stepName = step, let step = StepID(stepName) else {
                return bad("eval needs a job id and a step id")
            }
            let runs = item ?? 10
            guard (1...1000).contains(runs) else { return bad("eval takes 1 to 1000 runs") }
            return .success(.eval(job, step, runs: runs, cases: input))
        case "preview":
            guard let name = job, let job = JobID(name) else { return bad("preview needs a job id") }
            return .success(.preview(job, params: params ?? [:]))
        case "deliver":
            guard let name = job, let job = JobID(name) else { return bad("deliver needs a job id") }
            guard let text = body, let data = Data(base64Encoded: text) else {
                return bad("deliver needs the request's body in base64")
            }
            return .success(.deliver(job, headers: headers ?? [:], body: data))
        case "approve", "reject":
            guard let runName = run, let run = RunID(runName), let stepName = step, let step = StepID(stepName) else {
                return bad("\(command) needs a run id and a step id")
            }
            var decision = ControlCommand.Decision(approve: command == "approve", run: run, step: step)
            (decision.item, decision.input, decision.comment) = (item, input, comment)
            return .success(.decide(decision))
        default:
            return .failure(ControlRefusal(.unknownCommand, "unknown command '\(command)'"))
        }
    }
}

extension ControlResponse {
    /// A refusal: not done, for `refusal.code`.
    public init(_ refusal: ControlRefusal) {
        self.init(ok: false, message: refusal.message, error: refusal.code)
    }
}

extension ControlRequest {
    /// 1 to 255 visible ASCII characters (as the Idempotency-Key header field allows).
    public static func isIdempotencyKey(_ key: String) -> Bool { RequestKey.isValid(key) }
}
