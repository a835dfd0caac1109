import Foundation
import JSONSchemaKit
import JobFormat
import Logging
import RunModel
import Schedules
import WorkflowStore

/// A run that is about to execute, and the handle to stop it.
public struct PreparedRun: Sendable {
    public let snapshot: RunSnapshot
    public let handle: RunHandle
    let inputs: AsyncStream<RunInput>
    /// For a run a trigger started: the payload's text, written as `payload.json` with the spec.
    var payloadText: String?
}

/// The scheduler's jobs, as an agent's job tool uses them.
public struct JobLink: Sendable {
    /// Puts a trigger in its job's inbox (durably) and offers it to the scheduler.
    public var start: @Sendable (PendingTrigger) async -> TriggerOutcome
    /// The job as loaded now, nil when it is not.
    public var definition: @Sendable (JobID) async -> Job?
}

/// Executes runs: feeds events to the pure ``RunMachine`` and carries out the effects it returns
/// (durable writes first, then spawns), so the records on disk always lead the processes.
public struct RunCoordinator: Sendable {
    public let store: RunStore
    public let executor: any StepExecutor
    public let clock: any WorkflowClock
    public let logger: Logger
    /// Steps run in this directory: the jobs directory, so `run: ./bin/tool` finds job-local tools.
    public let workingDirectory: String
    public let daemonEnvironment: [String: String]
    public var http: HTTPStepExecutor
    public var llm: LLMStepExecutor
    public var secrets: SecretStore
    /// The host's prices (a job's own `prices:` go over them).
    public var prices: PriceTable
    /// The account wfd runs as: whose `HOME`, `USER`, `LOGNAME` and `SHELL` a step without
    /// `user:` gets. Looked up once, like systemd looks up `User=` once per start.
    public var ownAccount: UserAccount?
    /// The random part of each new run id (24 bits); tests give a sequence of their own.
    public var runIDSuffix: @Sendable () -> UInt32 = { UInt32.random(in: 0...0xFF_FFFF) }
    /// Hears every transition of every run once its effects are performed (wfd's metrics count
    /// them; tests wait on it).
    public var observe: (@Sendable (RunTransition) -> Void)?
    /// How an agent's job tool reaches other jobs; nil outside wfd's scheduler.
    public var jobs: JobLink?

    public init(
        store: RunStore, executor: any StepExecutor, clock: any WorkflowClock, logger: Logger,
        workingDirectory: String, daemonEnvironment: [String: String], prices: PriceTable = PriceTable()
    ) {
        self.store = store
        self.executor = executor
        self.clock = clock
        self.logger = logger
        self.workingDirectory = workingDirectory
        self.daemonEnvironment = daemonEnvironment
        http = HTTPStepExecutor()
        llm = LLMStepExecutor()
        secrets = SecretStore(directory: daemonEnvironment["CREDENTIALS_DIRECTORY"])
        self.prices = prices
        ownAccount = UserAccount.own()
    }

    /// Creates the run (in memory) and the handle that can cancel it. Its id carries the time a
    /// person reads it as: the fire time of a scheduled run (decided ahead of it or caught up
    /// later), the moment of asking for any other.
    public func prepare(job: Job, trigger: Trigger, scheduledFor: Date?, params: [String: String] = [:]) -> PreparedRun
    {
        prepare(job: job, trigger: trigger, scheduledFor: scheduledFor, params: params, pending: nil)
    }

    /// A run of `pending` (a trigger taken into the inbox) gets the id its sender was told, its
    /// origin and its payload.
    func prepare(
        job: Job, trigger: Trigger, scheduledFor: Date?, params: [String: String], pending: PendingTrigger?
    ) -> PreparedRun {
        let now = clock.now()
        let id = pending?.run ?? makeRunID(at: scheduledFor ?? now)
        var snapshot = RunSnapshot(job: job, id: id, trigger: trigger, scheduledFor: scheduledFor, createdAt: now)
        snapshot.run.params = params.isEmpty ? nil : params
        snapshot.run.traceID = TraceContext.newTraceID()
        if let pending {
            snapshot.run.origin = pending.origin
            snapshot.payload = JSONValue.parse(Data(pending.payload.utf8))
        }
        let (inputs, continuation) = AsyncStream.makeStream(of: RunInput.self)
        return PreparedRun(
            snapshot: snapshot, handle: RunHandle(job: job.id, run: id, continuation: continuation, clock: clock),
            inputs: inputs, payloadText: pending?.payload)
    }

    /// A new run id for a run created at `date`.
    public func makeRunID(at date: Date) -> RunID { RunID.make(at: date, suffix: runIDSuffix() & 0xFF_FFFF) }

    /// Takes up a run that is on disk already (recovery, `wfctl retry`), with a handle to cancel it.
    public func resume(_ snapshot: RunSnapshot) -> PreparedRun {
        let (inputs, continuation) = AsyncStream.makeStream(of: RunInput.self)
        return PreparedRun(
            snapshot: snapshot,
            handle: RunHandle(job: snapshot.run.job, run: snapshot.run.id, continuation: continuation, clock: clock),
            inputs: inputs)
    }

