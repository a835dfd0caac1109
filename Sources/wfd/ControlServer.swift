import Dispatch
import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel
import RuntimeSupport
import ServiceLifecycle
import WorkflowControl
import WorkflowEngine
import WorkflowReports

#if canImport(Glibc)
    import Glibc
#endif

/// Serves the control socket: one request per connection, answered once it is carried out.
/// Only root and wfd's own user may send commands (checked with `SO_PEERCRED`).
///
/// Connections are accepted on a thread of its own and each is served on a thread of its own, up
/// to ``maximumConnections`` at once (one more is told wfd is busy), each with its own deadlines
/// (5 s to send its request, 5 s for each write of the answer to go out): a client that connects
/// and says nothing, or never reads, holds only its own connection. Waiting never blocks the
/// concurrency pool.
final class ControlServer: Service, Sendable {
    let path: String
    let scheduler: Scheduler
    let logger: Logger
    let policy: ControlPolicy
    /// What `wfctl status` says of this wfd.
    let daemon: StatusReport.Daemon
    private let stopped = Locked(false)
    private let listener: Int32
    /// Connections being served now.
    private let serving = Locked(0)
    /// How many connections are served at once; a silent client holds one for at most 5 s.
    static let maximumConnections = 32

    init(
        path: String, scheduler: Scheduler, policy: ControlPolicy, daemon: StatusReport.Daemon, logger: Logger
    ) throws(ControlSocket.Failure) {
        self.path = path
        self.daemon = daemon
        self.scheduler = scheduler
        self.logger = logger
        self.policy = policy
        listener = try ControlSocket.listen(at: path)
        // The socket is 0660: its group lets the control group's members connect at all; what
        // they may do is then decided by their credentials.
        if let group = policy.groupID, chown(path, uid_t.max, group) != 0 {
            logger.warning(
                "cannot give the control socket to group '\(policy.groupName ?? "")': \(String(cString: strerror(errno)))"
            )
        }
    }

    deinit {
        close(listener)
        unlink(path)
    }

    func run() async throws {
        await runOnOwnThread(named: "wfd-control", stop: { self.stopped.withLock { $0 = true } }) { self.serve() }
    }

    private func serve() {
        while !stopped.withLock({ $0 }) {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            // accept4() is not exported by Glibc's module; FD_CLOEXEC follows at once (a step
            // spawned in between could inherit the connection, which only delays its close).
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            // A client that stops reading must not hold a writer forever.
            var limit = timeval(tv_sec: 5, tv_usec: 0)
            _ = setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
            let admitted = serving.withLock { count in
                guard count < Self.maximumConnections else { return false }
                count += 1
                return true
            }
            guard admitted else {
                let busy = ControlResponse(
                    ok: false,
                    message: "wfd is serving \(Self.maximumConnections) control connections already; try again",
                    error: "busy")
                if let data = try? ControlFraming.encode(busy) { try? ControlSocket.writeAll(connection, data) }
                close(connection)
                continue
            }
            let worker = Thread { [self] in
                handle(connection)
                close(connection)
                serving.withLock { $0 -= 1 }
            }
            worker.name = "wfd-control-conn"
            worker.start()
        }
    }

    private func handle(_ connection: Int32) {
        var body: Data?
        var response = answer(connection, body: &body)
        response.bodyLength = body?.count
        if let data = try? ControlFraming.encode(response) {
            try? ControlSocket.writeAll(connection, data + (body ?? Data()))
        }
    }

