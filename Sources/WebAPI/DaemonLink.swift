import Foundation
import WorkflowControl
import WorkflowStore

/// How the API sends commands to the running wfd: over its control socket, on behalf of the
/// caller (wfd checks the caller's rights and names it in what it records).
public protocol DaemonLink: Sendable {
    func send(_ command: ControlCommand, as caller: Caller, timeout: Duration) -> Result<ControlResponse, Problem>
}

/// The control socket of the wfd that holds `state` (from its `daemon.json`). Blocking: call it
/// off the concurrency pool (wfd-web answers each request on NIO's thread pool).
public struct ControlSocketLink: DaemonLink {
    public let state: StateDirectory

    /// false: the command goes as this process's own (`wfctl mcp`, whose user wfd judges), not on
    /// behalf of a caller (wfd-web, a delegate).
    public let delegating: Bool

    public init(state: StateDirectory, delegating: Bool = true) {
        self.state = state
        self.delegating = delegating
    }

    public func send(_ command: ControlCommand, as caller: Caller, timeout: Duration) -> Result<
        ControlResponse, Problem
    > {
        guard FileLock.probe(state.daemonLock) == .held,
            let info = try? RecordFile.read(DaemonInfo.self, from: state.daemonInfo)
        else {
            return .failure(
                Problem(.unavailable, detail: "wfd is not running on \(state.root): start it (systemctl start wfd)"))
        }
        var request = ControlRequest(command)
        if delegating { request.onBehalfOf = caller }
        do {
            return .success(try ControlSocket.exchange(request, at: info.socket, timeout: timeout))
        } catch {
            return .failure(Problem(.unavailable, detail: "wfd did not answer on \(info.socket): \(error)"))
        }
    }
}
