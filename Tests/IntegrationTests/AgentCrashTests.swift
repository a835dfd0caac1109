import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// wfd is killed with SIGKILL at random moments while agent steps loop (model calls and tool
/// calls in flight), and restarted each time. The stand-in logs every model request and every
/// effectful call, so the test holds the transcripts against what really happened: a model
/// answer once recorded is never asked for again, and an effectful tool call runs once, or again
/// only after a person's `wfctl retry` of the run it interrupted.
@Suite(.serialized) struct AgentCrashTests {
    static let turns = """
        [{"calls": [{"name": "lookup", "arguments": {"id": "1"}}, {"name": "lookup", "arguments": {"id": "2"}}]},
         {"calls": [{"name": "note", "arguments": {"text": "a"}}]},
         {"calls": [{"name": "mark", "arguments": {"text": "b"}}]},
         {"calls": [{"name": "lookup", "arguments": {"id": "3"}}]},
         {"calls": [{"name": "note", "arguments": {"text": "c"}}, {"name": "mark", "arguments": {"text": "d"}}]},
         {"answer": {"done": true}}]
        """

    static func job(_ stub: StandIn, marks: String, enabled: Bool) -> String {
        """
        schedule: "* * * * * *"
        enabled: \(enabled)
        steps:
          - id: act
            agent:
              provider: openai
              model: stand-in
              base_url: \(stub.url("/v1"))
              instructions: "Run ${{ run.id }}: look, note and mark."
              max_tokens: 100
              schema: { type: object, required: [done] }
              tools:
                - name: lookup
                  http: { url: "\(stub.url("/items"))/${{ args.id }}" }
                - name: note
                  http: { method: POST, url: "\(stub.url("/notes"))", json: { run: "${{ run.id }}", text: "${{ args.text }}" } }
                - name: mark
                  run: echo "$WF_RUN_ID $WF_ARG_TEXT" >> \(marks)
                  schema: { type: object, required: [text], properties: { text: { type: string } } }
        """
    }

    /// A log entry's `at`.
    static func seconds(_ value: JSONValue?) -> Double? {
        if case .number(let seconds)? = value { seconds } else { nil }
    }

    struct Call: Hashable {
        let run: String
        let text: String
    }

