import ArgumentParser
import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Schedules
import WorkflowControl
import WorkflowReports
import WorkflowStore

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what a run's steps wrote (stdout and stderr, as they came), attempt by attempt.",
        discussion: """
            Each attempt's output is kept in the state directory (runs/<job>/<run>/logs/) and is \
            also in the journal (journalctl -t wfd RUN_ID=<run>). Reading it never needs wfd; \
            --journal reads the journal instead (where the files were cut at 16 MiB or deleted \
            by retention, the journal may still have the lines).

            Examples:
              wfctl logs 20261125T061502.117Z-3f2a1c
              wfctl logs 20261125T061502.117Z-3f2a1c --step publish --attempt 2
              wfctl logs 20261125T061502.117Z-3f2a1c --grep 'error|warn' --since 10m
              wfctl run backup --json | jq -r .run | xargs wfctl logs --follow

            Exit codes: 0 printed, 1 no such run or step, 64 usage.
            """
    )

    @Argument(help: ArgumentHelp("The run id (see wfctl runs).", valueName: "run"))
    var target: String

    @Option(help: ArgumentHelp("Only this step.", valueName: "step"))
    var step: String?

    @Option(help: ArgumentHelp("Only this attempt (default: every attempt).", valueName: "n"))
    var attempt: Int?

    @Flag(name: [.short, .long], help: "Keep printing as the steps write, until the run ends.")
    var follow = false

    @Option(
        help: ArgumentHelp(
            "Only attempts that started since then: a duration back from now (10m, 2h, 1d) or an RFC 3339 time.",
            valueName: "when"))
    var since: String?

    @Option(help: ArgumentHelp("Only lines that match this regular expression.", valueName: "pattern"))
    var grep: String?

    @Flag(help: "Read the lines from the journal (journalctl RUN_ID=…) instead of the state directory.")
    var journal = false

    @Flag(help: "Print [{\"step\", \"item\", \"attempt\", \"outcome\", \"log\"}] with each log as a string.")
    var json = false

    @OptionGroup var options: StateOptions

    struct Entry: Codable {
        var step: String
        var item: Int?
        var attempt: Int
        var outcome: String?
        var log: String
    }

    func validate() throws {
        guard RunID(target) != nil else { throw ValidationError("'\(target)' is not a run id") }
        if let step, StepID(step) == nil { throw ValidationError("'\(step)' is not a step id: \(StepID.rule)") }
        if follow && json { throw ValidationError("--follow prints as the steps write; --json prints once") }
        if follow && journal { throw ValidationError("--journal reads what is there; use journalctl -f to follow it") }
        if let since, RunStatistics.instant(since, now: Date()) == nil {
            throw ValidationError("--since takes a duration (10m, 2h, 1d) or an RFC 3339 time, not '\(since)'")
        }
        if let grep, (try? NSRegularExpression(pattern: grep)) == nil {
            throw ValidationError("--grep '\(grep)' is not a regular expression")
        }
    }

    /// `since` as an instant: `now` minus a duration, or a time.
    var matcher: NSRegularExpression? { grep.flatMap { try? NSRegularExpression(pattern: $0) } }

    /// `text` without the lines `--grep` does not want (every line kept ends with a newline).
    func filtered(_ text: Substring) -> String {
        guard let matcher else { return String(text) }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if text.hasSuffix("\n") { lines.removeLast() }  // the empty piece after the last newline
        return lines.filter { line in
            let line = String(line)
            return matcher.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) != nil
        }.map { $0 + "\n" }.joined()
    }

    func run() throws {
        let state = options.directory
        guard let runID = RunID(target) else { throw ValidationError("'\(target)' is not a run id") }
        let job = try jobOfRun(runID, in: state)
        let store = RunStore(directory: state)
        var snapshot: RunSnapshot
        do {
            snapshot = try store.loadSnapshot(job, runID)
        } catch {
            throw CommandFailure(description: "cannot read run \(target): \(error)", code: .failed)
        }
        if let step, !snapshot.steps.contains(where: { $0.step.rawValue == step }) {
            let names = snapshot.steps.map(\.step.rawValue).joined(separator: ", ")
            throw CommandFailure(
                description: "run \(target) has no step '\(step)' (its steps: \(names))", code: .failed)
        }
        if journal { return try fromJournal(runID, snapshot: snapshot) }
        if json {
            var entries: [Entry] = []
            for (record, attempt) in attempts(of: snapshot) {
                let data = attempt.log.flatMap { try? RecordFile.readData(state.runFile(job, runID, relative: $0)) }
                let text = String(decoding: data ?? Data(), as: UTF8.self)
                entries.append(
                    Entry(
                        step: record.step.rawValue, item: record.item, attempt: attempt.number,
                        outcome: attempt.outcome?.rawValue, log: grep == nil ? text : filtered(text[...])))
            }
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(entries) + Data("\n".utf8))
            return
        }
        // Offsets already printed, per log file; while following, each file is printed as it grows,
        // under a header whenever the output switches to another attempt (as tail -f does).
        var printed: [String: Int] = [:]
        var current: String?
        var atLineStart = true
        while true {
            for (record, attempt) in attempts(of: snapshot) {
                guard let relative = attempt.log else { continue }
                let data = (try? RecordFile.readData(state.runFile(job, runID, relative: relative))) ?? Data()
                let offset = printed[relative] ?? 0
                // With --grep only whole lines count: a line still being written waits for its end
                // (or for the attempt's end).
                var end = data.count
                if grep != nil, attempt.endedAt == nil, let newline = data.lastIndex(of: UInt8(ascii: "\n")) {
                    end = max(offset, newline + 1)
                } else if grep != nil, attempt.endedAt == nil {
                    end = offset
                }
                let fresh = end > offset ? data[offset..<end] : Data()
                let shown = grep == nil ? fresh : Data(filtered(String(decoding: fresh, as: UTF8.self)[...]).utf8)
                let headerDue = grep == nil ? printed[relative] == nil : !shown.isEmpty && current != relative
                if headerDue || (!shown.isEmpty && current != relative) {
                    let what = attempt.outcome?.rawValue ?? "running"
                    let name = record.item.map { "\(record.step)[\($0)]" } ?? record.step.rawValue
                    out((atLineStart ? "" : "\n") + "==> \(name) (attempt \(attempt.number), \(what)) <==\n")
                    (current, atLineStart) = (relative, true)
                }
                if !shown.isEmpty {
                    FileHandle.standardOutput.write(shown)
                    atLineStart = shown.last == UInt8(ascii: "\n")
                }
                printed[relative] = end
            }
            guard follow, !snapshot.run.state.isTerminal else {
                if !atLineStart { out("\n") }
                return
            }
            guard FileLock.isHeld(state.daemonLock) else {
                throw CommandFailure(description: "wfd stopped before run \(target) ended", code: .unavailable)
            }
            usleep(100_000)
            if let next = try? store.loadSnapshot(job, runID) { snapshot = next }
        }
    }

    /// Writes straight to stdout, as the logs are (print() buffers separately and would reorder).
    func out(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

    /// The attempts to show, in the order the steps are defined.
    func attempts(of snapshot: RunSnapshot) -> [(StepRecord, Attempt)] {
        let from = since.flatMap { RunStatistics.instant($0, now: Date()) }
        return snapshot.steps.filter { step == nil || $0.step.rawValue == step }.flatMap { record in
            ([record] + (record.items ?? [])).flatMap { slot in
                slot.attempts.filter { attempt == nil || $0.number == attempt }
                    .filter { from == nil || ($0.endedAt ?? .distantFuture) >= (from ?? .distantPast) }
                    .map { (slot, $0) }
            }
        }
    }

    /// The run's step lines as the journal has them (`journalctl RUN_ID=… STREAM`), grouped under
    /// the same headers.
    func fromJournal(_ run: RunID, snapshot: RunSnapshot) throws {
        var arguments = ["--no-pager", "-o", "json", "RUN_ID=\(run)"]
        if let step { arguments.append("STEP=\(step)") }
        if let since, let from = RunStatistics.instant(since, now: Date()) {
            arguments += ["--since", "@\(Int(from.timeIntervalSince1970))"]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/journalctl")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw CommandFailure(description: "cannot run journalctl: \(error) (is systemd installed?)", code: .failed)
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var current = ""
        var lines = 0
        var entries: [Entry] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard case .object(let fields)? = JSONValue.parse(Data(line)), fields["STREAM"] != nil,
                let name = fields["STEP"]?.stringValue,
                let number = fields["ATTEMPT"]?.stringValue.flatMap({ Int($0) }),
                attempt == nil || attempt == number, let message = fields["MESSAGE"]?.stringValue
            else { continue }
            let text = filtered((message + "\n")[...])
            guard !text.isEmpty else { continue }
            let item = fields["ITEM"]?.stringValue.flatMap { Int($0) }
            if json {
                if let last = entries.last, last.step == name, last.item == item, last.attempt == number {
                    entries[entries.count - 1].log += text
                } else {
                    entries.append(Entry(step: name, item: item, attempt: number, outcome: nil, log: text))
                }
                continue
            }
            let header = "==> \(name)\(item.map { "[\($0)]" } ?? "") (attempt \(number), from the journal) <==\n"
            if header != current {
                out(header)
                current = header
            }
            out(text)
            lines += 1
        }
        if json {
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(entries) + Data("\n".utf8))
        } else if lines == 0 {
            FileHandle.standardError.write(
                Data("no lines of run \(run) in the journal (journalctl shows only what this user may read)\n".utf8))
        }
    }
}
