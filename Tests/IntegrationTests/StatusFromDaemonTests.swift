import Foundation
import Schedules
import Testing
import WorkflowControl
import WorkflowReports
import WorkflowStore
import WorkflowTesting

/// `wfctl status` asks the running wfd, which answers from memory; it must say exactly what the
/// state directory says.
@Suite struct StatusFromDaemonTests {
    func wfctl(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await runProgram(try BuiltProducts.path("wfctl"), arguments, environment: ["PATH": "/usr/bin:/bin"])
    }

    @Test func theDaemonsAnswerIsWhatTheStateDirectorySays() async throws {
        let dir = try TemporaryDirectory("daemon-status")
        try dir.write("jobs/good.yaml", "schedule: '0 3 * * *'\ndescription: Good\nsteps: [{id: a, run: 'true'}]\n")
        try dir.write("jobs/bad.yaml", "schedule: '0 4 * * *'\nsteps: [{id: a, run: 'exit 3'}]\n")
        try dir.write("jobs/off.yaml", "schedule: '@daily'\nenabled: false\nsteps: [{id: a, run: 'true'}]\n")
        try dir.write("jobs/broken.yaml", "schedule: 'every tuesday'\nsteps: [{id: a, run: 'true'}]\n")
        let socket = try NotifySocket()
        let daemon = try DaemonProcess(
            executable: try BuiltProducts.path("wfd"),
            arguments: ["--jobs", dir.file("jobs"), "--state", dir.file("state"), "--log-target", "stderr"],
            environment: ["NOTIFY_SOCKET": socket.address, "PATH": "/usr/bin:/bin"],
            stderrPath: dir.file("wfd.log"))
        defer { Task { await daemon.stop() } }
        #expect(await socket.waitFor { $0.contains("READY=1") } != nil, "\(daemon.output)")
        let state = ["--state", dir.file("state")]
        for (job, times) in [("good", 3), ("bad", 2)] {
            for _ in 0..<times { _ = try await wfctl(["run", job, "--wait"] + state) }
        }

        let answer = try await wfctl(["status", "--json"] + state)
        #expect(answer.status == 0)
        let fromDaemon = try Timestamp.makeDecoder().decode(StatusReport.self, from: Data(answer.output.utf8))
        let fromDisk = try StatusReport.load(
            state: StateDirectory(root: dir.file("state")), now: Date(), hostZone: .current)
        #expect(fromDaemon.daemon.pid == fromDisk.daemon.pid)
        #expect(fromDaemon.jobs.map(\.job.rawValue) == ["bad", "broken", "good", "off"])
        #expect(fromDaemon.jobs == fromDisk.jobs, "every job's line, from memory and from disk")
        let good = try #require(fromDaemon.jobs.first { $0.job.rawValue == "good" })
        #expect(good.successRate == StatusReport.SuccessRate(SuccessCounts(succeeded: 3, ended: 3)))
        #expect(good.description == "Good")
        let bad = try #require(fromDaemon.jobs.first { $0.job.rawValue == "bad" })
        #expect(bad.lastRun?.state == .failed)
        #expect(bad.successRate == StatusReport.SuccessRate(SuccessCounts(succeeded: 0, ended: 2)))
        #expect(fromDaemon.jobs.first { $0.job.rawValue == "broken" }?.errors.isEmpty == false)
        #expect(fromDaemon.jobs.first { $0.job.rawValue == "off" }?.nextFire == nil)

        // The table, as a person sees it: the same rows as the one read from disk.
        let table = try await wfctl(["status"] + state)
        #expect(table.output.hasPrefix("wfd 0.1.0 is running (pid \(fromDisk.daemon.pid ?? 0)"), "\(table.output)")
        let rows = StatusTable.render(fromDisk, now: Date()).split(separator: "\n").dropFirst()
        #expect(table.output.split(separator: "\n").dropFirst().map { $0.prefix(8) } == rows.map { $0.prefix(8) })
        #expect(table.output.contains("0/2") && table.output.contains("3/3"))
        // Not started by systemd: steps are wfd's children, and both commands say so.
        #expect(fromDaemon.daemon.executor == "process")
        #expect(table.output.contains("steps as processes"), "\(table.output)")
        let version = try await runProgram(
            try BuiltProducts.path("wfd"), ["--version"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(version.output == "0.1.0\nstep executor here: process (wfd was not started by systemd)\n")
        let asked = try await runProgram(
            try BuiltProducts.path("wfd"),
            ["--jobs", dir.file("jobs"), "--state", dir.file("other"), "--executor", "unit"],
            environment: ["PATH": "/usr/bin:/bin", "DBUS_SYSTEM_BUS_ADDRESS": "unix:path=\(dir.file("no-bus"))"])
        #expect(asked.status == 1)
        #expect(asked.output.contains("wfd: --executor unit: systemd cannot be reached over D-Bus"), "\(asked.output)")
    }
}
