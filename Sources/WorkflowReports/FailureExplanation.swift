import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import WorkflowStore

/// Why a run failed, from the state directory alone: the failing step, its error, the end of its
/// output, what it was given, what changed since the job last succeeded, and how to retry.
public struct FailureExplanation: Sendable, Codable {
    public var job: JobID
    public var run: RunID
    public var state: RunState
    public var trigger: Trigger
    public var startedAt: Date?
    public var endedAt: Date?
    /// The run's error, in one sentence.
    public var error: String?
    /// The step that failed, when one did (a run can also end by its own timeout or a cancel).
    public var step: FailedStep?
    /// Compared with the newest earlier run of the job that succeeded, when there is one.
    public var sinceSuccess: Comparison?
    /// The commands that retry the run, first the one to use.
    public var retry: [String]

    public struct FailedStep: Sendable, Codable {
        public var id: StepID
        public var item: Int?
        /// `run`, `http`, `llm` or `approval`.
        public var kind: String
        public var attempt: Int
        /// How many attempts its retry policy allowed.
        public var attemptsAllowed: Int
        public var error: String?
        public var errorKind: FailureKind?
        public var exitCode: Int32?
        public var signal: Int32?
        /// The attempt's log, relative to the run directory.
        public var log: String?
        /// The last lines it wrote (stdout and stderr as they came), at most 20.
        public var outputTail: [String]
        /// What it was given, as `name: value` lines; secrets by name only.
        public var inputs: [String]
        /// A step failed by its `when` condition: the expression, its error and what it read.
        public var condition: ConditionRecord?

        enum CodingKeys: String, CodingKey {
            case id, item, kind, attempt, error, log, inputs, signal, condition
            case attemptsAllowed = "attempts_allowed"
            case errorKind = "error_kind"
            case exitCode = "exit_code"
            case outputTail = "output_tail"
        }
    }

    public struct Comparison: Sendable, Codable {
        public var run: RunID
        public var endedAt: Date?
        /// What differs, one sentence each: the job's definition, the parameters, the step.
        public var changes: [String]

        enum CodingKeys: String, CodingKey {
            case run, changes
            case endedAt = "ended_at"
        }
    }

    enum CodingKeys: String, CodingKey {
        case job, run, state, trigger, error, step, retry
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case sinceSuccess = "since_success"
    }

    /// The runs that count as failed: they did not succeed and were not stopped by a person.
    public static func isFailure(_ state: RunState) -> Bool { state == .failed || state == .timedOut }

    /// The newest failed run of `job` (or of any job), from the indexes' tails.
    public static func latestFailure(in state: StateDirectory, job: JobID?) -> (JobID, RunID)? {
        let store = RunStore(directory: state)
        let index = RunIndex(directory: state)
        let jobs = job.map { [$0] } ?? store.knownJobs()
        var newest: (JobID, RunIndex.Entry)?
        for id in jobs {
            guard let failed = index.recent(id, limit: 100).first(where: { isFailure($0.state) }) else { continue }
            if newest.map({ ($0.1.endedAt ?? .distantPast) < (failed.endedAt ?? .distantPast) }) ?? true {
                newest = (id, failed)
            }
        }
        return newest.map { ($0.0, $0.1.id) }
    }

    /// Explains run `run` of `job`. `retryOptions` are appended to the retry commands (`--state
    /// DIR` when the caller named a state directory, so the printed command works as it is).
    public static func explain(
        _ run: RunID, of job: JobID, in state: StateDirectory, retryOptions: String = ""
    ) throws(StoreError) -> FailureExplanation {
        let store = RunStore(directory: state)
        let snapshot = try store.loadSnapshot(job, run)
        let record = snapshot.run
        var explanation = FailureExplanation(
            job: job, run: run, state: record.state, trigger: record.trigger, startedAt: record.startedAt,
            endedAt: record.endedAt, error: record.error, retry: [])
        let failing = failingStep(of: snapshot)
        if let (step, slot) = failing {
            explanation.step = describe(step: step, slot: slot, snapshot: snapshot, state: state)
        }
        explanation.sinceSuccess = comparison(with: snapshot, failing: failing?.1, state: state)
        let suffix = retryOptions.isEmpty ? "" : " \(retryOptions)"
        let interrupted = snapshot.steps.filter { $0.state == .interrupted }.map(\.step)
        if !interrupted.isEmpty {
            explanation.retry = [
                "wfctl retry \(run)\(suffix)",
                "wfctl retry \(run) " + interrupted.map { "--skip \($0) --output FILE" }.joined(separator: " ")
                    + suffix,
            ]
        } else {
            explanation.retry = ["wfctl retry \(run)\(suffix)"]
        }
        return explanation
    }

