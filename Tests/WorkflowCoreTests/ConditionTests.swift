import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Testing
import WorkflowTesting

/// The `when: ${{ … }}` language: CEL's syntax and semantics for its subset.
@Suite struct ConditionExpressionTests {
    let scope = ConditionScope(
        steps: [
            StepID("fetch")!: (
                .succeeded,
                JSONValue.parse(
                    Data(#"{"source": "github", "count": 3, "items": [{"id": 1}, {"id": 2}], "tags": {"a": 1}}"#.utf8))
            ),
            StepID("lint")!: (.failed, nil),
        ], params: ["mode": "fast"], run: RunID("r1")!, trigger: .schedule, job: JobID("j")!,
        item: .object(["kind": .string("bug"), "n": .number(2)]))

    func value(_ text: String) throws -> ConditionOutcome {
        try ConditionExpression(parsing: text).evaluate(in: scope)
    }

    @Test(arguments: [
        // literals, equality across numbers (CEL's heterogeneous equality) and kinds
        ("1 == 1.0", true), ("1 == 2", false), ("'a' == \"a\"", true), ("'a' == 1", false), ("null == null", true),
        ("[1, 'x'] == [1.0, 'x']", true), ("steps.fetch.output.count == 3", true),
        // ordering: numbers, strings by code point, bools
        ("-1 < 0", true), ("2.5 >= 2", true), ("'abc' < 'abd'", true), ("'B' < 'a'", true), ("false < true", true),
        // logic, precedence, parentheses, negation
        ("true && !false", true), ("false || true && false", false), ("(false || true) && true", true),
        ("!(1 == 1)", false),
        // in, functions, macros
        ("2 in [1, 2]", true), ("'a' in steps.fetch.output.tags", true), ("'z' in steps.fetch.output.tags", false),
        ("size('héllo') == 5", true), ("steps.fetch.output.items.size() == 2", true),
        ("size(steps.fetch.output.tags) == 1", true), ("'release'.startsWith('rel')", true),
        ("'release'.endsWith('ase')", true), ("'release'.contains('lea')", true), ("'x'.contains('')", true),
        ("steps.fetch.output.items.exists(i, i.id == 2)", true),
        ("steps.fetch.output.items.exists(i, i.id > 5)", false),
        ("has(steps.fetch.output.source)", true), ("has(steps.fetch.output.missing)", false),
        ("has(steps.lint.output)", false), ("steps.lint.state == 'failed'", true),
        // every variable
        ("params.mode == 'fast'", true), ("run.id == 'r1' && run.trigger == 'schedule'", true), ("job.id == 'j'", true),
        ("item.kind == 'bug' && item.n == 2", true), ("steps.fetch.output.items[1].id == 2", true),
        ("steps.fetch.output['source'] == 'github'", true), ("'\\u00e9' == 'é' && 'a\\tb'.contains('\\t')", true),
        // errors absorbed by && and || whichever side they are on, as in CEL
        ("false && steps.fetch.output.nope == 1", false), ("steps.fetch.output.nope == 1 && false", false),
        ("true || 1 < 'a'", true), ("1 < 'a' || true", true),
    ])
    func evaluatesAsCELDoes(_ text: String, _ expected: Bool) throws {
        let outcome = try value(text)
        #expect(outcome.value == expected, "\(text): \(outcome.error ?? "")")
    }

    @Test(arguments: [
        (
            "steps.fetch.output.nope == 1",
            "no field 'nope' in steps.fetch.output (its fields: count, items, source, tags)"
        ),
        (
            "steps.lint.output == 'x'",
            "steps.lint has no output (it is failed); test it with has(steps.lint.output) first"
        ),
        ("steps.fetch.output.items[5].id == 1", "index 5 is out of range: steps.fetch.output.items has 2 items"),
        ("1 < 'a'", "'<' cannot order an int and a string"),
        ("size(1) == 1", "size() needs a string, a list or a map, not an int"),
        ("!'x'", "'!' needs a bool, not a string"), ("params.mode", "the condition gave a string, not true or false"),
        ("true && 1 < 'a'", "'<' cannot order an int and a string"),
        ("1 in 'abc'", "'in' needs a list or a map on its right, not a string"),
        ("steps.fetch.output.source.x == 1", "steps.fetch.output.source is a string, which has no field 'x'"),
    ])
    func failsWithAPreciseMessage(_ text: String, _ message: String) throws {
        let outcome = try value(text)
        #expect(outcome.value == nil)
        #expect(outcome.error == message, "\(text)")
    }

    /// What a condition read is what `wfctl why` and the record show: the whole paths, not their parts.
    @Test func remembersTheValuesItRead() throws {
        let outcome = try value("steps.fetch.output.source == 'gitlab' || item.kind == 'bug' && params.mode == 'x'")
        #expect(outcome.value == false)
        #expect(
            outcome.seen == [
                "steps.fetch.output.source": .string("github"), "item.kind": .string("bug"),
                "params.mode": .string("fast"),
            ])
        let failed = try value("steps.fetch.output.missing == 1")
        #expect(failed.seen["steps.fetch.output"] != nil, "what it looked in")
    }

    @Test(arguments: [
        ("", 0, "an empty condition"), ("1 +", 2, "unexpected '+' after the expression"),
        ("'abc", 0, "the string is not closed with '"), ("a = 1", 2, "'=' is not a comparison: write '=='"),
        ("now() == 1", 0, "unknown function 'now'"),
        ("(1 == 1", 7, "expected ')' to close the parenthesis, found the end"),
        ("'\\q'", 1, "unknown escape '\\q' in a string"),
        ("x.exists(steps, true)", 9, "'steps' is a variable of its own; choose another name"),
        ("has(1)", 0, "has takes a field selection, like has(steps.fetch.output.source)"),
    ])
    func refusesBadSyntaxSayingWhere(_ text: String, _ offset: Int, _ message: String) {
        do {
            _ = try ConditionExpression(parsing: text)
            Issue.record("'\(text)' was accepted")
        } catch {
            #expect(error.offset == offset && error.message == message, "'\(text)': \(error.offset) \(error.message)")
        }
    }

    /// The deepest conditions wfd accepts are parsed, checked and evaluated within 256 KiB of
    /// stack, in a debug build (whose frames are the largest): half of the smallest thread stack
    /// they meet (512 KiB).
    @Test func theDeepestAcceptedConditionsFitInAQuarterMegabyteOfStack() async throws {
        let nested = String(repeating: "(", count: 15) + "steps.a.state == 'x'" + String(repeating: ")", count: 15)
        let chain = "has(steps.a.output" + String(repeating: ".b", count: 28) + ")"
        let long = (0..<14).map { "steps.a.state != '\($0)'" }.joined(separator: " && ")
        let negated = String(repeating: "!", count: 14) + "(steps.a.state == 'x')"
        var fetch = StepDefinition(id: StepID("a")!, run: "true")
        fetch.output = .json
        let context = ConditionContext(
            step: StepID("b")!, steps: [StepID("a")!: fetch], upstream: [StepID("a")!], params: [], hasItem: false)
        var deep = JSONValue.object([:])
        for _ in 0..<28 { deep = .object(["b": deep]) }
        let scope = ConditionScope(
            steps: [StepID("a")!: (.succeeded, deep)], params: [:], run: RunID("r")!, trigger: .manual, job: JobID("j")!
        )
        for text in [nested, chain, long, negated] {
            let outcome: String = await withCheckedContinuation { continuation in
                let thread = Thread {
                    do {
                        let expression = try ConditionExpression(parsing: text)
                        try expression.check(in: context)
                        let value = expression.evaluate(in: scope)
                        continuation.resume(returning: value.value.map { "\($0)" } ?? value.error ?? "")
                    } catch {
                        continuation.resume(returning: "refused: \(error)")
                    }
                }
                thread.stackSize = 256 * 1024
                thread.start()
            }
            #expect(outcome == "true" || outcome == "false", "\(text): \(outcome)")
        }
    }

    @Test func aHostileExpressionIsBounded() {
        let deep = String(repeating: "(", count: 500) + "true" + String(repeating: ")", count: 500)
        #expect(throws: ConditionError.self) { try ConditionExpression(parsing: deep) }
        let notNot = String(repeating: "!", count: 500) + "true"
        #expect(throws: ConditionError.self) { try ConditionExpression(parsing: notNot) }
        let chain = "a" + String(repeating: ".b", count: 5000)
        #expect(throws: ConditionError.self) { try ConditionExpression(parsing: chain) }
        let long = (0..<5000).map { "x == \($0)" }.joined(separator: " || ")
        #expect(throws: ConditionError.self) { try ConditionExpression(parsing: long) }
    }

    @Test func knowsWhetherItReadsStatesOrTheItem() throws {
        let states = try #require(try ConditionExpression.parse(when: "${{ steps.a.state == 'failed' }}")?.get())
        #expect(states.readsStates && !states.readsItem)
        let item = try #require(try ConditionExpression.parse(when: " ${{ item.kind == 'bug' }} ")?.get())
        #expect(item.readsItem && !item.readsStates)
        #expect(item.offsetInWhen == 4)
        let bound = try ConditionExpression(parsing: "steps.a.output.list.exists(item, item == 1)")
        #expect(!bound.readsItem, "an exists variable is not the item")
        #expect(ConditionExpression.parse(when: "steps.a.state == 'x'") == nil, "not a ${{ }} expression")
    }
}

/// How the run machine asks for conditions, and what it does with their answers.
@Suite struct ConditionMachineTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func id(_ text: String) -> StepID { StepID(text)! }

