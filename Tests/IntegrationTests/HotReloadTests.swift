import Foundation
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// jobs.d changes reach the running wfd without a signal, and nothing a user writes there can
/// break it.
@Suite struct HotReloadTests {
    /// Writes `text` the way editors save: a temporary file renamed over the target.
    func save(_ dir: TemporaryDirectory, _ name: String, _ text: String) throws {
        let temporary = dir.file("jobs/.\(name).swp")
        try text.write(toFile: temporary, atomically: false, encoding: .utf8)
        chmod(temporary, 0o644)
        guard rename(temporary, dir.file("jobs/\(name)")) == 0 else { throw TestKitError("rename failed") }
    }

    func info(_ state: StateDirectory, _ job: String) -> JobInfo? {
        try? RunStore(directory: state).loadJobInfo(JobID(job)!)
    }

    func startDaemon(_ dir: TemporaryDirectory) async throws -> (DaemonProcess, NotifySocket, StateDirectory) {
        let started = try await TestDaemon.start(dir)
        return (started.process, started.socket, StateDirectory(root: started.state))
    }

    @Test func editsAreAppliedWithoutASignalAndAnInvalidEditKeepsTheLastValidVersion() async throws {
        let dir = try TemporaryDirectory("hot")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        let (daemon, _, state) = try await startDaemon(dir)
        defer { Task { await daemon.stop() } }

        // A new file is picked up (an editor's rename), without SIGHUP.
        let saved = ContinuousClock.now
        try save(dir, "tick.yaml", "schedule: '* * * * * *'\nsteps: [{id: a, run: 'echo v1'}]\n")
        #expect(await eventually(timeout: .seconds(30)) { info(state, "tick")?.state == .active })
        print("hot reload: new job file applied \(ContinuousClock.now - saved) after the rename")
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? RunStore(directory: state).loadLatest(JobID("tick")!))?.last != nil
            })

        // It becomes invalid: the last valid version keeps running, the error is shown.
        try save(dir, "tick.yaml", "schedule: '* * * * * *'\nsteps: [{id: a, runn: 'echo v2'}]\n")
        #expect(await eventually(timeout: .seconds(30)) { info(state, "tick")?.state == .invalid })
        let broken = try #require(info(state, "tick"))
        #expect(
            broken.errors.map(\.description) == [
                "\(dir.file("jobs/tick.yaml")):2:17: unknown key 'runn' in a step (did you mean 'run'?)"
            ])
        #expect(broken.steps == [StepID("a")!], "the last valid version is what is indexed")
        let store = RunStore(directory: state)
        let before = store.runIDs(JobID("tick")!).count
        #expect(
            await eventually(timeout: .seconds(30)) { store.runIDs(JobID("tick")!).count >= before + 2 }, "still runs")
        let last = try #require(store.runIDs(JobID("tick")!).last)
        #expect(await eventually { (try? store.loadRun(JobID("tick")!, last))?.state.isTerminal == true })
        let log = try String(
            contentsOfFile: state.runFile(JobID("tick")!, last, relative: "logs/a.1.log"), encoding: .utf8)
        #expect(log == "v1\n", "the old version ran")
        let status = try await runProgram(try BuiltProducts.path("wfctl"), ["status", "--state", state.root])
        #expect(status.output.contains("file invalid"), "\(status.output)")
        #expect(status.output.contains("unknown key 'runn'"), "\(status.output)")

        // Fixed again: the new version runs.
        try save(dir, "tick.yaml", "schedule: '* * * * * *'\nsteps: [{id: a, run: 'echo v3'}]\n")
        #expect(await eventually(timeout: .seconds(30)) { info(state, "tick")?.state == .active })
        #expect(
            await eventually(timeout: .seconds(30)) {
                guard let id = store.runIDs(JobID("tick")!).last,
                    let text = try? String(
                        contentsOfFile: state.runFile(JobID("tick")!, id, relative: "logs/a.1.log"), encoding: .utf8)
                else { return false }
                return text == "v3\n"
            })
        let spec = try store.loadSpec(JobID("tick")!, try #require(store.runIDs(JobID("tick")!).first))
        #expect(spec.steps.first?.kind == .run("echo v1"), "a run keeps the definition it started with")

        // Removed: unscheduled, history kept.
        unlink(dir.file("jobs/tick.yaml"))
        #expect(await eventually(timeout: .seconds(30)) { info(state, "tick") == nil })
        #expect(!store.runIDs(JobID("tick")!).isEmpty)
        daemon.send(SIGTERM)
        #expect(await daemon.waitForExit() == 0)
    }

    @Test func aNewInvalidFileIsShownAndNeverRuns() async throws {
        let dir = try TemporaryDirectory("newbad")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        let (daemon, _, state) = try await startDaemon(dir)
        defer { Task { await daemon.stop() } }
        try save(dir, "bad.yaml", "schedule: '* * * * * *'\nsteps: [{id: a, run: 'echo no', timeout: soon}]\n")
        #expect(await eventually(timeout: .seconds(30)) { info(state, "bad")?.state == .invalid })
        let report = try await runProgram(try BuiltProducts.path("wfctl"), ["status", "--json", "--state", state.root])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.output.utf8)) as? [String: Any])
        let job = try #require((json["jobs"] as? [[String: Any]])?.first)
        #expect(job["state"] as? String == "invalid")
        #expect(
            (job["errors"] as? [[String: Any]])?.first?["message"] as? String == "invalid duration 'soon' for 'timeout'"
        )
        try await Task.sleep(for: .milliseconds(1500))
        #expect(RunStore(directory: state).runIDs(JobID("bad")!).isEmpty)
        daemon.send(SIGTERM)
        #expect(await daemon.waitForExit() == 0)
    }

    @Test func aGroupWritableFileIsRefusedWithTheFix() async throws {
        let dir = try TemporaryDirectory("perm")
        try dir.write("jobs/open.yaml", "schedule: '* * * * * *'\nsteps: [{id: a, run: 'echo no'}]\n")
        chmod(dir.file("jobs/open.yaml"), 0o666)
        let (daemon, _, state) = try await startDaemon(dir)
        defer { Task { await daemon.stop() } }
        #expect(await eventually { info(state, "open")?.state == .invalid })
        #expect(daemon.output.contains("chmod go-w \(dir.file("jobs/open.yaml"))"))
        chmod(dir.file("jobs/open.yaml"), 0o644)  // the fix, picked up by the watch (IN_ATTRIB)
        #expect(await eventually(timeout: .seconds(30)) { info(state, "open")?.state == .active })
        daemon.send(SIGTERM)
        #expect(await daemon.waitForExit() == 0)
    }
}

