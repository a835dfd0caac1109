import ArgumentParser
import Foundation
import JobFormat
import RunModel
import WorkflowReports
import WorkflowStore

/// The job a run belongs to, found by its directory under `runs/`.
func jobOfRun(_ run: RunID, in state: StateDirectory) throws -> JobID {
    if access(state.runsRoot, R_OK | X_OK) != 0, errno == EACCES {
        throw CommandFailure.permissionDenied("reading \(state.runsRoot)", state: state.root)
    }
    guard let job = RunDetail.job(of: run, in: state) else {
        throw CommandFailure(description: "no run \(run) in \(state.root): see wfctl runs", code: .failed)
    }
    return job
}

/// Follows a run until it ends, printing each step's change of state as it happens (unless
/// `quiet`), and returns its final record. Fails with 69 when wfd stops first.
func followRun(_ run: RunID, of job: JobID, state: StateDirectory, quiet: Bool) throws -> RunRecord {
    let store = RunStore(directory: state)
    var seen: [StepID: (StepState, Int)] = [:]
    while true {
        let record = try? store.loadRun(job, run)
        if !quiet, let snapshot = try? store.loadSnapshot(job, run) {
            for step in snapshot.steps {
                let now = (step.state, step.attempts.count)
                guard seen[step.step].map({ $0 != now }) ?? (step.state != .pending) else { continue }
                seen[step.step] = now
                let attempt = step.attempts.last.map { " (attempt \($0.number))" } ?? ""
                let why = step.state == .succeeded || step.state == .running ? "" : step.error.map { ": \($0)" } ?? ""
                print("  \(step.step): \(Show.state(of: step))\(attempt)\(why)")
            }
        }
        if let record, record.state.isTerminal { return record }
        guard FileLock.isHeld(state.daemonLock) else {
            throw CommandFailure(
                description: "wfd stopped before run \(run) ended; it resumes the run when it starts",
                code: .unavailable)
        }
        usleep(50_000)
    }
}
