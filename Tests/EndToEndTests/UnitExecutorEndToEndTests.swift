import Foundation
import Testing
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// `run:` steps as transient units of a real systemd 252 (with its system bus), wfd installed with
/// the shipped, hardened unit.
@Suite struct UnitExecutorEndToEndTests {
    /// The first attempt of a step, from its record.
    func firstAttempt(_ wfd: InstalledWfd, _ job: String, _ run: String, _ step: String) throws -> [String: Any] {
        let attempts = try #require(try wfd.stepRecord(job, run, step)["attempts"] as? [[String: Any]])
        return try #require(attempts.first)
    }

    @Test func aJobWorksAsInstalledInAUnitOfItsOwnWithItsSandboxLimitsAndSecrets() async throws {
        try await SystemdSandbox.with { sandbox in
            let secret = "tok_E2Eunit\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(
                atPath: sandbox.root + "/run/wfd-e2e-cred", withIntermediateDirectories: true)
            try secret.write(toFile: sandbox.root + "/run/wfd-e2e-cred/token", atomically: false, encoding: .utf8)
            let wfd = try await InstalledWfd.install(
                in: sandbox, dropIn: "LoadCredential=token:/run/wfd-e2e-cred/token")
            let outside = "/srv/wfd-e2e-\(sandbox.id)"
            defer {
                wfd.remove()
                try? FileManager.default.removeItem(atPath: outside)
            }
            try FileManager.default.createDirectory(atPath: "\(outside)/rw", withIntermediateDirectories: true)

            #expect(await wfd.journal().contains("over unix:path=/run/systemd/private"))
            let status = try await wfd.wfctl(["status", "--json"])
            #expect(status.output.contains(#""executor" : "unit""#), "\(status.output)")
            #expect(try await wfd.wfctl(["status"]).output.contains("steps as systemd units"))

            // What the shipped backup job does: write outside the state directory, under wfd's
            // ProtectSystem=strict. It also sees a HOME and logs to the journal itself.
            try await wfd.addJob(
                "probe",
                """
                steps:
                  - id: write
                    run: echo hello > \(outside)/out.txt && echo "home=$HOME" && systemd-cat -t wfdprobe sh -c 'echo to-journal; sleep 1'
                """)
            let probe = try await wfd.wfctl(["run", "probe", "--wait"])
            if probe.status != 0 { Issue.record("\(probe.output)\n\(await wfd.journal())") }
            #expect((try? String(contentsOfFile: "\(outside)/out.txt", encoding: .utf8)) == "hello\n")
            let run = try wfd.newestRun(of: "probe")
            let attempt = try firstAttempt(wfd, "probe", run, "write")
            let unit = try #require(attempt["unit"] as? String)
            #expect(unit == "wfd-probe:\(run):write:1.service")
            let stats = try await wfd.wfctl(["stats", "probe", "--json"])
            #expect(stats.output.contains("cpu_s_per_run"), "\(stats.output)")
            let usage = try #require(attempt["usage"] as? [String: Any])
            #expect((usage["cpu_ns"] as? Int ?? 0) > 0, "CPU time from systemd: \(usage)")
            let log = try String(contentsOfFile: "\(wfd.state)/runs/probe/\(run)/logs/write.1.log", encoding: .utf8)
            #expect(log == "home=/root\n", "\(log)")
            // The step's own journal entries carry the unit's LogExtraFields (journald finds the
            // unit of a stream by its sender's cgroup: the sender stays a moment after its line).
            var tagged: [String: Any]?
            _ = await eventually(timeout: .seconds(20), waitingFor: "the step's journal entry") {
                let entries = try await sandbox.run(
                    ["journalctl", "--no-pager", "-o", "json", "JOB=probe", "SYSLOG_IDENTIFIER=wfdprobe"])
                tagged =
                    entries.output.split(separator: "\n")
                    .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.first
                return tagged != nil
            }
            #expect(tagged?["STEP"] as? String == "write" && tagged?["RUN_ID"] as? String == run)
            #expect(tagged?["ATTEMPT"] as? String == "1" && tagged?["_SYSTEMD_UNIT"] as? String == unit)
            // And wfd's re-emitted output lines are found by the same field.
            let lines = try await sandbox.run(["journalctl", "--no-pager", "-o", "cat", "JOB=probe", "STEP=write"])
            #expect(lines.output.contains("home=/root"), "\(lines.output)")
            // Let go of once recorded: collected by systemd, raw output files gone.
            #expect(
                await eventually(timeout: .seconds(10), waitingFor: "the unit collected") {
                    try await sandbox.run(["systemctl", "is-active", unit]).output != "active\n"
                })

