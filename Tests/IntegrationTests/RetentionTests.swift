import Foundation
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

/// Retention in the running wfd: a job's own limit after its runs, the global default at start-up
/// for a job whose file is gone.
@Suite struct RetentionTests {
    @Test func oldRunsAreDeletedForLiveAndDeletedJobs() async throws {
        let dir = try TemporaryDirectory("retain")
        try dir.write("jobs/small.yaml", "retention: { keep_runs: 2 }\nsteps: [{id: a, run: 'true'}]\n")
        try dir.write("jobs/gone.yaml", "steps: [{id: a, run: 'true'}]\n")
        let wfctl = try BuiltProducts.path("wfctl")
        let state = dir.file("state")
        let store = RunStore(directory: StateDirectory(root: state))
        var daemon = try await TestDaemon.start(dir)
        for _ in 0..<6 {
            #expect(try await runProgram(wfctl, ["run", "small", "--wait", "--state", state]).status == 0)
        }
        for _ in 0..<3 {
            #expect(try await runProgram(wfctl, ["run", "gone", "--wait", "--state", state]).status == 0)
        }
        let small = JobID("small")!
        #expect(store.runIDs(small).count <= 3, "2 kept, deleted in batches of at least one")
        await daemon.process.stop()

        try FileManager.default.removeItem(atPath: dir.file("jobs/gone.yaml"))
        daemon = try await TestDaemon.start(dir, arguments: ["--keep-runs", "1"])
        let gone = JobID("gone")!
        #expect(await eventually { store.runIDs(gone).count == 1 }, "the global default applies to a deleted job")
        #expect(store.runIDs(small).count == 2, "the job's own keep_runs wins over the default")
        let listed = try await runProgram(wfctl, ["runs", "small", "--json", "--state", state])
        let runs = try #require(try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]])
        #expect(runs.compactMap { $0["id"] as? String } == store.runIDs(small).reversed().map(\.rawValue))
        #expect(daemon.process.output.contains("retention: deleted"))
        await daemon.process.stop()
        #expect(try await runProgram(wfctl, ["fsck", "--state", state]).status == 0)
    }
}
