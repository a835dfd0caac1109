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
    /// state directory, so it answers while wfd is stopped (a wait survives restarts).
    public static func load(_ state: StateDirectory) -> [PendingDecision] {
        let store = RunStore(directory: state)
        var pending: [PendingDecision] = []
        for job in store.knownJobs() {
            guard let active = (try? store.loadLatest(job))?.active,
                let snapshot = try? store.loadSnapshot(job, active.id)
            else { continue }
            for step in snapshot.steps {
                for record in step.items ?? [step] where record.state == .waiting {
                    guard let waiting = record.waiting else { continue }
                    let item = record.item.map { " --item \($0)" } ?? ""
                    pending.append(
                        PendingDecision(
                            job: job.rawValue, run: active.id.rawValue, step: step.step.rawValue, item: record.item,
                            kind: waiting.kind.rawValue, since: waiting.since, deadline: waiting.deadline,
                            message: waiting.message, approve: "wfctl approve \(active.id) \(step.step)\(item)"))
                }
            }
        }
        return pending.sorted { $0.since < $1.since }
    }
}
