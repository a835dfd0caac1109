import Foundation
import JobFormat
import Logging
import RuntimeSupport
import Testing
import WorkflowEngine
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// Collects log entries so tests can see what reached the log, with its metadata.
final class CapturedLog: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let entries = Locked<[Entry]>([])

    var logger: Logger {
        Logger(label: "test") { _ in CapturingHandler(sink: self) }
    }

    var all: [Entry] { entries.withLock { $0 } }

    struct CapturingHandler: LogHandler {
        let sink: CapturedLog
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { _, new in new } }
            let entry = Entry(
                level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" })
            sink.entries.withLock { $0.append(entry) }
        }
    }
}

@Suite struct ShellExecutorTests {
    func invocation(
        _ command: String, in dir: TemporaryDirectory, env: [String: String] = [:], timeout: Duration? = nil
    )
        -> StepInvocation
    {
        StepInvocation(
            job: JobID("j")!, run: RunID("r1")!, step: StepID("s")!, attempt: 1, command: command,
            environment: ["PATH": "/usr/bin:/bin"].merging(env) { _, new in new }, workingDirectory: dir.path,
            timeout: timeout, logFile: dir.file("s.1.log"))
    }

    @Test func capturesOutputToTheLogFileAndTheLoggerLineByLine() async throws {
        let dir = try TemporaryDirectory("exec")
        let log = CapturedLog()
        let result = await ShellExecutor().execute(
            invocation("echo one; echo two >&2; printf 'no newline'", in: dir), control: StepControl(),
            logger: log.logger)
        #expect(result.outcome == .succeeded)
        let file = try String(contentsOfFile: dir.file("s.1.log"), encoding: .utf8)
        #expect(file.contains("one\n") && file.contains("two\n") && file.contains("no newline"))
        #expect(file.utf8.count == "one\ntwo\nno newline".utf8.count)
        let lines = log.all.map(\.message)
        #expect(Set(lines) == ["one", "two", "no newline"])
        let two = try #require(log.all.first { $0.message == "two" })
        #expect(two.metadata["stream"] == "stderr")
    }

    @Test func theEnvironmentIsExactlyWhatWasGiven() async throws {
        let dir = try TemporaryDirectory("exec")
        let result = await ShellExecutor().execute(
            invocation("env > env.txt", in: dir, env: ["WF_RUN_ID": "abc", "EMPTY": "", "SPACES": "a b  c"]),
            control: StepControl(), logger: CapturedLog().logger)
        #expect(result.outcome == .succeeded)
        let lines = try String(contentsOfFile: dir.file("env.txt"), encoding: .utf8).split(separator: "\n").map(
            String.init)
        // /bin/sh adds PWD (and dash may add nothing else); everything else must be ours, byte for byte.
        let ours = Set(
            lines.filter {
                !$0.hasPrefix("PWD=") && !$0.hasPrefix("OLDPWD=") && !$0.hasPrefix("SHLVL=") && !$0.hasPrefix("_=")
            })
        #expect(ours == ["PATH=/usr/bin:/bin", "WF_RUN_ID=abc", "EMPTY=", "SPACES=a b  c"])
    }

    @Test func nonZeroExitAndSignalsAreResultsNotErrors() async throws {
        let dir = try TemporaryDirectory("exec")
        let failed = await ShellExecutor().execute(
            invocation("exit 7", in: dir), control: StepControl(), logger: CapturedLog().logger)
        #expect(failed.outcome == .failed && failed.exitCode == 7 && failed.error == "exited with status 7")
        let killed = await ShellExecutor().execute(
            invocation("kill -KILL $$", in: dir), control: StepControl(), logger: CapturedLog().logger)
        #expect(killed.outcome == .failed)
        #expect(killed.signal == SIGKILL)
        #expect(killed.error == "killed by SIGKILL")
    }

    @Test func aMissingWorkingDirectoryFailsTheAttemptClearly() async throws {
        let dir = try TemporaryDirectory("exec")
        var bad = invocation("true", in: dir)
        bad.workingDirectory = dir.file("nope")
        let result = await ShellExecutor().execute(bad, control: StepControl(), logger: CapturedLog().logger)
        #expect(result.outcome == .failed)
        #expect(result.error?.hasPrefix("could not start the step") == true)
    }

