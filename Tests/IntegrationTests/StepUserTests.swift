import Foundation
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// `user:` runs a step as another account, with that account's groups and home.
@Suite struct StepUserTests {
    @Test func aStepRunsAsItsUserAndAnUnknownUserFailsTheAttempt() async throws {
        let dir = try TemporaryDirectory("user")
        chmod(dir.path, 0o755)
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chmod(out, 0o777)
        try dir.write(
            "jobs/who.yaml",
            """
            steps:
              - id: as_nobody
                user: nobody
                run: echo "$(id -u) $(id -g) $HOME $USER" > "$OUT/id"
              - id: as_nobody_again
                user: "65534"
                run: id -un > "$OUT/name"
              - id: ghost
                user: no-such-user-wfd
                run: 'true'
            env: { OUT: \(out) }
            """)
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let result = try await runProgram(
            try BuiltProducts.path("wfctl"), ["run", "who", "--wait", "--state", daemon.state])
        #expect(result.status == 1, "ghost fails: \(result.output)")
        let store = RunStore(directory: StateDirectory(root: daemon.state))
        let run = try #require(store.runIDs(JobID("who")!).last)
        let ghost = try store.loadStep(JobID("who")!, run, StepID("ghost")!)
        #expect(ghost.error == "no user 'no-such-user-wfd' on this system (user:)")
        if geteuid() == 0 {
            #expect(try String(contentsOfFile: "\(out)/id", encoding: .utf8) == "65534 65534 /nonexistent nobody\n")
            #expect(try String(contentsOfFile: "\(out)/name", encoding: .utf8) == "nobody\n")
        } else {
            let step = try store.loadStep(JobID("who")!, run, StepID("as_nobody")!)
            #expect(step.error?.contains("only a wfd running as root can run a step as 'nobody'") == true)
        }
    }
}