    func run(_ steps: [StepDefinition]) throws -> RunSnapshot {
        let job = Job(id: JobID("route")!, steps: steps)
        let fresh = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 1), trigger: .manual, scheduledFor: nil, createdAt: t0)
        return try RunMachine.apply(fresh, .start(at: t0)).0.launched(at: t0)
    }

    func step(_ name: String, needs: [String] = [], when: String? = nil, forEach: String? = nil) -> StepDefinition {
        var definition = StepDefinition(id: id(name), run: "true", needs: needs.map { id($0) })
        if let when { definition.when = .expression(when) }
        definition.forEach = forEach
        return definition
    }

    func decided(_ value: Bool?, error: String? = nil) -> ConditionRecord {
        ConditionRecord(expression: "x", value: value, error: error, seen: nil, at: t0 + 2)
    }

    @Test func aConditionIsAskedOnceItsNeedsSucceededAndDecidesWhetherTheStepRuns() throws {
        var snapshot = try run([
            step("fetch"), step("github", needs: ["fetch"], when: "${{ steps.fetch.output.source == 'github' }}"),
            step("canny", needs: ["fetch"], when: "${{ steps.fetch.output.source == 'canny' }}"),
            step("after", needs: ["canny"]),
        ])
        var effects = try RunMachine.apply(&snapshot, .attemptEnded(id("fetch"), .success, at: t0 + 1))
        #expect(effects.contains(.evaluateCondition(id("github"))) && effects.contains(.evaluateCondition(id("canny"))))
        #expect(snapshot.step(id("github"))?.state == .pending)
        effects = try RunMachine.apply(&snapshot, .conditionEvaluated(id("github"), decided(true)))
        #expect(effects == [.persistStep(id("github")), .persistStep(id("github")), .spawn(id("github"), attempt: 1)])
        effects = try RunMachine.apply(&snapshot, .conditionEvaluated(id("canny"), decided(false)))
        let canny = try #require(snapshot.step(id("canny")))
        #expect(canny.state == .skipped && canny.skipCause == .condition)
        #expect(canny.error == "its condition is false: ${{ x }}")
        let after = try #require(snapshot.step(id("after")))
        #expect(after.state == .skipped && after.skipCause == .need, "skipped because a need did not succeed")
        #expect(!effects.contains { if case .evaluateCondition = $0 { true } else { false } }, "asked once")
    }

    @Test func aNeedThatFailedSkipsTheStepUnlessTheConditionReadsStates() throws {
        var snapshot = try run([
            step("build"), step("deploy", needs: ["build"], when: "${{ params.go == 'yes' }}"),
            step("report", needs: ["build"], when: "${{ steps.build.state == 'failed' }}"),
        ])
        let effects = try RunMachine.apply(
            &snapshot, .attemptEnded(id("build"), .failure(.exitStatus, "exit 1"), at: t0 + 1))
        #expect(snapshot.step(id("deploy"))?.skipCause == .need)
        #expect(effects.contains(.evaluateCondition(id("report"))), "it reads a state: it decides")
        _ = try RunMachine.apply(&snapshot, .conditionEvaluated(id("report"), decided(true)))
        #expect(snapshot.step(id("report"))?.state == .running)
    }

    @Test func aConditionThatCannotBeEvaluatedFailsTheStepAndTheRun() throws {
        var snapshot = try run([step("a"), step("b", needs: ["a"], when: "${{ steps.a.output.x == 1 }}")])
        _ = try RunMachine.apply(&snapshot, .attemptEnded(id("a"), .success, at: t0 + 1))
        let effects = try RunMachine.apply(&snapshot, .conditionEvaluated(id("b"), decided(nil, error: "no field 'x'")))
        #expect(snapshot.step(id("b"))?.state == .failed)
        #expect(snapshot.step(id("b"))?.error == "its condition could not be evaluated: no field 'x'")
        #expect(snapshot.run.state == .failed)
        #expect(effects.last == .finished(.failed))
    }

    @Test func aForEachConditionFiltersTheItemsAndSkippedItemsDoNotFailTheStep() throws {
        var snapshot = try run([
            step("list"), step("each", needs: ["list"], when: "${{ item > 1 }}", forEach: "${{ steps.list.output }}"),
        ])
        var effects = try RunMachine.apply(&snapshot, .attemptEnded(id("list"), .success, at: t0 + 1))
        #expect(effects.contains(.expand(id("each"))), "the step fans out; its items are asked one by one")
        effects = try RunMachine.apply(&snapshot, .expanded(id("each"), items: [.number(1), .number(2)], at: t0 + 1))
        #expect(effects.contains(.evaluateCondition(id("each"), item: 0)))
        #expect(effects.contains(.evaluateCondition(id("each"), item: 1)))
        _ = try RunMachine.apply(&snapshot, .conditionEvaluated(id("each"), decided(false), item: 0))
        effects = try RunMachine.apply(&snapshot, .conditionEvaluated(id("each"), decided(true), item: 1))
        #expect(effects.contains(.spawn(id("each"), attempt: 1, item: 1)))
        #expect(snapshot.step(id("each"))?.items?[0].skipCause == .condition)
        snapshot = try snapshot.launched(at: t0 + 2)
        _ = try RunMachine.apply(&snapshot, .attemptEnded(id("each"), .success, at: t0 + 3, item: 1))
        #expect(snapshot.step(id("each"))?.state == .succeeded)
        #expect(snapshot.run.state == .succeeded)
    }

    /// A cancel while a condition is being decided: the step is skipped as cancelled, and the
    /// answer that comes afterwards changes nothing.
    @Test func anAnswerAfterACancelChangesNothing() throws {
        var snapshot = try run([step("a"), step("b", needs: ["a"], when: "${{ true }}")])
        _ = try RunMachine.apply(&snapshot, .attemptEnded(id("a"), .success, at: t0 + 1))
        _ = try RunMachine.apply(&snapshot, .cancel(reason: "by hand", at: t0 + 1))
        #expect(snapshot.step(id("b"))?.skipCause == .cancelled)
        #expect(snapshot.run.state == .cancelled)
        #expect(throws: TransitionError.self) {
            try RunMachine.apply(snapshot, .conditionEvaluated(id("b"), decided(true)))
        }
    }
}
