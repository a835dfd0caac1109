import Foundation
import JobFormat
import Schedules
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct NextCommandTests {
    let wfctl: String

    init() throws { wfctl = try BuiltProducts.path("wfctl") }

    @Test func printsTheNextTimesOfAnExpressionAsJSON() async throws {
        let result = try await runProgram(
            wfctl,
            [
                "next", "30 2 * * *", "--tz", "America/New_York", "--from", "2024-03-09T12:00:00Z", "--count", "2",
                "--json",
            ])
        #expect(result.status == 0, "\(result.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(json["expr"] as? String == "30 2 * * *")
        #expect(json["normalized"] as? String == "30 2 * * *")
        #expect(json["grammar"] as? String == "cron")
        #expect(json["timezone"] as? String == "America/New_York")
        // 02:30 does not exist on 2024-03-10: a fixed-time cron job fires when the gap ends.
        #expect(json["next"] as? [String] == ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"])
    }

    @Test func calendarEventsAreNormalizedLikeSystemd() async throws {
        let result = try await runProgram(
            wfctl,
            ["next", "Sat,Thu,Mon..Wed,Sat..Sun", "--tz", "UTC", "--from", "2026-11-25T12:00:00Z", "--count", "3"])
        #expect(result.status == 0)
        #expect(result.output.contains("Normalized form: Mon..Thu,Sat,Sun *-*-* 00:00:00 (calendar)"))
        #expect(result.output.contains("    Next elapse: 2026-11-26T00:00:00Z"))
        #expect(result.output.contains("       Iter. #3: 2026-11-29T00:00:00Z"), "Thu, Sat, Sun")
    }

    @Test func anInvalidExpressionSaysWhatAndWhereAndExits65() async throws {
        let result = try await runProgram(wfctl, ["next", "0 25 * * *"])
        #expect(result.status == 65)
        #expect(result.output.contains("hours field: 25 is out of range 0-23"))
        #expect(result.output.contains("  0 25 * * *\n    ^"))
        #expect(try await runProgram(wfctl, ["next", "*-13-01"]).status == 65)
        #expect(try await runProgram(wfctl, ["next", "daily", "--count", "0"]).status == 64)
    }

    @Test func aJobsSchedulesAreMerged() async throws {
        let dir = try TemporaryDirectory("next")
        let state = StateDirectory(root: dir.path)
        let job = Job(
            id: JobID("report")!,
            schedules: [try Schedule(parsing: "0 9 * * *"), try Schedule(parsing: "*-*-* 12:00")],
            timezone: "Europe/Rome", steps: [StepDefinition(id: StepID("a")!, run: "true")])
        try RunStore(directory: state).saveJobInfo(
            JobInfo(id: job.id, job: job, file: "/j/report.yaml", errors: [], loadedAt: Date()))
        let result = try await runProgram(
            wfctl,
            ["next", "report", "--state", state.root, "--from", "2026-06-01T00:00:00Z", "--count", "3", "--json"])
        #expect(result.status == 0, "\(result.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(json["job"] as? String == "report")
        #expect(json["grammar"] as? [String] == ["cron", "calendar"])
        #expect(
            json["next"] as? [String] == [
                "2026-06-01T09:00:00+02:00", "2026-06-01T12:00:00+02:00", "2026-06-02T09:00:00+02:00",
            ])
    }
}

