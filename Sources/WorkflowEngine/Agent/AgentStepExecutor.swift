import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel
import WorkflowStore

/// Runs `agent` steps: the thin loop around ``AgentLoop``. It loads the step's transcript (a
/// loop taken up after a crash, a retry or a decision goes on from it), does what the loop says
/// next, and writes the transcript durably after each change: a model's answer before any tool
/// acts on it, a tool call before it starts and when it ends.
struct AgentStepExecutor: Sendable {
    let exchange: ModelExchange
    let tools: AgentToolRunner
    let store: RunStore
    /// The most of a tool's result the model is shown (and the transcript keeps).
    static let resultLimit = 32 << 10

    func execute(
        _ work: AgentWork, budget: BudgetGuard, clock: any WorkflowClock, control: StepControl, logger: Logger
    ) async -> AttemptResult {
        var schema: JSONSchema?
        if let document = work.request.schema {
            do {
                schema = try JSONSchema(document)
            } catch {
                return .failure(.start, "the agent's schema cannot be used: \(error)", retriable: false)
            }
        }
        let loaded: AgentTranscript?
        do {
            loaded = try await BlockingIO.shared.run { () throws(StoreError) in
                try store.loadTranscript(work.job, work.run, work.step, item: work.item)
            }
        } catch {
            return .failure(.start, "the agent's transcript cannot be read: \(error)", retriable: false)
        }
        let startedAt = loaded?.startedAt ?? clock.now()
        let toolbox: AgentToolbox
        do {
            toolbox = try await tools.toolbox(for: work, logger: logger)
        } catch {
            return .failure(.start, error.description, retriable: false)
        }
        var loop = AgentLoop(
            transcript: loaded
                ?? AgentTranscript(job: work.job, run: work.run, step: work.step, item: work.item, startedAt: startedAt),
            tools: toolbox.entries.mapValues(\.loop), schema: schema, maxTurns: work.spec.maxTurns,
            repairAttempts: work.spec.repairAttempts, maxTokens: work.request.maxTokens)
        loop.unwraps =
            work.request.provider == .anthropic && work.request.schema.map(ModelProtocol.wrapsSchema) == true
        let replayed = loop.transcript.turns.count
        if replayed > 0 {
            logger.info("agent taken up at turn \(replayed + 1): \(replayed) turns replayed from its record")
        }
        var result = await run(
            &loop, work: work, toolbox: toolbox, budget: budget, clock: clock, control: control, logger: logger)
        for client in toolbox.clients { await client.stop() }
        result.calls = loop.transcript.turns.filter { $0.attempt == work.attempt }.map(\.call)
        return result
    }

