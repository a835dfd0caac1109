import ArgumentParser
import Foundation
import WorkflowControl
import WorkflowStore

/// Options of the commands that talk to the running wfd.
struct DaemonOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The control socket (default: the one the running wfd recorded).", valueName: "path"))
    var socket: String?
}

/// Sends one command to the running wfd and returns its answer, or a failure that says what to do
/// (69 when wfd is not running, 77 when the caller may not talk to it).
func sendToDaemon(_ command: ControlCommand, state: StateDirectory, socket: String?, timeout: Duration) throws
    -> ControlResponse
{
    let request = ControlRequest(command)
    switch FileLock.probe(state.daemonLock) {
    case .held: break
    case .denied:
        throw CommandFailure.permissionDenied("reading \(state.root)", state: state.root)
    case .free, .missing:
        throw CommandFailure(
            description: "wfd is not running on \(state.root): start it (systemctl start wfd), or give --state",
            code: .unavailable)
    }
    let path: String
    if let socket {
        path = socket
    } else {
        do {
            path = try RecordFile.read(DaemonInfo.self, from: state.daemonInfo).socket
        } catch .system(_, _, let code) where code == EACCES || code == EPERM {
            throw CommandFailure.permissionDenied("reading \(state.daemonInfo)", state: state.root)
        } catch {
            throw CommandFailure(description: "cannot find wfd's control socket: \(error)", code: .unavailable)
        }
    }
    do {
        return try ControlSocket.exchange(request, at: path, timeout: timeout)
    } catch {
        if error.errno == EACCES || error.errno == EPERM {
            throw CommandFailure.permissionDenied("on \(path)", state: state.root)
        }
        throw CommandFailure(description: "\(error)", code: .unavailable)
    }
}

extension ControlResponse {
    /// The exit code of a refusal: 77 when the caller may not ask this of wfd, else 1.
    var exitCode: WfctlExit { error == .permissionDenied ? .noPermission : .failed }
}