    /// The step (and the item of it) that made the run fail: the first failed one in the order the
    /// job lists them, else the first interrupted, timed out or cancelled one.
    static func failingStep(of snapshot: RunSnapshot) -> (StepDefinition, StepRecord)? {
        for wanted in [StepState.failed, .interrupted, .cancelled] {
            for record in snapshot.steps where record.state == wanted {
                guard let definition = snapshot.definition(of: record.step) else { continue }
                let slot = record.items?.first { $0.state == wanted } ?? record
                return (definition, slot)
            }
        }
        return nil
    }

    static func describe(
        step: StepDefinition, slot: StepRecord, snapshot: RunSnapshot, state: StateDirectory
    ) -> FailedStep {
        let attempt = slot.attempts.last
        var failed = FailedStep(
            id: step.id, item: slot.item, kind: step.kind.name, attempt: attempt?.number ?? 0,
            attemptsAllowed: step.effectiveRetry?.attempts ?? 1, error: slot.error ?? attempt?.error,
            errorKind: attempt?.errorKind, exitCode: attempt?.exitCode, signal: attempt?.signal, log: attempt?.log,
            outputTail: [], inputs: [])
        if let log = attempt?.log,
            let data = try? RecordFile.readData(state.runFile(snapshot.run.job, snapshot.run.id, relative: log))
        {
            let text = String(decoding: data.suffix(64 * 1024), as: UTF8.self)
            failed.outputTail = Array(
                text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                    .reversed().drop { $0.isEmpty }.prefix(20).reversed())
        }
        failed.inputs = inputs(of: step, slot: slot, snapshot: snapshot)
        if slot.condition?.error != nil {
            failed.condition = slot.condition
            failed.errorKind = nil
        }
        return failed
    }

    /// What a step was given, as its definition and the run say (values of secrets never).
    static func inputs(of step: StepDefinition, slot: StepRecord, snapshot: RunSnapshot) -> [String] {
        var lines: [String] = []
        let attempt = slot.attempts.last
        switch step.kind {
        case .run(let command):
            lines.append("command: \(command)")
            if let workdir = step.workdir { lines.append("working directory: \(workdir)") }
            if let user = step.user { lines.append("user: \(user)") }
        case .http(let request):
            lines.append(
                "request: \(attempt?.http.map { "\($0.method) \($0.url)" } ?? "\(request.method) \(request.url)")")
            if !request.headers.isEmpty {
                lines.append("headers: \(request.headers.keys.sorted().joined(separator: ", ")) (values not shown)")
            }
            if let key = attempt?.http?.idempotencyKey { lines.append("idempotency key: \(key)") }
        case .llm(let call):
            lines.append("model: \(call.provider.rawValue) \(call.model)\(call.baseURL.map { " at \($0)" } ?? "")")
            lines.append("prompt: \(call.prompt.prefix(200))")
            if let hash = attempt?.calls?.last?.promptSHA256 { lines.append("last request's SHA-256: \(hash)") }
            if call.schema != nil { lines.append("schema: yes, with \(call.repairAttempts) repairs") }
        case .agent(let agent):
            lines.append("model: \(agent.provider.rawValue) \(agent.model)\(agent.baseURL.map { " at \($0)" } ?? "")")
            lines.append("instructions: \(agent.instructions.prefix(200))")
            let tools = agent.tools.map(\.name) + agent.mcpServers.flatMap(\.tools)
            lines.append("tools: \(tools.joined(separator: ", ")); at most \(agent.maxTurns) turns")
            if let calls = attempt?.calls { lines.append("model calls in the last attempt: \(calls.count)") }
        case .approval(let approval):
            lines.append("message: \(approval.message)")
            if let decision = attempt?.decision {
                lines.append(
                    "decided: \(decision.approved ? "approved" : "rejected") by \(decision.by)"
                        + (decision.comment.map { ": \($0)" } ?? ""))
            }
        }
        let environment = snapshot.spec.env.merging(step.env) { _, own in own }
        if !environment.isEmpty {
            lines.append(
                "environment: "
                    + environment.keys.sorted().map { "\($0)=\(environment[$0] ?? "")" }.joined(separator: " "))
        }
        if let params = snapshot.run.params, !params.isEmpty {
            lines.append(
                "parameters: " + params.keys.sorted().map { "\($0)=\(params[$0] ?? "")" }.joined(separator: " "))
        }
        let secrets = (step.secrets ?? []) + (step.kind.secretNames)
        if !secrets.isEmpty { lines.append("secrets: \(secrets.joined(separator: ", ")) (values never shown)") }
        if let value = slot.value { lines.append("item \(slot.item ?? 0): \(value.environmentText.prefix(200))") }
        if !step.needs.isEmpty {
            let outputs = step.needs.map { need -> String in
                let file = snapshot.step(need)?.attempts.last?.output
                return file.map { "\(need) (\($0))" } ?? "\(need) (no output)"
            }
            lines.append("needs: \(outputs.joined(separator: ", "))")
        }
        return lines
    }

