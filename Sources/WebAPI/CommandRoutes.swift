import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import WorkflowControl
import WorkflowReports
import WorkflowStore

/// The routes that change something: each reads its JSON body into a ``ControlCommand``, sends
/// it to wfd on behalf of the caller, and turns wfd's answer into HTTP (202 for what goes on in
/// the background, 200 for what is done; a refusal as a problem with the status that fits).
struct CommandRoutes: Sendable {
    let state: StateDirectory
    let link: any DaemonLink

    /// The largest body a command takes (a retry's outputs are the biggest).
    static let maximumBody = 1 << 20

    /// The command a route's request asks for.
    func command(
        _ pattern: String, _ parameters: [String: String], body: Data, headers: [String: String] = [:]
    ) throws(Problem) -> ControlCommand {
        let fields = try Self.object(body)
        switch pattern {
        case "/api/v1/reload":
            return .reload
        case "/api/v1/jobs/{job}/runs":
            let job = try WebAPI.jobID(parameters["job"] ?? "")
            let inBody = try Self.string(fields["idempotency_key"], "idempotency_key")
            let key = headers["idempotency-key"] ?? inBody
            if let key, !ControlRequest.isIdempotencyKey(key) {
                throw Problem(.badRequest, detail: "an idempotency key is 1 to 255 visible ASCII characters")
            }
            return .run(job, params: try Self.strings(fields["params"], "params"), key: key)
        case "/api/v1/jobs/{job}/preview":
            let job = try WebAPI.jobID(parameters["job"] ?? "")
            return .preview(job, params: try Self.strings(fields["params"], "params"))
        case "/api/v1/runs/{run}/cancel":
            return .cancel(try runID(parameters))
        case "/api/v1/runs/{run}/retry":
            let run = try runID(parameters)
            guard let job = RunDetail.job(of: run, in: state) else {
                throw Problem(.notFound, detail: "no run \(run) in \(state.root)")
            }
            var from: StepID?
            if let text = try Self.string(fields["from"], "from") { from = try Self.stepID(text) }
            var skip: [StepID] = []
            if let value = fields["skip"] {
                guard case .array(let items) = value else {
                    throw Problem(.badRequest, detail: "skip is a list of step ids")
                }
                for item in items {
                    guard case .string(let text) = item else {
                        throw Problem(.badRequest, detail: "skip is a list of step ids")
                    }
                    skip.append(try Self.stepID(text))
                }
            }
            var outputs: [StepID: String] = [:]
            for (step, text) in try Self.strings(fields["outputs"], "outputs") { outputs[try Self.stepID(step)] = text }
            return .retry(job, run, from: from, skip: skip, outputs: outputs)
        case "/api/v1/runs/{run}/steps/{step}/approve", "/api/v1/runs/{run}/steps/{step}/reject":
            var decision = ControlCommand.Decision(
                approve: pattern.hasSuffix("approve"), run: try runID(parameters),
                step: try Self.stepID(parameters["step"] ?? ""))
            decision.comment = try Self.string(fields["comment"], "comment")
            if let item = fields["item"] {
                guard case .number(let number) = item, number >= 0, number == number.rounded() else {
                    throw Problem(.badRequest, detail: "item is the position of a for_each item (0, 1, …)")
                }
                decision.item = Int(number)
            }
            decision.input = fields["input"].map(\.jsonText)
            return .decide(decision)
        default:
            throw Problem(.notFound, detail: "no such resource: see /api/openapi.yaml")
        }
    }

    /// Sends `command` for `caller` and says how it went.
    func send(_ command: ControlCommand, as caller: Caller?) throws(Problem) -> APIResponse {
        guard let caller else {
            throw Problem(.forbidden, detail: "this connection carries no identity: use wfd-web's Unix socket")
        }
        let response: ControlResponse
        switch link.send(command, as: caller, timeout: .seconds(70)) {
        case .failure(let problem): throw problem
        case .success(let answer): response = answer
        }
        guard response.ok else {
            let kind: Problem.Kind =
                switch response.error ?? .failed {
                case .permissionDenied: .forbidden
                case .noSuchJob, .noSuchRun: .notFound
                case .notRetryable, .notActive, .refused: .conflict
                case .badRequest: .badRequest
                case .busy: .unavailable
                case .unknownCommand, .failed: .failed
                }
            throw Problem(kind, detail: response.message)
        }
        if case .preview = command {
            return APIResponse(status: 200, contentType: "application/json", body: Data(response.message.utf8))
        }
        // 202 for what goes on in the background; 200 for what is done, and for a run an earlier
        // request with the same idempotency key started.
        let accepted: Bool
        switch command {
        case .run, .retry, .cancel: accepted = response.existing != true
        case .ping, .status, .reload, .decide, .deliver, .preview, .eval, .draft: accepted = false
        }
        let result = CommandResult(message: response.message, run: response.run)
        return try WebAPI.json(result, status: accepted ? 202 : 200)
    }

    /// What a command's answer says.
    struct CommandResult: Codable {
        var message: String
        /// The run it started or works on.
        var run: String?
    }

    private func runID(_ parameters: [String: String]) throws(Problem) -> RunID {
        let text = parameters["run"] ?? ""
        guard let run = RunID(text) else { throw Problem(.badRequest, detail: "'\(text)' is not a run id") }
        return run
    }

    static func stepID(_ text: String) throws(Problem) -> StepID {
        guard let step = StepID(text) else { throw Problem(.badRequest, detail: "'\(text)' is not a step id") }
        return step
    }

    /// The body as a JSON object; an empty body is an empty object.
    static func object(_ body: Data) throws(Problem) -> [String: JSONValue] {
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        guard case .object(let fields)? = JSONValue.parse(body) else {
            throw Problem(.badRequest, detail: "the body is not a JSON object")
        }
        return fields
    }

    static func string(_ value: JSONValue?, _ name: String) throws(Problem) -> String? {
        guard let value else { return nil }
        guard case .string(let text) = value else { throw Problem(.badRequest, detail: "\(name) is a string") }
        return text
    }

    /// An object of strings (`params`, `outputs`).
    static func strings(_ value: JSONValue?, _ name: String) throws(Problem) -> [String: String] {
        guard let value else { return [:] }
        guard case .object(let members) = value else {
            throw Problem(.badRequest, detail: "\(name) is an object of strings")
        }
        var strings: [String: String] = [:]
        for (key, member) in members {
            guard case .string(let text) = member else {
                throw Problem(.badRequest, detail: "\(name).\(key) is a string")
            }
            strings[key] = text
        }
        return strings
    }
}
