import ArgumentParser
import Foundation
import JobFormat
import Schedules
import WorkflowControl
import WorkflowReports
import WorkflowStore

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "How runs went: success rate, durations, retries, CPU and memory (unit steps), cost, and which steps fail and why.",
        discussion: """
            Counts the runs that ended in the period (default the last 7 days), read from the \\
            state directory: only as far back in each job's index as the period reaches.

            Examples:
              wfctl stats
              wfctl stats backup --since 24h
              wfctl stats --json | jq '.jobs[] | {job, success_rate}'

            --json prints {"since", "until", "jobs": [{"job", "runs", "succeeded", "failed", \\
            "cancelled", "success_rate", "duration_p50_s", "duration_p95_s", "retries_per_run", \\
            "cost_usd", "cost_per_run_usd", "cost_per_day_usd", "tokens", "cpu_s_per_run", \\
            "memory_peak_bytes", "failures_by_step": \\
            {step: {"runs", "attempts", "kinds"}}, "failures_by_kind": {kind: attempts}}]}.

            Exit codes: 0 printed, 1 the state directory cannot be read, 64 usage.
            """
    )

    @Argument(help: ArgumentHelp("The job (default: every job).", valueName: "job"))
    var job: String?

    @Option(
        help: ArgumentHelp("The period: a duration back from now (24h, 7d) or an RFC 3339 time.", valueName: "when"))
    var since: String = "7d"

    @Flag(help: "Print the statistics as JSON.")
    var json = false

    @OptionGroup var options: StateOptions

    func validate() throws {
        if let job, JobID(job) == nil { throw ValidationError("'\(job)' is not a job id: \(JobID.rule)") }
        guard RunStatistics.instant(since, now: Date()) != nil else {
            throw ValidationError("--since takes a duration (24h, 7d) or an RFC 3339 time, not '\(since)'")
        }
    }

    func run() throws {
        let state = options.directory
        let now = Date()
        let from = RunStatistics.instant(since, now: now) ?? now
        let report = RunStatistics.Report(job.flatMap(JobID.init).map { [$0] }, in: state, since: from, now: now)
        if json {
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(report) + Data("\n".utf8))
            return
        }
        print(Self.render(report.jobs, since: from))
    }

    static func render(_ statistics: [RunStatistics], since: Date) -> String {
        var rows = [["JOB", "RUNS", "OK", "P50", "P95", "RETRIES/RUN", "CPU/RUN", "MEM PEAK", "COST/RUN", "COST/DAY"]]
        for job in statistics {
            rows.append([
                job.job.rawValue, String(job.runs), job.successRate.map { String(format: "%.1f%%", $0 * 100) } ?? "-",
                job.durationP50.map(duration) ?? "-", job.durationP95.map(duration) ?? "-",
                job.retriesPerRun.map { String(format: "%.2f", $0) } ?? "-",
                job.cpuSecondsPerRun.map(duration) ?? "-",
                job.memoryPeakBytes.map { String(format: "%.1f MiB", Double($0) / 1_048_576) } ?? "-",
                job.costUSD > 0 ? job.costPerRunUSD.map { String(format: "$%.4f", $0) } ?? "-" : "-",
                job.costUSD > 0 ? job.costPerDayUSD.map { String(format: "$%.4f", $0) } ?? "-" : "-",
            ])
        }
        var out = "runs that ended since \(StatusTable.local(since))\n" + StatusTable.columns(rows)
        let steps = statistics.flatMap { job in
            job.failuresByStep.map { (job: job.job, step: $0.key, failures: $0.value) }
        }.sorted { $0.failures.attempts > $1.failures.attempts }
        if !steps.isEmpty {
            out += "\nfailures by step:\n"
            for entry in steps {
                let kinds = entry.failures.kinds.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }
                out +=
                    "  \(entry.job)/\(entry.step): failed \(entry.failures.runs) runs, \(entry.failures.attempts) "
                    + "failed attempts (\(kinds.joined(separator: ", ")))\n"
            }
            var kinds: [String: Int] = [:]
            for job in statistics { kinds.merge(job.failuresByKind) { $0 + $1 } }
            out += "\nfailed attempts by error kind:\n"
            for (kind, count) in kinds.sorted(by: { $0.value > $1.value }) { out += "  \(kind): \(count)\n" }
        }
        return out
    }

    static func duration(_ seconds: Double) -> String {
        switch seconds {
        case ..<1: String(format: "%.0f ms", seconds * 1000)
        case ..<120: String(format: "%.1f s", seconds)
        case ..<7200: String(format: "%.1f m", seconds / 60)
        default: String(format: "%.1f h", seconds / 3600)
        }
    }
}
