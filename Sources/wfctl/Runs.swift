import ArgumentParser
import Foundation
import JobFormat
import RunModel
import Schedules
import WorkflowControl
import WorkflowReports
import WorkflowStore

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the runs of a job (or of every job): the active ones, then the ended ones, newest first.",
        discussion: """
            Ended runs are listed in the order they ended, read from the end of the job's index \
            (or of every job's, runs.jsonl in the state directory), so a listing costs the same \
            whatever the length of the history. A run retried and ended again is listed once, as it \
            ended last. When more runs match than --limit, the last line gives the command for the \
            next page (--after CURSOR).

            Examples:
              wfctl runs backup --limit 5
              wfctl runs --status failed,timed_out --since 24h
              wfctl runs --trigger manual --until 2026-12-01T00:00:00Z
              wfctl runs --json | jq '.[] | select(.state == "failed")'

            Exit codes: 0 listed (even none), 1 the state directory cannot be read, 64 usage.
            """
    )

    @Argument(help: ArgumentHelp("The job (default: every job).", valueName: "job"))
    var job: String?

    @Option(help: "How many ended runs to show.")
    var limit: Int = 20

    @Option(
        name: .customLong("status"),
        help: ArgumentHelp(
            "Only runs in these states (queued, running, waiting, succeeded, failed, cancelled, timed_out).",
            valueName: "states"))
    var state: String?

    @Option(
        help: ArgumentHelp(
            "Only runs started this way (schedule, catchup, manual, retry, webhook, path, job).", valueName: "triggers")
    )
    var trigger: String?

    @Option(
        help: ArgumentHelp(
            "Only runs that ended since then (24h, 7d or an RFC 3339 time), and the active ones.", valueName: "when"))
    var since: String?

    @Option(
        help: ArgumentHelp(
            "Only runs that ended by then (24h, 7d or an RFC 3339 time), and no active one.", valueName: "when"))
    var until: String?

    @Option(
        help: ArgumentHelp(
            "The page after this cursor (the last line of the page before gives it).", valueName: "cursor"))
    var after: String?

    @Flag(
        help:
            "Print the runs as JSON: [{\"job\", \"id\", \"state\", \"trigger\", \"scheduled_for\", \"started_at\", \"ended_at\", \"error\"}]."
    )
    var json = false

    @OptionGroup var options: StateOptions

    func filter() throws -> RunListing.Filter {
        do {
            return try RunListing.Filter(
                job: job, states: state, triggers: trigger, since: since, until: until, now: Date())
        } catch {
            throw ValidationError(error.description)
        }
    }

    func validate() throws {
        _ = try filter()
        guard limit > 0 else { throw ValidationError("--limit must be at least 1") }
        if let after, RunListing.Cursor(after) == nil {
            throw ValidationError("--after '\(after)' is not a cursor: give the one the page before ended with")
        }
    }

    func run() throws {
        let listing = RunListing.load(
            try filter(), in: options.directory, limit: limit, after: after.flatMap(RunListing.Cursor.init))
        let runs = (listing.active ?? []) + listing.runs
        if json {
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(runs) + Data("\n".utf8))
            return
        }
        guard !runs.isEmpty || listing.next != nil else {
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
        if let next = listing.next {
            var words = ["wfctl", "runs"] + (job.map { [$0] } ?? [])
            for (name, value) in [("status", state), ("trigger", trigger), ("since", since), ("until", until)] {
                if let value { words += ["--\(name)", value] }
            }
            if limit != 20 { words += ["--limit", "\(limit)"] }
            print("more: \(words.joined(separator: " ")) --after \(next)")
        }
    }
}

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show one run: its steps with their states, attempts, durations and errors.",
        discussion: """
            Each attempt shows how it ended and why; a model call its tokens, cost and latency; an \
            HTTP request its status; an approval who decided and when. The run's spending is shown \
            against its budget, and a waiting step says how to decide on it.

            --json prints {"run": the run record, "steps": [step records], "spend": {"usd", "tokens", \
            "calls"}, "budget": {"usd", "tokens"} or null}.

            Exit codes: 0 shown, 1 no such run (or it cannot be read), 64 usage.
            """
    )

    @Argument(help: ArgumentHelp("The run id (see wfctl runs).", valueName: "run"))
    var target: String

    @Flag(help: "Print the run and its steps as JSON.")
    var json = false

    @OptionGroup var options: StateOptions

    func run() throws {
        guard let id = RunID(target) else { throw ValidationError("'\(target)' is not a run id") }
        let state = options.directory
        let store = RunStore(directory: state)
        let job = try jobOfRun(id, in: state)
        let snapshot: RunSnapshot
        do {
            snapshot = try store.loadSnapshot(job, id)
        } catch {
            throw CommandFailure(description: "cannot read run \(target): \(error)", code: .failed)
        }
        let spend = (try? store.loadRunSpend(job, id)) ?? Spend()
        let agents = RunDetail.transcripts(of: snapshot, in: store)
        if json {
            let output = RunDetail(snapshot, spend: spend, agents: agents)
            FileHandle.standardOutput.write(try Timestamp.makeEncoder().encode(output) + Data("\n".utf8))
            return
        }
        let run = snapshot.run
        let interrupted = run.interrupted == true ? " (interrupted: waiting for wfctl retry)" : ""
        print("run \(run.id) of \(run.job): \(run.state.rawValue)\(interrupted) (\(run.trigger.rawValue))")
        if let scheduled = run.scheduledFor { print("  scheduled for \(Timestamp.rfc3339(scheduled))") }
        if let origin = run.origin {
            let delivery = origin.delivery.map { run.trigger == .job ? " (run \($0))" : " (delivery \($0))" } ?? ""
            print("  started by \(origin.source)\(delivery) at \(Timestamp.rfc3339(origin.receivedAt))")
            print("  payload: \(store.directory.payload(run.job, run.id))")
        }
        if let error = run.error { print("  \(error)") }
        print("  trace: \(run.trace.traceID)")
        if spend.calls > 0 || snapshot.spec.budget != nil {
            print("  " + Self.describe(spend, against: snapshot.spec.budget))
        }
        if let executor = snapshot.spec.executor { print("  executor: \(executor.rawValue)") }
        for (name, lines) in [
            ("sandbox", snapshot.spec.sandbox?.value.lines ?? []),
            ("resources", snapshot.spec.resources?.value.lines ?? []),
        ] where !lines.isEmpty {
            print("  \(name): { \(lines.joined(separator: ", ")) }")
        }
        for step in snapshot.steps {
            let needs = step.needs.isEmpty ? "" : " (needs \(step.needs.map(\.rawValue).joined(separator: ", ")))"
            print("  \(step.step)\(needs): \(Self.state(of: step))" + (step.error.map { ": \($0)" } ?? ""))
            let definition = snapshot.definition(of: step.step)
            for (name, lines) in [
                ("sandbox", definition?.sandbox?.value.lines ?? []),
                ("resources", definition?.resources?.value.lines ?? []),
            ] where !lines.isEmpty {
                print("    \(name): { \(lines.joined(separator: ", ")) }")
            }
            for lines in Self.describe(step) { lines.forEach { print("    " + $0) } }
            for agent in agents where agent.step == step.step && agent.item == nil {
                AgentTraceText.lines(agent).forEach { print("    " + $0) }
            }
            for item in step.items ?? [] {
                let value = item.value.map { " \($0.environmentText.prefix(40))" } ?? ""
                print(
                    "    item \(item.item ?? 0)\(value): \(Self.state(of: item))" + (item.error.map { ": \($0)" } ?? "")
                )
                for lines in Self.describe(item) { lines.forEach { print("      " + $0) } }
                for agent in agents where agent.step == step.step && agent.item == item.item {
                    AgentTraceText.lines(agent).forEach { print("      " + $0) }
                }
                Self.describe(waiting: item, run: run.id).forEach { print("      " + $0) }
            }
            Self.describe(waiting: step, run: run.id).forEach { print("    " + $0) }
            if let due = step.retryAt { print("    next attempt at \(Timestamp.rfc3339(due))") }
        }
    }

    static func describe(_ spend: Spend, against budget: Budget?) -> String {
        var usd = String(format: "$%.4f", spend.usd)
        if let cap = budget?.usd { usd += String(format: " of $%.2f", cap) }
        var tokens = "\(spend.tokens) tokens"
        if let cap = budget?.tokens { tokens = "\(spend.tokens) of \(cap) tokens" }
        return "spent \(usd), \(tokens), in \(spend.calls) model call\(spend.calls == 1 ? "" : "s")"
    }

    /// A state as `wfctl show` prints it: `skipped (condition)`, `skipped (need)`, … say why.
    static func state(of record: StepRecord) -> String {
        record.state.rawValue + (record.state == .skipped ? record.skipCause.map { " (\($0.rawValue))" } ?? "" : "")
    }

    /// The condition line and the attempt lines of `record`: its open attempt says `waiting`
    /// while the step waits.
    static func describe(_ record: StepRecord) -> [[String]] {
        var condition: [[String]] = []
        if let decided = record.condition {
            let outcome = decided.value.map { "\($0)" } ?? "error"
            let read = ConditionRecord.describe(decided.seen)
            condition = [
                ["condition ${{ \(decided.expression) }}: \(outcome)" + (read.isEmpty ? "" : " (read \(read))")]
            ]
        }
        return condition
            + record.attempts.map { attempt in
                var lines = describe(attempt)
                if record.state == .waiting, attempt.endedAt == nil, let first = lines.first {
                    lines[0] = first.replacingOccurrences(of: ": running", with: ": waiting")
                }
                return lines
            }
    }

    static func describe(waiting record: StepRecord, run: RunID) -> [String] {
        guard record.state == .waiting, let waiting = record.waiting else { return [] }
        let what =
            switch waiting.kind {
            case .budget: "a person to allow a call over budget"
            case .tool: "approval of a tool call"
            case .approval: "approval"
            }
        let until = waiting.deadline.map { ", until \(Timestamp.rfc3339($0)) (then its timeout decides)" } ?? ""
        let item = record.item.map { " --item \($0)" } ?? ""
        return [
            "waiting for \(what) since \(Timestamp.rfc3339(waiting.since))\(until): \(waiting.message)",
            "decide: wfctl approve \(run) \(record.step)\(item)   or: wfctl reject \(run) \(record.step)\(item)",
        ]
    }

    static func describe(_ attempt: Attempt) -> [String] {
        var took = attempt.durationMilliseconds.map { " in \($0) ms" } ?? ""
        if let planned = attempt.plannedAt, let started = attempt.startedAt {
            let late = Int((started.timeIntervalSince(planned) * 1000).rounded())
            if late >= 1 { took += ", began \(late) ms after it was due" }
        }
        let how =
            attempt.byHand == true
            ? " marked done by hand"
            : attempt.exitCode.map { " exit \($0)" } ?? attempt.signal.map { " signal \($0)" } ?? ""
        let kind = attempt.errorKind.map { " (\($0.rawValue))" } ?? ""
        let outcome = attempt.outcome?.rawValue ?? "running"
        var lines = [
            "attempt \(attempt.number): \(outcome)\(kind)\(took)\(how)" + (attempt.log.map { "  \($0)" } ?? "")
        ]
        if attempt.outcome != .succeeded, let error = attempt.error { lines.append("  \(error)") }
        if let unit = attempt.unit {
            var used: [String] = []
            if let cpu = attempt.usage?.cpuNanoseconds { used.append(String(format: "CPU %.3f s", Double(cpu) / 1e9)) }
            if let memory = attempt.usage?.memoryPeakBytes {
                used.append(String(format: "memory peak %.1f MiB", Double(memory) / 1_048_576))
            }
            if let tasks = attempt.usage?.tasksPeak { used.append("\(tasks) tasks at most") }
            lines.append("  unit \(unit)" + (used.isEmpty ? "" : ": " + used.joined(separator: ", ")))
        }
        if let http = attempt.http {
            let status = http.status.map(String.init) ?? "no answer"
            let key = http.idempotencyKey.map { ", idempotency key \($0)" } ?? ""
            lines.append("  \(http.method) \(http.url) → \(status) in \(http.latencyMilliseconds) ms\(key)")
        }
        for call in attempt.calls ?? [] {
            let tokens =
                call.inputTokens.map { "\($0) in / \(call.outputTokens ?? 0) out" } ?? "no tokens"
            let cost = call.costUSD.map { String(format: ", $%.5f", $0) } ?? ""
            lines.append(
                "  model \(call.model): \(call.result), \(tokens)\(cost), \(call.latencyMilliseconds) ms"
                    + (call.error.map { ": \($0)" } ?? ""))
        }
        if let decision = attempt.decision {
            let verdict = decision.approved ? "approved" : "rejected"
            lines.append(
                "  \(verdict) by \(decision.by) at \(Timestamp.rfc3339(decision.at))"
                    + (decision.comment.map { ": \($0)" } ?? ""))
        }
        return lines
    }
}
