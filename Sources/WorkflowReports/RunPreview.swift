import Foundation
import JSONSchemaKit
import JobFormat
import RunModel

/// What a run of a job would do, worked out without running it (`wfctl run JOB --dry-run`,
/// `POST /api/v1/jobs/{job}/preview`): its steps in an order the run could take them, which
/// `when:` conditions the parameters decide already, the worst case of each model call and of
/// the run against its budget, and every approval it would wait for.
public struct RunPreview: Sendable, Codable, Equatable {
    public var job: JobID
    /// The run's parameter values (given over the defaults).
    public var params: [String: String]
    public var steps: [StepPreview]
    /// The worst case over every model call the run could make (retries and repairs included;
    /// a `for_each` step's counted once, per item).
    public var worstTokens: Int
    /// nil when a model has no price.
    public var worstUSD: Double?
    public var budget: Budget?
    /// What the budget means for this worst case, in one sentence; nil without a budget.
    public var budgetVerdict: String?
    /// Every person the run would wait for: approval steps, and calls over budget with
    /// `on_budget: approve`.
    public var approvals: [String]

    public struct StepPreview: Sendable, Codable, Equatable {
        public var step: StepID
        public var kind: String
        public var needs: [StepID]
        /// `for_each`: the expression; the items are known only when the run gets there.
        public var forEach: String?
        /// `success`, `always`, `failure`, or the expression.
        public var when: String
        /// For an expression: true or false when the parameters decide it now; nil when it reads
        /// what only the run knows (steps' outputs, items, the trigger).
        public var decided: Bool?
        /// Why the condition is or is not decided, in a few words.
        public var because: String?
        public var model: ModelPreview?
        /// An approval step's message (templates of parameters filled), and its timeout.
        public var approval: String?

        enum CodingKeys: String, CodingKey {
            case step, kind, needs, when, decided, because, model, approval
            case forEach = "for_each"
        }
    }

    public struct ModelPreview: Sendable, Codable, Equatable {
        public var provider: LLMProvider
        public var model: String
        /// The prompt's tokens at 4 bytes a token, as wfd reserves them: a lower bound when the
        /// prompt takes other steps' outputs.
        public var inputTokens: Int
        public var inputIsLowerBound: Bool
        public var maxTokens: Int
        /// Attempts (its `retry`) times answers (its `repair_attempts` + 1).
        public var callsAtMost: Int
        public var worstTokens: Int
        /// nil when the model has no price.
        public var worstUSD: Double?

        enum CodingKeys: String, CodingKey {
            case provider, model
            case inputTokens = "input_tokens"
            case inputIsLowerBound = "input_is_lower_bound"
            case maxTokens = "max_tokens"
            case callsAtMost = "calls_at_most"
            case worstTokens = "worst_tokens"
            case worstUSD = "worst_usd"
        }
    }

    enum CodingKeys: String, CodingKey {
        case job, params, steps, budget, approvals
        case worstTokens = "worst_tokens"
        case worstUSD = "worst_usd"
        case budgetVerdict = "budget_verdict"
    }

