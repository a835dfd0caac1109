import Foundation
import Testing
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// A systemd 252 booted as PID 1 of private namespaces by `scripts/systemd-sandbox` (the recipe of
/// SYSTEMD.md: own cgroup, private /run, /tmp and /var/tmp, units that write host state masked).
final class SystemdSandbox: Sendable {
    let pid: Int32
    let id: String
    let script: String

    private init(pid: Int32, id: String, script: String) {
        self.pid = pid
        self.id = id
        self.script = script
    }

    /// Boots an instance, hands it to `body`, and stops it however `body` ends. With `ownRoot` its /
    /// is an overlay of the host's with a tmpfs on top: it may install packages, add users and
    /// change /etc, /usr and /var without touching the host (all of it is gone when it stops).
    static func with(ownRoot: Bool = false, _ body: (SystemdSandbox) async throws -> Void) async throws {
        guard geteuid() == 0 else {
            throw TestKitError("the end-to-end tests boot systemd in namespaces and need root: run 'sudo make test'")
        }
        let script = BuiltProducts.packageRoot + "/scripts/systemd-sandbox"
        let id = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let started = try await runProgram(script, ["start", id] + (ownRoot ? ["--own-root"] : []))
        guard started.status == 0, let pid = Int32(started.output.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            throw TestKitError("systemd did not boot: \(started.output)")
        }
        Leftovers.killAtExit(pid)
        let sandbox = SystemdSandbox(pid: pid, id: id, script: script)
        do {
            try await body(sandbox)
        } catch {
            await sandbox.stop()
            throw error
        }
        await sandbox.stop()
    }

    /// Runs a command inside the instance's mount and PID namespaces.
    @discardableResult
    func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runProgram("/usr/bin/nsenter", ["-t", String(pid), "-m", "-p"] + arguments)
    }

    /// The instance's root as seen from the host (its private /run is only visible through here).
    var root: String { "/proc/\(pid)/root" }

    private func stop() async {
        _ = try? await runProgram(script, ["stop", String(pid), id])
        Leftovers.forget(pid)
    }
}

/// wfd installed in a ``SystemdSandbox`` the way the README says: the shipped unit (with
/// test-only directory names), the binaries, `/etc/<name>/jobs.d` and `/var/lib/<name>` (on the
/// real disk: both are removed by ``remove()``).
struct InstalledWfd: JournaledWfd {
    let sandbox: SystemdSandbox
    let name: String
    /// Inside the instance; the instance's private /tmp cannot hold them (a clone may live there).
    let binaries = "/run/wfd-e2e-bin"

    var configuration: String { "/etc/\(name)" }
    var state: String { "/var/lib/\(name)" }
    var unit: String { "\(name).service" }

    /// Installs the unit with `dropIn` (a `[Service]` section's lines, if any) and starts it.
    static func install(in sandbox: SystemdSandbox, dropIn: String? = nil) async throws -> InstalledWfd {
        let wfd = InstalledWfd(sandbox: sandbox, name: "wfd-e2e-\(sandbox.id)")
        try FileManager.default.createDirectory(
            atPath: "\(wfd.configuration)/jobs.d", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            atPath: sandbox.root + wfd.binaries, withIntermediateDirectories: true)
        // Copied by cp in a process of its own: a write descriptor open in this (multi-threaded)
        // process could leak into a child another test spawns and make exec fail with ETXTBSY.
        for program in ["wfd", "wfctl"] {
            let copy = try await runProgram(
                "/bin/cp", [try BuiltProducts.path(program), "\(sandbox.root)\(wfd.binaries)/\(program)"])
            guard copy.status == 0 else { throw TestKitError("cp \(program): \(copy.output)") }
        }
        try SystemdEndToEndTests.testUnit(name: wfd.name, binaries: wfd.binaries).write(
            toFile: "\(sandbox.root)/run/systemd/system/\(wfd.unit)", atomically: false, encoding: .utf8)
        let slice = try String(contentsOfFile: BuiltProducts.packageRoot + "/systemd/wfd.slice", encoding: .utf8)
        try slice.write(toFile: "\(sandbox.root)/run/systemd/system/wfd.slice", atomically: false, encoding: .utf8)
        if let dropIn {
            try FileManager.default.createDirectory(
                atPath: "\(sandbox.root)/run/systemd/system/\(wfd.unit).d", withIntermediateDirectories: true)
            try "[Service]\n\(dropIn)\n".write(
                toFile: "\(sandbox.root)/run/systemd/system/\(wfd.unit).d/test.conf", atomically: false,
                encoding: .utf8)
        }
        #expect(try await sandbox.run(["systemctl", "daemon-reload"]).status == 0)
        let start = try await sandbox.run(["systemctl", "start", wfd.unit])
        guard start.status == 0 else {
            let journal = try await sandbox.run(["journalctl", "--no-pager", "-u", wfd.unit])
            throw TestKitError("systemctl start: \(start.output)\n\(journal.output)")
        }
        return wfd
    }

    /// Writes `jobs.d/<job>.yaml` and reloads wfd (which returns once the job is in effect).
    func addJob(_ job: String, _ text: String) async throws {
        try text.write(toFile: "\(configuration)/jobs.d/\(job).yaml", atomically: true, encoding: .utf8)
        let reload = try await sandbox.run(["systemctl", "reload", unit])
        guard reload.status == 0 else { throw TestKitError("systemctl reload: \(reload.output)") }
    }

    /// Runs the installed wfctl inside the instance, on this wfd's state directory.
    @discardableResult
    func wfctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await sandbox.run(["\(binaries)/wfctl"] + arguments + ["--state", state])
    }

    /// Starts a run of `job` by hand (`wfctl run`) and returns its id.
    func startRun(_ job: String) async throws -> String {
        let started = try await wfctl(["run", job])
        // "started run <id> of <job>"
        let words = started.output.split(separator: " ")
        guard started.status == 0, words.count >= 3, words[0] == "started" else {
            throw TestKitError("wfctl run \(job): \(started.output)")
        }
        return String(words[2])
    }

    /// The id of the newest run of `job`.
    func newestRun(of job: String) throws -> String {
        try #require(try FileManager.default.contentsOfDirectory(atPath: "\(state)/runs/\(job)").sorted().last)
    }

    /// A step record as JSON.
    func stepRecord(_ job: String, _ run: String, _ step: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(state)/runs/\(job)/\(run)/steps/\(step).json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The first attempt of a step, from its record.
    func firstAttempt(_ job: String, _ run: String, _ step: String) throws -> [String: Any] {
        let attempts = try #require(try stepRecord(job, run, step)["attempts"] as? [[String: Any]])
        return try #require(attempts.first)
    }

    func runRecord(_ job: String, _ run: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(state)/runs/\(job)/\(run)/run.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The journal of wfd's unit, for failure messages.
    func journal() async -> String {
        (try? await sandbox.run(["journalctl", "--no-pager", "-u", unit]).output) ?? ""
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: configuration)
        try? FileManager.default.removeItem(atPath: state)
    }
}

/// A wfd installed in a test systemd, whose journal explains a wait that timed out.
protocol JournaledWfd {
    func journal() async -> String
}

extension JournaledWfd {
    /// Waits for `condition`; when it never holds, records that with wfd's journal.
    func expectEventually(
        _ what: String, timeout: Duration, sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async {
        guard !(await eventually(timeout: timeout, waitingFor: what, condition)) else { return }
        Issue.record("timed out waiting for \(what)\n\(await journal())", sourceLocation: sourceLocation)
    }
}
