import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel
import WorkflowStore

/// Where an attempt is in its run's trace: what its `traceparent` (and its model calls') say.
struct AttemptTrace: Sendable {
    let context: TraceContext
    let step: StepID
    let item: Int?
    let attempt: Int

    /// The attempt's span as the parent of what it calls.
    var traceparent: String {
        context.traceparent(span: context.attemptSpanID(step: step, item: item, attempt: attempt))
    }

    /// The `call`th model call's span as the parent of the model's work.
    func traceparent(call: Int) -> String {
        context.traceparent(span: context.callSpanID(step: step, item: item, attempt: attempt, call: call))
    }
}

/// Turning a step that is due into work: a process, a request, a model call, or a wait.
extension RunCoordinator {
    /// What every step of one run shares: its job's secrets, what hides them, its budget.
    struct RunContext: Sendable {
        let secrets: [String: String]
        /// Secrets that could not be read, with why.
        let missingSecrets: [String: String]
        let redactor: Redactor
        let budget: BudgetGuard
        let prices: PriceTable
    }

    func context(for snapshot: RunSnapshot, logger: Logger) -> RunContext {
        let job = snapshot.spec
        let (values, missing) = secrets.load(job.secrets)
        for (name, value) in values where value.utf8.count < Redactor.minimumLength {
            logger.warning(
                "secret '\(name)' is shorter than \(Redactor.minimumLength) bytes: it is not hidden in output and logs")
        }
        return RunContext(
            secrets: values, missingSecrets: missing, redactor: Redactor(secrets: values),
            budget: BudgetGuard(job: job, run: snapshot.run.id, store: store, logger: logger),
            prices: prices.merging(job.prices))
    }

    /// The work of an attempt.
    enum Work: Sendable {
        case process(StepInvocation)
        case http(HTTPCall)
        case model(ModelRequest)
        case agent(AgentWork)
    }

    enum Launch {
        case work(Work, StepDefinition, Logger)
        /// The attempt ends at once with this result (it could not start, or it waits).
        case ended(AttemptResult)
    }

    func run(_ work: Work, context: RunContext, control: StepControl, logger: Logger) async -> AttemptResult {
        switch work {
        case .process(let invocation): await executor.execute(invocation, control: control, logger: logger)
        case .http(let call): await http.execute(call, control: control, logger: logger)
        case .model(let request):
            await llm.execute(request, budget: context.budget, clock: clock, control: control, logger: logger)
        case .agent(let work):
            await AgentStepExecutor(
                exchange: ModelExchange(transport: llm.transport, maxResponseBytes: llm.maxResponseBytes),
                tools: AgentToolRunner(
                    http: http, shell: ShellExecutor(), store: store, jobs: jobs,
                    outputs: { [self] snapshot in
                        let cache = OutputCache(steps: snapshot.steps)
                        var values: [String: JSONValue] = [:]
                        for record in snapshot.steps where record.state == .succeeded {
                            values[record.step.rawValue] = outputValue(of: record, snapshot: snapshot, outputs: cache)
                        }
                        return values
                    }), store: store
            ).execute(work, budget: context.budget, clock: clock, control: control, logger: logger)
        }
    }