    private func run(
        _ loop: inout AgentLoop, work: AgentWork, toolbox: AgentToolbox, budget: BudgetGuard, clock: any WorkflowClock,
        control: StepControl, logger: Logger
    ) async -> AttemptResult {
        if loop.retried(after: work.attemptsBefore, at: clock.now()) {
            logger.info("agent taken up by wfctl retry: its timeout and max_turns count from now")
            if let failed = await save(loop) { return failed }
        }
        if let decision = work.decision {
            loop.apply(decision)
            if let failed = await save(loop) { return failed }
        }
        let deadline = work.timeout.map { loop.transcript.startedAt.addingTimeInterval(Double($0.components.seconds)) }
        while true {
            if let deadline, clock.now() >= deadline {
                var result = AttemptResult.failure(
                    .timeout,
                    "the agent did not finish within its timeout (\(work.timeout.map(TimeSpan.init)?.description ?? ""))",
                    retriable: false)
                result.outcome = .timedOut
                return result
            }
            let left = deadline.map { Duration.seconds(max(1, $0.timeIntervalSince(clock.now()))) }
            switch loop.next() {
            case .callModel(let last):
                var request = work.request
                if let left { request.timeout = min(request.timeout, left) }
                let body = AgentProtocol.body(
                    request, tools: toolbox.definitions, turns: loop.transcript.turns, last: last)
                var answer: ModelExchange.Answer
                switch await exchange.send(
                    request, body: body, index: loop.transcript.turns.filter { $0.attempt == work.attempt }.count,
                    budget: budget, clock: clock,
                    control: control, logger: logger)
                {
                case .ended(let result, _): return result
                case .answered(let answered): answer = answered
                }
                switch AgentProtocol.reply(request.provider, answer.body, wrapped: loop.unwraps) {
                case .success(let reply):
                    await ModelExchange.settle(
                        &answer, request, inputTokens: reply.inputTokens, outputTokens: reply.outputTokens,
                        budget: budget, clock: clock, logger: logger)
                    answer.call.result = "ok"
                    loop.answered(reply, call: answer.call, attempt: work.attempt, last: last)
                    if let turn = loop.transcript.turns.last {
                        let asked = turn.toolCalls.map(\.name).joined(separator: ", ")
                        let what =
                            asked.isEmpty ? (turn.answer != nil ? "answered" : "answer off-schema") : "calls \(asked)"
                        logger.info("agent turn \(turn.number): \(what)")
                    }
                    if let failed = await save(loop) { return failed }
                case .failure(let unreadable):
                    await ModelExchange.settleUnread(&answer, budget: budget, clock: clock, why: unreadable.reason)
                    return .failure(.transport, "the model's answer could not be read: \(unreadable.reason)")
                }
            case .refuse(let index, let why):
                loop.update(call: index) { call in
                    call.state = .refused
                    call.isError = true
                    call.result = why
                }
                logger.notice("agent tool call refused: \(why.prefix(200))")
                if let failed = await save(loop) { return failed }
            case .askApproval(let index):
                guard let call = loop.call(index) else { continue }
                loop.update(call: index) { $0.state = .awaitingApproval }
                if let failed = await save(loop) { return failed }
                let arguments = work.redactor.redact(call.arguments?.jsonText ?? "{}")
                logger.notice(
                    "waiting for approval of tool \(call.name) \(arguments) (wfctl approve \(work.run) \(work.step), or wfctl reject)",
                    metadata: [LogField.messageID: .string(MessageID.approvalRequested)])
                var result = AttemptResult(outcome: .succeeded)
                var wait = WaitInfo(
                    kind: .tool, since: clock.now(), deadline: nil,
                    message: "the agent calls tool '\(call.name)' with \(arguments.prefix(500))")
                wait.call = call.id
                result.wait = wait
                return result
            case .interrupted(let index):
                guard let call = loop.call(index) else { continue }
                loop.update(call: index) { $0.state = .interrupted }
                if let failed = await save(loop) { return failed }
                return .failure(
                    .interrupted,
                    "tool '\(call.name)' (effectful) was running when wfd stopped; it is not run again without a "
                        + "person: wfctl retry \(work.run) runs it again", retriable: false)
            case .runTool(let index):
                guard let call = loop.call(index), let entry = toolbox.entries[call.name] else { continue }
                let began = clock.now()
                loop.update(call: index) { call in
                    call.state = .running
                    call.startedAt = began
                    if case .declared(.job) = entry.action, call.startedRun == nil {
                        call.startedRun = RunID.make(at: began, suffix: UInt32.random(in: 0...0xFF_FFFF))
                    }
                }
                if let failed = await save(loop) { return failed }
                let started = ContinuousClock.now
                let turn = loop.transcript.turns.count
                let outcome = await tools.perform(
                    entry.action, arguments: call.arguments ?? .object([:]), work: work,
                    log: work.logFile(turn: turn, call: index),
                    timeout: left, run: loop.call(index)?.startedRun, control: control, logger: logger)
                if case .cancelled(let reason) = outcome {
                    return AttemptResult(outcome: .cancelled, error: "cancelled: \(reason)")
                }
                let took = started.duration(to: .now)
                loop.update(call: index) { call in
                    call.endedAt = clock.now()
                    call.latencyMilliseconds =
                        took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000
                    if case .done(let text, let failed) = outcome {
                        call.state = failed ? .failed : .succeeded
                        call.isError = failed ? true : nil
                        call.result = Self.limited(work.redactor.redact(text))
                    }
                }
                logger.info("agent tool \(call.name) \(loop.call(index)?.state.rawValue ?? "ended")")
                if let failed = await save(loop) { return failed }
            case .answer(let value):
                var result = AttemptResult.success
                result.exitCode = nil
                let text: String =
                    if case .string(let said) = value, work.request.schema == nil { said } else { value.jsonText }
                result.stdout = Array(text.utf8)
                return result
            case .fail(let kind, let why):
                return .failure(kind, why, retriable: false)
            }
        }
    }

    /// Writes the transcript; the attempt's failure when it cannot be (the loop must not act on
    /// what is not on disk).
    private func save(_ loop: AgentLoop) async -> AttemptResult? {
        let transcript = loop.transcript
        do {
            try await BlockingIO.shared.run { () throws(StoreError) in try store.save(transcript) }
            return nil
        } catch {
            return .failure(.start, "the agent's transcript cannot be written: \(error)")
        }
    }

    static func limited(_ text: String) -> String {
        guard text.utf8.count > resultLimit else { return text }
        let kept = String(decoding: Array(text.utf8.prefix(resultLimit)), as: UTF8.self)
        return kept + "\n[cut at \(resultLimit) bytes of \(text.utf8.count)]"
    }
}
