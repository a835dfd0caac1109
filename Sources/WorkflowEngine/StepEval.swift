import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel
import WorkflowStore

/// `wfctl eval JOB STEP`: an `llm` step as it is defined now (its prompt, model, schema) against
/// inputs it had before: the values its templates read in recent runs where it succeeded, or a
/// file of cases. Each case is one real call (with its repairs), held to the job's daily budget
/// and recorded in its daily spend like a run's; nothing else is written. The report says how
/// often the answer met the schema, how often it agreed with the earlier output (exactly, and
/// field by field for objects), and what it cost and took.
public struct StepEval: Sendable {
    public let coordinator: RunCoordinator

    public init(coordinator: RunCoordinator) { self.coordinator = coordinator }

    /// One input of the step, and what it gave before.
    public struct Case: Sendable {
        /// A run's id, or `case N` of a file.
        public var source: String
        public var values: TemplateValues
        public var item: JSONValue?
        public var expected: JSONValue?
    }

    /// What one case gave.
    public struct CaseResult: Sendable, Codable, Equatable {
        public var source: String
        /// `ok`, `invalid_output` (the schema was not met, repairs included), or the failure's kind.
        public var outcome: String
        public var output: JSONValue?
        public var expected: JSONValue?
        /// nil without an expected output.
        public var agrees: Bool?
        public var calls: Int
        public var costUSD: Double?
        public var milliseconds: Int64
        public var error: String?

        enum CodingKeys: String, CodingKey {
            case source, outcome, output, expected, agrees, calls, error, milliseconds
            case costUSD = "cost_usd"
        }
    }

    public struct Report: Sendable, Codable, Equatable {
        public var job: JobID
        public var step: StepID
        public var model: String
        public var cases: [CaseResult]
        /// Of the cases, how many met the schema (or, without one, answered).
        public var schemaPassed: Int
        /// Of the cases with an expected output, how many agreed exactly.
        public var agreed: Int
        public var compared: Int
        /// For object outputs: by top-level field, how many cases agreed on it, of those compared.
        public var fieldAgreement: [String: Int]
        public var costUSD: Double?
        public var p50Milliseconds: Int64

        enum CodingKeys: String, CodingKey {
            case job, step, model, cases, agreed, compared
            case schemaPassed = "schema_passed"
            case fieldAgreement = "field_agreement"
            case costUSD = "cost_usd"
            case p50Milliseconds = "p50_ms"
        }
    }

    /// Why an evaluation cannot be made.
    public struct Problem: Error, Sendable, Equatable {
        public let message: String
    }

    /// The step, checked: an `llm` step without `for_each`.
    public static func llmStep(_ job: Job, _ id: StepID) -> Result<(StepDefinition, LLMCallSpec), Problem> {
        guard let step = job.steps.first(where: { $0.id == id }) else {
            let known = job.steps.map(\.id.rawValue).joined(separator: ", ")
            return .failure(Problem(message: "job '\(job.id)' has no step '\(id)' (its steps: \(known))"))
        }
        guard case .llm(let spec) = step.kind else {
            return .failure(Problem(message: "step '\(id)' is a \(step.kind.name) step: only llm steps are evaluated"))
        }
        guard step.forEach == nil else {
            return .failure(Problem(message: "step '\(id)' runs for_each: evaluate it with --cases, one item each"))
        }
        return .success((step, spec))
    }

    /// The step's inputs in the newest `count` runs of the job where it succeeded, newest first.
    public func recordedCases(_ job: Job, _ step: StepDefinition, count: Int) -> [Case] {
        let store = coordinator.store
        var cases: [Case] = []
        for run in store.runIDs(job.id).reversed() {
            guard cases.count < count else { break }
            guard let snapshot = try? store.loadSnapshot(job.id, run), let record = snapshot.step(step.id),
                record.state == .succeeded, record.attempts.last?.byHand != true
            else { continue }
            let cache = RunCoordinator.OutputCache(steps: snapshot.steps)
            var values = coordinator.templateValues(for: step, snapshot: snapshot, outputs: cache)
            values.triggerValue = snapshot.triggerValue
            let earlier = coordinator.outputValue(of: record, snapshot: snapshot, outputs: cache)
            cases.append(Case(source: run.rawValue, values: values, item: nil, expected: earlier))
        }
        return cases
    }