    /// The work of `attempt` of `slot`, or the result that stands for it when it cannot start
    /// (a template without a value, a missing secret, an unknown user) or waits (an approval).
    func prepareLaunch(
        _ slot: Slot, attempt: Int, snapshot: RunSnapshot, outputs: OutputCache, context: RunContext, logger: Logger,
        reattach: Bool = false
    ) -> Launch {
        guard let definition = snapshot.definition(of: slot.step) else {
            return .ended(.failure(.start, "the step is not in the run's definition", retriable: false))
        }
        let record = snapshot.step(slot.step).flatMap { try? RunMachine.slot($0, slot.item) }
        var fields = [LogField.step: slot.step.rawValue, LogField.attempt: String(attempt)]
        if let item = slot.item { fields[LogField.item] = String(item) }
        let stepLogger = logger.with(fields)
        // Outputs reach a `run:` step's process through its environment, never through templates:
        // the values are worked out only for the other kinds (a `run:` step late in a long run
        // would gather every upstream output for nothing).
        var templates: StepTemplates {
            StepTemplates(
                values: templateValues(for: definition, snapshot: snapshot, outputs: outputs), item: record?.value)
        }
        let secrets = StepSecrets(values: context.secrets, missing: context.missingSecrets)
        let timeout = definition.timeout?.duration
        let trace = AttemptTrace(context: snapshot.run.trace, step: slot.step, item: slot.item, attempt: attempt)
        do throws(LaunchProblem) {
            switch definition.kind {
            case .run(let command):
                return launchProcess(
                    command, slot: slot, attempt: attempt, definition: definition, record: record, snapshot: snapshot,
                    outputs: outputs, context: context, logger: stepLogger, reattach: reattach)
            case .http(let spec):
                var call = try HTTPCall.rendered(spec, timeout: timeout, with: templates, secrets: secrets)
                // The step's own traceparent, if it sets one, wins (it may join another trace).
                if !call.headers.keys.contains(where: { $0.lowercased() == "traceparent" }) {
                    call.headers["traceparent"] = trace.traceparent
                }
                stepLogger.info("step started: \(spec.method) \(call.url)")
                return .work(.http(call), definition, stepLogger)
            case .llm(let spec):
                var request = try ModelRequest.rendered(spec, timeout: timeout, with: templates, secrets: secrets)
                request.price = context.prices.price(of: spec.model)
                request.onBudget = snapshot.spec.onBudget ?? .fail
                request.budgetOverride = record?.budgetApproval != nil
                request.trace = trace
                stepLogger.info("step started: \(spec.provider.rawValue) model \(spec.model)")
                return .work(.model(request), definition, stepLogger)
            case .agent(let spec):
                var request = try ModelRequest.rendered(
                    spec.call, timeout: nil, with: templates, secrets: secrets, kind: "agent",
                    promptField: "instructions")
                request.price = context.prices.price(of: spec.model)
                request.onBudget = snapshot.spec.onBudget ?? .fail
                request.budgetOverride = record?.budgetApproval != nil
                request.trace = trace
                let work = agentWork(
                    spec, request: request, slot: slot, attempt: attempt, definition: definition, record: record,
                    snapshot: snapshot, outputs: outputs, context: context)
                stepLogger.info("step started: agent \(spec.provider.rawValue) model \(spec.model)")
                return .work(.agent(work), definition, stepLogger)
            case .approval(let spec):
                let message = context.redactor.redact(try templates.render(spec.message, "approval.message"))
                let now = clock.now()
                var result = AttemptResult(outcome: .succeeded)
                result.wait = WaitInfo(
                    kind: .approval, since: now,
                    deadline: spec.timeout.map { now.addingTimeInterval(Double($0.milliseconds) / 1000) },
                    message: message)
                stepLogger.notice(
                    "waiting for approval: \(message) (wfctl approve \(snapshot.run.id) \(slot.step), or wfctl reject)",
                    metadata: [LogField.messageID: .string(MessageID.approvalRequested)])
                return .ended(result)
            }
        } catch {
            return .ended(error.result)
        }
    }

    /// A `run:` step's process.
    func launchProcess(
        _ command: String, slot: Slot, attempt: Int, definition: StepDefinition, record: StepRecord?,
        snapshot: RunSnapshot, outputs: OutputCache, context: RunContext, logger: Logger, reattach: Bool
    ) -> Launch {
        let run = snapshot.run
        let relative = record?.attempts.last?.log ?? "logs/\(slot.step.rawValue).\(attempt).log"
        var account: UserAccount?
        if let user = definition.user {
            switch UserAccount.resolve(user) {
            case .success(let resolved): account = resolved
            case .failure(let problem): return .ended(.failure(.start, problem.message, retriable: false))
            }
        }
        var environment = StepEnvironment.make(
            job: snapshot.spec, step: definition, run: run.id, attempt: attempt, params: run.params ?? [:],
            account: account ?? ownAccount, daemonEnvironment: daemonEnvironment
        )
        addUpstreamOutputs(of: definition, snapshot: snapshot, outputs: outputs, to: &environment)
        environment["TRACEPARENT"] =
            AttemptTrace(context: run.trace, step: slot.step, item: slot.item, attempt: attempt).traceparent
        addRunInputs(run, slot: slot, record: record, to: &environment)
        var secrets: [String: String] = [:]
        for name in definition.secrets ?? [] {
            guard let value = context.secrets[name] else {
                return .ended(
                    .failure(
                        .start, context.missingSecrets[name] ?? "secret '\(name)' is not available", retriable: false))
            }
            secrets[name] = value
        }
        var invocation = StepInvocation(
            job: run.job, run: run.id, step: slot.step, attempt: attempt, command: command,
            environment: environment, workingDirectory: workingDirectory(for: definition),
            timeout: definition.timeout?.duration,
            logFile: store.directory.runFile(run.job, run.id, relative: relative))
        invocation.item = slot.item
        invocation.processRecord = ProcessRecord.path(store.directory, run.job, run.id)
        invocation.redactor = context.redactor
        invocation.account = account
        invocation.secrets = secrets
        invocation.executor = snapshot.spec.executor
        invocation.reattach = reattach
        invocation.sandbox = (snapshot.spec.sandbox?.value ?? SandboxSettings()).overridden(
            by: definition.sandbox?.value)
        invocation.resources = (snapshot.spec.resources?.value ?? ResourceSettings()).overridden(
            by: definition.resources?.value)
        if !reattach { logger.info("step started: \(command)") }
        return .work(.process(invocation), definition, logger)
    }

