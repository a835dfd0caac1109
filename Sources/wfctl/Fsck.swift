import ArgumentParser
import Foundation
import Schedules
import WorkflowControl
import WorkflowReports
import WorkflowStore

struct Fsck: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the whole state directory and explain each problem; --repair fixes the safe ones.",
        discussion: """
            Checks every record's checksum, leftover temporary files, records wfd moved aside, \
            runs that never started, unfinished runs recovery would miss, and latest.json files \
            that name runs that do not exist. Runs waiting for a person (interrupted) are listed \
            as notes.

            --repair moves damaged records aside (never deletes them), deletes leftovers of \
            writes that never completed and runs that never started, and fixes latest.json. \
            Repairs that could race a running wfd (deleting files, indexing unfinished runs) are \
            only made while wfd is stopped.

            Examples:
              wfctl fsck
              systemctl stop wfd && wfctl fsck --repair && systemctl start wfd

            Exit codes: 0 no problems (notes aside), 1 problems remain, 77 permission denied.
            """
    )

    @Flag(help: "Apply the safe repairs.")
    var repair = false

    @Flag(
        help:
            "Print {\"state_directory\", \"daemon_running\", \"findings\": [{\"path\", \"kind\", \"message\", \"repair\", \"repaired\", \"note\"}]}."
    )
    var json = false

    @OptionGroup var options: StateOptions

    struct Output: Codable {
        var stateDirectory: String
        var daemonRunning: Bool
        var findings: [StateCheck.Finding]

        enum CodingKeys: String, CodingKey {
            case findings
            case stateDirectory = "state_directory"
            case daemonRunning = "daemon_running"
        }
    }

    func run() throws {
        let state = options.directory
        guard FileManager.default.fileExists(atPath: state.root) else {
            throw CommandFailure.from(.missing(path: state.root), state: state.root)
        }
        guard access(state.root, R_OK | X_OK) == 0 else {
            throw CommandFailure.from(.system(operation: "read", path: state.root, errno: errno), state: state.root)
        }
        let check = StateCheck(state: state)
        let findings = check.run(repair: repair, now: Date())
        let remaining = findings.filter { !$0.note && !$0.repaired }
        if json {
            let output = Output(stateDirectory: state.root, daemonRunning: check.daemonRunning, findings: findings)
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(output) + Data("\n".utf8))
        } else {
            for finding in findings {
                let label = finding.note ? "note" : finding.repaired ? "repaired" : "problem"
                var line = "\(label): \(finding.path): \(finding.message)"
                if !finding.note, !finding.repaired {
                    line += finding.repair.map { " (--repair: \($0))" } ?? " (for a person to decide)"
                }
                print(line)
            }
            let problems = findings.filter { !$0.note }.count
            let repaired = findings.filter(\.repaired).count
            print(
                problems == 0
                    ? "\(state.root): no problems"
                    : "\(state.root): \(problems) problems, \(repaired) repaired, \(remaining.count) remaining")
            if check.daemonRunning, !repair { print("(wfd is running: some repairs wait until it is stopped)") }
        }
        if !remaining.isEmpty { throw ExitCode(WfctlExit.failed.rawValue) }
    }
}
