import Foundation
import JobFormat
import RuntimeSupport
import WorkflowControl
import WorkflowStore

/// Manual runs with an idempotency key: one run per key and job. Requests with keys are taken one
/// at a time, so two that race with the same key start one run; the key is recorded with its run
/// (`jobs/<job>/keys.json`, durably) before the first is answered, so a repeat finds it also after
/// a restart. Should wfd die between creating the run and recording its key (one durable write),
/// a repeat starts a second run.
final class KeyedRuns: Sendable {
    let state: StateDirectory
    private let lock = Locked(())

    init(state: StateDirectory) { self.state = state }

    /// The run `key` started for `job`, or a new one from `start` (whose key is then recorded).
    func run(
        _ job: JobID, params: [String: String], key: String, start: () -> ControlResponse
    ) -> ControlResponse {
        lock.withLock { _ in
            let digest = IdempotencyKeys.digest(of: params)
            let known: IdempotencyKeys
            do {
                known = try IdempotencyKeys.load(job, in: state)
            } catch {
                return ControlResponse(ControlRefusal(.failed, "cannot read the idempotency keys: \(error)"))
            }
            if let entry = known.entry(for: key) {
                guard entry.params == digest else {
                    return ControlResponse(
                        ControlRefusal(
                            .refused,
                            "idempotency key '\(key)' started run \(entry.run) of \(job) with other parameter values: use another key"
                        ))
                }
                var response = ControlResponse(
                    ok: true, message: "run \(entry.run) of \(job) was started with this key already",
                    run: entry.run.rawValue)
                response.existing = true
                return response
            }
            var response = start()
            guard response.ok, let run = response.run.flatMap(RunID.init) else { return response }
            do {
                try IdempotencyKeys.record(
                    .init(key: key, run: run, params: digest, at: Date()), for: job, in: state)
            } catch {
                response.message += " (its idempotency key could not be recorded: \(error))"
            }
            response.existing = false
            return response
        }
    }
}
