import Foundation
import JobFormat
import Logging
import RunModel
import Testing

@testable import WorkflowEngine

/// The pure parts of the unit executor: names, properties, and how an end is judged. The end-to-end
/// tests drive a real systemd (UnitExecutorEndToEndTests).
@Suite struct UnitExecutorTests {
    let key = AttemptKey(
        job: JobID("nightly-db")!, run: RunID("20261205T000838.000Z-abc123")!, step: StepID("fetch")!, item: nil,
        attempt: 2)

    @Test func unitNamesAreDeterministicUniqueAndValid() {
        #expect(UnitName.make(key) == "wfd-nightly-db:20261205T000838.000Z-abc123:fetch:2.service")
        var item = key
        item.item = 14
        #expect(UnitName.make(item) == "wfd-nightly-db:20261205T000838.000Z-abc123:fetch:14:2.service")
        #expect(UnitName.escaped("a b/ü") == "a\\x20b\\x2f\\xc3\\xbc")
        let long = AttemptKey(
            job: JobID(String(repeating: "j", count: 64))!, run: key.run,
            step: StepID(String(repeating: "s", count: 64))!, item: 123_456_789, attempt: 99)
        #expect(UnitName.make(long).utf8.count <= 255)
    }

    func invocation() -> StepInvocation {
        var invocation = StepInvocation(
            job: key.job, run: key.run, step: key.step, attempt: 2, command: "tar -czf out.tgz .",
            environment: ["PATH": "/usr/bin:/bin", "WF_RUN_ID": key.run.rawValue], workingDirectory: "/srv",
            timeout: nil, logFile: "/var/lib/wfd/runs/nightly-db/r/logs/fetch.2.log")
        invocation.secrets = ["db_password": "hunter2hunter2"]
        invocation.sandbox.protectSystem = "strict"
        invocation.sandbox.readWritePaths = ["/srv/backup"]
        invocation.sandbox.privateTmp = true
        invocation.resources.memoryMax = 512 << 20
        invocation.resources.cpuQuota = 150
        invocation.resources.nice = 10
        return invocation
    }