@Suite struct RunCommandTests {
    @Test func runStartsAJobByHandAndWaitReportsItsOutcome() async throws {
        let dir = try TemporaryDirectory("manual")
        try dir.write("jobs/manual.yaml", "steps: [{id: a, run: 'echo by hand'}]\n")
        try dir.write("jobs/broken.yaml", "steps: [{id: a, run: 'exit 4'}]\n")
        let started = try await TestDaemon.start(dir)
        let daemon = started.process
        defer { Task { await daemon.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let state = StateDirectory(root: dir.file("state"))

        let ok = try await runProgram(wfctl, ["run", "manual", "--wait", "--json", "--state", state.root])
        #expect(ok.status == 0, "\(ok.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(ok.output.utf8)) as? [String: Any])
        #expect(json["state"] as? String == "succeeded")
        let run = try #require((json["run"] as? String).flatMap(RunID.init))
        let record = try RunStore(directory: state).loadRun(JobID("manual")!, run)
        #expect(record.trigger == .manual)

        let failed = try await runProgram(wfctl, ["run", "broken", "--wait", "--state", state.root])
        #expect(failed.status == 1)
        #expect(failed.output.contains(": failed: step 'a' failed: exited with status 4"), "\(failed.output)")

        // A long run, cancelled by hand.
        try dir.write("jobs/long.yaml", "steps: [{id: nap, run: 'sleep 30'}]\n")
        #expect(try await runProgram(wfctl, ["reload", "--state", state.root]).status == 0)
        let launched = try await runProgram(wfctl, ["run", "long", "--json", "--state", state.root])
        let long = try #require(
            (try JSONSerialization.jsonObject(with: Data(launched.output.utf8)) as? [String: Any])?["run"] as? String)
        let cancel = try await runProgram(wfctl, ["cancel", long, "--wait", "--state", state.root])
        #expect(cancel.status == 0, "\(cancel.output)")
        #expect(cancel.output.contains("run \(long): cancelled"))
        let stopped = try RunStore(directory: state).loadSnapshot(JobID("long")!, try #require(RunID(long)))
        #expect(stopped.steps[0].state == .cancelled)
        #expect(stopped.run.error?.contains("cancelled by uid") == true)
        #expect(try await runProgram(wfctl, ["cancel", long, "--state", state.root]).status == 1, "no longer active")

        // The history, as a person reads it.
        let runs = try await runProgram(wfctl, ["runs", "--state", state.root])
        #expect(runs.status == 0)
        #expect(runs.output.hasPrefix("RUN "))
        #expect(runs.output.contains("broken") && runs.output.contains("manual") && runs.output.contains("cancelled"))
        let listed = try await runProgram(wfctl, ["runs", "manual", "--json", "--state", state.root])
        let records = try #require(try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [[String: Any]])
        #expect(records.map { $0["id"] as? String } == [run.rawValue])
        let show = try await runProgram(wfctl, ["show", long, "--state", state.root])
        #expect(show.status == 0, "\(show.output)")
        #expect(show.output.contains("run \(long) of long: cancelled (manual)"))
        #expect(show.output.contains("  nap: cancelled"))
        #expect(show.output.contains("    attempt 1: cancelled"))
        #expect(
            try await runProgram(wfctl, ["show", "20990101T000000.000Z-000000", "--state", state.root]).status == 1)

        let unknown = try await runProgram(wfctl, ["run", "nope", "--state", state.root])
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("no job 'nope' is loaded"))
        daemon.send(SIGTERM)
        #expect(await daemon.waitForExit() == 0)
        #expect(try await runProgram(wfctl, ["run", "manual", "--state", state.root]).status == 69)
    }

    @Test func parametersReachTheStepAndWrongOnesAreRefused() async throws {
        let dir = try TemporaryDirectory("params")
        try dir.write(
            "jobs/report.yaml",
            """
            params:
              day: { default: today }
              who: { required: true }
            steps:
              - id: a
                run: echo "$WF_PARAM_DAY $WF_PARAM_WHO" > "$OUT/params"
            env: { OUT: \(dir.path) }
            """)
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let state = dir.file("state")

        let given = try await runProgram(wfctl, ["run", "report", "--param", "who=ann", "--wait", "--state", state])
        #expect(given.status == 0, "\(given.output)")
        #expect(try String(contentsOfFile: dir.file("params"), encoding: .utf8) == "today ann\n")
        let run = try #require(RunStore(directory: StateDirectory(root: state)).runIDs(JobID("report")!).last)
        #expect(
            try RunStore(directory: StateDirectory(root: state)).loadRun(JobID("report")!, run).params == [
                "day": "today", "who": "ann",
            ])

