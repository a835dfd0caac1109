import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

/// Steps that push at wfd's limits, run by a real wfd (its own process, so a test's load does not
/// hold the test process's two concurrency threads).
@Suite struct ResourceLimitTests {
    func runToEnd(_ job: String, in dir: TemporaryDirectory) async throws -> (RunSnapshot, TestDaemon) {
        let daemon = try await TestDaemon.start(dir)
        let result = try await runProgram(
            try BuiltProducts.path("wfctl"), ["run", job, "--wait", "--json", "--state", daemon.state])
        let store = RunStore(directory: StateDirectory(root: daemon.state))
        let run = try #require(store.runIDs(JobID(job)!).last, "\(result.output)")
        return (try store.loadSnapshot(JobID(job)!, run), daemon)
    }

    /// Two gigabytes written to stdout with no newline: the output keeps its 1 MiB, the log its
    /// 16 MiB, the rest is read and dropped, and nothing grows with what the step prints.
    @Test func aStepPrintingGigabytesIsCappedWithoutFillingTheDisk() async throws {
        let dir = try TemporaryDirectory("flood")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write("jobs/flood.yaml", "steps:\n  - id: flood\n    run: head -c 2G /dev/zero\n")
        let (snapshot, daemon) = try await runToEnd("flood", in: dir)
        defer { Task { await daemon.process.stop() } }
        #expect(snapshot.run.state == .succeeded, "\(snapshot.steps.map { $0.error ?? "" })")
        var total = 0
        for file in FileManager.default.enumerator(atPath: daemon.state)?.allObjects as? [String] ?? [] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: "\(daemon.state)/\(file)")
            total += (attributes?[.size] as? Int) ?? 0
        }
        #expect(total < 18 << 20, "the state directory holds \(total) bytes")
        let log = try #require(snapshot.step(StepID("flood")!)?.attempts.first?.log)
        let logText = try RecordFile.readData(
            StateDirectory(root: daemon.state).runFile(JobID("flood")!, snapshot.run.id, relative: log))
        #expect(logText.count > 16 << 20 && logText.count < (16 << 20) + 100)
        #expect(String(decoding: logText.suffix(60), as: UTF8.self).contains("output truncated at 16777216 bytes"))
        let output = try RecordFile.readData(
            StateDirectory(root: daemon.state).runFile(JobID("flood")!, snapshot.run.id, relative: "outputs/flood"))
        #expect(output.count == 1 << 20, "the output keeps 1 MiB")
    }

    /// A job of 1,000 steps: 999 of them depend on the first, 4 at a time, each run once.
    @Test func aJobOfAThousandStepsRunsEveryStepOnce() async throws {
        let dir = try TemporaryDirectory("thousand")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        let steps = (1..<1000).map { "  - { id: s\($0), run: 'true', needs: [first] }\n" }.joined()
        try dir.write("jobs/thousand.yaml", "steps:\n  - { id: first, run: 'true' }\n" + steps)
        let (snapshot, daemon) = try await runToEnd("thousand", in: dir)
        defer { Task { await daemon.process.stop() } }
        #expect(snapshot.run.state == .succeeded)
        #expect(snapshot.steps.count == 1000)
        #expect(snapshot.steps.allSatisfy { $0.state == .succeeded && $0.attempts.count == 1 })
    }
}