    @Test func propertiesCarryTheStepButNoSecret() {
        let output = UnitProperties.Output(logFile: invocation().logFile)
        let properties = UnitProperties.make(
            invocation(), program: "/bin/sh", arguments: ["-c", "tar -czf out.tgz ."], output: output,
            credentials: [UnitProperty.Pair("db_password", "/run/wfd/credentials/u/db_password")], slice: "wfd.slice",
            stopTimeout: .seconds(10))
        func value(_ name: String) -> UnitProperty.Value? { properties.first { $0.name == name }?.value }
        #expect(value("Type") == .string("exec") && value("RemainAfterExit") == .bool(true))
        #expect(value("Slice") == .string("wfd.slice") && value("WorkingDirectory") == .string("/srv"))
        #expect(value("TimeoutStopUSec") == .uint64(10_000_000))
        #expect(value("StandardOutputFileToAppend") == .string(invocation().logFile + ".stdout"))
        #expect(
            value("LoadCredential") == .pairs([UnitProperty.Pair("db_password", "/run/wfd/credentials/u/db_password")]))
        #expect(value("ProtectSystem") == .string("strict") && value("ReadWritePaths") == .strings(["/srv/backup"]))
        #expect(value("PrivateTmp") == .bool(true) && value("MemoryMax") == .uint64(512 << 20))
        #expect(value("CPUQuotaPerSecUSec") == .uint64(1_500_000) && value("Nice") == .int32(10))
        #expect(
            value("LogExtraFields")
                == .byteArrays(
                    ["JOB=nightly-db", "RUN_ID=\(key.run)", "STEP=fetch", "ATTEMPT=2"].map { Array($0.utf8) }))
        guard case .command(let path, let argv, let flags)? = value("ExecStartEx") else {
            Issue.record("no ExecStartEx")
            return
        }
        // $VAR stays the shell's: systemd expands nothing; the secret is read from the credential.
        #expect(flags == ["no-env-expand"] && path == "/bin/sh")
        #expect(argv.suffix(3) == ["/bin/sh", "-c", "tar -czf out.tgz ."])
        #expect(argv[2].contains(#"WF_SECRET_DB_PASSWORD=$(cat "$CREDENTIALS_DIRECTORY/db_password")"#))
        #expect(!"\(properties)".contains("hunter2"), "no secret in any property")
        #expect(value("Environment") == .strings(["PATH=/usr/bin:/bin", "WF_RUN_ID=\(key.run)"]))
    }

    @Test func aUnitsDescriptionNamesItsAttemptAndNothingElseIsTakenForOne() {
        var item = key
        item.item = 3
        for attempt in [key, item] {
            #expect(UnitProperties.attemptKey(description: UnitProperties.description(attempt)) == attempt)
        }
        for other in [
            "/usr/bin/true", "wfd job x", "wfd job nightly-db, run 2026, step a",
            "wfd job nightly-db, run \(key.run), step fetch, item x, attempt 2",
            "wfd job nightly-db, run \(key.run), step fetch, attempt 2, extra 1",
        ] {
            #expect(UnitProperties.attemptKey(description: other) == nil, "\(other)")
        }
    }

    @Test func largeUpstreamOutputsReachAUnitByFileOnly() {
        let big = String(repeating: "x", count: 100 * 1024)
        var environment = [
            "WF_STEP_A_OUTPUT": big, "WF_STEP_A_OUTPUT_FILE": "/s/a", "WF_STEP_B_OUTPUT": big,
            "WF_STEP_B_OUTPUT_FILE": "/s/b", "WF_STEP_C_OUTPUT": "small", "WF_STEP_C_OUTPUT_FILE": "/s/c",
        ]
        let fitted = UnitProperties.environment(environment)
        #expect(fitted?.keys.filter { $0.hasSuffix("_OUTPUT") }.count == 2, "one of the two large ones goes")
        #expect(fitted?["WF_STEP_C_OUTPUT"] == "small" && fitted?["WF_STEP_A_OUTPUT_FILE"] == "/s/a")
        environment["HUGE"] = String(repeating: "y", count: 200 * 1024)
        #expect(UnitProperties.environment(environment) == nil, "what cannot be left out is refused")
    }

    func status(result: String = "success", code: Int32, status: Int32) -> UnitStatus {
        UnitStatus(
            state: UnitState(activeState: "failed", subState: "failed", jobPending: false), result: result,
            mainCode: code, mainStatus: status, mainPID: 0, startedAt: Date(), exitedAt: Date(), cpuNanoseconds: 5,
            controlGroup: "", invocationID: "")
    }

    @Test func theEndIsJudgedByTheMainProcessAndWfdsOwnStopNotBySystemdsResult() {
        #expect(UnitExecutor.result(status(code: 1, status: 0), stop: nil) == .success)
        let failed = UnitExecutor.result(status(result: "exit-code", code: 1, status: 3), stop: nil)
        #expect(failed.outcome == .failed && failed.exitCode == 3 && failed.error == "exited with status 3")
        // systemd calls death by SIGTERM a clean exit (Result=success): to wfd it is a failure…
        let killed = UnitExecutor.result(status(result: "success", code: 2, status: 15), stop: nil)
        #expect(killed.outcome == .failed && killed.signal == 15 && killed.error == "killed by SIGTERM")
        // …unless wfd stopped it, for a cancel or a timeout.
        let cancelled = UnitExecutor.result(status(code: 2, status: 15), stop: .terminated("by alice"))
        #expect(cancelled.outcome == .cancelled && cancelled.error == "cancelled: by alice")
        let late = UnitExecutor.result(status(code: 2, status: 9), stop: .timeout(.seconds(2)))
        #expect(late.outcome == .timedOut && late.error == "timed out after 2s")
        let oom = UnitExecutor.result(status(result: "oom-kill", code: 2, status: 9), stop: nil)
        #expect(oom.outcome == .oom && oom.errorKind == .oom && oom.error?.contains("memory_max") == true)
        let setup = UnitExecutor.result(status(result: "exit-code", code: 1, status: 200), stop: nil)
        #expect(
            setup.error
                == "exited with status 200, which is systemd's CHDIR: the working directory is missing or not reachable"
        )
    }

    struct Refusing: StepExecutor {
        func execute(_ invocation: StepInvocation, control: StepControl, logger: Logger) async -> AttemptResult {
            .success
        }
    }

    @Test func aJobGetsTheExecutorItAsksForOrAClearReasonWhyNot() async {
        let executors = StepExecutors(
            process: Refusing(), unit: nil, preferred: .unit, unitUnavailable: "wfd was not started by systemd")
        #expect(executors.preferred == .process, "without a unit executor, processes")
        var asking = invocation()
        asking.executor = .unit
        let refused = await executors.execute(asking, control: StepControl(), logger: Logger(label: "t"))
        #expect(refused.errorKind == .start && refused.retriable == false)
        #expect(
            refused.error
                == "the job asks for 'executor: unit', which this wfd cannot use: wfd was not started by systemd")
        let boxed = await executors.execute(
            {
                var plain = invocation(); plain.executor = nil; return plain
            }(), control: StepControl(),
            logger: Logger(label: "t"))
        #expect(
            boxed.error
                == "the step has 'sandbox:' and 'resources:', which only the unit executor applies, and it runs as a process (wfd was not started by systemd)"
        )
        var plain = invocation()
        plain.sandbox = SandboxSettings()
        plain.resources = ResourceSettings()
        #expect(await executors.execute(plain, control: StepControl(), logger: Logger(label: "t")) == .success)
        #expect(!executors.outlivesDaemon(plain))
    }
}
