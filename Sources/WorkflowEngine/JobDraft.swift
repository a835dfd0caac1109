import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel

/// `wfctl draft`: a model writes a job file from a description, given the job schema; wfd's own
/// parser checks each answer, and every problem, with its line and column, goes back to the model
/// for the next answer, until the file is valid or the repairs run out. The file is never loaded
/// here: `wfctl draft` writes it to `jobs.d/pending/`, and `wfctl promote` moves it in.
public struct JobDraft: Sendable {
    let llm: LLMStepExecutor
    let secrets: SecretStore
    let clock: any WorkflowClock
    let prices: PriceTable

    public init(coordinator: RunCoordinator) {
        llm = coordinator.llm
        secrets = coordinator.secrets
        clock = coordinator.clock
        prices = coordinator.prices
    }

    /// What to draft, and with which model.
    public struct Request: Sendable, Equatable {
        public var job: JobID
        public var description: String
        public var provider: LLMProvider
        public var model: String
        public var baseURL: String?
        /// The credential with the model's API key (as `api_key_secret` in a job).
        public var apiKeySecret: String?
        /// How many times the model may correct its file.
        public var repairs: Int
        /// The path the file will have (diagnostics name it).
        public var path: String

        public init(job: JobID, description: String, model: String, path: String) {
            self.job = job
            self.description = description
            provider = .openai
            self.model = model
            repairs = 3
            self.path = path
        }
    }

    /// What came of it.
    public struct Outcome: Sendable, Codable, Equatable {
        /// The last file the model wrote.
        public var text: String
        public var valid: Bool
        /// The problems of `text`, as `file:line:col: message (hint)`.
        public var diagnostics: [String]
        /// Answers the model gave (the first and its corrections).
        public var rounds: Int
        public var costUSD: Double?
        public var tokens: Int

        enum CodingKeys: String, CodingKey {
            case text, valid, diagnostics, rounds, tokens
            case costUSD = "cost_usd"
        }
    }

    public struct Problem: Error, Sendable, Equatable {
        public let message: String
    }

    static let system = """
        You write job files for wfd, a workflow daemon: YAML that must validate against the JSON \
        Schema below. A job is a DAG of steps: run (a shell command; it reads values from the \
        environment, WF_PARAM_<NAME>, WF_STEP_<ID>_OUTPUT, never from ${{ }} templates), http, llm \
        (with a JSON Schema for its answer when the answer is data), approval (a person decides). \
        Steps name what they need with needs:; ${{ steps.<id>.output… }}, ${{ params.<name> }} and \
        ${{ secrets.<name> }} (http headers only, declared under secrets:) fill http, llm and \
        approval fields; when: ${{ … }} routes; for_each: ${{ … }} fans out. Make each step \
        idempotent where it can be (http idempotency_key), give model calls a budget, and ask a \
        person before anything that would hurt if wrong. Answer with the file's YAML only.

        The schema:

        """

    /// Asks the model for the file, and for corrections while the parser finds problems.
    public func write(_ request: Request, logger: Logger) async -> Result<Outcome, Problem> {
        var apiKey: String?
        if let name = request.apiKeySecret {
            let loaded = secrets.load([name])
            guard let key = loaded.values[name] else {
                return .failure(Problem(message: loaded.missing[name] ?? "secret '\(name)' is not available"))
            }
            apiKey = key
        }
        var outcome = Outcome(text: "", valid: false, diagnostics: [], rounds: 0, costUSD: 0, tokens: 0)
        var prompt =
            "Write the job '\(request.job)' (its file is \(PathName.last(request.path))): \(request.description)"
        for _ in 0...request.repairs {
            var call = ModelRequest(provider: request.provider, model: request.model, prompt: prompt)
            call.baseURL = request.baseURL
            call.apiKey = apiKey
            call.system = Self.system + JobSchema.text + "\n\nThe format's documentation:\n\n" + JobFormatGuide.text
            call.temperature = 0
            call.maxTokens = 4000
            call.repairAttempts = 0
            call.price = prices.price(of: request.model)
            let answer = await llm.execute(
                call, budget: BudgetGuard(unrecorded: nil, logger: logger), clock: clock, control: StepControl(),
                logger: logger)
            for made in answer.calls ?? [] {
                outcome.tokens += (made.inputTokens ?? 0) + (made.outputTokens ?? 0)
                outcome.costUSD = outcome.costUSD.flatMap { sum in made.costUSD.map { sum + $0 } }
            }
            guard answer.outcome == .succeeded else {
                return .failure(Problem(message: "the model call failed: \(answer.error ?? answer.outcome.rawValue)"))
            }
            outcome.rounds += 1
            outcome.text = Self.yaml(in: String(decoding: answer.stdout ?? [], as: UTF8.self))
            do {
                _ = try JobParser().parse(outcome.text, path: request.path)
                outcome.valid = true
                outcome.diagnostics = []
                return .success(outcome)
            } catch {
                outcome.diagnostics = error.diagnostics.map(\.description)
                logger.info(
                    "the draft of \(request.job) has \(error.diagnostics.count) problems: asking for a correction")
            }
            prompt = """
                wfd's validator found these problems in the file you wrote for the job '\(request.job)' \
                (\(request.description)):
                \(outcome.diagnostics.joined(separator: "\n"))

                The file:
                \(outcome.text)

                Answer with the whole corrected file.
                """
        }
        return .success(outcome)
    }

    /// The YAML of an answer: as it is, or inside a ``` fence.
    static func yaml(in text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("```"), let start = trimmed.firstIndex(of: "\n") else { return trimmed + "\n" }
        var body = trimmed[trimmed.index(after: start)...]
        if body.hasSuffix("```") { body = body.dropLast(3) }
        return body.trimmingCharacters(in: .whitespacesAndNewlines) + "\n"
    }
}
