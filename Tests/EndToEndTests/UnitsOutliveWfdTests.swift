import Foundation
import Testing
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// Steps as units outlive wfd: a restart, a kill -9, a stop, a re-execution of systemd, and
/// kills at random moments; each step is recorded once, with its real exit status and duration.
@Suite struct UnitsOutliveWfdTests {
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
            // From the unit's real start (the restarted wfd would count some 14 s). The start and the
            // end are each kept to the millisecond, so 20 s of sleep may read as 19,999 ms.
            #expect((attempts.first?["duration_ms"] as? Int ?? 0) >= 19_999, "from the unit's real start: \(attempts)")
            let log = try String(contentsOfFile: "\(wfd.state)/runs/long/\(run)/logs/slow.1.log", encoding: .utf8)
            #expect(log == "begin\nend\n", "the whole output, once: \(log)")
            #expect(try wfd.firstAttempt("long", run, "after")["outcome"] as? String == "succeeded")
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
            try await wfd.addJob("short", "steps:\n  - {id: brief, run: 'sleep 4; echo done; exit 5'}\n")
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
            #expect(ran >= 4000 && ran < 5500, "the step's own 4 s, not the time until it was recorded: \(ran) ms")
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