    /// The cases of a file: a JSON array of `{"params": {…}, "outputs": {"step": value}, "item":
    /// value, "expected": value}`, each key optional.
    public static func fileCases(_ data: Data, job: Job) -> Result<[Case], Problem> {
        guard case .array(let items)? = JSONValue.parse(data) else {
            return .failure(Problem(message: "the cases are not a JSON array of {params, outputs, item, expected}"))
        }
        var cases: [Case] = []
        for (index, item) in items.enumerated() {
            guard case .object(let fields) = item else {
                return .failure(Problem(message: "case \(index) is not an object"))
            }
            var params: [String: String] = [:]
            if case .object(let given)? = fields["params"] {
                for (name, value) in given { params[name] = value.environmentText }
            }
            switch job.parameterValues(params) {
            case .failure(let problem): return .failure(Problem(message: "case \(index): \(problem.message)"))
            case .success(let values): params = values
            }
            var outputs: [StepID: JSONValue] = [:]
            if case .object(let given)? = fields["outputs"] {
                for (name, value) in given {
                    guard let id = StepID(name) else {
                        return .failure(Problem(message: "case \(index): '\(name)' is not a step id"))
                    }
                    outputs[id] = value
                }
            }
            let values = TemplateValues(
                outputs: outputs, params: params, run: RunID.make(at: Date(timeIntervalSince1970: 0), suffix: 0),
                trigger: .manual, job: job.id)
            cases.append(
                Case(source: "case \(index)", values: values, item: fields["item"], expected: fields["expected"]))
        }
        return .success(cases)
    }

    /// Calls the model for each case, one after the other.
    public func run(_ job: Job, _ step: StepDefinition, _ spec: LLMCallSpec, cases: [Case], logger: Logger) async
        -> Report
    {
        let secrets = coordinator.secrets.load(job.secrets)
        var results: [CaseResult] = []
        for entry in cases {
            // Each case is held to the job's budget as a run would be, and all to its daily one.
            let budget = BudgetGuard(job: job, run: nil, store: coordinator.store, logger: logger)
            var result = CaseResult(
                source: entry.source, outcome: "start", output: nil, expected: entry.expected, agrees: nil, calls: 0,
                costUSD: nil, milliseconds: 0, error: nil)
            do throws(LaunchProblem) {
                var request = try ModelRequest.rendered(
                    spec, timeout: step.timeout?.duration,
                    with: StepTemplates(values: entry.values, item: entry.item),
                    secrets: StepSecrets(values: secrets.values, missing: secrets.missing))
                request.price = coordinator.prices.merging(job.prices).price(of: spec.model)
                let control = StepControl()
                let attempt = await coordinator.llm.execute(
                    request, budget: budget, clock: coordinator.clock, control: control, logger: logger)
                let calls = attempt.calls ?? []
                result.calls = calls.count
                result.costUSD =
                    calls.allSatisfy { $0.costUSD != nil } ? calls.reduce(0) { $0 + ($1.costUSD ?? 0) } : nil
                result.milliseconds = calls.reduce(0) { $0 + $1.latencyMilliseconds }
                if attempt.outcome == .succeeded {
                    result.outcome = "ok"
                    let text = String(decoding: attempt.stdout ?? [], as: UTF8.self)
                    result.output =
                        spec.schema != nil || step.output == .json
                        ? JSONValue.parse(Data(text.utf8)) ?? .string(text) : .string(text)
                } else {
                    result.outcome = attempt.errorKind?.rawValue ?? attempt.outcome.rawValue
                    result.error = attempt.error
                }
            } catch {
                result.outcome = "start"
                result.error = error.result.error
            }
            if let expected = entry.expected, let output = result.output { result.agrees = output == expected }
            results.append(result)
        }
        return Self.report(job: job.id, step: step.id, model: spec.model, results)
    }

    static func report(job: JobID, step: StepID, model: String, _ results: [CaseResult]) -> Report {
        var fields: [String: Int] = [:]
        for result in results {
            guard case .object(let expected)? = result.expected else { continue }
            let output: [String: JSONValue] = if case .object(let members)? = result.output { members } else { [:] }
            for (name, value) in expected { fields[name, default: 0] += output[name] == value ? 1 : 0 }
        }
        let times = results.map(\.milliseconds).sorted()
        return Report(
            job: job, step: step, model: model, cases: results, schemaPassed: results.count { $0.outcome == "ok" },
            agreed: results.count { $0.agrees == true }, compared: results.count { $0.expected != nil },
            fieldAgreement: fields,
            costUSD: results.allSatisfy { $0.costUSD != nil || $0.calls == 0 }
                ? results.reduce(0) { $0 + ($1.costUSD ?? 0) } : nil,
            p50Milliseconds: times.isEmpty ? 0 : times[times.count / 2])
    }
}
