import Foundation
import JSONSchemaKit
import JobFormat
import Testing
import WorkflowEngine
import WorkflowStore
import WorkflowTesting

/// `llm` steps against loopback servers speaking OpenAI Chat Completions and Anthropic Messages.
@Suite struct LLMStepTests {
    let schema: JSONValue = .object([
        "type": .string("object"), "required": .array([.string("items")]),
        "properties": .object([
            "items": .object([
                "type": .string("array"),
                "items": .object([
                    "type": .string("object"), "required": .array([.string("id")]),
                    "properties": .object(["id": .object(["type": .string("string")])]),
                ]),
            ])
        ]),
    ])

    func guardFor(_ dir: TemporaryDirectory, budget: Budget? = nil) -> BudgetGuard {
        var job = Job(id: JobID("ai")!, steps: [])
        job.budget = budget
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        return BudgetGuard(job: job, run: RunID("r1")!, store: store, logger: CapturedLog().logger)
    }

    func request(_ provider: LLMProvider, _ server: StandIn, schema: JSONValue? = nil) -> ModelRequest {
        var request = ModelRequest(
            provider: provider, model: "gpt-4o-mini", prompt: "Match these commits", timeout: .seconds(5))
        request.baseURL = server.url(provider == .openai ? "/v1" : "")
        request.apiKey = "sk-test-1234567890"
        request.system = "Answer with JSON."
        request.schema = schema
        request.maxTokens = 500
        request.price = ModelPrice(input: 0.15, output: 0.60)
        return request
    }

    @Test func openAIStructuredOutputIsAskedForValidatedAndPriced() async throws {
        let dir = try TemporaryDirectory("llm")
        let server = try await StandIn(
            #"{"routes": [{"method": "POST", "path": "/v1/chat/completions", "responses": [{"openai": {"content": {"items": [{"id": "T-1"}]}, "prompt_tokens": 120, "completion_tokens": 30}}]}]}"#,
            in: dir)
        defer { Task { await server.stop() } }
        let budget = guardFor(dir)
        let result = await LLMStepExecutor().execute(
            request(.openai, server, schema: schema), budget: budget, clock: SystemClock(), control: StepControl(),
            logger: CapturedLog().logger)
        #expect(result.outcome == .succeeded, "\(result)")
        #expect(
            JSONValue.parse(Data(result.stdout ?? [])) == .object(["items": .array([.object(["id": .string("T-1")])])]))
        let call = try #require(result.calls?.first)
        #expect(call.inputTokens == 120 && call.outputTokens == 30 && call.result == "ok" && call.status == 200)
        #expect(call.costUSD.map { abs($0 - (120 * 0.15 + 30 * 0.60) / 1_000_000) < 1e-12 } == true)
        #expect(call.promptSHA256.count == 64)
        #expect(budget.spent == Spend(usd: call.costUSD ?? 0, tokens: 150, calls: 1))

