import Foundation
import JobFormat
import RunModel
import WorkflowStore

/// One step waiting for a person: what `wfctl pending --json` prints and
/// `GET /api/v1/approvals` answers (the inbox).
public struct PendingDecision: Sendable, Codable, Equatable {
    public var job: String
    public var run: String
    public var step: String
    public var item: Int?
    /// `approval`, or `budget` for a model call that could pass its budget.
    public var kind: String
    public var since: Date
    public var deadline: Date?
    public var message: String
    /// The command that approves it.
    public var approve: String

    /// Every step that waits, in the active runs of every job, oldest wait first; read from the
    /// state directory, so it answers while wfd is stopped (a wait survives restarts). `active`:
    /// the runs in progress as the running wfd knows them (else each job's `latest.json` says).
    public static func load(_ state: StateDirectory, active running: [JobID: RunID]? = nil) -> [PendingDecision] {
        let store = RunStore(directory: state)
        var pending: [PendingDecision] = []
        let active: [(JobID, RunID)] =
            running.map { $0.map { ($0.key, $0.value) } }
            ?? store.knownJobs().compactMap { job in (try? store.loadLatest(job))?.active.map { (job, $0.id) } }
        for (job, run) in active {
            guard let snapshot = try? store.loadSnapshot(job, run) else { continue }
            for step in snapshot.steps {
                for record in step.items ?? [step] where record.state == .waiting {
                    guard let waiting = record.waiting else { continue }
                    let item = record.item.map { " --item \($0)" } ?? ""
                    pending.append(
                        PendingDecision(
                            job: job.rawValue, run: run.rawValue, step: step.step.rawValue, item: record.item,
                            kind: waiting.kind.rawValue, since: waiting.since, deadline: waiting.deadline,
                            message: waiting.message, approve: "wfctl approve \(run) \(step.step)\(item)"))
                }
            }
        }
        return pending.sorted { $0.since < $1.since }
    }
}
