import Foundation
import Testing
import WorkflowControl
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// The package `make deb` builds (its path in `WFD_TEST_DEB`; `make test-deb` sets it), installed
/// with apt in a systemd of its own whose root is an overlay of this machine's: installed and
/// started, used by a member of the group wfd, upgraded to a second build while a step runs,
/// removed, then purged.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["WFD_TEST_DEB"] != nil,
        "needs the built package: make test-deb builds it and runs these"),
    .serialized)
struct DebianPackageTests {
    let package = ProcessInfo.processInfo.environment["WFD_TEST_DEB"] ?? ""

    @Test func installUpgradeWhileAStepRunsRemoveAndPurge() async throws {
        let dir = try TemporaryDirectory("deb")
        let version = try await field("Version", of: package)
        // The second build: the same package with a higher version, as the next release would be
        // (dpkg compares versions, and runs the maintainer scripts of an upgrade, by it alone).
        let newer = "\(version)+upgrade1"
        let upgrade = try await rebuilt(package, as: newer, in: dir)

        try await SystemdSandbox.with(ownRoot: true) { sandbox in
            let host = Installation(sandbox: sandbox)
            // Images made for containers forbid starting services in /usr/sbin/policy-rc.d; a
            // Debian machine has none.
            try? FileManager.default.removeItem(atPath: sandbox.root + "/usr/sbin/policy-rc.d")
            for deb in [package, upgrade] {
                let copy = try await runProgram("/bin/cp", [deb, sandbox.root + "/root/"])
                try #require(copy.status == 0, "\(copy.output)")
            }
            let packageInside = "/root/" + URL(fileURLWithPath: package).lastPathComponent
            let upgradeInside = "/root/" + URL(fileURLWithPath: upgrade).lastPathComponent

            // Installed: started, enabled, answering; the group, the conffiles, the directories.
            try await host.apt(["install", "-y", packageInside])
            #expect(try await host.systemctl("is-active", "wfd") == "active")
            #expect(try await host.systemctl("is-enabled", "wfd") == "enabled")
            let status = try await sandbox.run(["wfctl", "status"])
            #expect(status.status == 0, "\(status.output)")
            #expect(status.output.contains("wfd \(WfdVersion.current) is running"), "\(status.output)")
            #expect(status.output.contains("steps as systemd units"), "\(status.output)")
            #expect(try await sandbox.run(["getent", "group", "wfd"]).status == 0)
            let conffiles = try await sandbox.run(["dpkg-query", "-W", "-f", "${Conffiles}", "wfd"])
            #expect(conffiles.output.contains("/etc/wfd/prices.yaml"), "\(conffiles.output)")
            #expect(host.exists("/etc/wfd/jobs.d"))
            let state = try await sandbox.run(["stat", "-c", "%U:%G %a", "/var/lib/wfd", "/run/wfd/control.sock"])
            #expect(state.output == "root:wfd 750\nroot:wfd 660\n", "\(state.output)")
            let journal = try await sandbox.run(["journalctl", "--no-pager", "-u", "wfd"])
            #expect(!journal.output.contains("cannot give the control socket"), "\(journal.output)")
            #expect(try await host.systemctl("is-active", "wfd-web.socket") == "active")
            #expect(try await host.systemctl("is-enabled", "wfd-web.socket") == "enabled")

            // A job dropped into /etc/wfd/jobs.d runs on its schedule.
            try host.write(
                "/etc/wfd/jobs.d/hello.yaml",
                "schedule: '*/2 * * * * *'\nsteps:\n  - {id: greet, run: 'echo hello from the package'}\n")
            try host.write(
                "/etc/wfd/jobs.d/long.yaml",
                "steps:\n  - {id: slow, run: 'echo begin; sleep 12; echo end', timeout: 60s}\n")
            #expect(try await sandbox.run(["systemctl", "reload", "wfd"]).status == 0)
            await host.expectEventually("a scheduled run of hello to succeed", timeout: .seconds(20)) {
                try host.runs(of: "hello").contains { try host.runState("hello", $0) == "succeeded" }
            }

            // A member of the group wfd reads and commands; another user is told how to be let in.
            #expect(try await sandbox.run(["useradd", "--no-create-home", "--groups", "wfd", "alice"]).status == 0)
            #expect(try await sandbox.run(["useradd", "--no-create-home", "bob"]).status == 0)
            let alice = try await sandbox.run(["runuser", "-u", "alice", "--", "wfctl", "status"])
            #expect(alice.status == 0, "\(alice.output)")
            let aliceRuns = try await sandbox.run(["runuser", "-u", "alice", "--", "wfctl", "run", "hello"])
            #expect(aliceRuns.status == 0 && aliceRuns.output.hasPrefix("started run"), "\(aliceRuns.output)")
            let bob = try await sandbox.run(["runuser", "-u", "bob", "--", "wfctl", "run", "hello"])
            #expect(bob.status != 0, "\(bob.output)")
            #expect(bob.output.contains("usermod -aG wfd"), "\(bob.output)")
            // The HTTP API: its socket starts wfd-web for alice; bob cannot connect.
            let api = try await host.curl(as: "alice", "/api/v1/jobs/hello")
            #expect(
                api.output.hasPrefix("HTTP/1.1 200 ") && jsonBody(api.output)?["job"] as? String == "hello",
                "\(api.output)")
            #expect(try await host.systemctl("is-active", "wfd-web.service") == "active")
            #expect(try await host.curl(as: "bob", "/api/v1/jobs").status == 7)

            // An edit of a conffile, which the upgrade keeps.
            let prices = try String(contentsOfFile: sandbox.root + "/etc/wfd/prices.yaml", encoding: .utf8)
            try host.write("/etc/wfd/prices.yaml", prices + "# edited by the operator\n")

            // The upgrade, while a step runs: the step goes on through it and is recorded once.
            let run = try await host.startRun("long")
            let unit = "wfd-long:\(run):slow:1.service"
            await host.expectEventually("the step's unit", timeout: .seconds(10)) {
                try await host.systemctl("is-active", unit) == "active"
            }
            let before = try await host.systemctl("show", "-p", "MainPID", "--value", "wfd")
            try await host.apt(["install", "-y", upgradeInside])
            #expect(try await host.systemctl("is-active", unit) == "active", "the step went on through the upgrade")
            #expect(try await sandbox.run(["dpkg-query", "-W", "-f", "${Version}", "wfd"]).output == newer)
            let after = try await host.systemctl("show", "-p", "MainPID", "--value", "wfd")
            #expect(after != before && after != "0", "a new wfd: \(before) then \(after)")
            #expect(try await host.systemctl("is-active", "wfd") == "active")
            await host.expectEventually("the long run to succeed", timeout: .seconds(40)) {
                try host.runState("long", run) == "succeeded"
            }
            let attempts = try #require(try host.record("long", run, "steps/slow.json")["attempts"] as? [[String: Any]])
            #expect(attempts.count == 1, "recorded once: \(attempts)")
            #expect(attempts.first?["exit_code"] as? Int == 0)
            let log = try String(contentsOfFile: host.state + "/runs/long/\(run)/logs/slow.1.log", encoding: .utf8)
            #expect(log == "begin\nend\n", "the whole output, once: \(log)")
            let kept = try String(contentsOfFile: sandbox.root + "/etc/wfd/prices.yaml", encoding: .utf8)
            #expect(kept.hasSuffix("# edited by the operator\n"), "the edit survives the upgrade")
            #expect(await host.journal().contains("outlived the previous wfd"))
            // The old wfd-web was stopped by the upgrade; the next connection starts the new one.
            #expect(try await host.systemctl("is-active", "wfd-web.service") != "active")
            #expect(try await host.curl(as: "alice", "/api/v1/jobs").output.hasPrefix("HTTP/1.1 200 "))

            // remove: wfd and the steps it started are stopped; the jobs and the state stay.
            let cut = try await host.startRun("long")
            let cutUnit = "wfd-long:\(cut):slow:1.service"
            await host.expectEventually("the second step's unit", timeout: .seconds(10)) {
                try await host.systemctl("is-active", cutUnit) == "active"
            }
            try await host.apt(["remove", "-y", "wfd"])
            #expect(try await host.systemctl("is-active", "wfd") != "active")
            #expect(try await host.systemctl("is-active", cutUnit) != "active", "its step was stopped too")
            #expect(!host.exists("/usr/bin/wfd") && !host.exists("/usr/bin/wfctl") && !host.exists("/usr/bin/wfd-web"))
            #expect(try await host.systemctl("is-active", "wfd-web.socket") != "active")
            #expect(!host.exists("/run/wfd"), "wfd's runtime directory goes with it")
            #expect(!host.exists("/lib/systemd/system/wfd.service"))
            #expect(host.exists("/etc/wfd/jobs.d/hello.yaml") && host.exists("/etc/wfd/prices.yaml"))
            #expect(host.exists("/var/lib/wfd/runs/long/\(run)/run.json"))
            let removed = try await sandbox.run(["dpkg-query", "-W", "-f", "${Status}", "wfd"])
            #expect(removed.output == "deinstall ok config-files", "\(removed.output)")

            // purge: the configuration and the state go too. What stays is the group wfd, as
            // Debian leaves a package's system groups (files elsewhere may still belong to it).
            try await host.apt(["purge", "-y", "wfd"])
            #expect(!host.exists("/etc/wfd") && !host.exists("/var/lib/wfd"))
            #expect(!host.exists("/etc/systemd/system/multi-user.target.wants/wfd.service"))
            #expect(try await sandbox.run(["dpkg-query", "-W", "wfd"]).status != 0, "dpkg knows it no more")
            #expect(try await sandbox.run(["getent", "group", "wfd"]).status == 0)
            let leftover = try await sandbox.run([
                "sh", "-c",
                "ls -d /usr/share/doc/wfd /usr/lib/sysusers.d/wfd.conf /lib/systemd/system/wfd* 2>/dev/null; true",
            ])
            #expect(leftover.output == "", "left behind: \(leftover.output)")
        }
    }

    /// A field of a package's control file.
    private func field(_ name: String, of deb: String) async throws -> String {
        let value = try await runProgram("/usr/bin/dpkg-deb", ["--field", deb, name])
        try #require(value.status == 0, "dpkg-deb --field \(deb): \(value.output)")
        return value.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `deb` built again as version `version` (unpacked, its control file changed, packed).
    private func rebuilt(_ deb: String, as version: String, in dir: TemporaryDirectory) async throws -> String {
        let tree = dir.file("tree")
        let unpacked = try await runProgram("/usr/bin/dpkg-deb", ["--raw-extract", deb, tree])
        try #require(unpacked.status == 0, "\(unpacked.output)")
        let control = tree + "/DEBIAN/control"
        var lines = try String(contentsOfFile: control, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        let index = try #require(lines.firstIndex { $0.hasPrefix("Version: ") })
        lines[index] = "Version: \(version)"
        try lines.joined(separator: "\n").write(toFile: control, atomically: true, encoding: .utf8)
        let output = dir.file("wfd_\(version)_amd64.deb")
        let packed = try await runProgram("/usr/bin/dpkg-deb", ["--root-owner-group", "--build", tree, output])
        try #require(packed.status == 0, "\(packed.output)")
        return output
    }
}

/// The package's wfd in a ``SystemdSandbox`` of its own root, seen from the test.
private struct Installation: JournaledWfd {
    let sandbox: SystemdSandbox
    var state: String { sandbox.root + "/var/lib/wfd" }

    func apt(_ arguments: [String]) async throws {
        let result = try await sandbox.run(
            ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "--quiet", "--quiet"] + arguments)
        guard result.status == 0 else {
            throw TestKitError("apt-get \(arguments.joined(separator: " ")): \(result.output)\n\(await journal())")
        }
    }

    /// systemctl's answer, without its line end.
    func systemctl(_ arguments: String...) async throws -> String {
        try await sandbox.run(["systemctl"] + arguments).output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: sandbox.root + path) }

    /// Writes a file inside the instance, owned by root and readable by all, as an operator would.
    func write(_ path: String, _ text: String) throws {
        try text.write(toFile: sandbox.root + path, atomically: true, encoding: .utf8)
        chmod(sandbox.root + path, 0o644)
    }

    func startRun(_ job: String) async throws -> String {
        let started = try await sandbox.run(["wfctl", "run", job])
        let words = started.output.split(separator: " ")
        guard started.status == 0, words.count >= 3, words[0] == "started" else {
            throw TestKitError("wfctl run \(job): \(started.output)")
        }
        return String(words[2])
    }

    func runs(of job: String) throws -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "\(state)/runs/\(job)")) ?? []
    }

    func record(_ job: String, _ run: String, _ file: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(state)/runs/\(job)/\(run)/\(file)"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func runState(_ job: String, _ run: String) throws -> String? {
        try record(job, run, "run.json")["state"] as? String
    }

    func journal() async -> String {
        (try? await sandbox.run(["journalctl", "--no-pager", "-u", "wfd", "-u", "wfd-web"]).output) ?? ""
    }

    /// `curl --include` of the API's socket as `user`: the output starts with the status line.
    func curl(as user: String, _ path: String) async throws -> (status: Int32, output: String) {
        try await sandbox.run([
            "runuser", "-u", user, "--", "curl", "--silent", "--show-error", "--max-time", "10", "--include",
            "--unix-socket", "/run/wfd/web.sock", "http://wfd" + path,
        ])
    }

}

/// What the package is made of agrees with what wfd says of itself.
@Suite struct PackagingTests {
    @Test func thePackageVersionStartsWithWfdsVersion() throws {
        let changelog = try String(contentsOfFile: BuiltProducts.packageRoot + "/debian/changelog", encoding: .utf8)
        // "wfd (0.1.0-1) unstable; urgency=medium"
        let first = try #require(changelog.split(separator: "\n").first)
        let version = try #require(first.split(separator: "(").dropFirst().first?.split(separator: ")").first)
        #expect(version.hasPrefix(WfdVersion.current + "-"), "debian/changelog says \(version)")
    }

    @Test func theUnitRunsInTheGroupTheSysusersFileMakes() throws {
        let unit = try String(contentsOfFile: BuiltProducts.packageRoot + "/systemd/wfd.service", encoding: .utf8)
        let sysusers = try String(contentsOfFile: BuiltProducts.packageRoot + "/systemd/wfd.sysusers", encoding: .utf8)
        #expect(unit.split(separator: "\n").contains("Group=wfd"))
        #expect(sysusers.split(separator: "\n").contains("g wfd -"))
    }
}