        let sent = try #require(server.requests().first)
        #expect(sent["headers"]?.objectValue?["authorization"] == .string("Bearer sk-test-1234567890"))
        let body = try #require(sent["body"]?.objectValue)
        #expect(body["model"] == .string("gpt-4o-mini") && body["max_tokens"] == .number(500))
        #expect(
            body["messages"]
                == .array([
                    .object(["role": .string("system"), "content": .string("Answer with JSON.")]),
                    .object(["role": .string("user"), "content": .string("Match these commits")]),
                ]))
        let format = try #require(body["response_format"]?.objectValue)
        #expect(format["type"] == .string("json_schema"))
        #expect(format["json_schema"]?.objectValue?["schema"] == schema)
    }

    @Test func invalidOutputIsFedBackUntilItMatchesOrTheRepairsRunOut() async throws {
        let dir = try TemporaryDirectory("llm")
        let server = try await StandIn(
            """
            {"routes": [{"method": "POST", "path": "/v1/chat/completions", "responses": [
              {"openai": {"content": "Sure! Here you go: items T-1"}},
              {"openai": {"content": {"items": [{"id": 1}]}}},
              {"openai": {"content": {"items": [{"id": "T-1"}]}}}
            ]}]}
            """, in: dir)
        defer { Task { await server.stop() } }
        let result = await LLMStepExecutor().execute(
            request(.openai, server, schema: schema), budget: guardFor(dir), clock: SystemClock(),
            control: StepControl(), logger: CapturedLog().logger)
        #expect(result.outcome == .succeeded)
        #expect(result.calls?.map(\.result) == ["invalid_output", "invalid_output", "ok"])
        let third = try #require(server.requests().last?["body"]?.objectValue?["messages"])
        guard case .array(let messages) = third else { throw TestKitError("no messages") }
        #expect(messages.count == 6, "system, prompt, and two rounds of answer and repair")
        let repair = messages.last?.objectValue?["content"]?.stringValue ?? ""
        #expect(repair.contains("/items/0/id must be string, not integer"))
        #expect(messages[3].objectValue?["content"]?.stringValue?.contains("is not JSON") == true)

        var once = request(.openai, server, schema: schema)
        once.repairAttempts = 0
        let server2 = try await StandIn(
            #"{"routes": [{"method": "POST", "path": "/v1/chat/completions", "responses": [{"openai": {"content": {"items": "none"}}}]}]}"#,
            in: dir)
        defer { Task { await server2.stop() } }
        once.baseURL = server2.url("/v1")
        let failed = await LLMStepExecutor().execute(
            once, budget: guardFor(dir), clock: SystemClock(), control: StepControl(), logger: CapturedLog().logger)
        #expect(failed.errorKind == .invalidOutput && failed.retriable)
        #expect(
            failed.error
                == "the model's output does not match the schema after 0 repairs: /items must be array, not string (schema: /properties/items/type)"
        )
    }

    @Test func anthropicAnswersThroughAToolAndIsRepairedThroughToolResults() async throws {
        let dir = try TemporaryDirectory("llm")
        let server = try await StandIn(
            """
            {"routes": [{"method": "POST", "path": "/v1/messages", "responses": [
              {"anthropic": {"input": {"items": [{}]}, "input_tokens": 200, "output_tokens": 20}},
              {"anthropic": {"input": {"items": [{"id": "T-9"}]}, "input_tokens": 260, "output_tokens": 22}}
            ]}]}
            """, in: dir)
        defer { Task { await server.stop() } }
        var ask = request(.anthropic, server, schema: schema)
        ask.model = "claude-haiku-4-5"
        let result = await LLMStepExecutor().execute(
            ask, budget: guardFor(dir), clock: SystemClock(), control: StepControl(), logger: CapturedLog().logger)
        #expect(result.outcome == .succeeded, "\(result)")
        #expect(result.stdout.map { String(decoding: $0, as: UTF8.self) } == #"{"items":[{"id":"T-9"}]}"#)
        #expect(result.calls?.map(\.inputTokens) == [200, 260])

        let requests = server.requests()
        let headers = try #require(requests.first?["headers"]?.objectValue)
        #expect(headers["x-api-key"] == .string("sk-test-1234567890"))
        #expect(headers["anthropic-version"] == .string("2023-06-01"))
        let body = try #require(requests.first?["body"]?.objectValue)
        #expect(body["system"] == .string("Answer with JSON."))
        #expect(body["tool_choice"] == .object(["type": .string("tool"), "name": .string("output")]))
        guard case .array(let tools)? = body["tools"] else { throw TestKitError("no tools") }
        #expect(tools.first?.objectValue?["input_schema"] == schema)
        guard case .array(let messages)? = requests.last?["body"]?.objectValue?["messages"] else {
            throw TestKitError("no messages")
        }
        let reply = try #require(messages.last?.objectValue?["content"])
        guard case .array(let blocks) = reply, let block = blocks.first?.objectValue else {
            throw TestKitError("no result")
        }
        #expect(block["type"] == .string("tool_result") && block["is_error"] == .bool(true))
        #expect(block["content"]?.stringValue?.contains("/items/0 must have the property 'id'") == true)
    }

    @Test func transportFailuresAreRetriableWithTheServersDelayAndBadKeysAreNot() async throws {
        let dir = try TemporaryDirectory("llm")
        let server = try await StandIn(
            """
            {"routes": [
              {"method": "POST", "path": "/limited/chat/completions", "responses": [{"status": 429, "headers": {"Retry-After": "20"}, "json": {"error": {"message": "Rate limit reached for requests"}}}]},
              {"method": "POST", "path": "/down/chat/completions", "responses": [{"status": 503, "json": {"error": {"message": "overloaded"}}}]},
              {"method": "POST", "path": "/slow/chat/completions", "responses": [{"delay_ms": 3000, "openai": {"content": "late"}}]},
              {"method": "POST", "path": "/v1/chat/completions", "responses": [{"status": 401, "json": {"error": {"message": "Incorrect API key provided"}}}]}
            ]}
            """, in: dir)
        defer { Task { await server.stop() } }
        let log = CapturedLog().logger
        var ask = request(.openai, server)

        ask.baseURL = server.url("/limited")
        let limited = await LLMStepExecutor().execute(
            ask, budget: guardFor(dir), clock: SystemClock(), control: StepControl(), logger: log)
        #expect(limited.errorKind == .transport && limited.retriable && limited.retryAfter == 20)
        #expect(limited.error == "the model answered 429 Too Many Requests: Rate limit reached for requests")

        ask.baseURL = server.url("/down")
        let down = await LLMStepExecutor().execute(
            ask, budget: guardFor(dir), clock: SystemClock(), control: StepControl(), logger: log)
        #expect(down.errorKind == .transport && down.retriable)

        ask.baseURL = server.url("/slow")
        ask.timeout = .milliseconds(400)
        let slow = await LLMStepExecutor().execute(
            ask, budget: guardFor(dir), clock: SystemClock(), control: StepControl(), logger: log)
        #expect(
            slow.errorKind == .transport && slow.retriable && slow.error == "the model call failed: no answer in time")

        ask.baseURL = server.url("/v1")
        let unauthorized = await LLMStepExecutor().execute(
            ask, budget: guardFor(dir), clock: SystemClock(), control: StepControl(), logger: log)
        #expect(unauthorized.errorKind == .httpStatus && !unauthorized.retriable)
        #expect(unauthorized.error?.hasSuffix("(check api_key_secret)") == true)
        #expect(unauthorized.calls?.first?.result == "http_error")
    }

    @Test func aCallThatCouldPassTheBudgetIsNeverMade() async throws {
        let dir = try TemporaryDirectory("llm")
        let server = try await StandIn(
            #"{"routes": [{"method": "POST", "path": "/v1/chat/completions", "responses": [{"openai": {"content": "fine", "prompt_tokens": 40, "completion_tokens": 400}}]}]}"#,
            in: dir)
        defer { Task { await server.stop() } }
        // Each call's worst case: ~60 input tokens and 500 of output, ~$0.0003; the cap allows one.
        let budget = guardFor(dir, budget: Budget(usd: 0.0005))
        let log = CapturedLog().logger
        let first = await LLMStepExecutor().execute(
            request(.openai, server), budget: budget, clock: SystemClock(), control: StepControl(), logger: log)
        #expect(first.outcome == .succeeded)
        let second = await LLMStepExecutor().execute(
            request(.openai, server), budget: budget, clock: SystemClock(), control: StepControl(), logger: log)
        #expect(second.errorKind == .budgetExceeded && !second.retriable && second.wait == nil)
        #expect(second.error?.contains("of the run budget of $0.0005 is left") == true, "\(second.error ?? "")")
        #expect(server.requests().count == 1, "the second call was not made")

        var approvable = request(.openai, server)
        approvable.onBudget = .approve
        let waits = await LLMStepExecutor().execute(
            approvable, budget: budget, clock: SystemClock(), control: StepControl(), logger: log)
        #expect(waits.wait?.kind == .budget)
        #expect(waits.wait?.message.hasSuffix("approve to make the call anyway") == true)
        approvable.budgetOverride = true
        let allowed = await LLMStepExecutor().execute(
            approvable, budget: budget, clock: SystemClock(), control: StepControl(), logger: log)
        #expect(allowed.outcome == .succeeded, "a person let it pass")
        #expect(server.requests().count == 2)

        // What was spent is on disk: a new guard for the same run (after a restart) knows it.
        let again = guardFor(dir, budget: Budget(usd: 0.0005))
        #expect(again.spent.calls == 2 && again.spent.tokens == 880)
    }

    @Test func theDailyBudgetCountsEveryRunOfTheJobThatDay() async throws {
        let dir = try TemporaryDirectory("llm")
        let server = try await StandIn(
            #"{"routes": [{"method": "POST", "path": "/v1/chat/completions", "responses": [{"openai": {"content": "ok", "prompt_tokens": 100, "completion_tokens": 400}}]}]}"#,
            in: dir)
        defer { Task { await server.stop() } }
        var job = Job(id: JobID("ai")!, steps: [])
        job.dailyBudget = Budget(tokens: 1500)
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        let log = CapturedLog().logger
        // Each run makes one call of 500 tokens (worst case ~530): two runs fit the day, a third not.
        for (index, expected) in [true, true, false].enumerated() {
            let budget = BudgetGuard(job: job, run: RunID("r\(index)")!, store: store, logger: log)
            let result = await LLMStepExecutor().execute(
                request(.openai, server), budget: budget, clock: SystemClock(), control: StepControl(), logger: log)
            #expect((result.outcome == .succeeded) == expected, "run \(index): \(result.error ?? "ok")")
            if !expected { #expect(result.error?.contains("of the daily budget of 1500 tokens are left") == true) }
        }
        let ledger = try store.loadDailySpend(JobID("ai")!)
        #expect(ledger.days.values.first == Spend(usd: ledger.days.values.first?.usd ?? 0, tokens: 1000, calls: 2))
        #expect(server.requests().count == 2)
    }

    @Test func aModelWithoutAPriceCannotBeHeldToADollarBudget() async throws {
        let dir = try TemporaryDirectory("llm")
        let server = try await StandIn(
            #"{"routes": [{"method": "POST", "path": "/v1/chat/completions", "responses": [{"openai": {"content": "x"}}]}]}"#,
            in: dir)
        defer { Task { await server.stop() } }
        var ask = request(.openai, server)
        ask.price = nil
        let refused = await LLMStepExecutor().execute(
            ask, budget: guardFor(dir, budget: Budget(usd: 1)), clock: SystemClock(), control: StepControl(),
            logger: CapturedLog().logger)
        #expect(refused.errorKind == .budgetExceeded)
        #expect(refused.error?.contains("the model has no price") == true)
        let tokensOnly = await LLMStepExecutor().execute(
            ask, budget: guardFor(dir, budget: Budget(tokens: 100_000)), clock: SystemClock(), control: StepControl(),
            logger: CapturedLog().logger)
        #expect(tokensOnly.outcome == .succeeded, "a token budget needs no price")
        #expect(tokensOnly.calls?.first?.costUSD == nil)
    }
}
