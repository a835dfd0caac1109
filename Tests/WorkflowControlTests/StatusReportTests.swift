import Foundation
import JobFormat
import RunModel
import Schedules
import Testing
import WorkflowControl
import WorkflowReports
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct StatusReportTests {
    let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!

    func seed(_ dir: TemporaryDirectory) throws -> (StateDirectory, RunID) {
        let state = StateDirectory(root: dir.path)
        let store = RunStore(directory: state)
        let job = Job(
            id: JobID("nightly")!, description: "Nightly", schedules: [try Schedule(parsing: "0 3 * * *")],
            steps: [StepDefinition(id: StepID("s")!, run: "true")])
        try store.saveJobInfo(
            JobInfo(id: job.id, job: job, file: "/etc/wfd/jobs.d/nightly.yaml", errors: [], loadedAt: t0))
        var snapshot = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 1), trigger: .schedule, scheduledFor: t0, createdAt: t0)
        (snapshot, _) = try RunMachine.apply(snapshot, .start(at: t0))
        (snapshot, _) = try RunMachine.apply(
            snapshot,
            .attemptEnded(
                StepID("s")!, AttemptResult(outcome: .failed, exitCode: 2, error: "exited with status 2"), at: t0 + 5))
        try store.save(snapshot.run)
        return (state, snapshot.run.id)
    }

    @Test func reportsScheduleNextFireAndLastRunFromDiskAlone() throws {
        let dir = try TemporaryDirectory("status")
        let (state, run) = try seed(dir)
        let report = try StatusReport.load(state: state, now: t0 + 10, hostZone: .gmt)
        #expect(report.daemon.running == false)
        let job = try #require(report.jobs.first)
        #expect(report.jobs.count == 1)
        #expect(job.job == JobID("nightly"))
        #expect(job.schedules == ["0 3 * * *"])
        #expect(job.state == .active)
        #expect(job.nextFire == Timestamp.parse("2026-01-01T03:00:00Z"))
        #expect(job.lastRun?.id == run, "errors: \(job.errors)")
        #expect(job.lastRun?.state == .failed)
        #expect(job.lastRun?.error == "step 's' failed: exited with status 2")
        #expect(job.running == false)
    }

    @Test func aHeldDaemonLockWithAnActiveRunMeansRunning() async throws {
        let dir = try TemporaryDirectory("status")
        let (state, _) = try seed(dir)
        let store = RunStore(directory: state)
        let job = try store.loadJobInfo(JobID("nightly")!)
        var latest = try store.loadLatest(job.job)
        latest.active = latest.last
        try RecordFile.write(latest, to: state.latest(job.job))
        #expect(try StatusReport.load(state: state, now: t0, hostZone: .gmt).jobs[0].running == false, "no daemon")
        let holder = try DaemonProcess(
            executable: try BuiltProducts.path("wfd-testhelper"), arguments: ["hold-lock", state.daemonLock],
            environment: [:], stderrPath: dir.file("holder.out"))
        defer { holder.send(SIGKILL) }
        #expect(await eventually { holder.output.contains("locked") })
        let report = try StatusReport.load(state: state, now: t0, hostZone: .gmt)
        #expect(report.daemon.running)
        #expect(report.jobs[0].running)
    }

    @Test func aMissingStateDirectoryIsAnError() {
        #expect(throws: StoreError.missing(path: "/nonexistent/wfd")) {
            try StatusReport.load(state: StateDirectory(root: "/nonexistent/wfd"), now: t0, hostZone: .gmt)
        }
    }

    @Test func anUnreadableJobRecordIsReportedNotFatal() throws {
        let dir = try TemporaryDirectory("status")
        let (state, _) = try seed(dir)
        try dir.write("jobs/broken/job.json", "{not json")
        let report = try StatusReport.load(state: state, now: t0, hostZone: .gmt)
        #expect(report.jobs.count == 2)
        let broken = try #require(report.jobs.first { $0.job == JobID("broken") })
        #expect(broken.errors.first?.message.contains("unreadable") == true)
    }
}

@Suite struct StatusTableTimeTests {
    @Test func timesReadAsUTCSecondsAndRelativeSpans() throws {
        let at = try #require(Timestamp.parse("2026-11-30T04:05:06.789Z"))
        #expect(StatusTable.local(at) == "2026-11-30 04:05:06Z")
        #expect(StatusTable.local(try #require(Timestamp.parse("1999-01-02T00:00:00Z"))) == "1999-01-02 00:00:00Z")
        #expect(StatusTable.ago(at.addingTimeInterval(90), now: at) == "in 90s")
        #expect(StatusTable.ago(at.addingTimeInterval(-3 * 3600), now: at) == "3h ago")
        #expect(StatusTable.ago(at, now: at) == "now")
    }
}

@Suite struct StatusTableColumnsTests {
    /// Widths in characters (not bytes), the last column unpadded, colours around cell and padding.
    @Test func columnsAlignByCharactersAndColourWithoutCountingEscapes() {
        let rows = [["JOB", "B"], ["ccc", "d"], ["é", "x"], ["a", ""]]
        #expect(StatusTable.columns(rows) == "JOB  B\nccc  d\né    x\na    \n")
        let tones: [[StatusTable.Tone]] = [[.plain, .plain], [.bad, .plain], [.plain, .good], [.warning, .plain]]
        #expect(
            StatusTable.columns(rows, tones: tones)
                == "JOB  B\n\u{1B}[31mccc\u{1B}[0m  d\né    \u{1B}[32mx\u{1B}[0m\n\u{1B}[33ma  \u{1B}[0m  \n")
        #expect(StatusTable.columns([]) == "")
        // More rows than one chunk of the parallel renderer: the widest cell is in the last chunk.
        let many = [["ID", "V"]] + (0..<3000).map { ["\($0)", "v"] } + [["a-very-long-id", "v"]]
        let lines = StatusTable.columns(many).split(separator: "\n")
        #expect(lines.count == 3002)
        #expect(lines.allSatisfy { $0.count == "a-very-long-id".count + 3 })
    }
}