    /// The answer to the request on `connection`; `body` gets what follows the answer's line raw.
    private func answer(_ connection: Int32, body: inout Data?) -> ControlResponse {
        let request: ControlRequest
        do {
            guard let line = try ControlSocket.readLine(connection, timeout: .seconds(5)) else {
                return ControlResponse(ok: false, message: "empty request", error: "bad_request")
            }
            request = try ControlFraming.decode(ControlRequest.self, from: line)
        } catch {
            return ControlResponse(ok: false, message: "unreadable request: \(error)", error: "bad_request")
        }
        // Read first, then refuse: the client gets an answer rather than a broken pipe.
        guard let peer = ControlSocket.peer(of: connection) else {
            return ControlResponse(
                ok: false, message: "permission denied: the caller's credentials cannot be read",
                error: "permission_denied")
        }
        if let refusal = policy.refusal(uid: peer.uid, gid: peer.gid, groups: peer.groups) {
            logger.warning(
                "refused control command '\(request.command)' from uid \(peer.uid), pid \(peer.pid): \(refusal)")
            return ControlResponse(ok: false, message: "permission denied: \(refusal)", error: "permission_denied")
        }
        switch request.command {
        case "ping":
            return ControlResponse(ok: true, message: "pong")
        case "status":
            let (response, text) = status(request)
            body = text.map { Data($0.utf8) }
            return response
        case "reload":
            switch Self.answer(within: 60, { scheduler.reload(done: $0) }) {
            case .reloaded(let summary)?: return ControlResponse(ok: true, message: summary)
            case .refused(let reason)?: return ControlResponse(ok: false, message: reason, error: "failed")
            case nil:
                return ControlResponse(ok: false, message: "the reload did not finish within 60 s", error: "failed")
            }
        case "cancel":
            guard let name = request.run, let run = RunID(name) else {
                return ControlResponse(ok: false, message: "cancel needs a run id", error: "bad_request")
            }
            let reason = "cancelled with wfctl by uid \(peer.uid)"
            guard let active = Self.answer(within: 30, { scheduler.cancelRun(run, reason: reason, done: $0) }) else {
                return ControlResponse(ok: false, message: "wfd did not answer within 30 s", error: "failed")
            }
            return active
                ? ControlResponse(ok: true, message: "cancelling run \(run)", run: run.rawValue)
                : ControlResponse(ok: false, message: "run \(run) is not active", error: "not_active")
        case "run":
            guard let name = request.job, let job = JobID(name) else {
                return ControlResponse(ok: false, message: "run needs a job id", error: "bad_request")
            }
            return respond(to: { scheduler.runNow(job, params: request.params ?? [:], done: $0) }) { run in
                "started run \(run) of \(job)"
            }
        case "retry":
            guard let jobName = request.job, let job = JobID(jobName), let runName = request.run,
                let run = RunID(runName)
            else {
                return ControlResponse(ok: false, message: "retry needs a job id and a run id", error: "bad_request")
            }
            var retry = RetryRequest(from: nil)
            if let name = request.from {
                guard let step = StepID(name) else {
                    return ControlResponse(ok: false, message: "'\(name)' is not a step id", error: "bad_request")
                }
                retry.from = step
            }
            var outputs: [StepID: Data] = [:]
            for name in request.skip ?? [] {
                guard let step = StepID(name) else {
                    return ControlResponse(ok: false, message: "'\(name)' is not a step id", error: "bad_request")
                }
                retry.skip[step] = .some(nil)
            }
            for (name, text) in request.outputs ?? [:] {
                guard let step = StepID(name) else {
                    return ControlResponse(ok: false, message: "'\(name)' is not a step id", error: "bad_request")
                }
                outputs[step] = Data(text.utf8)
            }
            let what = retry.from.map { "from step '\($0)'" } ?? "from its failed steps"
            return respond(to: {
                scheduler.retryRun(run, of: job, request: retry, outputs: outputs, by: "uid \(peer.uid)", done: $0)
            }) { run in "retrying run \(run) of \(job) \(what)" }
        case "approve", "reject":
            return decide(request, approved: request.command == "approve", peer: peer)
        default:
            return ControlResponse(ok: false, message: "unknown command '\(request.command)'", error: "unknown_command")
        }
    }

