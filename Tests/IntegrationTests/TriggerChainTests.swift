import Foundation
import JSONSchemaKit
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

/// Path and job triggers end to end, with a real wfd and real files: files dropped in a directory
/// start one run once they are quiet, and that run's end starts the jobs that follow it, by the
/// state it ended in; a cycle of such triggers is refused when jobs.d is loaded.
@Suite struct TriggerChainTests {
    func runs(_ dir: TemporaryDirectory, _ job: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("state/runs/\(job)"))) ?? []).sorted()
    }

    func ended(_ dir: TemporaryDirectory, _ job: String) -> [(run: String, state: String)] {
        runs(dir, job).compactMap { run in
            guard
                let head = try? RecordFile.read(
                    RunRecordHead.self, from: dir.file("state/runs/\(job)/\(run)/run.json")),
                ["succeeded", "failed"].contains(head.state)
            else { return nil }
            return (run, head.state)
        }
    }

    func payload(_ dir: TemporaryDirectory, _ job: String, _ run: String) throws -> JSONValue {
        let data = try Data(contentsOf: URL(fileURLWithPath: dir.file("state/runs/\(job)/\(run)/payload.json")))
        return try #require(JSONValue.parse(data))
    }

    @Test func filesStartOneRunWhenQuietAndItsEndStartsTheJobsThatFollowIt() async throws {
        let dir = try TemporaryDirectory("trigger-chain")
        let inbox = dir.file("inbox")
        try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        try dir.write(
            "jobs/ingest.yaml",
            """
            on: { path: "\(inbox)/*.csv", debounce: 2s }
            steps:
              - id: count
                output: json
                run: 'if grep -q bad "$WF_TRIGGER_PAYLOAD_FILE"; then exit 3; fi; printf "{\\"files\\": %s}" "$(cat "$WF_TRIGGER_PAYLOAD_FILE")"'
            """)
        try dir.write(
            "jobs/report.yaml",
            """
            on: { job: ingest }
            steps:
              - id: read
                when: ${{ size(trigger.payload.outputs.count.files.paths) >= 1 }}
                run: 'cat "$WF_TRIGGER_PAYLOAD_FILE"'
            """)
        try dir.write(
            "jobs/alarm.yaml", "on: { job: ingest, states: [failed] }\nsteps: [{id: page, run: 'echo paging'}]\n")
        // A cycle: neither is loaded, and status says why.
        try dir.write("jobs/ping.yaml", "on: { job: pong }\nsteps: [{id: a, run: 'true'}]\n")
        try dir.write("jobs/pong.yaml", "on: { job: ping }\nsteps: [{id: a, run: 'true'}]\n")
        var daemon = try await TestDaemon.start(dir)
        defer {
            let last = daemon
            Task { await last.process.stop() }
        }

        // Three files at once (and one the glob does not match): one run, with both CSV files. (The
        // quiet time is 2 s: on a loaded machine, 300 ms between two writes happened, and made two runs.)
        for name in ["a.csv", "b.csv", "notes.txt"] {
            try "x\n".write(toFile: "\(inbox)/\(name)", atomically: true, encoding: .utf8)
        }
        #expect(await eventually(waitingFor: "ingest and report to run") { ended(dir, "report").count == 1 })
        let first = try #require(ended(dir, "ingest").first)
        #expect(first.state == "succeeded" && ended(dir, "ingest").count == 1)
        #expect(
            try payload(dir, "ingest", first.run)
                == .object(["paths": .array([.string("\(inbox)/a.csv"), .string("\(inbox)/b.csv")])]))
        // The follower got the run's id, state and outputs.
        let report = try #require(ended(dir, "report").first)
        #expect(report.state == "succeeded")
        let handed = try payload(dir, "report", report.run)
        #expect(handed.field("job") == .string("ingest") && handed.field("run") == .string(first.run))
        #expect(handed.field("state") == .string("succeeded"))
        #expect(handed.field("outputs")?.field("count")?.field("files")?.field("paths")?.arrayCount == 2)
        let show = try await runProgram(
            try BuiltProducts.path("wfctl"), ["show", report.run, "--state", dir.file("state")])
        #expect(show.output.contains("started by job ingest (run \(first.run))"), "\(show.output)")
        #expect(ended(dir, "alarm").isEmpty, "alarm follows failures only")

        // A file that makes ingest fail: alarm runs, report does not.
        try "bad\n".write(toFile: "\(inbox)/bad.csv", atomically: true, encoding: .utf8)
        #expect(await eventually(waitingFor: "alarm to run") { ended(dir, "alarm").count == 1 })
        #expect(ended(dir, "ingest").map(\.state).sorted() == ["failed", "succeeded"])
        #expect(ended(dir, "report").count == 1)

        let status = try await runProgram(try BuiltProducts.path("wfctl"), ["status", "--state", dir.file("state")])
        #expect(status.output.contains("on path \(inbox)/*.csv"), "\(status.output)")
        #expect(status.output.contains("on job ingest (failed)"), "\(status.output)")
        #expect(status.output.contains("cycle of 'on: job' triggers: ping -> pong -> ping"), "\(status.output)")
        #expect(runs(dir, "ping").isEmpty && runs(dir, "pong").isEmpty)

        // A file dropped while wfd is down starts a run when it is back; the files it saw do not.
        await daemon.process.stop()
        try "x\n".write(toFile: "\(inbox)/c.csv", atomically: true, encoding: .utf8)
        daemon = try await TestDaemon.start(dir, log: "wfd-2.log")
        #expect(await eventually(waitingFor: "the missed file's run") { ended(dir, "ingest").count == 3 })
        let missed = try #require(ended(dir, "ingest").map(\.run).sorted().last)
        #expect(try payload(dir, "ingest", missed) == .object(["paths": .array([.string("\(inbox)/c.csv")])]))
        try await Task.sleep(for: .seconds(1))
        let carried = ended(dir, "ingest").map { (try? payload(dir, "ingest", $0.run)).map { "\($0)" } ?? "?" }
        #expect(ended(dir, "ingest").count == 3, "one run for what was missed: \(carried)")
    }
}

