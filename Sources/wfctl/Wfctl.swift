import ArgumentParser
import Foundation
import Schedules
import WorkflowControl
import WorkflowReports
import WorkflowStore

@main
struct Wfctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wfctl",
        abstract: "Inspect and control wfd, the workflow daemon.",
        discussion: """
            wfctl reads the state directory directly, so it answers even while wfd is stopped. \
            The state directory is --state, else $WFD_STATE_DIR, else $STATE_DIRECTORY (as systemd \
            sets it for ExecReload=), else /var/lib/wfd.

            Exit codes: 0 ok, 1 what was asked about failed or could not be read, 64 usage, \
            65 invalid data (job files, --input), 69 wfd is not running (for a command that needs \
            it), 77 permission denied. Every command has --help, and --json for scripts.
            """,
        version: WfdVersion.current,
        subcommands: [
            Status.self, Runs.self, Show.self, Why.self, Stats.self, Logs.self, Run.self, Retry.self, Cancel.self,
            Pending.self,
            Approve.self, Reject.self, Fsck.self, Next.self,
            Validate.self,
            Schema.self,
            Reload.self,
            Metrics.self, Eval.self, Draft.self, Promote.self, Harden.self, MCPServe.self,
            TokenCommand.self,
        ]
    )
}

/// Options every command that reads state takes.
struct StateOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The state directory (default: $WFD_STATE_DIR, else /var/lib/wfd).", valueName: "dir"))
    var state: String?

    var directory: StateDirectory {
        let environment = ProcessInfo.processInfo.environment
        func nonEmpty(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let path =
            state ?? nonEmpty("WFD_STATE_DIR") ?? nonEmpty("STATE_DIRECTORY").map { String($0.prefix { $0 != ":" }) }
            ?? "/var/lib/wfd"
        return StateDirectory(root: path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path)
    }

    /// A state directory of a newer format than this wfctl reads is refused (65), not misread.
    func validate() throws {
        guard let format = try? StateFormat.read(directory.formatFile), format.format > StateFormat.current else {
            return
        }
        // ArgumentParser reports an error thrown here as its own (exit 1): say it as wfctl does.
        let message =
            "\(directory.formatFile) says the state directory is in format \(format.format), written by "
            + "\(format.writtenBy); this wfctl reads formats up to \(StateFormat.current): use the wfctl that "
            + "came with that wfd"
        FileHandle.standardError.write(Data("wfctl: \(message)\n".utf8))
        throw ExitCode(WfctlExit.badData.rawValue)
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List every job: schedule, next fire time, last run, and whether one is running.",
        discussion: """
            Example:
              wfctl status
              wfctl status --json | jq '.jobs[] | select(.last_run.state == "failed") | .job'

            When wfd runs and you may command it (root, its user, its control group), it answers \
            from memory, as things are this instant; otherwise the state directory tells, which \
            works with wfd stopped and for anyone who may read it.

            --json prints {"version", "state_directory", "daemon": {"running", "pid", "started_at", \
            "version"}, "jobs": [{"job", "description", "file", "state", "schedules", "timezone", \
            "next_fire", "last_run", "running", "active_run", "errors", "decisions", \
            "success_rate": {"succeeded", "ended"}}], "quarantined"} with times in RFC 3339 UTC.

            Exit codes: 0 shown (whatever the jobs' state), 1 the state directory cannot be read, 77 \
            permission denied.
            """
    )

    @OptionGroup var options: StateOptions

    @Flag(help: "Print the status as JSON.")
    var json = false

    func run() throws {
        let directory = options.directory
        if let answer = askDaemon(directory) {
            print(answer, terminator: json ? "\n" : "")
            return
        }
        let report: StatusReport
        do {
            report = try StatusReport.load(state: directory, now: Date(), hostZone: .current)
        } catch {
            throw CommandFailure.from(error, state: directory.root)
        }
        if json {
            let data = try Timestamp.makeEncoder().encode(report)
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            print(StatusTable.render(report, now: Date(), colour: StatusTable.wantsColour()), terminator: "")
        }
    }
}

extension Status {
    /// The status from the running wfd's memory (no file read, however many jobs), or nil when no
    /// wfd runs or it does not answer this caller (one not allowed to command it, an older wfd):
    /// then the state directory tells.
    func askDaemon(_ directory: StateDirectory) -> String? {
        guard FileLock.probe(directory.daemonLock) == .held,
            let info = try? RecordFile.read(DaemonInfo.self, from: directory.daemonInfo)
        else { return nil }
        let request = ControlRequest(.status(json ? .json : .table(colour: StatusTable.wantsColour())))
        guard let response = try? ControlSocket.exchange(request, at: info.socket, timeout: .seconds(30)),
            response.ok
        else { return nil }
        return response.message
    }
}

/// An error that reaches a person: what happened, what to do, and the exit code.
/// wfctl's exit statuses besides 0, as its commands' help lists them (sysexits.h where one fits).
enum WfctlExit: Int32 {
    /// The command could not do what was asked (no such run, the run failed with --wait, …).
    case failed = 1
    /// Wrong arguments (ArgumentParser's own).
    case usage = 64
    /// Bad data: a job file or a given value that does not parse (EX_DATAERR).
    case badData = 65
    /// wfd is not running, or stopped meanwhile (EX_UNAVAILABLE).
    case unavailable = 69
    /// Not allowed to read or to command (EX_NOPERM).
    case noPermission = 77
}

struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    let code: WfctlExit

    /// Exit 77, saying who may: root, and the members of the state directory's group (the group
    /// wfd runs in, `wfd` as installed), with the command that makes a user one.
    static func permissionDenied(_ what: String, state: String) -> CommandFailure {
        var group = "wfd"
        var info = stat()
        if stat(state, &info) == 0, info.st_gid != 0, let entry = getgrgid(info.st_gid),
            let name = entry.pointee.gr_name
        {
            group = String(cString: name)
        }
        return CommandFailure(
            description: "permission denied \(what): run as root, or as a member of the group \(group) "
                + "(sudo usermod -aG \(group) $USER, then log in again)",
            code: .noPermission)
    }

    static func from(_ error: StoreError, state: String) -> CommandFailure {
        switch error {
        case .missing:
            CommandFailure(
                description: "no state directory at \(state): is wfd installed and started? "
                    + "Point wfctl at another one with --state DIR or WFD_STATE_DIR.",
                code: .failed)
        case .system(_, _, let code) where code == EACCES || code == EPERM:
            permissionDenied("reading \(state)", state: state)
        default:
            CommandFailure(description: "cannot read the state directory: \(error)", code: .failed)
        }
    }
}

extension Wfctl {
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data("wfctl: \(failure.description)\n".utf8))
            Foundation.exit(failure.code.rawValue)
        } catch {
            exit(withError: error)
        }
    }
}