    /// Runs `prepared` to its end and returns its final records. Never throws: problems become
    /// the run's recorded outcome.
    ///
    /// A new run begins with the start transition; a run from ``resume(_:)`` with `first`
    /// (``RunEvent/recover(at:)`` or ``RunEvent/retry(_:at:)``). `recorded` is called once the
    /// first transition is on disk, before anything else happens.
    ///
    /// With `notBefore`, every record (the intent of each first step included) is written durably
    /// first and the steps are launched at `notBefore`: a run decided ahead of its fire time starts
    /// on the dot, and what is on disk still leads the processes. Inputs that arrive meanwhile are
    /// applied (a cancel ends the steps unlaunched: the machine refuses their launch).
    public func execute(
        _ prepared: PreparedRun, notBefore: Date? = nil, first: RunEvent? = nil,
        recorded: (@Sendable () -> Void)? = nil
    ) async -> RunSnapshot {
        await carryOut(prepared, notBefore: notBefore, first: first, recorded: recorded).snapshot
    }

    /// ``execute(_:notBefore:first:recorded:)``, returning also the job's `latest.json` as the
    /// run's end left it (the scheduler keeps it for status, without reading it back).
    func carryOut(
        _ prepared: PreparedRun, notBefore: Date?, first: RunEvent?, recorded: (@Sendable () -> Void)?
    ) async -> (snapshot: RunSnapshot, latest: LatestRuns?) {
        var run = RunExecution(prepared, coordinator: self, notBefore: notBefore, first: first, recorded: recorded)
        // The spec and the directories first; the run record follows with the start transition
        // (a crash in between leaves a directory no index points at, never a half-made run).
        if first == nil {
            let (store, spec, id, payload) = (
                store, prepared.snapshot.spec, prepared.snapshot.run.id, prepared.payloadText
            )
            do {
                // The steps/ directory comes with the first step record, logs/ with the first byte of output.
                try await BlockingIO.shared.run { () throws(StoreError) in
                    try store.saveSpec(spec, run: id)
                    if let payload { try store.savePayload(payload, job: spec.id, run: id) }
                }
            } catch {
                run.logger.error("cannot record the new run, not starting it: \(error)")
                run.finish()
                var snapshot = prepared.snapshot
                snapshot.run.state = .failed
                snapshot.run.error = "wfd could not write the run record: \(error)"
                recorded?()
                return (snapshot, nil)
            }
        }
        var inputs = prepared.inputs.makeAsyncIterator()
        await withTaskGroup(of: Void.self) { group in
            while await run.drain(&group), !run.snapshot.run.state.isTerminal,
                let input = await inputs.next(), await run.receive(input, &group)
            {}
            run.finish()
        }
        prepared.handle.continuation.finish()
        // Decisions that arrived as the run ended hear so.
        while let input = await inputs.next() {
            if case .decision(let request) = input { request.reply("the run has ended") }
        }
        return (run.snapshot, run.latest)
    }

    /// One process of a run: a step, or item `item` of a `for_each` step.
    struct Slot: Hashable, CustomStringConvertible {
        let step: StepID
        let item: Int?

        var description: String { item.map { "\(step)[\($0)]" } ?? step.rawValue }
    }

    func logFinish(_ state: RunState, snapshot: RunSnapshot, logger: Logger) {
        let message = "run \(state.rawValue)" + (snapshot.run.error.map { ": \($0)" } ?? "")
        let id =
            switch state {
            case .succeeded: MessageID.runSucceeded
            case .cancelled: MessageID.runCancelled
            default: MessageID.runFailed
            }
        logger.log(
            level: state == .succeeded ? .info : .error, "\(message)",
            metadata: [LogField.state: .string(state.rawValue), LogField.messageID: .string(id)])
    }

    func logAttempt(_ slot: Slot, _ result: AttemptResult, snapshot: RunSnapshot, logger: Logger) {
        let record = snapshot.step(slot.step).flatMap { try? RunMachine.slot($0, slot.item) }
        let attempt = record?.attempts.last
        var fields = [LogField.step: slot.step.rawValue, LogField.attempt: String(attempt?.number ?? 0)]
        if let item = slot.item { fields[LogField.item] = String(item) }
        let stepLogger = logger.with(fields)
        let took = attempt?.durationMilliseconds.map { " in \($0) ms" } ?? ""
        switch result.outcome {
        case .succeeded: stepLogger.info("step succeeded\(took)")
        case .cancelled: stepLogger.warning("step cancelled\(took): \(result.error ?? "")")
        case .failed, .timedOut, .interrupted, .oom:
            let kind = Logger.MetadataValue.string(attempt?.errorKind?.rawValue ?? "unknown")
            stepLogger.error(
                "step failed\(took): \(result.error ?? "")",
                metadata: [LogField.messageID: .string(MessageID.stepFailed), "error_kind": kind])
        }
    }
}