@Suite struct ValidateCommandTests {
    @Test func theCorpusIsInvalidTheExamplesValid() async throws {
        let wfctl = try BuiltProducts.path("wfctl")
        let root = BuiltProducts.packageRoot
        let bad = try await runProgram(wfctl, ["validate", "--json", root + "/Tests/Fixtures/jobs/invalid"])
        #expect(bad.status == 65)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(bad.output.utf8)) as? [String: Any])
        #expect(json["valid"] as? Bool == false)
        let files = try #require(json["files"] as? [[String: Any]])
        #expect(files.count >= 40)
        #expect(files.allSatisfy { $0["valid"] as? Bool == false })
        let good = try await runProgram(wfctl, ["validate", root + "/jobs.d", root + "/Tests/Fixtures/jobs/valid"])
        #expect(good.status == 0, "\(good.output)")
        #expect(good.output.contains("ok: 6 job files valid"), "\(good.output)")
        let one = try await runProgram(
            wfctl, ["validate", root + "/Tests/Fixtures/jobs/invalid/04-need-not-needs.yaml"])
        #expect(one.status == 65)
        #expect(one.output.contains("04-need-not-needs.yaml:5:5: unknown key 'need' in a step (did you mean 'needs'?)"))
        let missing = try await runProgram(wfctl, ["validate", "/nonexistent/job.yaml"])
        #expect(missing.status == 65)
        #expect(missing.output.contains("no such file or directory"))
    }

    @Test func theSchemaCommandPrintsTheSchema() async throws {
        let result = try await runProgram(try BuiltProducts.path("wfctl"), ["schema"])
        #expect(result.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(json["$schema"] as? String == "https://json-schema.org/draft/2020-12/schema")
    }
}

@Suite struct ReloadCommandTests {
    @Test func reloadReturnsOnceTheNewJobsAreInEffect() async throws {
        let dir = try TemporaryDirectory("reload")
        let started = try await TestDaemon.start(dir)
        let (daemon, socket) = (started.process, started.socket)
        defer { Task { await daemon.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let state = StateDirectory(root: dir.file("state"))

        try dir.write("jobs/new.yaml", "schedule: '0 0 1 1 *'\nsteps: [{id: a, run: 'true'}]\n")
        let before = socket.messages.count
        let reload = try await runProgram(wfctl, ["reload", "--state", state.root])
        #expect(reload.status == 0, "\(reload.output)")
        #expect(reload.output.hasPrefix("reloaded: 1 jobs"))
        #expect(FileManager.default.fileExists(atPath: state.jobInfo(JobID("new")!)), "in effect when reload returns")
        // A file read once it was a few seconds old is not read again while unchanged (one written
        // just before it was read is, in case it changed again within the same clock tick).
        try await Task.sleep(for: .milliseconds(2100))
        _ = try await runProgram(wfctl, ["reload", "--state", state.root])
        let again = try await runProgram(wfctl, ["reload", "--state", state.root])
        #expect(again.output.contains("(0 of 1 files read; the rest unchanged)"), "\(again.output)")
        let reloading = socket.messages[before...].firstIndex { $0.contains("RELOADING=1") }
        #expect(reloading != nil)
        #expect(
            socket.messages[before...].lastIndex { $0.contains("READY=1") }.map { $0 > (reloading ?? .max) } == true)

        // Another user may not send commands, even when the socket itself is open to everyone.
        chmod(dir.path, 0o755)
        chmod(state.root, 0o755)
        chmod(state.daemonLock, 0o644)
        chmod(state.daemonInfo, 0o644)
        chmod(state.file("control.sock"), 0o666)
        let stranger = try await runProgram(
            "/usr/bin/setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", wfctl, "reload", "--state", state.root])
        #expect(stranger.status == 77, "\(stranger.output)")
        #expect(stranger.output.contains("permission denied"))

        daemon.send(SIGTERM)
        #expect(await daemon.waitForExit() == 0)
        let stopped = try await runProgram(wfctl, ["reload", "--state", state.root])
        #expect(stopped.status == 69)
        #expect(stopped.output.contains("wfd is not running"))
    }
}