            // wfctl logs --follow shows a unit step's lines as it writes them.
            try await wfd.addJob("talk", "steps:\n  - {id: say, run: 'echo one; sleep 2; echo two'}\n")
            try await wfd.wfctl(["run", "talk"])
            let followed = try await wfd.wfctl(["logs", try wfd.newestRun(of: "talk"), "--follow"])
            #expect(followed.output.contains("one") && followed.output.contains("two"), "\(followed.output)")

            // The shipped backup job, installed as the README says (its directories moved under
            // this test's own): it writes its archive outside wfd's reach.
            var backup = try String(
                contentsOfFile: BuiltProducts.packageRoot + "/jobs.d/backup.yaml", encoding: .utf8)
            backup = backup.replacingOccurrences(of: "/var/lib/app", with: "\(outside)/app")
                .replacingOccurrences(of: "/var/backups/app", with: "\(outside)/backups")
            try FileManager.default.createDirectory(atPath: "\(outside)/app", withIntermediateDirectories: true)
            try "data".write(toFile: "\(outside)/app/data.txt", atomically: false, encoding: .utf8)
            try await wfd.addJob("backup", backup)
            let backedUp = try await wfd.wfctl(["run", "backup", "--wait"])
            #expect(backedUp.status == 0, "\(backedUp.output)")
            let archives = try FileManager.default.contentsOfDirectory(atPath: "\(outside)/backups")
            #expect(archives.count == 1 && archives[0].hasSuffix(".tar.gz"), "\(archives)")

