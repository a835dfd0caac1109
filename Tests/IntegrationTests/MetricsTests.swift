import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowControl
import WorkflowStore
import WorkflowTesting

/// `wfctl metrics`: what a real wfd's runs did, as Prometheus reads it, checked by `promtool`.
@Suite struct MetricsTests {
    func wfctl(_ arguments: [String], _ dir: TemporaryDirectory) async throws -> (status: Int32, output: String) {
        try await runProgram(
            try BuiltProducts.path("wfctl"), arguments + ["--state", dir.file("state")],
            environment: ["PATH": "/usr/bin:/bin"])
    }

    /// The samples of an exposition, by their name and labels as written (`name{a="b"}`).
    static func samples(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func runsStepsModelCallsAndWaitsAreCountedAndPromtoolAcceptsThem() async throws {
        // make test takes it out of Debian's prometheus package into .build-tools/.
        guard
            let promtool = [BuiltProducts.packageRoot + "/.build-tools/promtool", "/usr/bin/promtool"].first(where: {
                FileManager.default.isExecutableFile(atPath: $0)
            })
        else { throw TestKitError("no promtool: 'make promtool' takes it out of Debian's prometheus package") }
        let dir = try TemporaryDirectory("metrics")
        let server = try await StandIn(ApprovalAndBudgetTests.modelAnswers, in: dir)
        defer { Task { await server.stop() } }
        try dir.write("jobs/good.yaml", "steps: [{id: a, run: 'true'}]\n")
        try dir.write("jobs/bad.yaml", "steps: [{id: a, run: 'true'}, {id: b, run: 'exit 3', needs: [a]}]\n")
        // Its second call waits for a budget approval.
        try dir.write(
            "jobs/talk.yaml",
            ApprovalAndBudgetTests.budgetJob(server, more: "prices: { m: { input: 10, output: 20 } }"))
        // Fires every second and, after a first quick step, waits for the file `go`: one run
        // active, the next fire times queued. (`go` lets it end before wfd is killed: no step is
        // left behind.)
        let go = dir.file("go")
        try dir.write(
            "jobs/slow.yaml",
            """
            schedule: '* * * * * *'
            concurrency: queue
            steps: [{id: a, run: 'true'}, {id: b, run: 'while [ ! -e \(go) ]; do sleep 0.05; done', needs: [a]}]

            """)
        try dir.write("jobs/hook.yaml", "on: { webhook: { secret: hook } }\nsteps: [{id: a, run: 'true'}]\n")
        try dir.write("credentials/hook", "s3cret\n")
        let daemon = try await TestDaemon.start(dir, environment: ["CREDENTIALS_DIRECTORY": dir.file("credentials")])
        defer { Task { await daemon.process.stop() } }

        let before = Self.samples(try await wfctl(["metrics"], dir).output)
        #expect(before["wfd_jobs"] == 5, "\(before)")

        // Webhook deliveries, as wfd-web passes them on: one signed, one forged, one for no job.
        let info = try RecordFile.read(DaemonInfo.self, from: StateDirectory(root: dir.file("state")).daemonInfo)
        let body = Data(#"{"n": 1}"#.utf8)
        let signed =
            "sha256="
            + SHA256.hmac(key: Array("s3cret".utf8), message: Array(body)).map { String(format: "%02x", $0) }.joined()
        for (job, signature) in [
            ("hook", signed), ("hook", "sha256=" + String(repeating: "0", count: 64)), ("nope", signed),
        ] {
            let request = ControlRequest(
                .deliver(
                    JobID(job)!,
                    headers: [
                        "x-hub-signature-256": signature, "x-github-delivery": "d-\(job)-\(signature.suffix(4))",
                    ], body: body))
            _ = try ControlSocket.exchange(request, at: info.socket, timeout: .seconds(10))
        }
        #expect((before["wfd_startup_seconds"] ?? 0) > 0 && (before["process_resident_memory_bytes"] ?? 0) > 1e6)
        #expect(before.keys.allSatisfy { !$0.hasPrefix("wfd_runs_ended_total") }, "no run has ended yet")

        // A record moved aside as unreadable, the way wfd and wfctl fsck --repair do it.
        try dir.write("state/jobs/good/torn.json", "{\"half")
        try RunStore(directory: StateDirectory(root: dir.file("state"))).quarantine(
            dir.file("state/jobs/good/torn.json"), reason: "not JSON", at: Date())
        for job in ["good", "good", "bad"] { _ = try await wfctl(["run", job, "--wait"], dir) }
        #expect(try await wfctl(["run", "talk"], dir).status == 0)
        var text = ""
        #expect(
            await eventually(waitingFor: "the budget approval") {
                text = try await wfctl(["metrics"], dir).output
                let samples = Self.samples(text)
                return samples["wfd_approvals_waiting"] == 1 && (samples["wfd_queued_runs"] ?? 0) >= 2
                    && samples[#"wfd_step_attempts_total{job="slow",kind="run",outcome="succeeded"}"#] == 1
                    && samples[#"wfd_runs_ended_total{job="hook",state="succeeded"}"#] == 1
            }, "\(text)")
        let after = Self.samples(text)
        #expect(after[#"wfd_runs_ended_total{job="good",state="succeeded"}"#] == 2, "\(text)")
        #expect(after[#"wfd_runs_ended_total{job="bad",state="failed"}"#] == 1)
        #expect(after[#"wfd_run_duration_seconds_count{job="good"}"#] == 2)
        #expect(after[#"wfd_step_attempts_total{job="bad",kind="run",outcome="succeeded"}"#] == 1)
        #expect(after[#"wfd_step_attempts_total{job="bad",kind="run",outcome="failed"}"#] == 1)
        #expect(after[#"wfd_step_attempts_total{job="talk",kind="llm",outcome="succeeded"}"#] == 1)
        #expect(after[#"wfd_step_duration_seconds_count{kind="run"}"#] == 6, "good's 2, bad's 2, slow's first, hook's")
        #expect(after[#"wfd_llm_calls_total{job="talk",model="m",outcome="ok"}"#] == 1)
        #expect(after[#"wfd_llm_input_tokens_total{job="talk",model="m"}"#] == 50)
        #expect(after[#"wfd_llm_output_tokens_total{job="talk",model="m"}"#] == 450)
        // 50 × $10 and 450 × $20 per million tokens.
        #expect(abs((after[#"wfd_llm_cost_usd_total{job="talk",model="m"}"#] ?? 0) - 0.0095) < 1e-9)
        #expect(after[#"wfd_budget_refusals_total{job="talk"}"#] == 1)
        #expect(after[#"wfd_webhook_deliveries_total{job="hook",status="202"}"#] == 1, "\(text)")
        #expect(after[#"wfd_webhook_deliveries_total{job="hook",status="401"}"#] == 1)
        #expect(after[#"wfd_webhook_deliveries_total{job="-",status="404"}"#] == 1, "no label for a name nobody loaded")
        #expect(after["wfd_active_runs"] == 2, "talk's, waiting, and slow's")
        #expect(after["wfd_quarantined_records"] == 1)
        #expect((after["wfd_approval_oldest_wait_seconds"] ?? -1) >= 0)
        #expect(after[#"wfd_schedule_lateness_seconds_count{trigger="schedule"}"#] == 1, "slow's first run")
        #expect(after[#"wfd_schedule_lateness_seconds_bucket{trigger="schedule",le="+Inf"}"#] != nil)
        #expect(text.firstMatch(of: /"[0-9]{8}T[0-9]{6}/) == nil, "no run id in a label")

        // Prometheus's own checker: names, types, help, units.
        try text.write(toFile: dir.file("metrics.txt"), atomically: true, encoding: .utf8)
        let check = try await runProgram(
            "/bin/sh", ["-c", "\(promtool) check metrics < '\(dir.file("metrics.txt"))' 2>&1"])
        #expect(check.status == 0 && check.output.isEmpty, "promtool: \(check.output)")

        // Every metric is in docs/metrics.md and on the Grafana dashboard in docs/, and the
        // dashboard asks for no other.
        let names = Set(
            text.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        #expect(names.count == 19, "\(names.sorted())")
        let documented = try String(contentsOfFile: BuiltProducts.packageRoot + "/docs/metrics.md", encoding: .utf8)
        for name in names { #expect(documented.contains("`\(name)`"), "\(name) is not in docs/metrics.md") }
        let dashboard = try Data(contentsOf: URL(fileURLWithPath: BuiltProducts.packageRoot + "/docs/grafana-wfd.json"))
        let panels = try #require(
            (try JSONSerialization.jsonObject(with: dashboard) as? [String: Any])?["panels"] as? [[String: Any]])
        let expressions = panels.flatMap {
            ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
        }
        let asked = Set(
            expressions.flatMap { expression in
                expression.matches(of: /(wfd|process)_[a-z_]+/).map {
                    String($0.output.0).replacing(/_(bucket|sum|count)$/, with: "")
                }
            })
        #expect(
            asked == names,
            "the dashboard asks for \(asked.subtracting(names).sorted()), leaves out \(names.subtracting(asked).sorted())"
        )

        // A retried run that ends again has ended twice; its first step, kept, is not run again.
        let listed = try await wfctl(["runs", "bad", "--json"], dir).output
        let bad = try #require(
            (try JSONSerialization.jsonObject(with: Data(listed.utf8)) as? [[String: Any]])?.first?["id"] as? String)
        #expect(try await wfctl(["retry", bad, "--wait"], dir).status == 1)
        let retried = Self.samples(try await wfctl(["metrics"], dir).output)
        #expect(retried[#"wfd_runs_ended_total{job="bad",state="failed"}"#] == 2)
        #expect(retried[#"wfd_step_attempts_total{job="bad",kind="run",outcome="failed"}"#] == 2)
        #expect(retried[#"wfd_step_attempts_total{job="bad",kind="run",outcome="succeeded"}"#] == 1)

        // slow's runs end once `go` exists, and its queue drains: each queued fire time starts as
        // the run before it ends (once in ten runs of this test, the next start found the ended
        // run's job lock still held, and the queue never moved again).
        try dir.write("go", "")
        var last: [String: Double] = [:]
        #expect(
            await eventually(waitingFor: "slow's queue to drain") {
                last = Self.samples(try await wfctl(["metrics"], dir).output)
                return last["wfd_queued_runs"] == 0
            }, "\(last.filter { !$0.key.contains("_bucket") })")

        // Not running: exit 69, saying so.
        await daemon.process.stop()
        let stopped = try await wfctl(["metrics"], dir)
        #expect(stopped.status == 69 && stopped.output.contains("wfd is not running"), "\(stopped.output)")
    }
}
