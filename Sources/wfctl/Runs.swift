import ArgumentParser
import Foundation
import WorkflowControl
import WorkflowCore
import WorkflowStore

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the runs of a job (or of every job), newest first.",
        discussion: """
            Examples:
              wfctl runs backup --limit 5
              wfctl runs --json | jq '.[] | select(.state == "failed")'
            """
    )

    @Argument(help: ArgumentHelp("The job (default: every job).", valueName: "job"))
    var job: String?

    @Option(help: "How many runs to show.")
    var limit: Int = 20

    @Flag(
        help:
            "Print the runs as JSON: [{\"job\", \"id\", \"state\", \"trigger\", \"scheduled_for\", \"started_at\", \"ended_at\", \"error\"}]."
    )
    var json = false

    @OptionGroup var options: StateOptions

    func validate() throws {
        if let job, JobID(job) == nil { throw ValidationError("'\(job)' is not a job id: \(JobID.rule)") }
        guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
    }

    func run() throws {
        let state = options.directory
        let store = RunStore(directory: state)
        let index = RunIndex(directory: state)
        let jobs =
            job.flatMap(JobID.init).map { [$0] }
            ?? ((try? FileManager.default.contentsOfDirectory(atPath: state.runsRoot)) ?? []).compactMap(JobID.init)
        var runs: [RunIndex.Entry] = []
        for id in jobs {
            // The active run is not in the index yet; ended ones come from its tail.
            if let active = (try? store.loadLatest(id))?.active, let record = try? store.loadRun(id, active.id) {
                runs.append(RunIndex.Entry(record))
            }
            let recent = index.recent(id, limit: limit)
            if recent.isEmpty {  // a history from before the index: read the records
                for run in store.runIDs(id).suffix(limit).reversed() {
                    if let record = try? store.loadRun(id, run) { runs.append(RunIndex.Entry(record)) }
                }
            } else {
                runs += recent.filter { entry in !runs.contains { $0.id == entry.id } }
            }
        }
        runs = Array(runs.sorted { $0.id > $1.id }.prefix(limit))
        if json {
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(runs) + Data("\n".utf8))
            return
        }
        guard !runs.isEmpty else {
            print(job.map { "no runs of \($0) yet" } ?? "no runs yet")
            return
        }
        let now = Date()
        var rows = [["RUN", "JOB", "STATE", "TRIGGER", "STARTED", "TOOK", "ERROR"]]
        for run in runs {
            let started = run.startedAt ?? run.id.createdAt ?? now
            let took = run.endedAt.map { String(format: "%.1fs", $0.timeIntervalSince(started)) } ?? "-"
            rows.append([
                run.id.rawValue, run.job?.rawValue ?? "", run.state.rawValue, run.trigger.rawValue,
                StatusTable.ago(started, now: now), took, run.error ?? "",
            ])
        }
        print(StatusTable.columns(rows), terminator: "")
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one run: its steps with their states, attempts, durations and errors.",
        discussion: "--json prints {\"run\": the run record, \"steps\": [step records]}."
    )

    @Argument(help: ArgumentHelp("The run id (see wfctl runs).", valueName: "run"))
    var target: String

    @Flag(help: "Print the run and its steps as JSON.")
    var json = false

    @OptionGroup var options: StateOptions

    struct Output: Codable {
        var run: RunRecord
        var steps: [StepRecord]
    }

    func run() throws {
        guard let id = RunID(target) else { throw ValidationError("'\(target)' is not a run id") }
        let state = options.directory
        let store = RunStore(directory: state)
        let job = try jobOfRun(id, in: state)
        let snapshot: RunSnapshot
        do {
            snapshot = try store.loadSnapshot(job, id)
        } catch {
            throw CommandFailure(description: "cannot read run \(target): \(error)", code: 1)
        }
        if json {
            let output = Output(run: snapshot.run, steps: snapshot.steps)
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(output) + Data("\n".utf8))
            return
        }
        let run = snapshot.run
        let interrupted = run.interrupted == true ? " (interrupted: waiting for wfctl retry)" : ""
        print("run \(run.id) of \(run.job): \(run.state.rawValue)\(interrupted) (\(run.trigger.rawValue))")
        if let scheduled = run.scheduledFor { print("  scheduled for \(Timestamp.rfc3339(scheduled))") }
        if let error = run.error { print("  \(error)") }
        for step in snapshot.steps {
            let needs = step.needs.isEmpty ? "" : " (needs \(step.needs.map(\.rawValue).joined(separator: ", ")))"
            print("  \(step.step)\(needs): \(step.state.rawValue)" + (step.error.map { ": \($0)" } ?? ""))
            for attempt in step.attempts { print("    " + Self.describe(attempt)) }
            for item in step.items ?? [] {
                let value = item.value.map { " \($0.environmentText.prefix(40))" } ?? ""
                print(
                    "    item \(item.item ?? 0)\(value): \(item.state.rawValue)" + (item.error.map { ": \($0)" } ?? ""))
                for attempt in item.attempts { print("      " + Self.describe(attempt)) }
            }
            if let due = step.retryAt { print("    next attempt at \(Timestamp.rfc3339(due))") }
        }
    }

    static func describe(_ attempt: Attempt) -> String {
        let took = attempt.durationMilliseconds.map { " in \($0) ms" } ?? ""
        let how =
            attempt.byHand == true
            ? "marked done by hand"
            : attempt.exitCode.map { "exit \($0)" } ?? attempt.signal.map { "signal \($0)" } ?? ""
        return
            "attempt \(attempt.number): \(attempt.outcome?.rawValue ?? "running")\(took) \(how)  \(attempt.log ?? "")"
    }
}