    @Test func timeoutKillsTheWholeProcessGroupEvenChildrenIgnoringTerm() async throws {
        let dir = try TemporaryDirectory("exec")
        // A grandchild that ignores SIGTERM and records its pid; the group must still die.
        let command = "sh -c 'trap \"\" TERM; echo $$ > child.pid; while :; do sleep 1; done' & wait"
        let executor = ShellExecutor(gracePeriod: .milliseconds(300))
        let result = await executor.execute(
            invocation(command, in: dir, timeout: .milliseconds(700)), control: StepControl(),
            logger: CapturedLog().logger)
        #expect(result.outcome == .timedOut)
        #expect(result.error == "timed out after 700ms")
        let pidText = try String(contentsOfFile: dir.file("child.pid"), encoding: .utf8)
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await eventually(timeout: .seconds(30)) { !isAlive(pid) }, "grandchild \(pid) was killed")
    }

    @Test func terminateStopsAStepAsCancelled() async throws {
        let dir = try TemporaryDirectory("exec")
        let control = StepControl()
        async let result = ShellExecutor(gracePeriod: .seconds(5)).execute(
            invocation("echo started; sleep 30", in: dir), control: control, logger: CapturedLog().logger)
        #expect(
            await eventually {
                (try? String(contentsOfFile: dir.file("s.1.log"), encoding: .utf8))?.contains("started") == true
            })
        control.terminate(reason: "wfd is stopping")
        let final = await result
        #expect(final.outcome == .cancelled)
        #expect(final.signal == SIGTERM)
        #expect(final.error == "cancelled: wfd is stopping")
    }

    @Test func outputBeyondTheLimitIsCutAndSaidSo() async throws {
        let dir = try TemporaryDirectory("exec")
        let result = await ShellExecutor(maxLogBytes: 1000).execute(
            invocation("head -c 100000 /dev/zero | tr '\\0' x", in: dir), control: StepControl(),
            logger: CapturedLog().logger)
        #expect(result.outcome == .succeeded)
        let file = try String(contentsOfFile: dir.file("s.1.log"), encoding: .utf8)
        #expect(file.hasPrefix(String(repeating: "x", count: 1000)))
        #expect(file.hasSuffix("[wfd: output truncated at 1000 bytes]\n"))
    }

    @Test func stepEnvironmentNeverPassesServiceManagerVariables() {
        let job = Job(
            id: JobID("j")!, timezone: "Europe/Rome", env: ["A": "job", "NOTIFY_SOCKET": "/evil"],
            steps: [StepDefinition(id: StepID("s")!, run: "true", env: ["A": "step"])])
        let daemon = [
            "PATH": "/bin", "NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1", "LISTEN_FDS": "3", "INVOCATION_ID": "i",
            "JOURNAL_STREAM": "1:2", "CREDENTIALS_DIRECTORY": "/c", "STATE_DIRECTORY": "/s", "SECRET": "no",
            "HOME": "/root",
        ]
        let environment = StepEnvironment.make(
            job: job, step: job.steps[0], run: RunID("r")!, attempt: 2, account: nil, daemonEnvironment: daemon)
        #expect(
            environment == [
                "PATH": "/bin", "HOME": "/root", "TZ": "Europe/Rome", "A": "step", "WF_JOB": "j", "WF_RUN_ID": "r",
                "WF_STEP": "s", "WF_ATTEMPT": "2",
            ])
    }

    /// A system service has no `HOME`: a step gets its account's from the password database
    /// (wfd's own account when it has no `user:`), whatever wfd's environment says; a job's
    /// `env` may still set it.
    @Test func aStepGetsItsAccountsIdentityFromThePasswordDatabase() throws {
        let root = try UserAccount.resolve("root").get()
        #expect(root.home == "/root" && root.name == "root" && !root.shell.isEmpty)
        let job = Job(id: JobID("j")!, steps: [StepDefinition(id: StepID("s")!, run: "true")])
        let environment = StepEnvironment.make(
            job: job, step: job.steps[0], run: RunID("r")!, attempt: 1, account: root,
            daemonEnvironment: ["PATH": "/bin", "HOME": "/elsewhere", "USER": "nobody"])
        #expect(environment["HOME"] == "/root")
        #expect(environment["USER"] == "root" && environment["LOGNAME"] == "root")
        #expect(environment["SHELL"] == root.shell)
        let overridden = Job(id: JobID("j")!, env: ["HOME": "/srv/home"], steps: job.steps)
        let chosen = StepEnvironment.make(
            job: overridden, step: job.steps[0], run: RunID("r")!, attempt: 1, account: root, daemonEnvironment: [:])
        #expect(chosen["HOME"] == "/srv/home")
        #expect(UserAccount.own()?.uid == geteuid())
    }
}

@Suite struct DirectCommandTests {
    @Test func plainWordsRunWithoutAShellAndAnythingElseGoesThroughSh() {
        let path = "/usr/bin:/bin"
        #expect(ShellExecutor.directCommand("true", path: path)?.0.hasSuffix("/true") == true)
        #expect(ShellExecutor.directCommand("sleep 0.1", path: path)?.1 == ["0.1"])
        #expect(ShellExecutor.directCommand("/bin/date +%s", path: path)?.0 == "/bin/date")
        for shellish in [
            "echo hi", "cd /tmp", "exit 3", "true && false", "ls *", "echo $HOME", "a=b true", "true > /dev/null",
            "true # comment", "'true'", "nosuchprogram-xyz", "./relative", "usr", "", "true; false", "sleep 1 &",
        ] {
            #expect(ShellExecutor.directCommand(shellish, path: path) == nil, "\(shellish) needs a shell")
        }
    }
}
