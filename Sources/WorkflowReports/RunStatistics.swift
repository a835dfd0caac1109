import Foundation
import JobFormat
import Schedules
import WorkflowStore

/// How the runs of a job went over a period: success rate, durations, retries, cost, and which
/// steps fail and why. Read from the run index (back to the period's start only), the step
/// records and the spend records of the runs in the period.
public struct RunStatistics: Sendable, Codable, Equatable {
    public var job: JobID
    /// Runs that ended in the period.
    public var runs: Int
    public var succeeded: Int
    public var failed: Int
    public var cancelled: Int
    /// succeeded / runs, nil without runs.
    public var successRate: Double?
    public var durationP50: Double?
    public var durationP95: Double?
    /// Attempts beyond each step's first, per run.
    public var retriesPerRun: Double?
    public var costUSD: Double
    public var costPerRunUSD: Double?
    public var costPerDayUSD: Double?
    public var tokens: Int
    /// CPU time of the runs' unit steps, per run that had any (systemd's accounting).
    public var cpuSecondsPerRun: Double?
    /// The highest memory any one step attempt was seen to use (sampled while it ran).
    public var memoryPeakBytes: UInt64?
    /// Per step: the runs it failed and its failed attempts (retried ones too), by kind.
    public var failuresByStep: [String: StepFailures]
    /// Failed attempts by error kind, every step together.
    public var failuresByKind: [String: Int]

    public struct StepFailures: Sendable, Codable, Equatable {
        /// Runs in which the step ended failed (or interrupted).
        public var runs: Int
        /// Failed attempts, counting those a retry mended.
        public var attempts: Int
        public var kinds: [String: Int]
    }

    enum CodingKeys: String, CodingKey {
        case job, runs, succeeded, failed, cancelled, tokens
        case successRate = "success_rate"
        case durationP50 = "duration_p50_s"
        case durationP95 = "duration_p95_s"
        case retriesPerRun = "retries_per_run"
        case costUSD = "cost_usd"
        case costPerRunUSD = "cost_per_run_usd"
        case costPerDayUSD = "cost_per_day_usd"
        case cpuSecondsPerRun = "cpu_s_per_run"
        case memoryPeakBytes = "memory_peak_bytes"
        case failuresByStep = "failures_by_step"
        case failuresByKind = "failures_by_kind"
    }

    /// The statistics of `job` for runs that ended between `since` and `now`.
    public static func compute(_ job: JobID, in state: StateDirectory, since: Date, now: Date) -> RunStatistics {
        let store = RunStore(directory: state)
        let entries = RunIndex(directory: state).recent(job, limit: .max) { ($0.endedAt ?? .distantFuture) < since }
            .filter { ($0.endedAt ?? .distantPast) >= since }
        var statistics = RunStatistics(
            job: job, runs: entries.count, succeeded: 0, failed: 0, cancelled: 0, costUSD: 0, tokens: 0,
            failuresByStep: [:], failuresByKind: [:])
        var durations: [Double] = []
        var retries = 0
        var cpu: (seconds: Double, runs: Int) = (0, 0)
        for entry in entries {
            switch entry.state {
            case .succeeded: statistics.succeeded += 1
            case .failed, .timedOut: statistics.failed += 1
            case .cancelled: statistics.cancelled += 1
            default: break
            }
            if let started = entry.startedAt, let ended = entry.endedAt {
                durations.append(ended.timeIntervalSince(started))
            }
            let spend = (try? store.loadRunSpend(job, entry.id)) ?? Spend()
            statistics.costUSD += spend.usd
            statistics.tokens += spend.tokens
            guard let snapshot = try? store.loadSnapshot(job, entry.id) else { continue }
            let usages = snapshot.steps.flatMap { $0.items ?? [$0] }.flatMap(\.attempts).compactMap(\.usage)
            if !usages.isEmpty {
                cpu.runs += 1
                cpu.seconds += usages.compactMap(\.cpuNanoseconds).reduce(0.0) { $0 + Double($1) / 1e9 }
                let peak = usages.compactMap(\.memoryPeakBytes).max()
                if let peak { statistics.memoryPeakBytes = max(statistics.memoryPeakBytes ?? 0, peak) }
            }
            for step in snapshot.steps {
                for record in step.items ?? [step] {
                    let counted = record.attempts.filter { $0.byHand != true && $0.outcome != .interrupted }
                    retries += max(0, counted.count - 1)
                    for attempt in record.attempts where attempt.outcome != .succeeded && attempt.outcome != nil {
                        guard attempt.outcome != .cancelled else { continue }
                        let kind = attempt.errorKind?.rawValue ?? "unknown"
                        statistics.failuresByKind[kind, default: 0] += 1
                        var failures =
                            statistics.failuresByStep[step.step.rawValue]
                            ?? StepFailures(
                                runs: 0, attempts: 0, kinds: [:])
                        failures.attempts += 1
                        failures.kinds[kind, default: 0] += 1
                        statistics.failuresByStep[step.step.rawValue] = failures
                    }
                }
                if step.state == .failed || step.state == .interrupted {
                    statistics.failuresByStep[step.step.rawValue]?.runs += 1
                }
            }
        }
        if statistics.runs > 0 {
            statistics.successRate = Double(statistics.succeeded) / Double(statistics.runs)
            statistics.retriesPerRun = Double(retries) / Double(statistics.runs)
            statistics.costPerRunUSD = statistics.costUSD / Double(statistics.runs)
        }
        if cpu.runs > 0 { statistics.cpuSecondsPerRun = cpu.seconds / Double(cpu.runs) }
        let days = max(1, now.timeIntervalSince(since) / 86400)
        statistics.costPerDayUSD = statistics.costUSD / days
        durations.sort()
        statistics.durationP50 = percentile(durations, 0.5)
        statistics.durationP95 = percentile(durations, 0.95)
        return statistics
    }

    /// The `fraction` percentile of sorted `values` (nearest rank), nil when there are none.
    static func percentile(_ values: [Double], _ fraction: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let rank = Int((fraction * Double(values.count)).rounded(.up))
        return values[min(values.count - 1, max(0, rank - 1))]
    }
}

extension RunStatistics {
    /// The statistics of several jobs over one period: what `wfctl stats --json` prints and
    /// `GET /api/v1/stats` answers.
    public struct Report: Sendable, Codable, Equatable {
        public var since: Date
        public var until: Date
        public var jobs: [RunStatistics]

        /// `jobs` (every job with runs when nil) from `since` to `now`.
        public init(_ jobs: [JobID]?, in state: StateDirectory, since: Date, now: Date) {
            self.since = since
            until = now
            self.jobs = (jobs ?? RunStore(directory: state).knownJobs()).map {
                RunStatistics.compute($0, in: state, since: since, now: now)
            }
        }
    }

    /// A period's start as people write it: a duration back from `now` (`24h`, `7d`) or an
    /// RFC 3339 time. Nil when it is neither.
    public static func instant(_ text: String, now: Date) -> Date? {
        if let span = TimeSpan(parsing: text) { return now.addingTimeInterval(-Double(span.milliseconds) / 1000) }
        return Timestamp.parse(text)
    }
}
