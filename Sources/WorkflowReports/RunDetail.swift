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

    public init(_ snapshot: RunSnapshot, spend: Spend) {
        run = snapshot.run
        steps = snapshot.steps
        self.spend = spend
        budget = snapshot.spec.budget
    }

    public static func load(_ run: RunID, of job: JobID, in state: StateDirectory) throws(StoreError) -> RunDetail {
        let store = RunStore(directory: state)
        let snapshot = try store.loadSnapshot(job, run)
        return RunDetail(snapshot, spend: (try? store.loadRunSpend(job, run)) ?? Spend())
    }

    /// The job `run` belongs to: the one whose runs folder holds it (run ids are unique across
    /// jobs). Nil when no job has it.
    public static func job(of run: RunID, in state: StateDirectory) -> JobID? {
        let jobs = ((try? FileManager.default.contentsOfDirectory(atPath: state.runsRoot)) ?? []).compactMap(JobID.init)
        return jobs.first { FileManager.default.fileExists(atPath: state.runDirectory($0, run)) }
    }
}