            // sandbox: and resources: reach the unit; secrets reach the step and nothing else.
            try await wfd.addJob(
                "boxed",
                """
                secrets: [token]
                sandbox: { protect_system: strict, read_write_paths: [\(outside)/rw] }
                resources: { memory_max: 64M, tasks_max: 50, cpu_quota: 50% }
                steps:
                  - id: confined
                    secrets: [token]
                    run: |
                      echo "token=$WF_SECRET_TOKEN"
                      echo ok > \(outside)/rw/ok.txt
                      if echo no > \(outside)/denied.txt; then echo wrote-protected; fi
                      sleep 4
                """)
            try await wfd.wfctl(["run", "boxed"])
            let boxedUnitPattern = "wfd-boxed:*"
            var boxedUnit = ""
            #expect(
                await eventually(timeout: .seconds(10), waitingFor: "the boxed unit running") {
                    let list = try await sandbox.run(
                        ["systemctl", "list-units", "--plain", "--no-legend", boxedUnitPattern])
                    boxedUnit = list.output.split(separator: " ").first.map(String.init) ?? ""
                    return !boxedUnit.isEmpty
                })
            let shown = try await sandbox.run([
                "systemctl", "show", "-p",
                "ProtectSystem,ReadWritePaths,MemoryMax,TasksMax,CPUQuotaPerSecUSec,Slice,User",
                boxedUnit,
            ])
            for expected in [
                "ProtectSystem=strict", "ReadWritePaths=\(outside)/rw", "MemoryMax=67108864", "TasksMax=50",
                "CPUQuotaPerSecUSec=500ms", "Slice=wfd.slice",
            ] {
                #expect(shown.output.contains(expected), "\(expected) in \(shown.output)")
            }
            let transient = try await sandbox.run(["grep", "-r", "-l", secret, "/run/systemd/transient"])
            #expect(transient.status == 1, "the secret is in no transient unit file: \(transient.output)")
            let path = try await sandbox.run([
                "busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager", "GetUnit", "s", boxedUnit,
            ])
            let objectPath = try #require(path.output.split(separator: "\"").dropFirst().first.map(String.init))
            let introspection = try await sandbox.run(
                ["busctl", "introspect", "--no-pager", "org.freedesktop.systemd1", objectPath])
            #expect(introspection.output.contains("LoadCredential"), "the introspection was read")
            #expect(!introspection.output.contains(secret), "the secret is in no property of the unit")
            #expect(
                await eventually(timeout: .seconds(20), waitingFor: "the boxed run to end") {
                    (try? wfd.runRecord("boxed", try wfd.newestRun(of: "boxed"))["state"] as? String) == "succeeded"
                })
            let boxedRun = try wfd.newestRun(of: "boxed")
            let boxedLog = try String(
                contentsOfFile: "\(wfd.state)/runs/boxed/\(boxedRun)/logs/confined.1.log", encoding: .utf8)
            #expect(boxedLog.contains("token=[secret]"), "\(boxedLog)")
            #expect(boxedLog.contains("cannot create"), "a write outside read_write_paths fails: \(boxedLog)")
            #expect(!boxedLog.contains("wrote-protected"))
            #expect(FileManager.default.fileExists(atPath: "\(outside)/rw/ok.txt"))
            // A step that runs a while is sampled: its memory and tasks are in its record.
            let boxedUsage = try #require(
                try firstAttempt(wfd, "boxed", boxedRun, "confined")["usage"] as? [String: Any])
            #expect((boxedUsage["memory_peak_bytes"] as? Int ?? 0) > 0, "\(boxedUsage)")
            #expect((boxedUsage["tasks_peak"] as? Int ?? 0) >= 1, "\(boxedUsage)")
            #expect(!FileManager.default.fileExists(atPath: "\(outside)/denied.txt"))
            let shownByWfctl = try await wfd.wfctl(["show", boxedRun])
            #expect(shownByWfctl.output.contains("protect_system: strict"), "\(shownByWfctl.output)")
            #expect(shownByWfctl.output.contains("memory_max: 64M"), "\(shownByWfctl.output)")
            #expect(shownByWfctl.output.contains("unit \(boxedUnit): CPU "), "\(shownByWfctl.output)")

            // memory_max passed: the kernel kills the step and the outcome says oom. The memory
            // controller must be on the instance's cgroup2 tree to enforce it (on a host whose
            // cgroup v1 hierarchy holds it, nothing can: see docs/operations.md).
            let controllers = try await sandbox.run(["cat", "/sys/fs/cgroup/cgroup.controllers"])
            try await wfd.addJob(
                "hungry",
                """
                resources: { memory_max: 32M }
                steps:
                  - {id: eat, run: "python3 -c 'x = bytearray(256 << 20); print(len(x))'"}
                """)
            let hungry = try await wfd.wfctl(["run", "hungry", "--wait"])
            let hungryRun = try wfd.newestRun(of: "hungry")
            let eaten = try firstAttempt(wfd, "hungry", hungryRun, "eat")
            if controllers.output.split(separator: " ").contains(where: { $0.hasPrefix("memory") }) {
                #expect(hungry.status != 0)
                #expect(eaten["outcome"] as? String == "oom", "\(eaten)")
                let why = try await wfd.wfctl(["why", hungryRun])
                #expect(why.output.contains("memory"), "\(why.output)")
            } else {
                // Not enforceable here: the property is set all the same, and the step ran.
                #expect(eaten["unit"] as? String != nil)
                print(
                    "note: this host's cgroup2 tree has no memory controller (\(controllers.output.isEmpty ? "none" : controllers.output)); memory_max cannot be enforced in the test instance"
                )
            }
        }
    }

    @Test func aStepOutlivesARestartAndAKillOfWfdAndIsRecordedOnceWithItsRealExitStatus() async throws {
        try await SystemdSandbox.with { sandbox in
            let wfd = try await InstalledWfd.install(in: sandbox)
            defer { wfd.remove() }
            try await wfd.addJob(
                "long",
                """
                steps:
                  - {id: slow, run: 'echo begin; sleep 20; echo end; exit 7', timeout: 40s}
                  - {id: after, needs: [slow], when: always, run: 'echo after'}
                """)
            try await wfd.wfctl(["run", "long"])
            let run = try wfd.newestRun(of: "long")
            let unit = "wfd-long:\(run):slow:1.service"
            #expect(
                await eventually(timeout: .seconds(10), waitingFor: "the step's unit") {
                    try await sandbox.run(["systemctl", "is-active", unit]).output == "active\n"
                })
            try await Task.sleep(for: .seconds(2))
            let restart = try await sandbox.run(["systemctl", "restart", wfd.unit])
            #expect(restart.status == 0, "\(restart.output)")
            #expect(try await sandbox.run(["systemctl", "is-active", unit]).output == "active\n", "it went on")
            try await Task.sleep(for: .seconds(3))
            let pid = try await sandbox.run(["systemctl", "show", "-p", "MainPID", "--value", wfd.unit])
            let killed = try await sandbox.run([
                "kill", "-9", pid.output.trimmingCharacters(in: .whitespacesAndNewlines),
            ])
            #expect(killed.status == 0, "\(killed.output)")
            #expect(try await sandbox.run(["systemctl", "is-active", unit]).output == "active\n", "it went on again")
            // Restart=on-failure brings wfd back; it follows the unit to its end, also through a
            // re-execution of systemd itself (what a systemd upgrade does; systemd keeps its
            // connections across it).
            await wfd.expectEventually("wfd back", timeout: .seconds(20)) {
                try await sandbox.run(["systemctl", "is-active", wfd.unit]).output == "active\n"
            }
            try await Task.sleep(for: .seconds(1))
            let reexec = try await sandbox.run(["systemctl", "daemon-reexec"])
            #expect(reexec.status == 0, "\(reexec.output)")
            await wfd.expectEventually("the run to end", timeout: .seconds(60)) {
                (try? wfd.runRecord("long", run)["state"] as? String) == "failed"
            }
            let record = try wfd.stepRecord("long", run, "slow")
            let attempts = try #require(record["attempts"] as? [[String: Any]])
            #expect(attempts.count == 1, "recorded once: \(attempts)")
            #expect(attempts.first?["exit_code"] as? Int == 7)
            #expect(attempts.first?["outcome"] as? String == "failed")
            #expect((attempts.first?["duration_ms"] as? Int ?? 0) >= 20_000, "from the unit's real start: \(attempts)")
            let log = try String(contentsOfFile: "\(wfd.state)/runs/long/\(run)/logs/slow.1.log", encoding: .utf8)
            #expect(log == "begin\nend\n", "the whole output, once: \(log)")
            #expect(try firstAttempt(wfd, "long", run, "after")["outcome"] as? String == "succeeded")
            let journal = await wfd.journal()
            #expect(journal.contains("outlived the previous wfd"), "\(journal)")

            // A wfd that died between writing an attempt's end and letting its unit go leaves the
            // unit loaded: the next wfd lets it go. A unit of a run it does not know stays.
            func linger(_ run: String, _ step: String) async throws -> String {
                let name = "wfd-long:\(run):\(step):1.service"
                let started = try await sandbox.run([
                    "systemd-run", "--unit", name, "-p", "RemainAfterExit=yes", "-p",
                    "Description=wfd job long, run \(run), step \(step), attempt 1", "/bin/true",
                ])
                #expect(started.status == 0, "\(started.output)")
                return name
            }
            let recorded = try await linger(run, "after")
            let foreign = try await linger("20200101T000000.000Z-000001", "after")
            #expect(try await sandbox.run(["systemctl", "restart", wfd.unit]).status == 0)
            #expect(try await sandbox.run(["systemctl", "is-active", recorded]).output != "active\n")
            #expect(try await sandbox.run(["systemctl", "is-active", foreign]).output == "active\n")
            #expect(await wfd.journal().contains("let go of unit \(recorded)"))
        }
    }

    /// `systemctl stop wfd` leaves unit steps running; one that ends while no wfd runs keeps its
    /// exit status for the next; a timeout counts from the unit's start, under whichever wfd.
    @Test func stepsThatEndOrTimeOutWhileWfdIsDownAreRecordedExactly() async throws {
        try await SystemdSandbox.with { sandbox in
            let wfd = try await InstalledWfd.install(in: sandbox)
            defer { wfd.remove() }
            try await wfd.addJob("short", "steps:\n  - {id: brief, run: 'sleep 2; echo done; exit 5'}\n")
            try await wfd.addJob("bounded", "steps:\n  - {id: bound, timeout: 6s, run: 'echo start; sleep 60'}\n")
            try await wfd.wfctl(["run", "short"])
            try await wfd.wfctl(["run", "bounded"])
            let short = try wfd.newestRun(of: "short")
            let bounded = try wfd.newestRun(of: "bounded")
            let unit = "wfd-short:\(short):brief:1.service"
            await wfd.expectEventually("the step's unit", timeout: .seconds(10)) {
                try await sandbox.run(["systemctl", "is-active", unit]).output == "active\n"
            }
            #expect(try await sandbox.run(["systemctl", "stop", wfd.unit]).status == 0)
            #expect((try wfd.runRecord("short", short)["state"] as? String) == "running", "left active on disk")
            // The step ends with no wfd: its unit keeps the exit status (RemainAfterExit).
            await wfd.expectEventually("the step ended", timeout: .seconds(10)) {
                try await sandbox.run(["systemctl", "show", "-p", "SubState", "--value", unit]).output != "running\n"
            }
            let kept = try await sandbox.run(["systemctl", "show", "-p", "ExecMainStatus,ActiveState", unit])
            #expect(kept.output.contains("ExecMainStatus=5") && kept.output.contains("ActiveState=failed"))
            try await Task.sleep(for: .seconds(2))
            #expect(try await sandbox.run(["systemctl", "start", wfd.unit]).status == 0)
            // Recorded from what systemd kept.
            await wfd.expectEventually("the short run to end", timeout: .seconds(10)) {
                (try? wfd.runRecord("short", short)["state"] as? String) == "failed"
            }
            let record = try wfd.stepRecord("short", short, "brief")
            let attempts = try #require(record["attempts"] as? [[String: Any]])
            #expect(attempts.count == 1 && attempts.first?["exit_code"] as? Int == 5, "\(attempts)")
            let ran = attempts.first?["duration_ms"] as? Int ?? 0
            #expect(ran >= 2000 && ran < 3500, "the step's own 2 s, not the time until it was recorded: \(ran) ms")
            let log = try String(contentsOfFile: "\(wfd.state)/runs/short/\(short)/logs/brief.1.log", encoding: .utf8)
            #expect(log == "done\n")
            await wfd.expectEventually("the unit let go", timeout: .seconds(10)) {
                try await sandbox.run(["systemctl", "is-active", unit]).output != "failed\n"
            }
            // The bounded step's 6 s count from its unit's start under the stopped wfd, not from
            // the start of the new one (which would make it last about 11 s).
            await wfd.expectEventually("the bounded run to end", timeout: .seconds(20)) {
                (try? wfd.runRecord("bounded", bounded)["state"] as? String) == "failed"
            }
            let bound = try #require(
                (try wfd.stepRecord("bounded", bounded, "bound")["attempts"] as? [[String: Any]])?.first)
            #expect(bound["outcome"] as? String == "timed_out", "\(bound)")
            let lasted = bound["duration_ms"] as? Int ?? 0
            #expect(lasted >= 6000 && lasted < 9000, "from the unit's start: \(lasted) ms")
        }
    }

    /// Also the one test that talks to systemd over the system bus (dbus-daemon), as a wfd that
    /// is not root does; the others use the manager's own socket, as root's does.
    @Test func cancelAndTimeoutStopTheWholeUnitIncludingWhatLeftItsSession() async throws {
        try await SystemdSandbox.with { sandbox in
            let wfd = try await InstalledWfd.install(
                in: sandbox, dropIn: "Environment=DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket")
            #expect(await wfd.journal().contains("over unix:path=/run/dbus/system_bus_socket"))
            defer { wfd.remove() }
            try await wfd.addJob(
                "stubborn",
                """
                steps:
                  - {id: hang, run: "setsid sleep 301 & sleep 302"}
                """)
            try await wfd.addJob(
                "late",
                """
                steps:
                  - {id: hang, timeout: 2s, run: "setsid sleep 303 & trap '' TERM; sleep 304"}
                """)
            func sleepers(_ seconds: String) async throws -> String {
                try await sandbox.run(["pgrep", "-a", "-f", "sleep \(seconds)"]).output
            }
            try await wfd.wfctl(["run", "stubborn"])
            #expect(await eventually(timeout: .seconds(10)) { try await !sleepers("301").isEmpty })
            let run = try wfd.newestRun(of: "stubborn")
            #expect(try await wfd.wfctl(["cancel", run]).status == 0)
            await wfd.expectEventually("the cancelled run", timeout: .seconds(30)) {
                (try? wfd.runRecord("stubborn", run)["state"] as? String) == "cancelled"
            }
            #expect(try firstAttempt(wfd, "stubborn", run, "hang")["outcome"] as? String == "cancelled")
            await wfd.expectEventually("no sleep left", timeout: .seconds(10)) {
                try await sleepers("30[12]").isEmpty
            }

            // dbus-daemon restarted while a step runs: wfd loses the bus, connects again once
            // systemd is back on it, and reads the unit anew.
            try await wfd.addJob("through", "steps:\n  - {id: go, run: 'sleep 4; exit 3'}\n")
            let through = try await wfd.startRun("through")
            try await Task.sleep(for: .seconds(1))
            #expect(try await sandbox.run(["systemctl", "restart", "dbus.service"]).status == 0)
            await wfd.expectEventually("the run through the bus restart to end", timeout: .seconds(30)) {
                (try? wfd.runRecord("through", through)["state"] as? String) == "failed"
            }
            #expect(try firstAttempt(wfd, "through", through, "go")["exit_code"] as? Int == 3)
            #expect(await wfd.journal().contains("connected to systemd again"))

            let timed = try await wfd.wfctl(["run", "late", "--wait"])
            #expect(timed.status != 0)
            let late = try wfd.newestRun(of: "late")
            let attempt = try firstAttempt(wfd, "late", late, "hang")
            #expect(attempt["outcome"] as? String == "timed_out", "\(attempt)")
            await wfd.expectEventually("no sleep left", timeout: .seconds(20)) {
                try await sleepers("30[34]").isEmpty
            }
        }
    }

    /// kill -9 of wfd at random moments while runs of effectful steps go on: no step runs twice,
    /// none is lost, none is recorded with a status it did not have.
    @Test func killingWfdAtRandomMomentsLosesAndRepeatsNothing() async throws {
        try await SystemdSandbox.with { sandbox in
            let wfd = try await InstalledWfd.install(in: sandbox, dropIn: "RestartSec=200ms")
            let marks = "/var/lib/\(wfd.name)-marks"
            defer {
                wfd.remove()
                try? FileManager.default.removeItem(atPath: marks)
            }
            try FileManager.default.createDirectory(atPath: marks, withIntermediateDirectories: true)
            let steps = (1...6).map { index in
                let needs = index == 1 ? "" : ", needs: [s\(index - 1)]"
                // Each step leaves a line per run it ran in; its exit status is its number's parity.
                return
                    "  - {id: s\(index)\(needs), when: always, run: 'echo \"$WF_RUN_ID s\(index)\" >> \(marks)/lines; sleep 0.\(index); exit \(index % 2)'}"
            }
            try await wfd.addJob("chain", "steps:\n" + steps.joined(separator: "\n") + "\n")
            var rng = SystemRandomNumberGenerator()
            func ended(_ run: String) -> Bool {
                ["succeeded", "failed"].contains((try? wfd.runRecord("chain", run)["state"] as? String) ?? "")
            }
            for _ in 0..<5 {
                // Each round: wfd up and the previous run over, a new run, a kill -9 somewhere in it.
                await wfd.expectEventually("wfd up and no run active", timeout: .seconds(60)) {
                    guard try await sandbox.run(["systemctl", "is-active", wfd.unit]).output == "active\n" else {
                        return false
                    }
                    let runs = (try? FileManager.default.contentsOfDirectory(atPath: "\(wfd.state)/runs/chain")) ?? []
                    return runs.allSatisfy(ended)
                }
                let started = try await wfd.wfctl(["run", "chain"])
                #expect(started.status == 0, "\(started.output)")
                try await Task.sleep(for: .milliseconds(Int.random(in: 100...2000, using: &rng)))
                let pid = try await sandbox.run(["systemctl", "show", "-p", "MainPID", "--value", wfd.unit])
                let main = pid.output.trimmingCharacters(in: .whitespacesAndNewlines)
                if main != "0" { _ = try await sandbox.run(["kill", "-9", main]) }
            }
            let runs = try FileManager.default.contentsOfDirectory(atPath: "\(wfd.state)/runs/chain").sorted()
            await wfd.expectEventually("every run ended", timeout: .seconds(60)) { runs.allSatisfy(ended) }
            #expect(runs.count == 5)
            let lines = (try? String(contentsOfFile: "\(marks)/lines", encoding: .utf8)) ?? ""
            let followed = await wfd.journal().components(separatedBy: "outlived the previous wfd").count - 1
            let interrupted = try runs.flatMap { run in
                try (1...6).flatMap {
                    (try wfd.stepRecord("chain", run, "s\($0)")["attempts"] as? [[String: Any]]) ?? []
                }
            }.filter { $0["outcome"] as? String == "interrupted" }.count
            print(
                "note: 5 kill -9 of wfd: \(followed) steps followed again in their units, \(interrupted) interrupted before their unit started"
            )
            for run in runs {
                for index in 1...6 {
                    let ran = lines.split(separator: "\n").filter { $0 == "\(run) s\(index)" }.count
                    #expect(ran <= 1, "s\(index) of \(run) ran \(ran) times")
                    let attempts = (try wfd.stepRecord("chain", run, "s\(index)")["attempts"] as? [[String: Any]]) ?? []
                    let ended = attempts.filter { ["succeeded", "failed"].contains($0["outcome"] as? String ?? "") }
                    // Recorded as run exactly when it ran, with the status it exited with.
                    #expect(ended.count == ran, "s\(index) of \(run): ran \(ran) times, recorded \(attempts)")
                    if let exit = ended.first?["exit_code"] as? Int { #expect(exit == index % 2, "\(attempts)") }
                }
            }
        }
    }
}
