import Foundation
import JSONSchemaKit
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// `wfctl why`: a person should need nothing else to understand a failure and retry it.
@Suite struct WhyCommandTests {
    func wfctl(_ arguments: [String], _ dir: TemporaryDirectory) async throws -> (status: Int32, output: String) {
        try await runProgram(try BuiltProducts.path("wfctl"), arguments + ["--state", dir.file("state")])
    }

    @Test func whyNamesTheStepShowsItsLastLinesWhatChangedAndAWorkingRetry() async throws {
        let dir = try TemporaryDirectory("why")
        try dir.write(
            "jobs/backup.yaml",
            """
            params: { target: { default: db1 } }
            steps:
              - id: prepare
                run: echo ready
              - id: dump
                needs: [prepare]
                run: 'test -e $WF_PARAM_TARGET.ok || { echo "dumping $WF_PARAM_TARGET"; echo "pg_dump: connection refused" >&2; exit 2; }'

            """)
        try dir.write("jobs/db1.ok", "")
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        #expect(try await wfctl(["run", "backup", "--wait"], dir).status == 0, "db1 is fine")
        #expect(try await wfctl(["why"], dir).status == 1, "nothing failed yet")

        let failed = try await wfctl(["run", "backup", "--param", "target=db2", "--wait"], dir)
        #expect(failed.status == 1)
        let why = try await wfctl(["why"], dir)
        #expect(why.status == 0, "\(why.output)")
        let text = why.output
        #expect(text.contains("failing step: dump (run)"), "\(text)")
        #expect(text.contains("  exited with status 2 [exit_status]"))
        #expect(text.contains("  | dumping db2\n  | pg_dump: connection refused\n"), "the end of what it wrote")
        #expect(text.contains("parameters: target=db2"))
        #expect(text.contains("needs: prepare"))
        #expect(text.contains("parameter target: 'db1' → 'db2'"), "what changed since it last worked")
        #expect(text.contains("step 'dump': then succeeded, exit 0"))
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("to retry it: ") })
        let command = line.dropFirst("to retry it: ".count).split(separator: " ").map(String.init)
        #expect(command.first == "wfctl" && command[1] == "retry")

        // The printed command works as printed, once the cause is mended.
        try dir.write("jobs/db2.ok", "")
        let retried = try await runProgram(try BuiltProducts.path("wfctl"), Array(command.dropFirst()) + ["--wait"])
        #expect(retried.status == 0, "\(retried.output)")
        let run = try #require(RunID(command[2]))
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        #expect(try store.loadRun(JobID("backup")!, run).state == .succeeded)
        #expect(try await wfctl(["why", run.rawValue], dir).status == 1, "it no longer failed")

        let json = try await wfctl(["why", "--job", "backup", "--json"], dir)
        #expect(json.status == 1, "no failed run of backup any more")

        // Two runs ended (the retried one counts once, as it ended last); one attempt failed.
        let stats = try await wfctl(["stats", "backup", "--json"], dir)
        #expect(stats.status == 0, "\(stats.output)")
        let jobs = try #require(
            JSONValue.parse(Data(stats.output.utf8)).flatMap { value -> [JSONValue]? in
                if case .object(let fields) = value, case .array(let jobs)? = fields["jobs"] { return jobs }
                return nil
            })
        guard case .object(let backup)? = jobs.first else { throw TestKitError("no stats of backup") }
        #expect(backup["runs"] == .number(2) && backup["succeeded"] == .number(2))
        #expect(backup["success_rate"] == .number(1))
        #expect(backup["failures_by_kind"] == .object(["exit_status": .number(1)]))
        #expect(
            backup["failures_by_step"]
                == .object([
                    "dump": .object([
                        "runs": .number(0), "attempts": .number(1), "kinds": .object(["exit_status": .number(1)]),
                    ])
                ]))
        let table = try await wfctl(["stats"], dir)
        #expect(
            table.output.contains("backup/dump: failed 0 runs, 1 failed attempts (exit_status 1)"), "\(table.output)")
    }

    @Test func whyOfAnInterruptedRunOffersBothWaysOn() async throws {
        let dir = try TemporaryDirectory("why-interrupted")
        try dir.write("jobs/pay.yaml", "steps:\n  - {id: charge, run: 'sleep 30'}\n")
        var daemon = try await TestDaemon.start(dir)
        defer { Task { [daemon] in await daemon.process.stop() } }
        let started = try await wfctl(["run", "pay", "--json"], dir)
        let run = try #require(
            JSONValue.parse(Data(started.output.utf8)).flatMap { value -> String? in
                if case .object(let fields) = value { return fields["run"]?.stringValue }
                return nil
            })
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        #expect(
            await eventually {
                RunID(run).flatMap { try? store.loadStep(JobID("pay")!, $0, StepID("charge")!) }?.state == .running
            }
        )
        daemon.process.send(SIGKILL)
        _ = await daemon.process.waitForExit()
        daemon = try await TestDaemon.start(dir, log: "wfd-2.log")
        let why = try await wfctl(["why", run, "--json"], dir)
        #expect(why.status == 0, "\(why.output)")
        let fields = try #require(JSONValue.parse(Data(why.output.utf8)))
        guard case .object(let object) = fields, case .array(let retry)? = object["retry"] else {
            throw TestKitError("no retry in \(why.output)")
        }
        #expect(retry.count == 2)
        #expect(retry.last?.stringValue?.contains("--skip charge --output FILE") == true)
        guard case .object(let step)? = object["step"] else { throw TestKitError("no step") }
        #expect(step["id"] == .string("charge") && step["error_kind"] == .string("interrupted"))
    }
}
