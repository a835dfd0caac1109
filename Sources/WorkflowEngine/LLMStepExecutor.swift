import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel

/// Runs `llm` steps: asks the model, validates its answer against the step's schema, feeds the
/// violations back up to `repair_attempts` times, and records every call with its tokens, latency
/// and cost. A call that could pass a budget is not made.
///
/// Transport failures (no connection, 429, 5xx, no answer in time) end the attempt as retriable,
/// with the server's `Retry-After`: the step's retry policy (three attempts by default) waits
/// durably and tries again, apart from the repairs.
public struct LLMStepExecutor: Sendable {
    public var transport: HTTPTransport
    /// The largest response body read.
    public var maxResponseBytes: Int

    public init(transport: HTTPTransport = .shared, maxResponseBytes: Int = 8 << 20) {
        self.transport = transport
        self.maxResponseBytes = maxResponseBytes
    }

    public func execute(
        _ request: ModelRequest, budget: BudgetGuard, clock: any WorkflowClock, control: StepControl, logger: Logger
    ) async -> AttemptResult {
        var schema: JSONSchema?
        if let document = request.schema {
            do {
                schema = try JSONSchema(document)
            } catch {
                return .failure(.start, "the step's schema cannot be used: \(error)", retriable: false)
            }
        }
        let wrapped = request.provider == .anthropic && request.schema.map(ModelProtocol.wrapsSchema) == true
        let exchange = ModelExchange(transport: transport, maxResponseBytes: maxResponseBytes)
        var turns: [ModelProtocol.Turn] = []
        var calls: [ModelCall] = []
        func ending(_ result: AttemptResult) -> AttemptResult {
            var result = result
            result.calls = calls
            return result
        }

        for round in 0...request.repairAttempts {
            var answer: ModelExchange.Answer
            switch await exchange.send(
                request, body: ModelProtocol.body(request, turns: turns), index: calls.count, budget: budget,
                clock: clock, control: control, logger: logger)
            {
            case .ended(let result, let call):
                if let call { calls.append(call) }
                return ending(result)
            case .answered(let answered): answer = answered
            }
            let reply: ModelProtocol.Reply
            switch ModelProtocol.reply(request.provider, answer.body, wrapped: wrapped) {
            case .success(let read): reply = read
            case .failure(let unreadable):
                await ModelExchange.settleUnread(&answer, budget: budget, clock: clock, why: unreadable.reason)
                calls.append(answer.call)
                return ending(.failure(.transport, "the model's answer could not be read: \(unreadable.reason)"))
            }
            await ModelExchange.settle(
                &answer, request, inputTokens: reply.inputTokens, outputTokens: reply.outputTokens, budget: budget,
                clock: clock, logger: logger)
            var call = answer.call

            guard let schema else {
                call.result = "ok"
                calls.append(call)
                var result = AttemptResult.success
                result.exitCode = nil
                result.stdout = Array((reply.text ?? "").utf8)
                return ending(result)
            }
            let value = reply.toolInput ?? reply.text.flatMap(ModelProtocol.json(in:))
            let problems: [String]
            if let value {
                problems = schema.validate(value).map(\.description)
            } else {
                let shown = (reply.text ?? "").prefix(80)
                problems = [
                    reply.truncated
                        ? "the answer was cut at max_tokens (\(request.maxTokens)) before its JSON ended"
                        : "the answer is not JSON: '\(shown)'"
                ]
            }
            if let value, problems.isEmpty {
                call.result = "ok"
                calls.append(call)
                var result = AttemptResult.success
                result.exitCode = nil
                result.stdout = Array(value.jsonText.utf8)
                return ending(result)
            }
            call.result = "invalid_output"
            call.error = problems.prefix(3).joined(separator: "; ")
            calls.append(call)
            guard round < request.repairAttempts else {
                let repairs = request.repairAttempts == 1 ? "1 repair" : "\(request.repairAttempts) repairs"
                return ending(
                    .failure(
                        .invalidOutput,
                        "the model's output does not match the schema after \(repairs): "
                            + problems.prefix(3).joined(separator: "; ")))
            }
            logger.notice("the model's output does not match the schema, asking it to repair: \(call.error ?? "")")
            let feedback =
                "Your answer does not match the required JSON Schema:\n"
                + problems.prefix(20).map { "- \($0)" }.joined(separator: "\n")
                + "\nAnswer again with only the corrected JSON."
            if let id = reply.toolID, let input = reply.rawToolInput {
                turns += [.toolCall(id: id, input: input), .toolError(id: id, message: feedback)]
            } else {
                turns += [.assistant(reply.text ?? ""), .user(feedback)]
            }
        }
        return ending(.failure(.invalidOutput, "the model gave no valid output"))
    }
}
