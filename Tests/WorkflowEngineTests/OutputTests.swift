import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowEngine
import WorkflowStore
import WorkflowTesting

/// Step outputs through the real coordinator and shell executor.
@Suite struct OutputTests {
    func run(_ steps: [StepDefinition], maxOutputBytes: Int = 1 << 20) async throws -> (RunSnapshot, TemporaryDirectory)
    {
        let dir = try TemporaryDirectory("output")
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        let coordinator = RunCoordinator(
            store: store, executor: ShellExecutor(maxOutputBytes: maxOutputBytes), clock: SystemClock(),
            logger: CapturedLog().logger, workingDirectory: dir.path, daemonEnvironment: ["PATH": "/usr/bin:/bin"])
        let prepared = coordinator.prepare(
            job: Job(id: JobID("out")!, steps: steps), trigger: .manual, scheduledFor: nil)
        return (await coordinator.execute(prepared), dir)
    }

    func step(_ id: String, _ command: String, needs: [String] = [], output: OutputMode = .text) -> StepDefinition {
        var step = StepDefinition(id: StepID(id)!, run: command, needs: needs.map { StepID($0)! })
        step.output = output
        return step
    }

    @Test func laterStepsReceiveOutputsAsEnvironmentVariablesAndFiles() async throws {
        let (snapshot, dir) = try await run([
            step("fetch-list", #"echo '{"items": [1, 2]}'"#, output: .json),
            step("greet", "echo hello", needs: ["fetch-list"]),
            step(
                "use",
                #"printf '%s|%s' "$WF_STEP_FETCH_LIST_OUTPUT" "$WF_STEP_GREET_OUTPUT" > seen.txt; cat "$WF_STEP_FETCH_LIST_OUTPUT_FILE" > file.txt"#,
                needs: ["greet"]),
        ])
        #expect(snapshot.run.state == .succeeded, "\(snapshot.steps.map { $0.error ?? "" })")
        #expect(try String(contentsOfFile: dir.file("seen.txt"), encoding: .utf8) == #"{"items": [1, 2]}|hello"#)
        #expect(try String(contentsOfFile: dir.file("file.txt"), encoding: .utf8) == #"{"items": [1, 2]}"#)
        let attempt = try #require(snapshot.step(StepID("greet")!)?.attempts.first)
        #expect(attempt.output == "outputs/greet")
        let stored = try RecordFile.readData(
            StateDirectory(root: dir.file("state")).runFile(JobID("out")!, snapshot.run.id, relative: "outputs/greet"))
        #expect(String(decoding: stored, as: UTF8.self) == "hello", "text output without its final newline")
    }

    @Test func invalidJSONFailsTheAttemptWithAClearMessage() async throws {
        let (snapshot, _) = try await run([
            step("broken", "echo 'not json'", output: .json), step("next", "true", needs: ["broken"]),
        ])
        #expect(snapshot.run.state == .failed)
        let broken = try #require(snapshot.step(StepID("broken")!))
        #expect(broken.state == .failed)
        #expect(broken.error == "its stdout is not valid JSON (output: json): 'not json'")
        #expect(broken.attempts.first?.output == nil)
        #expect(snapshot.step(StepID("next")!)?.state == .skipped)
    }

    @Test func jsonLargerThanTheLimitFailsAndTextIsCut() async throws {
        let (json, _) = try await run(
            [step("big", #"printf '"%s"' "$(head -c 3000 /dev/zero | tr '\0' x)""#, output: .json)],
            maxOutputBytes: 1000)
        #expect(json.step(StepID("big")!)?.error?.contains("larger than the output limit") == true)
        let (text, dir) = try await run([step("big", "head -c 3000 /dev/zero | tr '\\0' x")], maxOutputBytes: 1000)
        #expect(text.run.state == .succeeded)
        let stored = try RecordFile.readData(
            StateDirectory(root: dir.file("state")).runFile(JobID("out")!, text.run.id, relative: "outputs/big"))
        #expect(stored.count == 1000)
    }

    @Test func aStepThatFailsOnceIsRetriedAndSucceeds() async throws {
        var flaky = step("flaky", "n=$(cat count 2>/dev/null || echo 0); echo $((n + 1)) > count; [ $n -ge 1 ]")
        flaky.retry = RetryPolicy(attempts: 3, delay: TimeSpan(.milliseconds(200)))
        let (snapshot, dir) = try await run([flaky])
        #expect(snapshot.run.state == .succeeded)
        let attempts = try #require(snapshot.step(StepID("flaky")!)?.attempts)
        #expect(attempts.map(\.outcome) == [.failed, .succeeded])
        #expect(try String(contentsOfFile: dir.file("count"), encoding: .utf8) == "2\n")
        let stored = try RunStore(directory: StateDirectory(root: dir.file("state"))).loadStep(
            JobID("out")!, snapshot.run.id, StepID("flaky")!)
        #expect(stored.attempts.count == 2)
        #expect(stored.retryAt == nil)
    }

    @Test func theJobTimeoutStopsTheRunAsTimedOut() async throws {
        let dir = try TemporaryDirectory("runtimeout")
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        let coordinator = RunCoordinator(
            store: store, executor: ShellExecutor(gracePeriod: .seconds(2)), clock: SystemClock(),
            logger: CapturedLog().logger, workingDirectory: dir.path, daemonEnvironment: ["PATH": "/usr/bin:/bin"])
        var job = Job(id: JobID("slow")!, steps: [step("nap", "sleep 30"), step("after", "true", needs: ["nap"])])
        job.timeout = TimeSpan(.milliseconds(300))
        let snapshot = await coordinator.execute(coordinator.prepare(job: job, trigger: .manual, scheduledFor: nil))
        let nap = try #require(snapshot.step(StepID("nap")!)?.attempts.last)
        #expect(nap.signal == SIGTERM && nap.exitCode == nil, "stopped by TERM, not waited out")
        #expect(snapshot.run.state == .timedOut)
        #expect(snapshot.run.error == "the run timed out after 300ms")
        #expect(snapshot.step(StepID("nap")!)?.state == .cancelled)
        #expect(snapshot.step(StepID("after")!)?.state == .skipped)
        #expect(try store.loadRun(JobID("slow")!, snapshot.run.id).state == .timedOut)
    }
}
