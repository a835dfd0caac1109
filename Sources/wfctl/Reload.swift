import ArgumentParser
import Foundation
import WorkflowControl
import WorkflowCore
import WorkflowStore

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make the running wfd re-read jobs.d; returns once the new jobs are in effect.",
        discussion: """
            wfd also picks up changes in jobs.d by itself within a fraction of a second; reload is
            for scripts that must know the change is in effect, and for systemd's ExecReload=.
            Exit codes: 0 reloaded, 1 the reload failed, 69 wfd is not running, 77 permission denied.
            """
    )

    @OptionGroup var options: StateOptions

    @Option(help: ArgumentHelp("The control socket (default: the one the running wfd recorded).", valueName: "path"))
    var socket: String?

    @Flag(help: "Print wfd's answer as JSON: {\"ok\", \"message\", \"error\"}.")
    var json = false

    func run() throws {
        let state = options.directory
        switch FileLock.probe(state.daemonLock) {
        case .held: break
        case .denied:
            throw CommandFailure(
                description: "permission denied reading \(state.root): run as root or wfd's user", code: 77)
        case .free, .missing:
            throw CommandFailure(
                description: "wfd is not running on \(state.root): start it (systemctl start wfd), or give --state",
                code: 69)
        }
        let path: String
        if let socket {
            path = socket
        } else {
            do {
                path = try RecordFile.read(DaemonInfo.self, from: state.daemonInfo).socket
            } catch .system(_, _, let code) where code == EACCES || code == EPERM {
                throw CommandFailure(
                    description: "permission denied reading \(state.daemonInfo): run as root or wfd's user", code: 77)
            } catch {
                throw CommandFailure(description: "cannot find wfd's control socket: \(error)", code: 69)
            }
        }
        let response: ControlResponse
        do {
            response = try ControlSocket.exchange(ControlRequest(command: "reload"), at: path, timeout: .seconds(90))
        } catch {
            let denied = error.errno == EACCES || error.errno == EPERM
            throw CommandFailure(
                description: denied ? "permission denied on \(path): run as root or wfd's user" : "\(error)",
                code: denied ? 77 : 69)
        }
        if json {
            FileHandle.standardOutput.write(try ControlFraming.encode(response))
        } else if response.ok {
            print(response.message)
        }
        guard response.ok else {
            throw CommandFailure(description: response.message, code: response.error == "permission_denied" ? 77 : 1)
        }
    }
}
