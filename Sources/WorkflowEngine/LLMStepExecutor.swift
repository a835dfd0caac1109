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
        let (url, headers) = ModelProtocol.endpoint(request)
        guard let endpoint = URL(string: url) else {
            return .failure(.start, "'\(url)' is not a URL (check base_url)", retriable: false)
        }
        let wrapped = request.provider == .anthropic && request.schema.map(ModelProtocol.wrapsSchema) == true
        var turns: [ModelProtocol.Turn] = []
        var calls: [ModelCall] = []
        func ending(_ result: AttemptResult) -> AttemptResult {
            var result = result
            result.calls = calls
            return result
        }

        for round in 0...request.repairAttempts {
            let body = ModelProtocol.body(request, turns: turns)
            let data = Data(body.jsonText.utf8)
            // The worst case: the input at 4 bytes a token (rounded up), and all of max_tokens.
            let inputEstimate = data.count / 4 + 1
            let worstUSD = request.price.map {
                PriceTable.cost($0, inputTokens: inputEstimate, outputTokens: request.maxTokens)
            }
            let reservation: BudgetGuard.Reservation
            switch budget.reserve(
                usd: worstUSD, tokens: inputEstimate + request.maxTokens, at: clock.now(),
                override: request.budgetOverride)
            {
            case .allowed(let allowed): reservation = allowed
            case .refused(let why):
                logger.warning(
                    "model call not made: \(why)", metadata: [LogField.messageID: .string(MessageID.budgetExceeded)])
                if request.onBudget == .approve {
                    logger.notice(
                        "waiting for a person to allow the call (wfctl approve)",
                        metadata: [LogField.messageID: .string(MessageID.approvalRequested)])
                }
                var result = AttemptResult.failure(
                    .budgetExceeded, "the model was not called: \(why)", retriable: false)
                if request.onBudget == .approve {
                    result.wait = WaitInfo(
                        kind: .budget, since: clock.now(), deadline: nil,
                        message: "\(why); approve to make the call anyway")
                }
                return ending(result)
            }

            var call = ModelCall(
                provider: request.provider, model: request.model, promptSHA256: SHA256.hex(Array(data)),
                startedAt: clock.now())
            let started = ContinuousClock.now
            var sent = headers
            if let trace = request.trace { sent["traceparent"] = trace.traceparent(call: calls.count) }
            let outcome = await HTTPStepExecutor.race(control: control) { [sent] in
                await transport.send(
                    method: "POST", url: endpoint, headers: sent, body: data, timeout: request.timeout,
                    limit: maxResponseBytes)
            }
            let took = started.duration(to: .now)
            call.latencyMilliseconds =
                took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000

            let response: HTTPTransport.Response
            switch outcome {
            case .stopped(let reason):
                budget.release(reservation)
                call.result = "cancelled"
                calls.append(call)
                return ending(AttemptResult(outcome: .cancelled, error: "cancelled: \(reason)"))
            case .finished(.failure(let failure)):
                budget.release(reservation)
                call.error = failure.message
                calls.append(call)
                if failure == .cancelled { return ending(AttemptResult(outcome: .cancelled, error: "cancelled")) }
                logger.warning("model call failed: \(failure.message)")
                return ending(.failure(.transport, "the model call failed: \(failure.message)"))
            case .finished(.success(let answer)):
                response = answer
            }
            call.status = response.status
            guard (200..<300).contains(response.status) else {
                budget.release(reservation)
                let message = ModelProtocol.errorMessage(response.body)
                call.result = "http_error"
                call.error = message
                calls.append(call)
                let retriable = [408, 429].contains(response.status) || response.status >= 500
                var result = AttemptResult.failure(
                    retriable ? .transport : .httpStatus,
                    "the model answered \(response.status) \(HTTPURLStatus.reason(response.status)): \(message)"
                        + (response.status == 401 ? " (check api_key_secret)" : ""), retriable: retriable)
                result.retryAfter = HTTPStepExecutor.retryAfter(response.headers["retry-after"])
                logger.warning("model call answered \(response.status): \(message)")
                return ending(result)
            }

            let reply: ModelProtocol.Reply
            switch ModelProtocol.reply(request.provider, response.body, wrapped: wrapped) {
            case .success(let read): reply = read
            case .failure(let unreadable):
                let why = unreadable.reason
                await budget.settle(
                    reservation, usd: worstUSD, tokens: inputEstimate + request.maxTokens, at: clock.now())
                call.result = "http_error"
                call.error = why
                calls.append(call)
                return ending(.failure(.transport, "the model's answer could not be read: \(why)"))
            }
            let inputTokens = reply.inputTokens ?? inputEstimate
            let outputTokens = reply.outputTokens ?? request.maxTokens
            call.inputTokens = reply.inputTokens
            call.outputTokens = reply.outputTokens
            call.costUSD = request.price.map {
                PriceTable.cost($0, inputTokens: inputTokens, outputTokens: outputTokens)
            }
            await budget.settle(
                reservation, usd: call.costUSD ?? 0, tokens: inputTokens + outputTokens, at: clock.now())
            let costText = call.costUSD.map { String(format: ", $%.5f", $0) } ?? ""
            logger.info(
                "model \(request.model) answered in \(call.latencyMilliseconds) ms: \(inputTokens) tokens in, \(outputTokens) out\(costText)"
            )

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
