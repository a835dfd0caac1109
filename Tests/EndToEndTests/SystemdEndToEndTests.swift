import Foundation
import Testing
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct SystemdEndToEndTests {
    static let unitSource = BuiltProducts.packageRoot + "/systemd/wfd.service"

    /// The shipped unit with test-only directory names, and `wfd` and `wfctl` in `binaries`.
    static func testUnit(name: String, binaries: String) throws -> String {
        var text = try String(contentsOfFile: Self.unitSource, encoding: .utf8)
        text = text.replacingOccurrences(of: "ExecStart=/usr/local/bin/wfd", with: "ExecStart=\(binaries)/wfd")
        text = text.replacingOccurrences(of: "ExecReload=/usr/local/bin/wfctl", with: "ExecReload=\(binaries)/wfctl")
        for key in ["StateDirectory", "ConfigurationDirectory", "RuntimeDirectory"] {
            text = text.replacingOccurrences(of: "\(key)=wfd\n", with: "\(key)=\(name)\n")
        }
        // These instances share the host's /etc/group, which need not have the group wfd (the
        // Debian package's test installs it, and runs the shipped unit as it is).
        text = text.replacingOccurrences(of: "Group=wfd\n", with: "")
        text = text.replacingOccurrences(
            of: "WatchdogSec=30s", with: "WatchdogSec=\(Int(3 * testTimeoutScale))s")
        // Under make sanitize the sanitized wfd and wfctl keep the test run's settings.
        let sanitizers = withSanitizerOptions([:]).sorted { $0.key < $1.key }
            .map { "Environment=\"\($0.key)=\($0.value)\"\n" }.joined()
        text = text.replacingOccurrences(of: "[Service]\n", with: "[Service]\n" + sanitizers)
        return text
    }

    @Test func theUnitVerifiesCleanlyAndIsHardened() async throws {
        let dir = try TemporaryDirectory("unit")
        let path = dir.file("wfd.service")
        try Self.testUnit(name: "wfd", binaries: BuiltProducts.directory)
            .write(toFile: path, atomically: true, encoding: .utf8)
        // Its stdout is empty when all is well: the combined output is what it complained about.
        let verify = try await runProgram("/usr/bin/systemd-analyze", ["verify", "--man=no", path])
        #expect(verify.status == 0)
        #expect(verify.output == "", "systemd-analyze verify printed: \(verify.output)")

        let slice = try await runProgram(
            "/usr/bin/systemd-analyze", ["verify", "--man=no", BuiltProducts.packageRoot + "/systemd/wfd.slice"])
        #expect(slice.status == 0 && slice.output == "", "systemd-analyze verify wfd.slice printed: \(slice.output)")

        let security = try await runProgram("/usr/bin/systemd-analyze", ["security", "--offline=yes", Self.unitSource])
        let line = try #require(security.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = try #require(line.split(separator: " ").compactMap { Double($0) }.first)
        #expect(score <= 3.0, "\(line)")
    }

    @Test func runsUnderARealSystemdReloadsLogsToTheJournalAndStopsCleanly() async throws {
        try await SystemdSandbox.with { sandbox in
            // A secret for the jobs, the way an operator gives one: a credential in a drop-in.
            let secret = "trk_E2Esecret\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(
                atPath: sandbox.root + "/run/wfd-e2e-cred", withIntermediateDirectories: true)
            try (secret + "\n").write(
                toFile: sandbox.root + "/run/wfd-e2e-cred/tracker_token", atomically: false, encoding: .utf8)
            chmod(sandbox.root + "/run/wfd-e2e-cred/tracker_token", 0o400)
            let wfd = try await InstalledWfd.install(
                in: sandbox, dropIn: "LoadCredential=tracker_token:/run/wfd-e2e-cred/tracker_token")
            defer { wfd.remove() }
            let (name, configuration, state, binaries) = (wfd.name, wfd.configuration, wfd.state, wfd.binaries)
            #expect(try await sandbox.run(["systemctl", "is-active", "\(name).service"]).output == "active\n")

            // A job dropped in and `systemctl reload` makes it run.
            try "schedule: '* * * * * *'\nsteps:\n  - {id: greet, run: 'echo e2e says hello'}\n".write(
                toFile: "\(configuration)/jobs.d/e2e.yaml", atomically: true, encoding: .utf8)
            let reload = try await sandbox.run(["systemctl", "reload", "\(name).service"])
            if reload.status != 0 {
                let journal = try await sandbox.run(["journalctl", "--no-pager", "-u", "\(name).service"])
                Issue.record("systemctl reload failed: \(reload.output)\n\(journal.output)")
            }
            #expect(
                await eventually(timeout: .seconds(30)) {
                    let runs = (try? FileManager.default.contentsOfDirectory(atPath: "\(state)/runs/e2e")) ?? []
                    return !runs.isEmpty
                })

            // journalctl JOB=e2e shows the step's output with RUN_ID and STEP.
            var entry: [String: Any]?
            _ = await eventually(timeout: .seconds(30)) {
                let journal = try await sandbox.run(["journalctl", "--no-pager", "-o", "json", "JOB=e2e"])
                entry = journal.output.split(separator: "\n")
                    .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                    .first { $0["MESSAGE"] as? String == "e2e says hello" }
                return entry != nil
            }
            let found = try #require(entry, "the step's output line is in the journal")
            #expect(found["STEP"] as? String == "greet")
            #expect(found["ATTEMPT"] as? String == "1")
            #expect((found["RUN_ID"] as? String)?.isEmpty == false)
            #expect(found["_SYSTEMD_UNIT"] as? String == "\(name).service")
            let status = try await sandbox.run(["systemctl", "show", "-p", "StatusText", "\(name).service"])
            #expect(status.output.contains("1 jobs"), "\(status.output)")

            // A system service has no HOME: a step still gets its account's HOME, USER, LOGNAME
            // and SHELL from the password database (wfd runs as root here, and so do its steps).
            try """
            steps:
              - {id: home, run: 'ls -d "$HOME" && echo "home=$HOME user=$USER logname=$LOGNAME shell=$SHELL"'}
            """.write(toFile: "\(configuration)/jobs.d/home.yaml", atomically: true, encoding: .utf8)
            #expect(try await sandbox.run(["systemctl", "reload", "\(name).service"]).status == 0)
            let home = try await sandbox.run(["\(binaries)/wfctl", "run", "home", "--wait", "--state", state])
            #expect(home.status == 0, "\(home.output)")
            let homeLog = try await sandbox.run(["journalctl", "--no-pager", "-o", "cat", "JOB=home", "STEP=home"])
            #expect(
                homeLog.output.contains("home=/root user=root logname=root shell=/bin/bash"), "\(homeLog.output)")

            // The credential reaches an HTTP header and a step's environment, and the journal and the
            // state directory show only [secret].
            let dir = try TemporaryDirectory("e2e-secret")
            let server = try await StandIn(
                #"{"routes": [{"method": "POST", "path": "/hook", "responses": [{"json": {"ok": true}}]}]}"#, in: dir)
            defer { Task { await server.stop() } }
            try """
            secrets: [tracker_token]
            steps:
              - id: call
                http:
                  method: POST
                  url: "\(server.url("/hook"))"
                  headers: { Authorization: "Bearer ${{ secrets.tracker_token }}" }
              - id: tell
                needs: [call]
                secrets: [tracker_token]
                run: echo "the token is $WF_SECRET_TRACKER_TOKEN"
            """.write(toFile: "\(configuration)/jobs.d/secret.yaml", atomically: true, encoding: .utf8)
            #expect(try await sandbox.run(["systemctl", "reload", "\(name).service"]).status == 0)
            let secretRun = try await sandbox.run(["\(binaries)/wfctl", "run", "secret", "--wait", "--state", state])
            #expect(secretRun.status == 0, "\(secretRun.output)")
            #expect(
                server.requests().first?["headers"].flatMap {
                    if case .object(let headers) = $0 { return headers["authorization"] }
                    return nil
                } == .string("Bearer \(secret)"), "the credential reached the header")
            let journal = try await sandbox.run(["journalctl", "--no-pager", "-o", "json", "-u", "\(name).service"])
                .output
            #expect(journal.contains("the token is [secret]"), "the step's line, redacted")
            #expect(!journal.contains(secret), "the secret is not in the journal")
            let secretRuns = try FileManager.default.contentsOfDirectory(atPath: "\(state)/runs/secret")
            let fromJournal = try await sandbox.run(
                ["\(binaries)/wfctl", "logs", try #require(secretRuns.first), "--journal", "--state", state])
            #expect(
                fromJournal.output == "==> tell (attempt 1, from the journal) <==\nthe token is [secret]\n",
                "\(fromJournal.output)")
            // The unit's raw output (which had it) is deleted once the attempt is recorded.
            var kept = (status: Int32(0), output: "")
            #expect(
                await eventually(timeout: .seconds(10), waitingFor: "the secret gone from the state directory") {
                    kept = try await runProgram("/bin/grep", ["-r", "-l", secret, state])
                    return kept.status == 1 && kept.output.isEmpty
                }, "the secret is in no file of the state directory: \(kept.output)")

            // A failure is found by its MESSAGE_ID alone, whatever the job.
            try "steps:\n  - {id: broken, run: 'exit 3'}\n".write(
                toFile: "\(configuration)/jobs.d/fails.yaml", atomically: true, encoding: .utf8)
            #expect(try await sandbox.run(["systemctl", "reload", "\(name).service"]).status == 0)
            #expect(
                try await sandbox.run(["\(binaries)/wfctl", "run", "fails", "--wait", "--state", state]).status == 1)
            func entries(_ id: String) async throws -> [[String: Any]] {
                try await sandbox.run(["journalctl", "--no-pager", "-o", "json", "MESSAGE_ID=\(id)"]).output.split(
                    separator: "\n"
                )
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            }
            let runFailed = try await entries("e0fb8db1ba5d464e88360860625da82b")
            #expect(
                runFailed.contains { $0["JOB"] as? String == "fails" && $0["STATE"] as? String == "failed" },
                "\(runFailed)"
            )
            let stepFailed = try await entries("df3e83e3dbd54409ad5c26d39c9ec33b")
            #expect(
                stepFailed.contains {
                    $0["STEP"] as? String == "broken" && $0["ERROR_KIND"] as? String == "exit_status"
                })
            #expect(try await entries("ca8d65201ddf498495560e272cd03d2e").count >= 3, "every run started")

            // systemctl stop ends with Result=success.
            #expect(try await sandbox.run(["systemctl", "stop", "\(name).service"]).status == 0)
            let result = try await sandbox.run(["systemctl", "show", "-p", "Result,ActiveState", "\(name).service"])
            #expect(result.output.contains("Result=success"), "\(result.output)")
            #expect(result.output.contains("ActiveState=inactive"), "\(result.output)")
        }
    }
}