    @Test func killingWfdDuringAgentLoopsNeverPaysAnAnswerTwiceOrRepeatsAnEffect() async throws {
        let kills = Int(ProcessInfo.processInfo.environment["WFD_CRASH_KILLS"] ?? "") ?? 50
        let dir = try TemporaryDirectory("agent-crash")
        let stub = try await StandIn(
            """
            {"routes": [
              {"method": "POST", "path": "/v1/chat/completions", "responses": [{"agent": {"turns": \(Self.turns)}, "delay_ms": 40}]},
              {"method": "GET", "path": "/items/[0-9]+", "responses": [{"json": {"ok": true}, "delay_ms": 20}]},
              {"method": "POST", "path": "/notes", "responses": [{"json": {"noted": true}, "delay_ms": 30}]}
            ]}
            """, in: dir)
        defer { Task { await stub.stop() } }
        let marks = dir.file("marks")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write("jobs/agentic.yaml", Self.job(stub, marks: marks, enabled: true))

        var generator = SystemRandomNumberGenerator()
        var killedAt: [Double] = []
        for _ in 0..<kills {
            let daemon = try await TestDaemon.start(dir)
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...700, using: &generator)))
            daemon.process.send(SIGKILL)
            _ = await daemon.process.waitForExit()
            killedAt.append(Date().timeIntervalSince1970)
        }

        // No new fire times; the last start takes up what is left. A run an effectful tool call
        // interrupted waits for a person: the test is that person, and notes which call it let
        // run again.
        try dir.write("jobs/agentic.yaml", Self.job(stub, marks: marks, enabled: false))
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let state = StateDirectory(root: daemon.state)
        let store = RunStore(directory: state)
        let job = try #require(JobID("agentic"))
        let step = try #require(StepID("act"))
        var retried: [Call: Int] = [:]
        // One at a time: a job has one active run.
        for _ in 0..<60 {
            #expect(await eventually(timeout: .seconds(90)) { (try? store.loadLatest(job))?.active == nil })
            var again: [RunID] = []
            for run in store.runIDs(job) where again.isEmpty {
                guard let record = try? store.loadRun(job, run), record.state == .failed,
                    let transcript = try store.loadTranscript(job, run, step, item: nil)
                else { continue }
                let waiting = transcript.turns.last?.toolCalls.filter { $0.state == .interrupted } ?? []
                #expect(!waiting.isEmpty, "\(run) failed: \(record.error ?? "")")
                for call in waiting {
                    retried[
                        Call(run: run.rawValue, text: call.arguments?.field("text")?.stringValue ?? ""), default: 0] +=
                        1
                }
                again.append(run)
            }
            if again.isEmpty { break }
            for run in again {
                let retry = try await runProgram(
                    try BuiltProducts.path("wfctl"), ["retry", run.rawValue, "--state", dir.file("state")])
                #expect(retry.status == 0, "\(retry.output)")
            }
        }

        let requests = stub.requests()
        var runs = 0
        var replayedTurns = 0
        var effects: [Call: Int] = [:]
        for request in requests where request["path"] == .string("/notes") {
            guard case .object(let body)? = request["body"] else { continue }
            effects[Call(run: body["run"]?.stringValue ?? "", text: body["text"]?.stringValue ?? ""), default: 0] += 1
        }
        let marked = ((try? String(contentsOfFile: marks, encoding: .utf8)) ?? "").split(separator: "\n")
        for line in marked {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { continue }
            effects[Call(run: String(parts[0]), text: String(parts[1])), default: 0] += 1
        }
        for run in store.runIDs(job) {
            guard let record = try? store.loadRun(job, run) else { continue }
            runs += 1
            #expect(record.state == .succeeded, "\(run) is \(record.state): \(record.error ?? "")")
            let transcript = try #require(try store.loadTranscript(job, run, step, item: nil))
            #expect(transcript.turns.count == 6, "\(run) has \(transcript.turns.count) turns")
            for turn in transcript.turns {
                // The requests for this turn: its conversation holds the turns before it.
                let asked = requests.filter { request in
                    guard request["path"] == .string("/v1/chat/completions"), case .object(let body)? = request["body"],
                        JSONValue.object(body).jsonText.contains(run.rawValue),
                        case .array(let messages)? = body["messages"]
                    else { return false }
                    return messages.filter { $0.field("role")?.stringValue == "assistant" }.count == turn.number - 1
                }
                #expect(!asked.isEmpty, "\(run) turn \(turn.number) was recorded without a request")
                let answered = turn.call.startedAt.timeIntervalSince1970 + Double(turn.call.latencyMilliseconds) / 1000
                let late = asked.compactMap { Self.seconds($0["at"]) }.filter { $0 > answered + 0.02 }
                #expect(late.isEmpty, "\(run) turn \(turn.number) was asked again after its answer was recorded")
                if asked.count > 1 {
                    replayedTurns += 1
                    // Asked again only because wfd died with the call in flight.
                    let first = asked.compactMap { Self.seconds($0["at"]) }.min() ?? 0
                    #expect(killedAt.contains { $0 > first && $0 < answered + 1 }, "\(run) turn \(turn.number)")
                }
                for call in turn.toolCalls {
                    #expect(call.state == .succeeded, "\(run) \(call.name) is \(call.state)")
                    guard call.effect == .effectful, let text = call.arguments?.field("text")?.stringValue else {
                        continue
                    }
                    let key = Call(run: run.rawValue, text: text)
                    let count = effects[key] ?? 0
                    #expect(count >= 1, "\(run) \(call.name) \(text) succeeded without reaching its service")
                    #expect(
                        count <= 1 + (retried[key] ?? 0),
                        "\(run) \(call.name) \(text) ran \(count) times after \(retried[key] ?? 0) retries")
                }
            }
        }
        #expect(runs >= 5, "enough runs to mean something: \(runs)")
        print(
            "agent crash test: \(kills) kills, \(runs) runs, \(retried.values.reduce(0, +)) interrupted calls retried by hand, "
                + "\(replayedTurns) turns asked twice (in flight at a kill)")
    }
}
