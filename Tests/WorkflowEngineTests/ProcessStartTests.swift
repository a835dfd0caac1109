import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowEngine
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// What a step's process starts with, and how its end is told, with wfd's own spawner.
@Suite struct ProcessStartTests {
    func run(_ command: String, in dir: TemporaryDirectory, executor: ShellExecutor = ShellExecutor()) async
        -> AttemptResult
    {
        let invocation = StepInvocation(
            job: JobID("j")!, run: RunID("r1")!, step: StepID("s")!, attempt: 1, command: command,
            environment: ["PATH": "/usr/bin:/bin"], workingDirectory: dir.path, timeout: .seconds(30),
            logFile: dir.file("s.1.log"))
        return await executor.execute(invocation, control: StepControl(), logger: CapturedLog().logger)
    }

    func log(_ dir: TemporaryDirectory) throws -> String {
        try String(contentsOfFile: dir.file("s.1.log"), encoding: .utf8)
    }

    @Test func aStepStartsWithDefaultSignalsNoneBlockedAndOnlyItsThreeDescriptors() async throws {
        // This test process ignores SIGPIPE (as wfd does): the step must not inherit that.
        _ = signal(SIGPIPE, SIG_IGN)
        let ours = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let ignored = ours.split(separator: "\n").first { $0.hasPrefix("SigIgn:") }.flatMap {
            UInt64($0.dropFirst(8), radix: 16)
        }
        #expect((ignored ?? 0) & (1 << (SIGPIPE - 1)) != 0, "the test process ignores SIGPIPE")
        let dir = try TemporaryDirectory("spawn")
        let result = await run("grep -E '^Sig(Blk|Ign)' /proc/self/status; ls /proc/self/fd", in: dir)
        #expect(result.outcome == .succeeded, "\(result)")
        let lines = try log(dir).split(separator: "\n").map(String.init)
        #expect(lines.contains("SigBlk:\t0000000000000000"))
        #expect(lines.contains("SigIgn:\t0000000000000000"))
        // 0, 1, 2 and the descriptor ls opened to read the directory: nothing of wfd's.
        #expect(lines.filter { Int($0) != nil } == ["0", "1", "2", "3"])
        // With SIGPIPE at its default, the writer of a closed pipe dies quietly and the step ends.
        let pipeline = await run("yes | head -n 1", in: dir)
        #expect(pipeline.outcome == .succeeded)
    }

    @Test func aStepRunsInASessionOfItsOwnWithStdinAtDevNull() async throws {
        let dir = try TemporaryDirectory("spawn")
        let result = await run("ps -o sid=,pgid=,pid= -p $$; readlink /proc/self/fd/0", in: dir)
        #expect(result.outcome == .succeeded)
        let lines = try log(dir).split(separator: "\n")
        let ids = try #require(lines.first).split(separator: " ")
        #expect(ids.count == 3 && Set(ids).count == 1, "session, group and pid are one: \(ids)")
        #expect(lines.last == "/dev/null")
    }

    @Test func aBackgroundChildHoldingTheOutputDoesNotKeepTheStepAlive() async throws {
        let dir = try TemporaryDirectory("spawn")
        // The leader exits at once; its background child keeps stdout open for 100 s.
        let result = await run("sleep 100 & echo $! > bg.pid; echo started", in: dir)
        #expect(result.outcome == .succeeded)
        #expect(try log(dir) == "started\n")
        let pidText = try String(contentsOfFile: dir.file("bg.pid"), encoding: .utf8)
        let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(await eventually(timeout: .seconds(30)) { !isAlive(pid) }, "the group's leftover \(pid) was killed")
    }

    @Test func aProcessThatLeftTheGroupIsNotWaitedForAndTheLogSaysSo() async throws {
        let dir = try TemporaryDirectory("spawn")
        // setsid takes the sleeper out of the step's group, so killing the group cannot reach it.
        let result = await run("setsid sh -c 'echo $$ > escaped.pid; exec sleep 100' & sleep 0.2; echo done", in: dir)
        let pidText = try String(contentsOfFile: dir.file("escaped.pid"), encoding: .utf8)
        if let pid = Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) { kill(pid, SIGKILL) }
        #expect(result.outcome == .succeeded)
        #expect(try log(dir).hasPrefix("done\n"))
        #expect(try log(dir).contains("[wfd: output after the step's end was not read"))
    }

    @Test func aProgramThatCannotBeExecutedSaysWhy() async throws {
        let dir = try TemporaryDirectory("spawn")
        let missing = await run("echo hi; true", in: dir, executor: ShellExecutor(shell: "/nonexistent/sh"))
        #expect(missing.outcome == .failed)
        #expect(missing.error == "could not start the step: '/nonexistent/sh' does not exist")
        try dir.write("not-executable", "#!/bin/sh\n")
        let refused = await run("echo hi; true", in: dir, executor: ShellExecutor(shell: dir.file("not-executable")))
        #expect(
            refused.error
                == "could not start the step: cannot execute '\(dir.file("not-executable"))': Permission denied")
    }
}
