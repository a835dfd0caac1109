import ArgumentParser
import Foundation
import WorkflowControl
import WorkflowCore
import WorkflowStore

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what a run's steps wrote (stdout and stderr, as they came), attempt by attempt.",
        discussion: """
            Each attempt's output is kept in the state directory (runs/<job>/<run>/logs/) and is \
            also in the journal (journalctl -t wfd RUN_ID=<run>). Reading it never needs wfd.

            Examples:
              wfctl logs 20261125T061502.117Z-3f2a1c
              wfctl logs 20261125T061502.117Z-3f2a1c --step publish --attempt 2
              wfctl run backup --json | jq -r .run | xargs wfctl logs --follow

            Exit codes: 0 printed, 1 no such run or step.
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

    @Flag(help: "Print [{\"step\", \"attempt\", \"outcome\", \"log\"}] with each log as a string.")
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
            throw CommandFailure(description: "cannot read run \(target): \(error)", code: 1)
        }
        if let step, !snapshot.steps.contains(where: { $0.step.rawValue == step }) {
            let names = snapshot.steps.map(\.step.rawValue).joined(separator: ", ")
            throw CommandFailure(description: "run \(target) has no step '\(step)' (its steps: \(names))", code: 1)
        }
        if json {
            var entries: [Entry] = []
            for (record, attempt) in attempts(of: snapshot) {
                let data = attempt.log.flatMap { try? RecordFile.readData(state.runFile(job, runID, relative: $0)) }
                entries.append(
                    Entry(
                        step: record.step.rawValue, item: record.item, attempt: attempt.number,
                        outcome: attempt.outcome?.rawValue, log: String(decoding: data ?? Data(), as: UTF8.self)))
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
                if printed[relative] == nil || (data.count > offset && current != relative) {
                    let what = attempt.outcome?.rawValue ?? "running"
                    let name = record.item.map { "\(record.step)[\($0)]" } ?? record.step.rawValue
                    out((atLineStart ? "" : "\n") + "==> \(name) (attempt \(attempt.number), \(what)) <==\n")
                    (current, atLineStart) = (relative, true)
                }
                if data.count > offset {
                    FileHandle.standardOutput.write(data[offset...])
                    atLineStart = data.last == UInt8(ascii: "\n")
                }
                printed[relative] = data.count
            }
            guard follow, !snapshot.run.state.isTerminal else {
                if !atLineStart { out("\n") }
                return
            }
            guard FileLock.isHeld(state.daemonLock) else {
                throw CommandFailure(description: "wfd stopped before run \(target) ended", code: 69)
            }
            usleep(100_000)
            if let next = try? store.loadSnapshot(job, runID) { snapshot = next }
        }
    }

    /// Writes straight to stdout, as the logs are (print() buffers separately and would reorder).
    func out(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }

    /// The attempts to show, in the order the steps are defined.
    func attempts(of snapshot: RunSnapshot) -> [(StepRecord, Attempt)] {
        snapshot.steps.filter { step == nil || $0.step.rawValue == step }.flatMap { record in
            ([record] + (record.items ?? [])).flatMap { slot in
                slot.attempts.filter { attempt == nil || $0.number == attempt }.map { (slot, $0) }
            }
        }
    }
}
