import Foundation
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

/// `for_each` in the running wfd: items as processes with WF_ITEM, bounded by max_parallel,
/// their outputs gathered for the steps after.
@Suite struct ForEachRunTests {
    @Test func aStepFansOutOverAnEarlierOutputAndTheNextStepGetsTheirOutputs() async throws {
        let dir = try TemporaryDirectory("foreach")
        try dir.write(
            "jobs/fan.yaml",
            """
            max_parallel: 2
            steps:
              - id: list
                output: json
                run: |
                  echo '{"hosts": ["alpha", "beta", "gamma"]}'
              - id: ping
                needs: [list]
                for_each: ${{ steps.list.output.hosts }}
                output: json
                run: |
                  echo "start $WF_ITEM" >> "$OUT/trace"; sleep 0.2; echo "end $WF_ITEM" >> "$OUT/trace"
                  echo "{\\"host\\": \\"$WF_ITEM\\", \\"index\\": $WF_ITEM_INDEX}"
              - id: report
                needs: [ping]
                run: echo "$WF_STEP_PING_OUTPUT" > "$OUT/report"
            env: { OUT: \(dir.path) }
            """)
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let result = try await runProgram(wfctl, ["run", "fan", "--wait", "--state", daemon.state])
        #expect(result.status == 0, "\(result.output)\n\(daemon.process.output)")
        #expect(
            try String(contentsOfFile: dir.file("report"), encoding: .utf8)
                == "[{\"host\":\"alpha\",\"index\":0},{\"host\":\"beta\",\"index\":1},{\"host\":\"gamma\",\"index\":2}]\n"
        )
        // Never more than two items at once.
        var running = 0
        var most = 0
        for line in try String(contentsOfFile: dir.file("trace"), encoding: .utf8).split(separator: "\n") {
            running += line.hasPrefix("start") ? 1 : -1
            most = max(most, running)
        }
        #expect(most == 2)
        let store = RunStore(directory: StateDirectory(root: daemon.state))
        let run = try #require(store.runIDs(JobID("fan")!).last)
        let ping = try store.loadStep(JobID("fan")!, run, StepID("ping")!)
        #expect(ping.items?.map(\.value) == [.string("alpha"), .string("beta"), .string("gamma")])
        #expect(ping.items?.allSatisfy { $0.attempts.first?.output == "outputs/ping.\($0.item ?? -1)" } == true)
        let shown = try await runProgram(wfctl, ["show", run.rawValue, "--state", daemon.state])
        #expect(shown.output.contains("    item 1 beta: succeeded"), "\(shown.output)")
        let logs = try await runProgram(wfctl, ["logs", run.rawValue, "--step", "ping", "--state", daemon.state])
        #expect(
            logs.output.contains("==> ping[2] (attempt 1, succeeded) <==\n{\"host\": \"gamma\", \"index\": 2}"),
            "\(logs.output)")
    }
}
