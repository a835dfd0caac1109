import Foundation
import JobFormat
import Prometheus
import RunModel
import RuntimeSupport

/// wfd's figures in Prometheus's text format (swift-prometheus): counters and histograms fed by
/// every run's transitions as they happen, gauges set when scraped. Counters count from wfd's
/// start, as Prometheus expects of a process (`rate()` sees a restart as a reset). No label holds
/// a run id: one series per job (and state, kind, model), not one per run.
public final class DaemonMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    /// The runs counted as ended (until a retry opens one again): an end is counted once. The
    /// newest 4,096 are kept; a run older than them does not end a second time.
    private let ended = Locked<(ids: Set<RunID>, order: [RunID])>(([], []))
    /// How long wfd took to its first READY=1.
    private let startup = Locked<Duration?>(nil)

    /// Seconds, from a step that takes a moment to a run of hours.
    static let durationBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(15),
        .seconds(60), .seconds(300), .seconds(900), .seconds(3600), .seconds(4 * 3600),
    ]
    /// How late a scheduled run started after its fire time.
    static let latenessBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500),
        .seconds(2), .seconds(10), .seconds(60), .seconds(600),
    ]

    public init() {}

    /// A metric's whole name (`wfd_runs_ended_total`) and help as swift-prometheus describes one.
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    /// Counts what `event` did to the run `snapshot` shows after it.
    public func observe(_ event: RunEvent, _ snapshot: RunSnapshot) {
        switch event {
        case .attemptEnded(let step, let result, _, let item):
            attemptEnded(step, item: item, result, in: snapshot)
            firstEnded(snapshot)
        default: break
        }
        let run = snapshot.run
        let newlyEnded = ended.withLock { ended in
            guard run.state.isTerminal else {
                ended.ids.remove(run.id)  // a retry took it up again
                return false
            }
            guard ended.ids.insert(run.id).inserted else { return false }
            ended.order.append(run.id)
            if ended.order.count > 4096 { ended.ids.remove(ended.order.removeFirst()) }
            return true
        }
        guard newlyEnded else { return }
        let job = run.job.rawValue
        registry.makeCounter(
            descriptor: Self.named("wfd_runs_ended_total", "Runs that ended, by job and the state they ended in."),
            labels: [("job", job), ("state", run.state.rawValue)]
        ).increment()
        if let started = run.startedAt, let end = run.endedAt {
            registry.makeDurationHistogram(
                descriptor: Self.named(
                    "wfd_run_duration_seconds", "How long runs took, from their start to their end."),
                labels: [("job", job)], buckets: Self.durationBuckets
            ).record(.seconds(end.timeIntervalSince(started)))
        }
    }

    /// At the end of a scheduled run's first attempt: how late after the fire time its first step
    /// began (the attempts' start times are written with their ends). Not the run's start: a run
    /// decided ahead starts on its fire time by definition. Not after a restart: a run taken up
    /// again has ended attempts already, and is not late a second time.
    private func firstEnded(_ snapshot: RunSnapshot) {
        let attempts = snapshot.steps.flatMap { step in (step.items ?? [step]).flatMap(\.attempts) }
        guard let due = snapshot.run.scheduledFor, attempts.count(where: { $0.endedAt != nil }) == 1,
            let first = attempts.compactMap(\.startedAt).min()
        else { return }
        registry.makeDurationHistogram(
            descriptor: Self.named(
                "wfd_schedule_lateness_seconds", "How long after its fire time a scheduled run's first step began."),
            labels: [("trigger", snapshot.run.trigger.rawValue)], buckets: Self.latenessBuckets
        ).record(.seconds(max(0, first.timeIntervalSince(due))))
    }

    private func attemptEnded(_ step: StepID, item: Int?, _ result: AttemptResult, in snapshot: RunSnapshot) {
        let job = snapshot.run.job.rawValue
        let kind = snapshot.definition(of: step)?.kind.name ?? "unknown"
        registry.makeCounter(
            descriptor: Self.named(
                "wfd_step_attempts_total", "Step attempts that ended, by job, step kind and outcome."),
            labels: [("job", job), ("kind", kind), ("outcome", result.outcome.rawValue)]
        ).increment()
        var record = snapshot.step(step)
        if let item { record = record?.items?.first { $0.item == item } }
        if let milliseconds = record?.attempts.last?.durationMilliseconds {
            registry.makeDurationHistogram(
                descriptor: Self.named("wfd_step_duration_seconds", "How long step attempts took, by step kind."),
                labels: [("kind", kind)], buckets: Self.durationBuckets
            ).record(.milliseconds(milliseconds))
        }
        if result.errorKind == .budgetExceeded {
            registry.makeCounter(
                descriptor: Self.named(
                    "wfd_budget_refusals_total", "Model calls refused because they could have passed the run's budget."),
                labels: [("job", job)]
            ).increment()
        }
        for call in result.calls ?? [] {
            let labels = [("job", job), ("model", call.model)]
            registry.makeCounter(
                descriptor: Self.named(
                    "wfd_llm_calls_total", "Calls made to models, by job, model and whether they answered."),
                labels: labels + [("outcome", call.error == nil ? "ok" : "error")]
            ).increment()
            registry.makeCounter(
                descriptor: Self.named("wfd_llm_input_tokens_total", "Tokens sent to models (prompts)."), labels: labels
            ).increment(by: Int64(call.inputTokens ?? 0))
            registry.makeCounter(
                descriptor: Self.named("wfd_llm_output_tokens_total", "Tokens models answered with."), labels: labels
            ).increment(by: Int64(call.outputTokens ?? 0))
            registry.makeCounter(
                descriptor: Self.named(
                    "wfd_llm_cost_usd_total",
                    "What model calls cost, in US dollars, at the host's and the job's prices."), labels: labels
            ).increment(by: call.costUSD ?? 0)
        }
    }

    /// A webhook delivery was answered with `status`; `job` is nil when no such job is loaded (a
    /// sender's path is not a label: anyone can post to any name).
    public func delivered(job: String?, status: Int) {
        registry.makeCounter(
            descriptor: Self.named(
                "wfd_webhook_deliveries_total",
                "Webhook deliveries, by job and the HTTP status they were answered with."),
            labels: [("job", job ?? "-"), ("status", String(status))]
        ).increment()
    }

    /// wfd said READY=1, `elapsed` after it started (the first time counts; reloads say it again).
    public func ready(after elapsed: Duration) {
        startup.withLock { $0 = $0 ?? elapsed }
    }

    /// What is true now, set when scraped.
    public struct Gauges: Sendable {
        public var activeRuns = 0
        public var queuedRuns = 0
        public var approvalsWaiting = 0
        /// Seconds the longest-waiting approval has waited.
        public var oldestApprovalSeconds: Double = 0
        public var quarantinedRecords = 0
        public var residentBytes: Int?
        public var jobs = 0

        public init() {}
    }

    /// The exposition text, with `gauges` as they are now.
    public func render(_ gauges: Gauges) -> String {
        func gauge(_ name: String, _ help: String, _ value: Double) {
            registry.makeGauge(descriptor: Self.named(name, help)).set(value)
        }
        gauge("wfd_jobs", "Jobs loaded from the jobs directory.", Double(gauges.jobs))
        gauge("wfd_active_runs", "Runs in progress.", Double(gauges.activeRuns))
        gauge(
            "wfd_queued_runs", "Runs waiting for their job's active run to end (concurrency: queue).",
            Double(gauges.queuedRuns))
        gauge("wfd_approvals_waiting", "Steps waiting for a person's decision.", Double(gauges.approvalsWaiting))
        gauge(
            "wfd_approval_oldest_wait_seconds", "How long the longest-waiting approval has waited.",
            gauges.oldestApprovalSeconds)
        gauge(
            "wfd_quarantined_records", "Records moved aside as unreadable (wfctl fsck lists them).",
            Double(gauges.quarantinedRecords))
        if let startup = startup.withLock({ $0 }) {
            let (seconds, attoseconds) = startup.components
            gauge(
                "wfd_startup_seconds", "How long wfd took from its start to READY=1.",
                Double(seconds) + Double(attoseconds) / 1e18)
        }
        if let bytes = gauges.residentBytes {
            gauge("process_resident_memory_bytes", "Resident memory size in bytes.", Double(bytes))
        }
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
