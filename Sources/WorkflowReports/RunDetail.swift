import Foundation
import JobFormat
import RunModel
import WorkflowStore

/// One run with its steps, what it spent and its budget: what `wfctl show --json` prints and
/// `GET /api/v1/runs/{run}` answers.
public struct RunDetail: Sendable, Codable {
    public var run: RunRecord
    public var steps: [StepRecord]
    public var spend: Spend
    public var budget: Budget?
    /// The transcripts of its agent steps (one per item of a `for_each` one), turn by turn.
    public var agents: [AgentTranscript]?

    public init(_ snapshot: RunSnapshot, spend: Spend, agents: [AgentTranscript] = []) {
        run = snapshot.run
        steps = snapshot.steps
        self.spend = spend
        budget = snapshot.spec.budget
        self.agents = agents.isEmpty ? nil : agents
    }

    public static func load(_ run: RunID, of job: JobID, in state: StateDirectory) throws(StoreError) -> RunDetail {
        let store = RunStore(directory: state)
        let snapshot = try store.loadSnapshot(job, run)
        return RunDetail(
            snapshot, spend: (try? store.loadRunSpend(job, run)) ?? Spend(),
            agents: transcripts(of: snapshot, in: store))
    }

    /// The transcripts the run's agent steps have written so far.
    public static func transcripts(of snapshot: RunSnapshot, in store: RunStore) -> [AgentTranscript] {
        snapshot.spec.steps.flatMap { step -> [AgentTranscript] in
            guard case .agent = step.kind else { return [] }
            let record = snapshot.steps.first { $0.step == step.id }
            let items: [Int?] = record?.items.map { $0.indices.map(Optional.some) } ?? [nil]
            return items.compactMap { item in
                try? store.loadTranscript(snapshot.run.job, snapshot.run.id, step.id, item: item)
            }
        }
    }

    /// The job `run` belongs to: the one whose runs folder holds it (run ids are unique across
    /// jobs). Nil when no job has it.
    public static func job(of run: RunID, in state: StateDirectory) -> JobID? {
        let jobs = ((try? FileManager.default.contentsOfDirectory(atPath: state.runsRoot)) ?? []).compactMap(JobID.init)
        return jobs.first { FileManager.default.fileExists(atPath: state.runDirectory($0, run)) }
    }
}
