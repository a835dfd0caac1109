import Foundation
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// docs/tutorial.md, followed step by step: its job files are taken from the page itself, and its
/// commands are run as a reader would, so the tutorial cannot drift from what wfd does.
@Suite struct TutorialTests {
    /// The YAML blocks of the tutorial whose first line names a file of jobs.d, in order.
    static func jobFiles() throws -> [String] {
        let page = try String(contentsOfFile: BuiltProducts.packageRoot + "/docs/tutorial.md", encoding: .utf8)
        return page.components(separatedBy: "```yaml\n").dropFirst().compactMap { block in
            guard let end = block.range(of: "```") else { return nil }
            let text = String(block[..<end.lowerBound])
            return text.hasPrefix("# jobs.d/tutorial.yaml\n") ? text : nil
        }
    }

    @Test func theTutorialWorksAsWritten() async throws {
        let files = try Self.jobFiles()
        #expect(files.count == 2, "the tutorial's two versions of its job")
        let dir = try TemporaryDirectory("tutorial")
        try dir.write("jobs/tutorial.yaml", files[0])
        chmod(dir.file("jobs/tutorial.yaml"), 0o644)
        try dir.write("jobs/forecasts/Rome.json", #"{"city": "Rome", "sky": "clear", "wind_kmh": 8}"# + "\n")
        try dir.write("credentials/openai_key", "sk-tutorial-key\n")
        chmod(dir.file("credentials/openai_key"), 0o600)
        var daemon = try await TestDaemon.start(
            dir, arguments: ["--prices", BuiltProducts.packageRoot + "/config/prices.yaml"])
        defer { Task { [daemon] in await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
            try await runProgram(
                wfctl, arguments, environment: ["WFD_STATE_DIR": dir.file("state"), "PATH": "/usr/bin:/bin"])
        }
        func runID(_ output: String) -> String? {
            guard
                let range = output.range(of: #"[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[0-9a-f]{6}"#, options: .regularExpression)
            else { return nil }
            return String(output[range])
        }

        // 2. A first job.
        let first = try await run(["run", "tutorial", "--wait"])
        #expect(first.status == 0, "\(first.output)")
        let rome = try #require(runID(first.output))
        #expect(try await run(["runs", "tutorial"]).output.contains(rome))
        #expect(
            try await run(["logs", rome]).output.contains(#"Report: {"city": "Rome", "sky": "clear", "wind_kmh": 8}"#))

        // 3. When something fails.
        let oslo = try await run(["run", "tutorial", "--param", "city=Oslo", "--wait"])
        #expect(oslo.status == 1)
        let why = try await run(["why"])
        #expect(why.output.contains("cat: forecasts/Oslo.json: No such file or directory"), "\(why.output)")
        #expect(why.output.contains("parameter city: 'Rome' → 'Oslo'"))
        let failed = try #require(runID(oslo.output))
        #expect(why.output.contains("to retry it: wfctl retry \(failed)"))
        try dir.write("jobs/forecasts/Oslo.json", #"{"city": "Oslo", "sky": "snow", "wind_kmh": 30}"# + "\n")
        let retried = try await run(["retry", failed, "--wait"])
        #expect(retried.status == 0, "\(retried.output)")

        // 4. An LLM step against the stand-in model, and an approval (wfd restarted with a secret).
        daemon.process.send(SIGTERM)
        _ = await daemon.process.waitForExit()
        daemon = try await TestDaemon.start(
            dir, arguments: ["--prices", BuiltProducts.packageRoot + "/config/prices.yaml"],
            environment: ["CREDENTIALS_DIRECTORY": dir.file("credentials")], log: "wfd-2.log")
        let model = try await StandIn(
            try String(contentsOfFile: BuiltProducts.packageRoot + "/docs/tutorial/model.json", encoding: .utf8),
            in: dir)
        defer { Task { await model.stop() } }
        try dir.write("jobs/tutorial.yaml", files[1])
        #expect(try await run(["reload"]).status == 0)
        let started = try await run(["run", "tutorial", "--param", "llm_url=\(model.url("/v1"))"])
        #expect(started.status == 0, "\(started.output)")
        let picnic = try #require(runID(started.output))
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? await runProgram(wfctl, ["pending"], environment: ["WFD_STATE_DIR": dir.file("state")]))?.output
                    .contains("wfctl approve \(picnic) confirm") == true
            }, "\(daemon.process.output)")
        let shown = try await run(["show", picnic])
        #expect(shown.output.contains("/picnic must be boolean, not string"), "\(shown.output)")
        #expect(shown.output.contains("model gpt-4o-mini: ok, 160 in / 15 out, $0.00003"))
        #expect(shown.output.contains("of $0.10"))
        #expect(try await run(["approve", picnic, "confirm", "--comment", "sounds good"]).status == 0)
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        #expect(
            await eventually {
                RunID(picnic).flatMap { try? store.loadRun(JobID("tutorial")!, $0) }?.state == .succeeded
            })
        let after = try await run(["show", picnic])
        #expect(after.output.contains("approved by uid") && after.output.contains(": sounds good"))
        #expect(try await run(["logs", picnic, "--step", "book"]).output.contains("picnic booked in Rome"))
        let sent = try #require(model.requests().first?["headers"])
        guard case .object(let headers) = sent else { throw TestKitError("no headers") }
        #expect(headers["authorization"] == .string("Bearer sk-tutorial-key"))
    }
}
