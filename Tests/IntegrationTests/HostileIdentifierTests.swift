import Foundation
import JobFormat
import Testing
import WorkflowControl
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// Job, run and step names come from people and scripts: through wfctl's arguments or straight
/// over the control socket, none may reach outside the state directory, crash wfd or be quietly
/// read as something else.
@Suite struct HostileIdentifierTests {
    /// Path traversal, separators, dot files, NUL, control characters, non-ASCII and very long names.
    static let hostile = [
        "..", "../outside", "../../../../../../tmp/wfd-escape", "a/b", "/etc/passwd", ".hidden",
        String(repeating: "a", count: 300), "a\nb", "name with spaces", "Ärger", "a\u{0}b",
    ]

    func makeDaemon() async throws -> (TemporaryDirectory, TestDaemon) {
        let dir = try TemporaryDirectory("hostile")
        try FileManager.default.createDirectory(atPath: dir.file("outside"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write("jobs/ok.yaml", "steps:\n  - id: one\n    run: 'true'\n")
        return (dir, try await TestDaemon.start(dir))
    }

    /// Every file and directory under `root`, relative to it.
    func tree(_ root: String) -> Set<String> {
        Set((FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? [])
    }

    @Test func wfctlRefusesEveryHostileNameAsUsageBeforeTouchingAFile() async throws {
        let (dir, daemon) = try await makeDaemon()
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let started = try await runProgram(wfctl, ["run", "ok", "--wait", "--state", daemon.state])
        #expect(started.status == 0, "\(started.output)")
        let store = RunStore(directory: StateDirectory(root: daemon.state))
        let run = try #require(store.runIDs(JobID("ok")!).last).rawValue
        let before = tree(dir.path)

        // argv cannot carry a NUL: the kernel would end the argument there.
        for name in Self.hostile where !name.contains("\u{0}") {
            let commands: [[String]] = [
                ["show", name], ["logs", name], ["cancel", name], ["retry", name], ["why", name],
                ["approve", name, "one"], ["reject", name, "one"], ["runs", name], ["stats", name],
                ["run", name], ["why", "--job", name], ["logs", run, "--step", name],
                ["retry", run, "--from", name], ["retry", run, "--skip", name], ["approve", run, name],
            ]
            for command in commands {
                let result = try await runProgram(wfctl, command + ["--state", daemon.state])
                #expect(result.status == 64, "\(command): \(result.output)")
                #expect(result.output.contains("is not a"), "\(command): \(result.output)")
            }
        }
        #expect(tree(dir.path) == before, "nothing was created, moved or removed")
        #expect(isAlive(daemon.process.pid))
    }

    @Test func theControlSocketRefusesHostileNamesAndOverlongRequestsAndKeepsAnswering() async throws {
        let (dir, daemon) = try await makeDaemon()
        defer { Task { await daemon.process.stop() } }
        let socket = "\(daemon.state)/control.sock"
        func ask(_ request: ControlRequest) throws -> ControlResponse {
            try ControlSocket.exchange(request, at: socket, timeout: .seconds(30))
        }
        let good = try ask(ControlRequest(command: "run", job: "ok"))
        let run = try #require(good.run, "\(good.message)")
        let before = tree(dir.path).filter { !$0.hasPrefix("state/") }

        for name in Self.hostile {
            var requests = [
                ControlRequest(command: "run", job: name), ControlRequest(command: "cancel", run: name),
                ControlRequest(command: "retry", job: name, run: run),
                ControlRequest(command: "retry", job: "ok", run: name),
                ControlRequest(command: "approve", run: name), ControlRequest(command: "reject", run: run),
            ]
            requests[4].step = "one"
            requests[5].step = name
            var from = ControlRequest(command: "retry", job: "ok", run: run)
            from.from = name
            var skip = ControlRequest(command: "retry", job: "ok", run: run)
            skip.skip = [name]
            var output = ControlRequest(command: "retry", job: "ok", run: run)
            output.outputs = [name: "{}"]
            for request in requests + [from, skip, output] {
                let answer = try ask(request)
                #expect(!answer.ok && answer.error == .badRequest, "\(request): \(answer)")
            }
        }
        #expect(try ask(ControlRequest(command: "no such command")).error == .unknownCommand)

        // A request longer than the 4 MiB a line may have is refused, not buffered without end:
        // a ping that would be answered "pong" (or the connection is closed on the writer).
        var huge = ControlRequest(command: "ping")
        huge.comment = String(repeating: "x", count: ControlFraming.maximumLine + 1)
        if let answer = try? ask(huge) {
            #expect(!answer.ok && answer.error == .badRequest && answer.message.contains("longer than"), "\(answer)")
        }

        #expect(try ask(ControlRequest(command: "ping")).ok, "wfd still answers")
        #expect(tree(dir.path).filter { !$0.hasPrefix("state/") } == before, "nothing outside the state directory")
        let jobs = try FileManager.default.contentsOfDirectory(atPath: "\(daemon.state)/jobs")
        #expect(jobs == ["ok"], "no job directory for a refused name: \(jobs)")
    }

    /// Every command that changes something is refused to a caller outside root, wfd's user and
    /// the control group, even when the socket itself is open to everyone; a member gets through.
    @Test(.enabled(if: geteuid() == 0, "switching users needs root"))
    func everyChangingCommandIsRefusedToStrangersAndAllowedToTheControlGroup() async throws {
        let dir = try TemporaryDirectory("hostile")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write("jobs/ok.yaml", "steps:\n  - id: one\n    run: 'true'\n")
        let daemon = try await TestDaemon.start(dir, arguments: ["--control-group", "daemon"])
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let started = try await runProgram(wfctl, ["run", "ok", "--wait", "--state", daemon.state])
        let run = try #require(RunStore(directory: StateDirectory(root: daemon.state)).runIDs(JobID("ok")!).last)
        #expect(started.status == 0)
        let state = StateDirectory(root: daemon.state)
        for (path, mode) in [
            (dir.path, 0o755), (state.root, 0o755), (state.daemonLock, 0o644), (state.daemonInfo, 0o644),
            (state.file("control.sock"), 0o666),
        ] as [(String, mode_t)] {
            chmod(path, mode)
        }
        let commands = [
            ["run", "ok"], ["cancel", run.rawValue], ["retry", run.rawValue], ["approve", run.rawValue, "one"],
            ["reject", run.rawValue, "one"], ["reload"],
        ]
        for command in commands {
            let stranger = try await runProgram(
                "/usr/bin/setpriv",
                ["--reuid=65534", "--regid=65534", "--clear-groups", wfctl] + command + ["--state", daemon.state])
            #expect(stranger.status == 77, "\(command): \(stranger.output)")
            #expect(stranger.output.contains("permission denied"), "\(command): \(stranger.output)")
        }
        #expect(RunStore(directory: state).runIDs(JobID("ok")!).count == 1, "no run was started")
        let member = try await runProgram(
            "/usr/bin/setpriv",
            ["--reuid=65534", "--regid=65534", "--groups=1", wfctl, "run", "ok", "--state", daemon.state])
        #expect(member.status == 0, "a member of the control group may: \(member.output)")
    }
}
