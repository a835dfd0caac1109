import Foundation
import WorkflowControl
import WorkflowCore

/// Renders a ``StatusReport`` as the aligned table `wfctl status` prints.
enum StatusTable {
    static func render(_ report: StatusReport, now: Date) -> String {
        var out = report.daemon.running ? "wfd is running" : "wfd is not running — showing state from disk"
        out += " (\(report.stateDirectory))\n"
        guard !report.jobs.isEmpty else {
            return out + "no jobs yet: drop a job file into jobs.d and reload wfd\n"
        }
        var rows = [["JOB", "SCHEDULE", "NEXT", "LAST RUN", "RESULT", "RUNNING"]]
        for job in report.jobs {
            let next = job.nextFire.map { "\(ago($0, now: now)) (\(local($0)))" } ?? "-"
            let last =
                job.lastRun.map { run in (run.endedAt ?? run.startedAt).map { ago($0, now: now) } ?? "-" } ?? "never"
            var result = job.lastRun?.state.rawValue ?? "-"
            if job.lastRun?.error?.hasPrefix("interrupted:") == true { result += " (interrupted: see wfctl show)" }
            if job.state == .invalid { result += " (file invalid)" }
            if job.state == .disabled { result += " (disabled)" }
            let running =
                job.running ? "yes: \(job.activeRun?.id.rawValue ?? "")" : (job.activeRun != nil ? "interrupted" : "no")
            let schedule = job.schedules.isEmpty ? "-" : job.schedules.joined(separator: "; ")
            rows.append([job.job.rawValue, schedule, next, last, result, running])
        }
        out += columns(rows)
        for job in report.jobs {
            for error in job.errors { out += "\(job.job): \(error)\n" }
            // The latest fire times that did not simply start on time.
            for decision in job.decisions.suffix(3) where decision.outcome != "started" || decision.trigger == .catchup
            {
                let what = decision.outcome == "started" ? "caught up" : decision.outcome
                let why = decision.reason.map { ": \($0)" } ?? ""
                out += "\(job.job): \(what) fire time \(local(decision.fireTime))\(why)\n"
            }
        }
        if !report.quarantined.isEmpty {
            out += "\(report.quarantined.count) damaged records were moved aside (wfctl fsck explains); the newest:\n"
            for entry in report.quarantined.suffix(3) { out += "  \(entry.movedTo): \(entry.reason)\n" }
        }
        return out
    }

    /// Rows as aligned columns; the last column is not padded.
    static func columns(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var out = ""
        for row in rows {
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            out += cells.joined(separator: "  ") + "\n"
        }
        return out
    }

    /// `in 8s`, `3m ago`.
    static func ago(_ date: Date, now: Date) -> String {
        let seconds = Int(date.timeIntervalSince(now).rounded())
        let magnitude = abs(seconds)
        if magnitude == 0 { return "now" }
        let text: String
        switch magnitude {
        case ..<120: text = "\(magnitude)s"
        case ..<7200: text = "\(magnitude / 60)m"
        case ..<172_800: text = "\(magnitude / 3600)h"
        default: text = "\(magnitude / 86400)d"
        }
        return seconds >= 0 ? "in \(text)" : "\(text) ago"
    }

    static func local(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().dateTimeSeparator(.space).time(includingFractionalSeconds: false).timeZone(
                separator: .omitted))
    }
}
