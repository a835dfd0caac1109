import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowReports

/// `wfctl run --dry-run`'s preview, worked out from a job alone: the order, the conditions the
/// parameters decide, each model call's worst case against the budget, the approvals.
@Suite struct RunPreviewTests {
    let job: Job

    init() throws {
        job = try JobParser().parse(
            """
            params: { env: { default: staging } }
            budget: { usd: 0.01, tokens: 6000 }
            on_budget: approve
            steps:
              - id: check
                needs: [plan]
                when: ${{ steps.plan.output != "" }}
                approval: { message: "Deploy to ${{ params.env }}?", timeout: 1h }
              - id: plan
                llm: { provider: openai, model: gpt-4o-mini, prompt: "Plan a deploy to ${{ params.env }}", max_tokens: 500 }
              - id: prod_only
                needs: [plan]
                when: ${{ params.env == "prod" || steps.plan.output == "x" }}
                run: 'true'
              - id: summary
                needs: [plan]
                retry: { attempts: 1 }
                llm: { provider: openai, model: local-model, prompt: "Summarise ${{ steps.plan.output }}", repair_attempts: 0 }
            """, path: "/j/gated.yaml")
    }

    let prices = PriceTable(models: ["gpt-4o-mini": ModelPrice(input: 0.15, output: 0.60)])

    @Test func theStepsConditionsAndApprovalsOfARun() throws {
        let preview = try RunPreview.make(job, params: [:], prices: prices).get()
        #expect(
            preview.steps.map(\.step.rawValue) == ["plan", "check", "prod_only", "summary"], "each after its needs")
        #expect(preview.params == ["env": "staging"])
        let check = preview.steps[1]
        #expect(check.decided == nil && check.because == "reads steps: decided when the run gets there")
        #expect(check.approval == "Deploy to staging?, 1h to decide (then reject)")
        let prodOnly = preview.steps[2]
        #expect(prodOnly.decided == nil, "false for these parameters, then it reads a step")
        let prod = try RunPreview.make(job, params: ["env": "prod"], prices: prices).get()
        #expect(prod.steps[2].decided == true && prod.steps[2].because == "true for these parameters")
        #expect(prod.steps[1].approval == "Deploy to prod?, 1h to decide (then reject)")
        #expect(preview.approvals.first == "step 'check': Deploy to staging?")
        #expect(
            throws: ParameterProblem.self,
            performing: { try RunPreview.make(job, params: ["nope": "1"], prices: prices).get() })
    }

    @Test func eachModelCallsWorstCaseAgainstTheBudget() throws {
        let preview = try RunPreview.make(job, params: [:], prices: prices).get()
        let plan = try #require(preview.steps[0].model)
        // 3 attempts (an llm step's default retry) × 3 answers (2 repairs).
        #expect(plan.callsAtMost == 9 && plan.maxTokens == 500 && !plan.inputIsLowerBound)
        #expect(plan.worstTokens == 9 * (plan.inputTokens + 500))
        let usd = try #require(plan.worstUSD)
        #expect(abs(usd - 9 * (Double(plan.inputTokens) * 0.15 + 500 * 0.60) / 1_000_000) < 1e-12)
        let summary = try #require(preview.steps[3].model)
        #expect(summary.callsAtMost == 1 && summary.inputIsLowerBound && summary.maxTokens == 4096)
        #expect(summary.worstUSD == nil, "local-model has no price")
        #expect(preview.worstUSD == nil && preview.worstTokens == plan.worstTokens + summary.worstTokens)
        #expect(
            preview.budgetVerdict
                == "could pass the budget: a model has no price, and a run with a usd budget refuses its calls")
        #expect(preview.approvals.last == "a model call that could pass the budget (on_budget: approve)")
        let priced = try RunPreview.make(
            job, params: [:],
            prices: PriceTable(
                models: prices.models.merging(["local-model": ModelPrice(input: 0, output: 0)]) { a, _ in a })
        ).get()
        #expect(
            priced.budgetVerdict?.hasPrefix("could pass the budget at its worst (") == true,
            "\(priced.budgetVerdict ?? "")")
        #expect(priced.budgetVerdict?.contains("tokens against 6000") == true)
        let text = PreviewText.render(priced)
        #expect(text.contains("1. plan [llm]") && text.contains("waits for a person: Deploy to staging?"), "\(text)")
        #expect(text.contains("9 calls at most") && text.contains("against a budget of $0.01 and 6000 tokens"))
    }

    @Test func anAgentsWorstCaseIsEveryTurnAndItsGatedToolsAreApprovals() throws {
        let job = try JobParser().parse(
            """
            budget: { usd: 1 }
            steps:
              - id: act
                retry: { attempts: 2 }
                agent:
                  provider: openai
                  model: gpt-4o-mini
                  instructions: Tidy the tracker.
                  max_turns: 4
                  max_tokens: 300
                  repair_attempts: 1
                  tools:
                    - { name: look, http: { url: "https://t.test/${{ args.id }}" } }
                    - { name: close, http: { method: POST, url: "https://t.test/${{ args.id }}/close" }, approve: true }
            """, path: "/j/agentic.yaml")
        let preview = try RunPreview.make(job, params: [:], prices: prices).get()
        let model = try #require(preview.steps[0].model)
        // 2 attempts × (4 turns + 1 repair); each turn's input grows with the results: a floor.
        #expect(model.callsAtMost == 10 && model.maxTokens == 300 && model.inputIsLowerBound)
        #expect(preview.steps[0].approval == "each call of its tool 'close'")
        #expect(preview.approvals == ["step 'act': each call of tool 'close'"])
        #expect(preview.worstTokens == model.worstTokens)
    }
}
