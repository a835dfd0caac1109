import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Testing
import WorkflowReports

/// `wfctl harden`'s tracing of values, pure: a transcript in, steps out, parsed as wfd would.
@Suite struct HardeningTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// Each call in a turn of its own, or in the turn `turns` gives it.
    func input(_ calls: [(String, JSONValue, String)], turns: [Int]? = nil, params: [String: String] = ["team": "ops"])
        throws
        -> Hardening.Input
    {
        let job = try JobParser().parse(
            """
            params: { team: { default: ops } }
            steps:
              - id: act
                agent:
                  provider: openai
                  model: m
                  instructions: "Check the hosts of team ${{ params.team }} in zone eu-1 and restart the broken ones."
                  tools:
                    - { name: hosts, http: { url: "https://inventory.test/${{ args.team }}/${{ args.zone }}" } }
                    - { name: ping, http: { url: "https://inventory.test/ping/${{ args.host }}" } }
                    - { name: restart, http: { method: POST, url: "https://inventory.test/restart/${{ args.host }}" }, approve: true }
                  mcp_servers: [{ name: clock, command: [clock-server], tools: [now] }]
            """, path: "/etc/wfd/jobs.d/hosts.yaml")
        let step = job.steps[0]
        guard case .agent(let agent) = step.kind else { throw HardeningFailure() }
        var transcript = AgentTranscript(job: job.id, run: RunID("r1")!, step: step.id, item: nil, startedAt: t0)
        for (index, (name, arguments, result)) in calls.enumerated() {
            let turn = turns?[index] ?? index + 1
            var call = AgentToolCall(id: "c\(index)", name: name, arguments: arguments, effect: .idempotent)
            call.state = .succeeded
            call.result = result
            if transcript.turns.last?.number == turn {
                transcript.turns[transcript.turns.count - 1].toolCalls.append(call)
                continue
            }
            var made = AgentTurn(
                number: turn, attempt: 1,
                call: ModelCall(provider: .openai, model: "m", promptSHA256: "", startedAt: t0),
                last: false)
            made.toolCalls = [call]
            transcript.turns.append(made)
        }
        return Hardening.Input(
            job: job, step: step, agent: agent, transcript: transcript, params: params, trigger: .null, upstream: [:])
    }

    struct HardeningFailure: Error {}

    @Test func valuesAreTracedToParametersTheInstructionsAndEarlierResultsAndListsBecomeLoops() throws {
        let hosts = #"HTTP 200\#n{"hosts": [{"name": "a1"}, {"name": "b2"}]}"#
        let output = try Hardening.harden(
            try input([
                ("hosts", .object(["team": .string("ops"), "zone": .string("eu-1")]), hosts),
                ("ping", .object(["host": .string("a1")]), "HTTP 200\npong"),
                ("ping", .object(["host": .string("b2")]), "HTTP 200\ntimeout"),
                ("now", .object([:]), "12:00"),
                ("restart", .object(["host": .string("b2")]), "HTTP 200\nok"),
            ]))
        #expect(output.steps == ["hosts", "ping_each", "decide", "approve_decide", "restart_each"], "\(output.yaml)")
        #expect(output.yaml.contains(#"      url: "https://inventory.test/${{ params.team }}/eu-1""#), "\(output.yaml)")
        #expect(output.yaml.contains(#"for_each: "${{ steps.hosts.output.hosts }}""#))
        #expect(output.yaml.contains(#"      url: "https://inventory.test/ping/${{ item.name }}""#))
        #expect(output.notes == ["turn 4: now is an MCP server's tool: no step kind runs it; left out"])
        // b2 is one of the hosts, but which one to restart was the model's choice on the pings:
        // a model decides it, a person approves, then each restart runs.
        #expect(output.yaml.contains("# from turn 5: restart {\"host\":\"b2\"}"))
        #expect(output.yaml.contains(#"      url: "https://inventory.test/restart/${{ item.host }}""#))
        #expect(output.modelCalls == 1 && output.agentCalls == 5)
        let spliced = try HardeningDraft.splice(
            """
            params: { team: { default: ops } }
            steps:
              - id: act
                agent: { provider: openai, model: m, instructions: x, tools: [] }
              - id: report
                needs: [act]
                run: echo done
            """, step: StepID("act")!, with: output.yaml, last: output.steps.last ?? "")
        let job = try JobParser().parse(spliced, path: "/etc/wfd/jobs.d/hosts-hardened.yaml")
        #expect(job.steps.map(\.id.rawValue) == output.steps + ["report"])
        #expect(job.steps.last?.needs == [StepID("restart_each")!], "what needed the agent needs its last step")
    }

    @Test func aListOnlyPartlyWalkedIsTheModelsChoice() throws {
        let hosts = #"HTTP 200\#n{"hosts": [{"name": "a1"}, {"name": "b2"}, {"name": "c3"}]}"#
        let output = try Hardening.harden(
            try input(
                [
                    ("hosts", .object(["team": .string("ops"), "zone": .string("eu-1")]), hosts),
                    ("ping", .object(["host": .string("a1")]), "HTTP 200\npong"),
                    ("ping", .object(["host": .string("c3")]), "HTTP 200\npong"),
                ], turns: [1, 2, 2]))
        #expect(output.steps == ["hosts", "decide", "ping_each"], "\(output.yaml)")
        #expect(!output.yaml.contains("hosts.2.name"), "not the third host of this run for ever")
        #expect(output.yaml.contains("              enum: [ping]"), "\(output.yaml)")
    }

    @Test func nothingThatSucceededIsNothingToHarden() throws {
        var nothing = try input([])
        nothing.transcript.turns = []
        #expect(throws: Hardening.Problem.self) { try Hardening.harden(nothing) }
    }
}