    /// `status`: the table `wfctl status` prints (`format` `text`, coloured when `colour`), or its
    /// JSON (`format` `json`), built from the scheduler's memory.
    private func status(_ request: ControlRequest) -> (ControlResponse, body: String?) {
        guard let snapshot = Self.answer(within: 30, { scheduler.snapshot(done: $0) }) else {
            return (ControlResponse(ok: false, message: "wfd did not answer within 30 s", error: "failed"), nil)
        }
        let now = Date()
        let report = StatusAnswer.report(snapshot, state: scheduler.configuration.state, daemon: daemon, now: now)
        switch request.format ?? "text" {
        case "text":
            return (
                ControlResponse(ok: true, message: ""),
                StatusTable.render(report, now: now, colour: request.colour ?? false)
            )
        case "json":
            guard let data = try? RecordJSON.encode(report) else {
                return (ControlResponse(ok: false, message: "cannot encode the status", error: "failed"), nil)
            }
            return (ControlResponse(ok: true, message: ""), String(decoding: data, as: UTF8.self))
        default:
            return (
                ControlResponse(ok: false, message: "status format must be text or json", error: "bad_request"), nil
            )
        }
    }

    /// `approve` and `reject`: the decision names who took it (the peer's uid and user name).
    private func decide(_ request: ControlRequest, approved: Bool, peer: ControlSocket.Peer) -> ControlResponse {
        guard let runName = request.run, let run = RunID(runName), let stepName = request.step,
            let step = StepID(stepName)
        else {
            return ControlResponse(
                ok: false, message: "\(request.command) needs a run id and a step id", error: "bad_request")
        }
        var input: JSONValue?
        if let text = request.input {
            guard let value = JSONValue.parse(Data(text.utf8)) else {
                return ControlResponse(
                    ok: false, message: "--input is not JSON: \(text.prefix(80))", error: "bad_request")
            }
            input = value
        }
        let name = ControlPolicy.userName(of: peer.uid).map { " (\($0))" } ?? ""
        let decision = Decision(
            approved: approved, by: "uid \(peer.uid)\(name)", uid: peer.uid, at: Date(), comment: request.comment,
            input: input)
        let slot = request.item
        let answered: String?? = Self.answer(within: 30) { reply in
            scheduler.decide(run, DecisionRequest(step: step, item: slot, decision: decision, reply: reply))
        }
        guard let result = answered else {
            return ControlResponse(ok: false, message: "wfd did not answer within 30 s", error: "failed")
        }
        if let refusal = result {
            return ControlResponse(ok: false, message: refusal, error: "refused")
        }
        let item = request.item.map { " item \($0)" } ?? ""
        return ControlResponse(
            ok: true, message: "\(approved ? "approved" : "rejected") step '\(step)'\(item) of run \(run)",
            run: run.rawValue)
    }

    /// Asks the scheduler (`ask` passes on the reply) and waits for its answer, `seconds` at most;
    /// nil when none came. It waits on the connection's own thread, never a cooperative one.
    private static func answer<Answer: Sendable>(
        within seconds: Int, _ ask: (@escaping @Sendable (Answer) -> Void) -> Void
    ) -> Answer? {
        let answer = Locked<Answer?>(nil)
        let finished = DispatchSemaphore(value: 0)
        ask { reply in
            answer.withLock { $0 = reply }
            finished.signal()
        }
        guard finished.wait(timeout: .now() + .seconds(seconds)) == .success else { return nil }
        return answer.withLock { $0 }
    }

    /// Sends a command that starts a run to the scheduler and waits (30 s at most) for its answer.
    private func respond(
        to send: (@escaping @Sendable (Result<RunID, Scheduler.ManualRunRefusal>) -> Void) -> Void,
        success: (RunID) -> String
    ) -> ControlResponse {
        guard let result = Self.answer(within: 30, send) else {
            return ControlResponse(ok: false, message: "wfd did not answer within 30 s", error: "failed")
        }
        switch result {
        case .success(let run): return ControlResponse(ok: true, message: success(run), run: run.rawValue)
        case .failure(let refusal): return ControlResponse(ok: false, message: refusal.message, error: refusal.code)
        }
    }
}
