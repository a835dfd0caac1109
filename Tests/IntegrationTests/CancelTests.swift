import Foundation
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

/// `wfctl cancel` ends every process a step started, those that ignore SIGTERM included.
@Suite struct CancelTests {
    @Test func cancelKillsEveryProcessOfTheStepEvenThoseIgnoringTerm() async throws {
        let dir = try TemporaryDirectory("cancel")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write(
            "jobs/stubborn.yaml",
            """
            steps:
              - id: fork
                run: |
                  trap '' TERM
                  echo $$ >> "$OUT/pids"
                  for i in 1 2 3; do
                    sh -c 'trap "" TERM; echo $$ >> "$OUT/pids"; while :; do sleep 1; done' &
                  done
                  wait
            env: { OUT: \(dir.path) }
            """)
        let daemon = try await TestDaemon.start(dir, arguments: ["--stop-grace", "1"])
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let started = try await runProgram(wfctl, ["run", "stubborn", "--state", daemon.state])
        #expect(started.status == 0, "\(started.output)")
        var pids: [Int32] = []
        #expect(
            await eventually {
                pids = ((try? String(contentsOfFile: dir.file("pids"), encoding: .utf8)) ?? "")
                    .split(separator: "\n").compactMap { Int32($0) }
                return pids.count == 4
            }, "the step and its three children run")
        let store = RunStore(directory: StateDirectory(root: daemon.state))
        let run = try #require(store.runIDs(JobID("stubborn")!).last)

        let cancelled = try await runProgram(wfctl, ["cancel", run.rawValue, "--wait", "--state", daemon.state])
        #expect(cancelled.status == 0, "\(cancelled.output)")
        #expect(try store.loadRun(JobID("stubborn")!, run).state == .cancelled)
        #expect(await eventually(timeout: .seconds(30)) { pids.allSatisfy { !isAlive($0) } }, "\(pids)")
        #expect(isAlive(daemon.process.pid))
    }
}
