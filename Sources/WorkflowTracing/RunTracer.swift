import Foundation
import JobFormat
import RunModel
import RuntimeSupport

/// Turns every run's transitions into spans (``SpanBuilder``) and hands them to the exporter.
/// Fed by `Scheduler.Configuration.observeRuns`, on the run's own task: it only builds values and
/// queues them.
///
/// After each transition it looks for attempts that have ended and were not sent yet, whatever
/// ended them (the step's end, a decision, a cancel, the recovery of a run a killed wfd left).
/// An attempt that ended before this wfd started was the previous wfd's to send: it is not sent
/// again (a span twice is worse than one lost in a kill's last moment).
public final class RunTracer: Sendable {
    let exporter: SpanExporter
    /// When this wfd started: attempts that ended before were the previous one's.
    let started: Date
    /// By active run: the attempts whose spans were sent (or were the previous wfd's to send).
    private let sent = Locked([RunID: Set<SpanBuilder.AttemptKey>]())
    /// The runs (and their episodes) whose root span went: a run is seen ending once.
    private let ended = Locked((keys: Set<String>(), order: [String]()))

    /// The transcripts of a run's agent steps, read when one of their attempts has ended.
    let transcripts: @Sendable (RunSnapshot) -> [AgentTranscript]

    public init(
        exporter: SpanExporter, started: Date = Date(),
        transcripts: @escaping @Sendable (RunSnapshot) -> [AgentTranscript] = { _ in [] }
    ) {
        self.exporter = exporter
        self.started = started
        self.transcripts = transcripts
    }

    public func observe(_ event: RunEvent, _ snapshot: RunSnapshot) {
        let run = snapshot.run.id
        let known = sent.withLock { $0[run] ?? [] }
        var spans: [Span] = []
        var ids: [SpanBuilder.AttemptKey] = []
        let agentSteps = Set(
            snapshot.spec.steps.compactMap { step -> StepID? in if case .agent = step.kind { step.id } else { nil } })
        let endedAgent =
            !agentSteps.isEmpty
            && snapshot.steps.contains { step in
                agentSteps.contains(step.step)
                    && (step.items ?? [step]).contains { slot in
                        slot.attempts.contains {
                            $0.endedAt != nil
                                && !known.contains(
                                    SpanBuilder.AttemptKey(step: step.step, item: slot.item, number: $0.number))
                        }
                    }
            }
        let agents = endedAgent ? transcripts(snapshot) : []
        for (id, end, made) in SpanBuilder.endedAttempts(snapshot, except: known, agents: agents) {
            ids.append(id)
            if end >= started { spans += made }
        }
        if let root = SpanBuilder.root(snapshot) {
            let key = "\(run)#\(snapshot.run.episode)"
            let first = ended.withLock { ended in
                guard ended.keys.insert(key).inserted else { return false }
                ended.order.append(key)
                if ended.order.count > 4096 { ended.keys.remove(ended.order.removeFirst()) }
                return true
            }
            if first { spans.append(root) }
        }
        sent.withLock { sent in
            if snapshot.run.state.isTerminal {
                sent[run] = nil
            } else if !ids.isEmpty {
                sent[run, default: []].formUnion(ids)
            }
        }
        exporter.enqueue(spans)
    }
}
