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
import WorkflowMetrics
import WorkflowReports
import WorkflowStore

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
    private let keyedRuns: KeyedRuns
    /// The commands that work out or call models outside runs: preview, eval, draft.
    private let models: ModelCommands
    /// Takes the webhooks' deliveries wfd-web passes on.
    private let webhooks: WebhookDesk
    /// The JSON of `status`, each job's part kept while it is unchanged (10,000 jobs: 7 MB).
    private let statusEncoder = StatusEncoder()
    /// What `status` in the metrics format renders; fed by the runs' transitions.
    let daemonMetrics: DaemonMetrics
    private let listener: Int32
    /// Connections being served now.
    private let serving = Locked(0)
    /// How many connections are served at once; a silent client holds one for at most 5 s.
    static let maximumConnections = 32

    init(
        path: String, scheduler: Scheduler, policy: ControlPolicy, daemon: StatusReport.Daemon,
        metrics: DaemonMetrics, logger: Logger
    ) throws(ControlSocket.Failure) {
        self.path = path
        daemonMetrics = metrics
        self.daemon = daemon
        self.scheduler = scheduler
        self.logger = logger
        self.policy = policy
        keyedRuns = KeyedRuns(state: scheduler.configuration.state)
        models = ModelCommands(scheduler: scheduler, logger: logger)
        webhooks = WebhookDesk(
            scheduler: scheduler,
            secrets: SecretStore(directory: scheduler.configuration.daemonEnvironment["CREDENTIALS_DIRECTORY"]),
            logger: logger)
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
                    ControlRefusal(
                        .busy, "wfd is serving \(Self.maximumConnections) control connections already; try again"))
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
                return ControlResponse(ControlRefusal(.badRequest, "empty request"))
            }
            request = try ControlFraming.decode(ControlRequest.self, from: line)
        } catch {
            return ControlResponse(ControlRefusal(.badRequest, "unreadable request: \(error)"))
        }
        // Read first, then refuse: the client gets an answer rather than a broken pipe.
        guard let peer = ControlSocket.peer(of: connection) else {
            return ControlResponse(
                ControlRefusal(.permissionDenied, "permission denied: the caller's credentials cannot be read"))
        }
        let caller: Caller
        switch policy.caller(
            peer: Caller(uid: peer.uid, gid: peer.gid, groups: peer.groups), onBehalfOf: request.onBehalfOf)
        {
        case .failure(let refusal):
            logger.warning(
                "refused control command '\(request.command)' from uid \(peer.uid), pid \(peer.pid): \(refusal.message)"
            )
            return ControlResponse(refusal)
        case .success(let found): caller = found
        }
        if let refusal = policy.refusal(uid: caller.uid, gid: caller.gid, groups: caller.groups) {
            logger.warning(
                "refused control command '\(request.command)' from \(caller.description), pid \(peer.pid): \(refusal)")
            return ControlResponse(ControlRefusal(.permissionDenied, "permission denied: \(refusal)"))
        }
        switch request.decoded() {
        case .failure(let refusal): return ControlResponse(refusal)
        case .success(let command): return answer(command, caller: caller, body: &body)
        }
    }

    private func answer(_ command: ControlCommand, caller: Caller, body: inout Data?) -> ControlResponse {
        switch command {
        case .ping:
            return ControlResponse(ok: true, message: "pong")
        case .status(let format):
            let (response, text) = status(format)
            body = text.map { Data($0.utf8) }
            return response
        case .reload:
            switch waitForReply(within: 60, { scheduler.reload(done: $0) }) {
            case .reloaded(let summary)?: return ControlResponse(ok: true, message: summary)
            case .refused(let reason)?: return ControlResponse(ControlRefusal(.failed, reason))
            case nil: return ControlResponse(ControlRefusal(.failed, "the reload did not finish within 60 s"))
            }
        case .cancel(let run):
            let reason = "cancelled by \(caller.description)"
            guard let active = waitForReply(within: 30, { scheduler.cancelRun(run, reason: reason, done: $0) }) else {
                return Self.noAnswer
            }
            return active
                ? ControlResponse(ok: true, message: "cancelling run \(run)", run: run.rawValue)
                : ControlResponse(ControlRefusal(.notActive, "run \(run) is not active"))
        case .run(let job, let params, let key):
            let start = {
                self.respond(to: { self.scheduler.runNow(job, params: params, done: $0) }) { run in
                    "started run \(run) of \(job)"
                }
            }
            guard let key else { return start() }
            return keyedRuns.run(job, params: params, key: key, start: start)
        case .retry(let job, let run, let from, let skip, let texts):
            var retry = RetryRequest(from: from)
            for step in skip { retry.skip[step] = .some(nil) }
            let outputs = texts.mapValues { Data($0.utf8) }
            let what = from.map { "from step '\($0)'" } ?? "from its failed steps"
            return respond(to: {
                scheduler.retryRun(run, of: job, request: retry, outputs: outputs, by: caller.description, done: $0)
            }) { run in "retrying run \(run) of \(job) \(what)" }
        case .decide(let decision):
            return decide(decision, caller: caller)
        case .preview(let job, let params):
            return models.preview(job, params: params, body: &body)
        case .eval(let job, let step, let runs, let cases):
            return models.evaluate(job, step, runs: runs, cases: cases, body: &body)
        case .draft(let job, let description, let model, let repairs):
            return models.draft(job, description: description, model: model, repairs: repairs, body: &body)
        case .deliver(let job, let headers, let data):
            let answer = webhooks.deliver(job, headers: headers, body: data)
            daemonMetrics.delivered(job: answer.status == 404 ? nil : job.rawValue, status: answer.status)
            var response = ControlResponse(ok: answer.status < 300, message: answer.message, run: answer.run?.rawValue)
            if !response.ok { response.error = answer.status == 404 ? .noSuchJob : .refused }
            response.status = answer.status
            return response
        }
    }

    static let noAnswer = ControlResponse(ControlRefusal(.failed, "wfd did not answer within 30 s"))

    /// `status`: the table `wfctl status` prints (coloured or not), or its JSON, built from the
    /// scheduler's memory.
    private func status(_ format: ControlCommand.StatusFormat) -> (ControlResponse, body: String?) {
        guard let snapshot = waitForReply(within: 30, { scheduler.snapshot(done: $0) }) else {
            return (Self.noAnswer, nil)
        }
        if format == .metrics {
            return (ControlResponse(ok: true, message: ""), metrics(snapshot))
        }
        if format == .active {
            let active = Dictionary(
                uniqueKeysWithValues: snapshot.activeRuns.map { ($0.key.rawValue, $0.value.rawValue) })
            guard let data = try? RecordJSON.encode(active) else {
                return (ControlResponse(ControlRefusal(.failed, "cannot encode the active runs")), nil)
            }
            return (ControlResponse(ok: true, message: ""), String(decoding: data, as: UTF8.self))
        }
        let now = Date()
        let report = StatusAnswer.report(snapshot, state: scheduler.configuration.state, daemon: daemon, now: now)
        switch format {
        case .active, .metrics: return (ControlResponse(ok: true, message: ""), nil)  // answered above
        case .table(let colour):
            return (ControlResponse(ok: true, message: ""), StatusTable.render(report, now: now, colour: colour))
        case .json:
            guard let data = try? statusEncoder.encode(report) else {
                return (ControlResponse(ControlRefusal(.failed, "cannot encode the status")), nil)
            }
            return (ControlResponse(ok: true, message: ""), String(decoding: data, as: UTF8.self))
        }
    }

    /// `status` as metrics: the counters the runs fed, with the gauges of now.
    private func metrics(_ snapshot: SchedulerSnapshot) -> String {
        let state = scheduler.configuration.state
        let now = Date()
        var gauges = DaemonMetrics.Gauges()
        gauges.jobs = snapshot.ids.count
        gauges.activeRuns = snapshot.activeRuns.count
        gauges.queuedRuns = snapshot.queuedRuns
        let waiting = PendingDecision.load(state, active: snapshot.activeRuns)
        gauges.approvalsWaiting = waiting.count
        gauges.oldestApprovalSeconds = waiting.first.map { max(0, now.timeIntervalSince($0.since)) } ?? 0
        gauges.quarantinedRecords =
            (try? RecordFile.read(QuarantineLog.self, from: state.quarantineLog))?.entries.count ?? 0
        gauges.residentBytes = ProcessMemory.residentBytes().map(Int.init)
        return daemonMetrics.render(gauges)
    }

    /// `approve` and `reject`: the decision names who took it (the caller's uid and user name, and
    /// the delegate it came through).
    private func decide(_ request: ControlCommand.Decision, caller: Caller) -> ControlResponse {
        var input: JSONValue?
        if let text = request.input {
            guard let value = JSONValue.parse(Data(text.utf8)) else {
                return ControlResponse(ControlRefusal(.badRequest, "--input is not JSON: \(text.prefix(80))"))
            }
            input = value
        }
        let decision = Decision(
            approved: request.approve, by: caller.description, uid: caller.uid, at: Date(),
            comment: request.comment, input: input)
        let (run, step) = (request.run, request.step)
        let answered: String?? = waitForReply(within: 30) { reply in
            scheduler.decide(run, DecisionRequest(step: step, item: request.item, decision: decision, reply: reply))
        }
        guard let result = answered else { return Self.noAnswer }
        if let refusal = result { return ControlResponse(ControlRefusal(.refused, refusal)) }
        let item = request.item.map { " item \($0)" } ?? ""
        return ControlResponse(
            ok: true, message: "\(request.approve ? "approved" : "rejected") step '\(step)'\(item) of run \(run)",
            run: run.rawValue)
    }

    /// Sends a command that starts a run to the scheduler and waits (30 s at most) for its answer.
    private func respond(
        to send: (@escaping @Sendable (Result<RunID, Scheduler.ManualRunRefusal>) -> Void) -> Void,
        success: (RunID) -> String
    ) -> ControlResponse {
        guard let result = waitForReply(within: 30, send) else { return Self.noAnswer }
        switch result {
        case .success(let run): return ControlResponse(ok: true, message: success(run), run: run.rawValue)
        case .failure(let refusal): return ControlResponse(ControlRefusal(Self.code(refusal.code), refusal.message))
        }
    }

    /// The wire's code for the scheduler's refusal.
    private static func code(_ code: Scheduler.ManualRunRefusal.Code) -> ControlError {
        switch code {
        case .noSuchJob: .noSuchJob
        case .noSuchRun: .noSuchRun
        case .notRetryable: .notRetryable
        case .badRequest: .badRequest
        case .busy: .busy
        case .failed: .failed
        }
    }
}