    /// The preview of a run of `job` with `given` parameter values, at `prices` (the host's, the
    /// job's over them).
    public static func make(_ job: Job, params given: [String: String], prices: PriceTable) -> Result<
        RunPreview, ParameterProblem
    > {
        let params: [String: String]
        switch job.parameterValues(given) {
        case .success(let values): params = values
        case .failure(let problem): return .failure(problem)
        }
        let table = prices.merging(job.prices)
        let values = TemplateValues(
            outputs: [:], params: params, run: RunID.make(at: Date(timeIntervalSince1970: 0), suffix: 0),
            trigger: .manual, job: job.id)
        var preview = RunPreview(
            job: job.id, params: params, steps: [], worstTokens: 0, worstUSD: 0, budget: job.budget, budgetVerdict: nil,
            approvals: [])
        for step in order(job.steps) {
            var entry = StepPreview(
                step: step.id, kind: step.kind.name, needs: step.needs, forEach: step.forEach, when: "success",
                decided: nil, because: nil, model: nil, approval: nil)
            describe(step.when, of: step, job: job, params: params, into: &entry)
            switch step.kind {
            case .llm(let call):
                let model = model(call, step: step, values: values, prices: table)
                entry.model = model
                preview.worstTokens += model.worstTokens
                preview.worstUSD = preview.worstUSD.flatMap { sum in model.worstUSD.map { sum + $0 } }
            case .approval(let spec):
                let message = (try? Template(parsing: spec.message).render(values).get()) ?? spec.message
                let timeout = spec.timeout.map {
                    ", \($0.description) to decide (then \(spec.onTimeout?.rawValue ?? "reject"))"
                }
                entry.approval = message + (timeout ?? "")
                preview.approvals.append("step '\(step.id)': \(message)")
            case .agent(let agent):
                // Each turn's input grows by what the tools answered: the estimate is a floor.
                var call = agent.call
                call.repairAttempts = agent.repairAttempts + agent.maxTurns - 1
                var model = model(call, step: step, values: values, prices: table)
                model.inputIsLowerBound = true
                entry.model = model
                preview.worstTokens += model.worstTokens
                preview.worstUSD = preview.worstUSD.flatMap { sum in model.worstUSD.map { sum + $0 } }
                let gated =
                    agent.tools.filter(\.approve).map(\.name) + agent.mcpServers.filter(\.approve).flatMap(\.tools)
                if !gated.isEmpty {
                    let names = gated.map { "'\($0)'" }.joined(separator: ", ")
                    entry.approval = "each call of its tool\(gated.count == 1 ? "" : "s") \(names)"
                    preview.approvals.append(
                        "step '\(step.id)': each call of tool\(gated.count == 1 ? "" : "s") \(names)")
                }
            case .run, .http:
                break
            }
            preview.steps.append(entry)
        }
        preview.budgetVerdict = verdict(preview, job: job)
        if job.onBudget == .approve, let verdict = preview.budgetVerdict, verdict.hasPrefix("could pass") {
            preview.approvals.append("a model call that could pass the budget (on_budget: approve)")
        }
        return .success(preview)
    }

    /// The steps in an order the run could take them: each after what it needs, ties in the
    /// order of the file.
    static func order(_ steps: [StepDefinition]) -> [StepDefinition] {
        var done: Set<StepID> = []
        var left = steps
        var ordered: [StepDefinition] = []
        while !left.isEmpty {
            guard let next = left.firstIndex(where: { $0.needs.allSatisfy(done.contains) }) else {
                return ordered + left  // a cycle: the parser refuses those; keep what is left
            }
            let step = left.remove(at: next)
            done.insert(step.id)
            ordered.append(step)
        }
        return ordered
    }

    static func describe(
        _ when: WhenCondition, of step: StepDefinition, job: Job, params: [String: String],
        into entry: inout StepPreview
    ) {
        switch when {
        case .success: entry.when = "success"
        case .always: entry.when = "always"
        case .failure: entry.when = "failure"
        case .expression(let text):
            entry.when = text
            guard case .success(let expression)? = ConditionExpression.parse(when: text) else {
                entry.because = "not an expression"
                return
            }
            // Evaluated as the run would, with what is known now: a condition that reads what
            // only the run knows fails to evaluate here, and is decided when the run gets there.
            let scope = ConditionScope(
                steps: [:], params: params, run: RunID.make(at: Date(timeIntervalSince1970: 0), suffix: 0),
                trigger: .manual, job: job.id)
            let outcome = expression.evaluate(in: scope)
            if let value = outcome.value {
                entry.decided = value
                entry.because = value ? "true for these parameters" : "false for these parameters"
                return
            }
            let runtime = ["steps.", "item", "trigger."].filter { text.contains($0) }
            entry.because =
                runtime.isEmpty
                ? "cannot be decided: \(outcome.error ?? "no value")"
                : "reads \(runtime.map { $0.hasSuffix(".") ? String($0.dropLast()) : $0 }.joined(separator: ", ")): "
                    + "decided when the run gets there"
        }
    }

