import Foundation
import RuntimeSupport
import Schedules

#if canImport(Glibc)
    import Glibc
#endif

/// Renders a ``StatusReport`` as the aligned table `wfctl status` prints (wfd renders it too, to
/// answer `wfctl status` from memory), and the columns and times of wfctl's other tables.
public enum StatusTable {
    public static func render(_ report: StatusReport, now: Date, colour: Bool = false) -> String {
        var out = header(report.daemon, now: now) + " (\(report.stateDirectory))\n"
        guard !report.jobs.isEmpty else {
            return out + "no jobs yet: drop a job file into jobs.d and reload wfd\n"
        }
        // Every row on every core: 10,000 jobs are 70,000 cells.
        let jobs = report.jobs
        let built = Array(jobs.indices).concurrentMap { index in row(jobs[index], now: now) }
        let rows = [["JOB", "SCHEDULE", "NEXT", "LAST RUN", "RESULT", "OK (LAST 20)", "ACTIVE"]] + built.map(\.cells)
        let tones = [Array(repeating: Tone.plain, count: 7)] + built.map(\.tones)
        out += columns(rows, tones: colour ? tones : nil)
        // By index: a copy of each job's status would retain and release its every field.
        for index in report.jobs.indices
        where !report.jobs[index].errors.isEmpty || !report.jobs[index].decisions.isEmpty {
            let job = report.jobs[index]
            for error in job.errors { out += "\(job.job): \(error)\n" }
            // The latest fire times that did not simply start on time.
            for decision in job.decisions.suffix(3) where decision.isNotable {
                let what = decision.outcome == .started ? "caught up" : decision.outcome.rawValue
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

    /// One job's cells and their colours.
    static func row(_ job: StatusReport.JobStatus, now: Date) -> (cells: [String], tones: [Tone]) {
        let next = job.nextFire.map { "\(ago($0, now: now)) (\(local($0)))" } ?? "-"
        let last =
            job.lastRun.map { run in (run.endedAt ?? run.startedAt).map { ago($0, now: now) } ?? "-" } ?? "never"
        var result = job.lastRun?.state.rawValue ?? "-"
        if job.lastRun?.error?.hasPrefix("interrupted:") == true { result += " (interrupted: see wfctl show)" }
        if job.state == .invalid { result += " (file invalid)" }
        if job.state == .disabled { result += " (disabled)" }
        let rate = job.successRate.map { "\($0.succeeded)/\($0.ended)" } ?? "-"
        let active: String
        if let run = job.activeRun {
            active = job.running ? "\(run.state == .waiting ? "waiting" : "running"): \(run.id)" : "interrupted"
        } else {
            active = "-"
        }
        let starts = job.schedules + (job.triggers ?? []).map { "on \($0)" }
        let schedule = starts.isEmpty ? "-" : starts.joined(separator: "; ")
        let resultTone: Tone =
            switch job.lastRun?.state {
            case .succeeded?: job.state == .invalid ? .warning : .good
            case .failed?, .timedOut?: .bad
            case .cancelled?: .warning
            default: job.state == .invalid ? .warning : .plain
            }
        let rateTone: Tone = job.successRate.map { $0.succeeded == $0.ended ? .good : .warning } ?? .plain
        let activeTone: Tone = active.hasPrefix("waiting") ? .warning : active == "interrupted" ? .bad : .plain
        return (
            [job.job.rawValue, schedule, next, last, result, rate, active],
            [.plain, .plain, .plain, .plain, resultTone, rateTone, activeTone]
        )
    }

    /// `wfd 0.1.0 is running (pid 812, up 3h)`, or that it is not and what is shown instead.
    public static func header(_ daemon: StatusReport.Daemon, now: Date) -> String {
        guard daemon.running else { return "wfd is not running — showing state from disk" }
        var facts: [String] = []
        if let pid = daemon.pid { facts.append("pid \(pid)") }
        if let started = daemon.startedAt {
            facts.append("up \(ago(started, now: now).replacingOccurrences(of: " ago", with: ""))")
        }
        if let executor = daemon.executor {
            facts.append("steps as \(executor == "unit" ? "systemd units" : "processes")")
        }
        let version = daemon.version.map { " \($0)" } ?? ""
        return "wfd\(version) is running" + (facts.isEmpty ? "" : " (\(facts.joined(separator: ", ")))")
    }

    public enum Tone: Sendable {
        case plain, good, warning, bad

        public var code: String {
            switch self {
            case .plain: ""
            case .good: "\u{1B}[32m"
            case .warning: "\u{1B}[33m"
            case .bad: "\u{1B}[31m"
            }
        }
    }

    /// Colour only on a terminal, and never when `NO_COLOR` is set (https://no-color.org).
    public static func wantsColour(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        isatty(1) == 1 && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
    }

    /// Rows as aligned columns; the last column is not padded. `tones` colour cells (after
    /// padding, so the escape codes do not count as width).
    public static func columns(_ rows: [[String]], tones: [[Tone]]? = nil) -> String {
        guard let header = rows.first else { return "" }
        // In chunks on every core: the widths of each chunk's columns, then its lines as bytes.
        let chunk = 1024
        let starts = Array(stride(from: 0, to: rows.count, by: chunk))
        // Each cell's width, counted once, and each chunk's widest per column.
        let measured = starts.concurrentMap { start in
            var widest = [Int](repeating: 0, count: header.count)
            var cells: [Int] = []
            for row in rows[start..<min(start + chunk, rows.count)] {
                for (index, cell) in row.enumerated() {
                    let counted = width(cell)
                    cells.append(counted)
                    if index < widest.count { widest[index] = max(widest[index], counted) }
                }
            }
            return (widest: widest, cells: cells)
        }
        let widths = header.indices.map { column in measured.map { $0.widest[column] }.max() ?? 0 }
        let lineWidth = widths.reduce(0, +) + 2 * widths.count + 1
        let reset = Array("\u{1B}[0m".utf8)
        let lines = Array(starts.indices).concurrentMap { part in
            let start = starts[part]
            var cellWidths = measured[part].cells.makeIterator()
            var out: [UInt8] = []
            out.reserveCapacity(chunk * lineWidth + 1024)
            for rowIndex in start..<min(start + chunk, rows.count) {
                let row = rows[rowIndex]
                for (index, cell) in row.enumerated() {
                    if index > 0 { out += [UInt8(ascii: " "), UInt8(ascii: " ")] }
                    let tone = tones?[rowIndex][index] ?? .plain
                    if tone != .plain { out += tone.code.utf8 }
                    out += cell.utf8
                    let counted = cellWidths.next() ?? 0
                    if index < row.count - 1, index < widths.count {
                        for _ in 0..<max(0, widths[index] - counted) { out.append(UInt8(ascii: " ")) }
                    }
                    if tone != .plain { out += reset }
                }
                out.append(UInt8(ascii: "\n"))
            }
            return out
        }
        var text: [UInt8] = []
        text.reserveCapacity(lines.reduce(0) { $0 + $1.count })
        for part in lines { text += part }
        return String(decoding: text, as: UTF8.self)
    }

    /// The characters a cell takes: its bytes when it is ASCII (almost always, and far cheaper
    /// to count), else its grapheme clusters.
    static func width(_ cell: String) -> Int {
        let utf8 = cell.utf8
        // Through the bytes in memory when the string has them there (the fast path), else one by one.
        let ascii =
            utf8.withContiguousStorageIfAvailable { bytes in !bytes.contains { $0 >= 0x80 } }
            ?? !utf8.contains { $0 >= 0x80 }
        return ascii ? utf8.count : cell.count
    }

    /// `in 8s`, `3m ago`.
    public static func ago(_ date: Date, now: Date) -> String {
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

    /// `2026-11-30 00:00:00Z` (UTC).
    public static func local(_ date: Date) -> String {
        // From the record form (fast; a status of 10,000 jobs shows 10,000 times).
        var bytes = Array(Timestamp.rfc3339(date).utf8)  // 2026-11-30T00:00:00.000Z
        if bytes.count == 24 {
            bytes[10] = UInt8(ascii: " ")
            bytes[19] = UInt8(ascii: "Z")
            return String(decoding: bytes[..<20], as: UTF8.self)
        }
        return date.formatted(
            .iso8601.year().month().day().dateTimeSeparator(.space).time(includingFractionalSeconds: false).timeZone(
                separator: .omitted))
    }
}