    /// What differs from the newest earlier run of the job that succeeded.
    static func comparison(with snapshot: RunSnapshot, failing: StepRecord?, state: StateDirectory) -> Comparison? {
        let store = RunStore(directory: state)
        let job = snapshot.run.job
        guard
            let earlier = RunIndex(directory: state).recent(job, limit: 500).first(where: {
                $0.state == .succeeded && $0.id < snapshot.run.id
            }),
            let then = try? store.loadSnapshot(job, earlier.id)
        else { return nil }
        var changes = JobDifference.between(then.spec, snapshot.spec)
        let before = then.run.params ?? [:]
        let now = snapshot.run.params ?? [:]
        for name in Set(before.keys).union(now.keys).sorted() where before[name] != now[name] {
            changes.append(
                "parameter \(name): \(before[name].map { "'\($0)'" } ?? "unset") → \(now[name].map { "'\($0)'" } ?? "unset")"
            )
        }
        if let failing, let step = then.step(failing.step) {
            let record = failing.item.flatMap { index in step.items?.first { $0.item == index } } ?? step
            if let was = record.attempts.last, let current = failing.attempts.last {
                changes.append(
                    "step '\(failing.step)'\(failing.item.map { " item \($0)" } ?? ""): then \(summary(was)); now \(summary(current))"
                )
            }
        }
        if changes.isEmpty { changes.append("nothing in the job's definition or parameters") }
        return Comparison(run: earlier.id, endedAt: earlier.endedAt, changes: changes)
    }

    static func summary(_ attempt: Attempt) -> String {
        var parts = [attempt.outcome?.rawValue ?? "running"]
        if let code = attempt.exitCode { parts.append("exit \(code)") }
        if let signal = attempt.signal { parts.append("signal \(signal)") }
        if let status = attempt.http?.status { parts.append("HTTP \(status)") }
        if let ms = attempt.durationMilliseconds { parts.append(String(format: "%.1f s", Double(ms) / 1000)) }
        return parts.joined(separator: ", ")
    }
}

extension StepKind {
    /// The secrets this kind of step names itself (an LLM step's key).
    var secretNames: [String] {
        if case .llm(let call) = self, let name = call.apiKeySecret { return [name] }
        return []
    }
}

/// The differences between two definitions of a job, one sentence each.
enum JobDifference {
    static func between(_ old: Job, _ new: Job) -> [String] {
        guard let before = value(of: old), let after = value(of: new) else { return [] }
        guard case .object(var oldJob) = before, case .object(var newJob) = after else { return [] }
        var changes: [String] = []
        let oldSteps = steps(oldJob.removeValue(forKey: "steps"))
        let newSteps = steps(newJob.removeValue(forKey: "steps"))
        for key in Set(oldJob.keys).union(newJob.keys).sorted() where oldJob[key] != newJob[key] {
            changes.append("job \(key): \(shown(oldJob[key])) → \(shown(newJob[key]))")
        }
        for (id, step) in newSteps where oldSteps[id] == nil {
            changes.append("step '\(id)' was added: \(shown(step))")
        }
        for id in oldSteps.keys.sorted() where newSteps[id] == nil { changes.append("step '\(id)' was removed") }
        for id in newSteps.keys.sorted() {
            guard case .object(let was)? = oldSteps[id], case .object(let current)? = newSteps[id] else { continue }
            for key in Set(was.keys).union(current.keys).sorted() where was[key] != current[key] {
                changes.append("step '\(id)' \(key): \(shown(was[key])) → \(shown(current[key]))")
            }
        }
        return Array(changes.prefix(12))
    }

    static func value(of job: Job) -> JSONValue? {
        (try? JSONEncoder().encode(job)).flatMap { JSONValue.parse($0) }
    }

    static func steps(_ value: JSONValue?) -> [String: JSONValue] {
        guard case .array(let items)? = value else { return [:] }
        var byID: [String: JSONValue] = [:]
        for case .object(var step) in items {
            // The kind as the job file writes it: `run: …`, not the encoding of an enum case.
            if case .object(let kind)? = step.removeValue(forKey: "kind"), let (name, payload) = kind.first {
                if case .object(let wrapped) = payload, wrapped.count == 1, let inner = wrapped["_0"] {
                    step[name] = inner
                } else {
                    step[name] = payload
                }
            }
            if let id = step["id"]?.stringValue { byID[id] = .object(step) }
        }
        return byID
    }

    static func shown(_ value: JSONValue?) -> String {
        guard let value else { return "unset" }
        let text = value.jsonText
        return text.count > 120 ? String(text.prefix(120)) + "…" : text
    }
}