extension TriggerChainTests {
    /// Files valid one by one can still start each other for ever: `wfctl validate` of their
    /// directory says so, as wfd's load does.
    @Test func validatingADirectoryFindsACycleOfJobTriggers() async throws {
        let dir = try TemporaryDirectory("trigger-cycle-validate")
        try dir.write("jobs/a.yaml", "on: { job: c }\nsteps: [{id: s, run: 'true'}]\n")
        try dir.write("jobs/b.yaml", "on: { job: a }\nsteps: [{id: s, run: 'true'}]\n")
        try dir.write("jobs/c.yaml", "on: { job: b }\nsteps: [{id: s, run: 'true'}]\n")
        try dir.write("jobs/d.yaml", "on: { job: a }\nsteps: [{id: s, run: 'true'}]\n")
        let wfctl = try BuiltProducts.path("wfctl")
        let (status, output) = try await runProgram(wfctl, ["validate", dir.file("jobs")])
        #expect(status == 65, "\(output)")
        for name in ["a", "b", "c"] {
            #expect(
                output.contains("\(dir.file("jobs/\(name).yaml")):1:1: cycle of 'on: job' triggers: a -> c -> b -> a"))
        }
        #expect(!output.contains("d.yaml") && output.contains("3 of 4 job files invalid"), "\(output)")
        let alone = try await runProgram(wfctl, ["validate", dir.file("jobs/a.yaml")])
        #expect(alone.status == 0, "one file alone has no cycle: \(alone.output)")
    }
}

extension JSONValue {
    var arrayCount: Int? {
        if case .array(let items) = self { items.count } else { nil }
    }
}
