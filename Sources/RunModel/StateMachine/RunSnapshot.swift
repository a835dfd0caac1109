import Foundation
import JSONSchemaKit
import JobFormat

/// A run, its frozen job definition and its steps: what the state machine transforms.
public struct RunSnapshot: Sendable, Equatable {
    public var run: RunRecord
    /// The job as it was when the run was created (`spec.json`): later edits never change a run.
    public let spec: Job
    /// In the order the job file lists them.
    public var steps: [StepRecord]
    /// Where each step is in `steps` and in the definition, worked out once: the machine looks
    /// steps up after every event, and a job may have a thousand of them.
    let plan: StepPlan
    /// The conditions asked for and not yet answered (not written: a run taken up again asks anew).
    var askedConditions: Set<ConditionKey> = []
    /// What the trigger that started the run carried (`payload.json`); nil for other runs.
    public var payload: JSONValue?

    /// `trigger` in the run's templates and conditions: null unless `on:` started it.
    public var triggerValue: JSONValue {
        run.origin.map { $0.value(kind: run.trigger, payload: payload) } ?? .null
    }

    /// A fresh, queued run of `job` with every step pending.
    public init(job: Job, id: RunID, trigger: Trigger, scheduledFor: Date?, createdAt: Date) {
        run = RunRecord(job: job, id: id, trigger: trigger, scheduledFor: scheduledFor, createdAt: createdAt)
        spec = job
        steps = job.steps.map { StepRecord(job: job.id, run: id, step: $0) }
        plan = StepPlan(spec: job, steps: steps)
    }

    public init(run: RunRecord, spec: Job, steps: [StepRecord]) {
        self.run = run
        self.spec = spec
        self.steps = steps
        plan = StepPlan(spec: spec, steps: steps)
    }

    public func step(_ id: StepID) -> StepRecord? { plan.position[id].map { steps[$0] } }

    /// The step's definition in the run's frozen job.
    public func definition(of id: StepID) -> StepDefinition? { plan.definition[id].map { spec.steps[$0] } }

    /// The positions in `steps` of the steps `id` needs, directly or through others, in order.
    public func upstream(of id: StepID) -> [Int] {
        guard let start = plan.position[id] else { return [] }
        var seen = [Bool](repeating: false, count: steps.count)
        var stack = plan.needs[start].compactMap { $0 }
        while let next = stack.popLast() {
            guard !seen[next] else { continue }
            seen[next] = true
            stack += plan.needs[next].compactMap { $0 }
        }
        return seen.indices.filter { seen[$0] }
    }

    public static func == (lhs: RunSnapshot, rhs: RunSnapshot) -> Bool {
        lhs.run == rhs.run && lhs.spec == rhs.spec && lhs.steps == rhs.steps
    }
}

/// A step's (or an item's) condition, as the machine waits for it.
struct ConditionKey: Hashable, Sendable {
    let step: StepID
    let item: Int?
}

/// The shape of a run's steps, which never changes while it runs: positions by id and, by
/// position, each step's needs, `when` and whether it fans out.
struct StepPlan: Sendable {
    /// Position in the snapshot's `steps`.
    let position: [StepID: Int]
    /// Position in the definition's `steps`.
    let definition: [StepID: Int]
    /// By position in `steps`: the positions of the steps it needs (nil: not in the run, so
    /// never ended), its condition, whether it is a `for_each` step, and whether it runs a process.
    let needs: [[Int?]]
    let when: [WhenCondition]
    /// By position: true when its `when` expression reads a step's `state` (so it is asked once
    /// its needs have ended, however they ended; else only when they all succeeded).
    let conditionReadsStates: [Bool]
    let fanned: [Bool]
    let isProcess: [Bool]

    init(spec: Job, steps: [StepRecord]) {
        var position: [StepID: Int] = [:]
        for (index, step) in steps.enumerated() where position[step.step] == nil { position[step.step] = index }
        var definition: [StepID: Int] = [:]
        for (index, step) in spec.steps.enumerated() where definition[step.id] == nil { definition[step.id] = index }
        self.position = position
        self.definition = definition
        needs = steps.map { step in step.needs.map { position[$0] } }
        let defined = steps.map { step in definition[step.step].map { spec.steps[$0] } }
        when = defined.map { $0?.when ?? .success }
        conditionReadsStates = when.map { condition in
            guard case .expression(let text) = condition,
                case .success(let parsed)? = ConditionExpression.parse(when: text)
            else { return false }
            return parsed.readsStates
        }
        fanned = defined.map { $0?.forEach != nil }
        isProcess = defined.map { $0.map { $0.kind.name == "run" } ?? true }
    }
}
