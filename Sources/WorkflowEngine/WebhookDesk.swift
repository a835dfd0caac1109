import Dispatch
import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel
import RuntimeSupport
import WorkflowStore

/// Takes webhook deliveries for wfd (`POST /hooks/<job>` on wfd-web, sent on over the control
/// socket): checks each with ``WebhookGate``, keeps redeliveries from starting a second run, puts
/// the delivery in the job's inbox and offers it to the scheduler. What the sender hears is said
/// only once the delivery is on disk.
///
/// Deliveries with the same id are taken one at a time (a lock per id, of 64), so two that race
/// start one run; others are taken side by side, their fsyncs overlapping. The delivery's id is recorded with its run before the inbox entry is written: a redelivery finds
/// it, and answers with the run when it is on disk or in the inbox; a record whose run is neither
/// (wfd stopped between the two writes) is taken up again under the same run id.
public final class WebhookDesk: Sendable {
    let scheduler: Scheduler
    let state: StateDirectory
    let secrets: SecretStore
    let logger: Logger
    let now: @Sendable () -> Date
    /// Deliveries whose ids hash alike wait for each other.
    private let locks = (0..<64).map { _ in Locked(()) }

    public init(
        scheduler: Scheduler, secrets: SecretStore, logger: Logger, now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.scheduler = scheduler
        state = scheduler.configuration.state
        self.secrets = secrets
        self.logger = logger
        self.now = now
    }

    /// What the sender hears.
    public struct Answer: Sendable, Equatable {
        public var status: Int
        public var message: String
        public var run: RunID?
    }

    /// Takes a delivery for `id`: `headers` by lower-case name, `body` as it came.
    public func deliver(_ id: JobID, headers: [String: String], body: Data) -> Answer {
        var log = logger
        log[metadataKey: LogField.job] = .string(id.rawValue)
        log[metadataKey: LogField.trigger] = .string(Trigger.webhook.rawValue)
        guard let definition = waitForReply(within: 10, { scheduler.definition(of: id, done: $0) }) else {
            return Answer(status: 503, message: "wfd did not answer within 10 s")
        }
        let job: Job
        switch definition {
        case .success(let found): job = found
        case .failure(let refusal): return refuse(404, refusal.message, log)
        }
        guard let hook = job.triggers?.webhook else {
            return refuse(404, "job '\(id)' takes no webhook (add on: { webhook: … } to its file)", log)
        }
        guard job.enabled else { return refuse(409, "job '\(id)' is disabled (enabled: false)", log) }
        let (values, missing) = secrets.load([hook.secret])
        let verdict = WebhookGate(job: job, hook: hook).check(
            headers: headers, body: body, secret: values[hook.secret], missing: missing[hook.secret])
        switch verdict {
        case .refuse(let status, let reason):
            return refuse(status, reason, log)
        case .filtered(let reason):
            log.info("webhook delivery filtered out: \(reason)")
            return Answer(status: 204, message: "not started: \(reason)")
        case .accept(_, let passed, let delivery, let observed):
            if let observed {
                log.warning("webhook delivery let through in observe mode; enforce would refuse it: \(observed)")
            }
            let payload = String(decoding: body, as: UTF8.self)
            guard let delivery else { return take(job: id, payload: payload, headers: passed, delivery: nil, log) }
            var hasher = Hasher()
            hasher.combine(id)
            hasher.combine(delivery)
            let lock = locks[Int(UInt(bitPattern: hasher.finalize()) % UInt(locks.count))]
            return lock.withLock { _ in take(job: id, payload: payload, headers: passed, delivery: delivery, log) }
        }
    }

    private func take(
        job: JobID, payload: String, headers: [String: String], delivery: String?, _ log: Logger
    ) -> Answer {
        let received = now()
        var run = RunID.make(at: received, suffix: UInt32.random(in: 0...0xFF_FFFF))
        if let delivery, let known = TriggerInbox.delivery(delivery, of: job, in: state) {
            let onDisk = FileManager.default.fileExists(atPath: state.runRecord(job, known))
            if onDisk || TriggerInbox.holds(job, known, in: state) {
                log.info("webhook redelivery \(delivery): run \(known) was started for it already")
                return Answer(status: 200, message: "delivery \(delivery) started run \(known) already", run: known)
            }
            run = known
        }
        let pending = PendingTrigger(
            job: job, run: run, sequence: TriggerSequence.next(), kind: .webhook,
            origin: TriggerOrigin(
                source: "POST /hooks/\(job)", delivery: delivery, headers: headers.isEmpty ? nil : headers,
                receivedAt: received),
            payload: payload)
        do {
            if let delivery { try TriggerInbox.recordDelivery(delivery, run: run, of: job, in: state) }
            try TriggerInbox.put(pending, in: state)
        } catch {
            if let delivery { TriggerInbox.forgetDelivery(delivery, of: job, in: state) }
            log.error("cannot take a webhook delivery: \(error)")
            return Answer(status: 503, message: "wfd cannot record the delivery: \(error)")
        }
        guard let outcome = waitForReply(within: 30, { scheduler.trigger(pending, reply: $0) }) else {
            // It is in the inbox: it starts when the scheduler gets to it, or after a restart.
            return Answer(status: 202, message: "accepted as run \(run); wfd is busy, it starts soon", run: run)
        }
        switch outcome {
        case .started(let id):
            log.info("webhook delivery \(delivery ?? "(no id)") started run \(id)")
            return Answer(status: 202, message: "started run \(id) of \(job)", run: id)
        case .queued(let id, let reason):
            log.info("webhook delivery \(delivery ?? "(no id)") queued as run \(id): \(reason)")
            return Answer(status: 202, message: "accepted as run \(id) of \(job): \(reason)", run: id)
        case .refused(let reason):
            return Answer(status: 409, message: "not started: \(reason)")
        }
    }

    private func refuse(_ status: Int, _ reason: String, _ log: Logger) -> Answer {
        log.warning("refused a webhook delivery (\(status)): \(reason)")
        return Answer(status: status, message: reason)
    }
}

/// Asks something that answers through a callback (the scheduler) and waits for the answer,
/// `seconds` at most (nil when none came), on the caller's own thread: never a cooperative one.
public func waitForReply<Answer: Sendable>(
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