    static func model(_ call: LLMCallSpec, step: StepDefinition, values: TemplateValues, prices: PriceTable)
        -> ModelPreview
    {
        let template = try? Template(parsing: call.prompt)
        let prompt = (try? template?.render(values).get()) ?? call.prompt
        // Other steps' outputs, items and the trigger are not known before the run.
        let lowerBound = (template?.references ?? []).contains { reference in
            switch reference {
            case .stepOutput, .item, .trigger, .args: true
            case .param, .secret, .runID, .runTrigger, .jobID: false
            }
        }
        let schemaBytes = call.schema.map { $0.jsonText.utf8.count } ?? 0
        let bytes = prompt.utf8.count + (call.system?.utf8.count ?? 0) + schemaBytes + 200
        let input = bytes / 4 + 1
        let maxTokens = call.maxTokens ?? 4096
        let calls = (step.effectiveRetry?.attempts ?? 1) * (call.repairAttempts + 1)
        let worstTokens = calls * (input + maxTokens)
        let worstUSD = prices.price(of: call.model).map {
            Double(calls) * PriceTable.cost($0, inputTokens: input, outputTokens: maxTokens)
        }
        return ModelPreview(
            provider: call.provider, model: call.model, inputTokens: input, inputIsLowerBound: lowerBound,
            maxTokens: maxTokens, callsAtMost: calls, worstTokens: worstTokens, worstUSD: worstUSD)
    }

    static func verdict(_ preview: RunPreview, job: Job) -> String? {
        guard let budget = job.budget else { return nil }
        var over: [String] = []
        if let tokens = budget.tokens, preview.worstTokens > tokens {
            over.append("\(preview.worstTokens) tokens against \(tokens)")
        }
        if let usd = budget.usd {
            guard let worst = preview.worstUSD else {
                return "could pass the budget: a model has no price, and a run with a usd budget refuses its calls"
            }
            if worst > usd { over.append(String(format: "$%.4f against $%.2f", worst, usd)) }
        }
        guard !over.isEmpty else { return "within the budget even at its worst" }
        let action = job.onBudget == .approve ? "waits for a person (on_budget: approve)" : "fails as budget_exceeded"
        return
            "could pass the budget at its worst (\(over.joined(separator: ", "))): a call that could pass it is not made, its step \(action)"
    }
}

/// A preview as `wfctl run --dry-run` prints it.
public enum PreviewText {
    public static func render(_ preview: RunPreview) -> String {
        var out = "dry run of \(preview.job): nothing is started\n"
        if !preview.params.isEmpty {
            out +=
                "  params: \(preview.params.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))\n"
        }
        for (index, step) in preview.steps.enumerated() {
            let needs = step.needs.isEmpty ? "" : " (after \(step.needs.map(\.rawValue).joined(separator: ", ")))"
            out += "  \(index + 1). \(step.step) [\(step.kind)]\(needs)\n"
            if let items = step.forEach { out += "     for each item of \(items)\n" }
            if step.when != "success" || step.because != nil {
                let decided = step.decided.map { $0 ? "runs" : "skipped" }.map { " → \($0)" } ?? ""
                out += "     when \(step.when)\(decided)" + (step.because.map { " (\($0))" } ?? "") + "\n"
            }
            if let model = step.model {
                let usd = model.worstUSD.map { String(format: "$%.4f", $0) } ?? "no price"
                let bound = model.inputIsLowerBound ? "≥" : "~"
                out +=
                    "     \(model.provider.rawValue) \(model.model): \(bound)\(model.inputTokens) tokens in, "
                    + "\(model.maxTokens) out at most, \(model.callsAtMost) calls at most: "
                    + "worst \(model.worstTokens) tokens, \(usd)\n"
            }
            if let approval = step.approval { out += "     waits for a person: \(approval)\n" }
        }
        let usd = preview.worstUSD.map { String(format: "$%.4f", $0) } ?? "unknown (a model has no price)"
        out += "  worst case of its model calls: \(preview.worstTokens) tokens, \(usd)"
        if let budget = preview.budget {
            let parts = [budget.usd.map { String(format: "$%.2f", $0) }, budget.tokens.map { "\($0) tokens" }]
            out += " against a budget of \(parts.compactMap { $0 }.joined(separator: " and "))"
        }
        out += "\n"
        if let verdict = preview.budgetVerdict { out += "  \(verdict)\n" }
        out +=
            preview.approvals.isEmpty
            ? "  waits for nobody\n" : "  waits for: \(preview.approvals.joined(separator: "; "))\n"
        return out
    }
}