    /// What started the run (`WF_TRIGGER_*`) and the item a `for_each` step runs for.
    func addRunInputs(_ run: RunRecord, slot: Slot, record: StepRecord?, to environment: inout [String: String]) {
        if let origin = run.origin {
            environment["WF_TRIGGER"] = run.trigger.rawValue
            environment["WF_TRIGGER_SOURCE"] = origin.source
            if let delivery = origin.delivery { environment["WF_TRIGGER_DELIVERY"] = delivery }
            environment["WF_TRIGGER_PAYLOAD_FILE"] = store.directory.payload(run.job, run.id)
        }
        if let item = slot.item, let value = record?.value {
            environment["WF_ITEM"] = value.environmentText
            environment["WF_ITEM_INDEX"] = String(item)
        }
    }

    /// What an agent's attempt needs besides its model request: its tools' values and environment.
    func agentWork(
        _ spec: AgentSpec, request: ModelRequest, slot: Slot, attempt: Int, definition: StepDefinition,
        record: StepRecord?, snapshot: RunSnapshot, outputs: OutputCache, context: RunContext
    ) -> AgentWork {
        let run = snapshot.run
        var environment = StepEnvironment.make(
            job: snapshot.spec, step: definition, run: run.id, attempt: attempt, params: run.params ?? [:],
            account: ownAccount, daemonEnvironment: daemonEnvironment)
        addUpstreamOutputs(of: definition, snapshot: snapshot, outputs: outputs, to: &environment)
        addRunInputs(run, slot: slot, record: record, to: &environment)
        return AgentWork(
            request: request, spec: spec, job: run.job, run: run.id, step: slot.step, item: slot.item, attempt: attempt,
            values: templateValues(for: definition, snapshot: snapshot, outputs: outputs), itemValue: record?.value,
            secrets: StepSecrets(values: context.secrets, missing: context.missingSecrets), environment: environment,
            workingDirectory: workingDirectory(for: definition),
            runDirectory: store.directory.runDirectory(run.job, run.id), timeout: definition.timeout?.duration,
            decision: record?.toolDecision,
            attemptsBefore: record?.attemptsBefore ?? 0,
            redactor: context.redactor)
    }

    /// What the step's templates may refer to: the outputs of the steps it needs (directly or
    /// not) that succeeded, the run's parameters and ids. No secrets: callers add them where
    /// they are allowed.
    func templateValues(for step: StepDefinition, snapshot: RunSnapshot, outputs: OutputCache) -> TemplateValues {
        var values = TemplateValues(
            outputs: [:], params: snapshot.run.params ?? [:], run: snapshot.run.id, trigger: snapshot.run.trigger,
            job: snapshot.run.job)
        values.triggerValue = snapshot.triggerValue
        for position in snapshot.upstream(of: step.id) where snapshot.steps[position].state == .succeeded {
            let record = snapshot.steps[position]
            values.outputs[record.step] = outputValue(of: record, snapshot: snapshot, outputs: outputs)
        }
        return values
    }

    /// Whether an approval's timeout approves (`on_timeout: approve`) rather than rejects.
    static func timeoutApproves(_ step: StepDefinition?) -> Bool {
        guard case .approval(let spec)? = step?.kind else { return false }
        return spec.onTimeout == .approve
    }

    /// Works out the array of the `for_each` step `id` from what has run so far.
    func expand(_ id: StepID, snapshot: RunSnapshot, outputs: OutputCache, logger: Logger) -> RunEvent {
        guard let text = snapshot.definition(of: id)?.forEach else {
            return .expansionFailed(id, error: "the step has no for_each", at: clock.now())
        }
        var values = TemplateValues(
            outputs: [:], params: snapshot.run.params ?? [:], run: snapshot.run.id, trigger: snapshot.run.trigger,
            job: snapshot.run.job)
        values.triggerValue = snapshot.triggerValue
        for record in snapshot.steps where record.state == .succeeded {
            values.outputs[record.step] = outputValue(of: record, snapshot: snapshot, outputs: outputs)
        }
        switch ForEachExpansion.items(text, values: values) {
        case .success(let items):
            logger.info(
                "step '\(id)' fans out over \(items.count) items", metadata: [LogField.step: .string(id.rawValue)])
            return .expanded(id, items: items, at: clock.now())
        case .failure(let problem):
            return .expansionFailed(id, error: problem.message, at: clock.now())
        }
    }

    /// The step's `workdir`, relative ones resolved against the jobs directory.
    func workingDirectory(for step: StepDefinition) -> String {
        guard let workdir = step.workdir else { return workingDirectory }
        return workdir.hasPrefix("/") ? workdir : "\(workingDirectory)/\(workdir)"
    }

}