        let missing = try await runProgram(wfctl, ["run", "report", "--state", state])
        #expect(missing.status == 1)
        #expect(missing.output.contains("parameter 'who' of job 'report' is required: give it with --param who=VALUE"))
        let unknown = try await runProgram(
            wfctl, ["run", "report", "--param", "who=x", "--param", "colour=red", "--state", state])
        #expect(unknown.status == 1)
        #expect(
            unknown.output.contains("job 'report' has no parameter 'colour' (it declares day, who)"),
            "\(unknown.output)")
        #expect(try await runProgram(wfctl, ["run", "report", "--param", "who", "--state", state]).status == 64)
    }

    @Test func logsPrintEachAttemptAndFollowARunToItsEnd() async throws {
        let dir = try TemporaryDirectory("logs")
        try dir.write(
            "jobs/talk.yaml",
            """
            steps:
              - id: hello
                run: echo one; while [ ! -e "$GO" ]; do sleep 0.05; done; echo two >&2; sleep 0.3; printf three
                env: { GO: GO_FILE }
              - id: bye
                run: echo bye
                needs: [hello]
            """)
        let job = try String(contentsOfFile: dir.file("jobs/talk.yaml"), encoding: .utf8)
        try dir.write("jobs/talk.yaml", job.replacingOccurrences(of: "GO_FILE", with: dir.file("go")))
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let state = dir.file("state")
        let started = try await runProgram(wfctl, ["run", "talk", "--json", "--state", state])
        let run = try #require(
            (try JSONSerialization.jsonObject(with: Data(started.output.utf8)) as? [String: Any])?["run"] as? String)

        // Follow while hello waits for its go, so what is followed is a running attempt.
        let follow = try DaemonProcess(
            executable: wfctl, arguments: ["logs", run, "--follow", "--state", state], environment: [:],
            stderrPath: dir.file("follow.out"))
        #expect(
            await eventually { follow.output.contains("==> hello (attempt 1, running) <==\none\n") }, "\(follow.output)"
        )
        try dir.write("go", "")
        #expect(await follow.waitForExit() == 0, "\(follow.output)")
        #expect(follow.output.contains("==> hello (attempt 1, running) <==\none\ntwo\nthree\n"), "\(follow.output)")
        #expect(follow.output.contains("==> bye (attempt 1,") && follow.output.hasSuffix("bye\n"))

        let one = try await runProgram(wfctl, ["logs", run, "--step", "hello", "--state", state])
        #expect(one.output == "==> hello (attempt 1, succeeded) <==\none\ntwo\nthree\n", "\(one.output)")
        let grepped = try await runProgram(wfctl, ["logs", run, "--grep", "^t", "--state", state])
        #expect(
            grepped.output == "==> hello (attempt 1, succeeded) <==\ntwo\nthree\n",
            "only matching lines, under their header")
        let recent = try await runProgram(wfctl, ["logs", run, "--since", "1h", "--step", "bye", "--state", state])
        #expect(recent.output.hasSuffix("bye\n"), "\(recent.output)")
        let future = try await runProgram(wfctl, ["logs", run, "--since", "2100-01-01T00:00:00Z", "--state", state])
        #expect(future.status == 0 && future.output.isEmpty, "nothing ended after that: \(future.output)")
        #expect(try await runProgram(wfctl, ["logs", run, "--since", "yesterday", "--state", state]).status == 64)
        let json = try await runProgram(wfctl, ["logs", run, "--json", "--state", state])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]])
        #expect(entries.map { $0["step"] as? String } == ["hello", "bye"])
        #expect(entries.first?["log"] as? String == "one\ntwo\nthree")
        let wrong = try await runProgram(wfctl, ["logs", run, "--step", "nope", "--state", state])
        #expect(wrong.status == 1 && wrong.output.contains("has no step 'nope' (its steps: hello, bye)"))
    }
}
