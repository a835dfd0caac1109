import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel

/// One call of a model, as `llm` steps and agents make it: its worst case reserved against the
/// budgets first (a call that could pass one is not made), then sent, and its transport failures
/// and error statuses turned into the attempt's result. What the model said is the caller's to
/// read; ``settle(_:_:inputTokens:outputTokens:budget:clock:)`` then puts its real cost in place
/// of the reservation.
struct ModelExchange {
    let transport: HTTPTransport
    let maxResponseBytes: Int

    /// A call that answered 2xx, its body not read yet.
    struct Answer {
        let body: Data
        var call: ModelCall
        let reservation: BudgetGuard.Reservation
        /// The input at 4 bytes a token (rounded up): its usage when the answer gives none.
        let inputEstimate: Int
        let worstUSD: Double?
    }

    enum Outcome {
        case answered(Answer)
        /// The attempt ends with this (budget, transport, status, cancel); `call` is recorded
        /// when one was made.
        case ended(AttemptResult, call: ModelCall?)
    }

    func send(
        _ request: ModelRequest, body: JSONValue, index: Int, budget: BudgetGuard, clock: any WorkflowClock,
        control: StepControl, logger: Logger
    ) async -> Outcome {
        let (url, headers) = ModelProtocol.endpoint(request)
        guard let endpoint = URL(string: url) else {
            return .ended(.failure(.start, "'\(url)' is not a URL (check base_url)", retriable: false), call: nil)
        }
        let data = Data(body.jsonText.utf8)
        let inputEstimate = data.count / 4 + 1
        let worstUSD = request.price.map {
            PriceTable.cost($0, inputTokens: inputEstimate, outputTokens: request.maxTokens)
        }
        let reservation: BudgetGuard.Reservation
        switch budget.reserve(
            usd: worstUSD, tokens: inputEstimate + request.maxTokens, at: clock.now(), override: request.budgetOverride)
        {
        case .allowed(let allowed): reservation = allowed
        case .refused(let why):
            logger.warning(
                "model call not made: \(why)", metadata: [LogField.messageID: .string(MessageID.budgetExceeded)])
            var result = AttemptResult.failure(.budgetExceeded, "the model was not called: \(why)", retriable: false)
            if request.onBudget == .approve {
                logger.notice(
                    "waiting for a person to allow the call (wfctl approve)",
                    metadata: [LogField.messageID: .string(MessageID.approvalRequested)])
                result.wait = WaitInfo(
                    kind: .budget, since: clock.now(), deadline: nil, message: "\(why); approve to make the call anyway"
                )
            }
            return .ended(result, call: nil)
        }

        var call = ModelCall(
            provider: request.provider, model: request.model, promptSHA256: SHA256.hex(Array(data)),
            startedAt: clock.now())
        let started = ContinuousClock.now
        var sent = headers
        if let trace = request.trace { sent["traceparent"] = trace.traceparent(call: index) }
        let outcome = await HTTPStepExecutor.race(control: control) { [sent, transport, maxResponseBytes] in
            await transport.send(
                method: "POST", url: endpoint, headers: sent, body: data, timeout: request.timeout,
                limit: maxResponseBytes)
        }
        let took = started.duration(to: .now)
        call.latencyMilliseconds = took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000

        switch outcome {
        case .stopped(let reason):
            budget.release(reservation)
            call.result = "cancelled"
            return .ended(AttemptResult(outcome: .cancelled, error: "cancelled: \(reason)"), call: call)
        case .finished(.failure(let failure)):
            budget.release(reservation)
            call.error = failure.message
            if failure == .cancelled {
                return .ended(AttemptResult(outcome: .cancelled, error: "cancelled"), call: call)
            }
            logger.warning("model call failed: \(failure.message)")
            return .ended(.failure(.transport, "the model call failed: \(failure.message)"), call: call)
        case .finished(.success(let response)):
            call.status = response.status
            guard (200..<300).contains(response.status) else {
                budget.release(reservation)
                let message = ModelProtocol.errorMessage(response.body)
                call.result = "http_error"
                call.error = message
                let retriable = [408, 429].contains(response.status) || response.status >= 500
                var result = AttemptResult.failure(
                    retriable ? .transport : .httpStatus,
                    "the model answered \(response.status) \(HTTPURLStatus.reason(response.status)): \(message)"
                        + (response.status == 401 ? " (check api_key_secret)" : ""), retriable: retriable)
                result.retryAfter = HTTPStepExecutor.retryAfter(response.headers["retry-after"])
                logger.warning("model call answered \(response.status): \(message)")
                return .ended(result, call: call)
            }
            return .answered(
                Answer(
                    body: response.body, call: call, reservation: reservation, inputEstimate: inputEstimate,
                    worstUSD: worstUSD))
        }
    }

    /// Puts what the answered call cost (its usage, or the worst case where it gives none) in
    /// place of its reservation, durably, and notes it on the call.
    static func settle(
        _ answer: inout Answer, _ request: ModelRequest, inputTokens: Int?, outputTokens: Int?, budget: BudgetGuard,
        clock: any WorkflowClock, logger: Logger
    ) async {
        let input = inputTokens ?? answer.inputEstimate
        let output = outputTokens ?? request.maxTokens
        answer.call.inputTokens = inputTokens
        answer.call.outputTokens = outputTokens
        answer.call.costUSD = request.price.map { PriceTable.cost($0, inputTokens: input, outputTokens: output) }
        await budget.settle(answer.reservation, usd: answer.call.costUSD ?? 0, tokens: input + output, at: clock.now())
        let costText = answer.call.costUSD.map { String(format: ", $%.5f", $0) } ?? ""
        logger.info(
            "model \(request.model) answered in \(answer.call.latencyMilliseconds) ms: \(input) tokens in, \(output) out\(costText)"
        )
    }

    /// An answer that could not be read costs its worst case.
    static func settleUnread(_ answer: inout Answer, budget: BudgetGuard, clock: any WorkflowClock, why: String) async {
        await budget.settle(
            answer.reservation, usd: answer.worstUSD, tokens: answer.reservation.tokens, at: clock.now())
        answer.call.result = "http_error"
        answer.call.error = why
    }
}
