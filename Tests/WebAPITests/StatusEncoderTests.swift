import Foundation
import JobFormat
import RunModel
import Schedules
import Testing
import WorkflowReports
import WorkflowStore

/// The status JSON with each job's part kept: byte for byte what the record encoder writes, as
/// jobs change, appear and go.
@Suite struct StatusEncoderTests {
    let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!

    func job(_ name: String, last: RunState? = nil, errors: [Diagnostic] = []) throws -> StatusReport.JobStatus {
        let definition = Job(
            id: JobID(name)!, description: "the \"\(name)\" job\twith a tab",
            schedules: [try Schedule(parsing: "0 3 * * *")], steps: [StepDefinition(id: StepID("a")!, run: "true")])
        let info = JobInfo(
            id: definition.id, job: definition, file: "/etc/wfd/jobs.d/\(name).yaml", errors: errors, loadedAt: t0)
        var summary: RunSummary? = nil
        if let last {
            var run = RunRecord(
                job: definition, id: RunID.make(at: t0, suffix: 7), trigger: .schedule, scheduledFor: t0, createdAt: t0)
            run.state = last
            run.endedAt = t0 + 5
            summary = RunSummary(run)
        }
        return StatusReport.JobStatus(
            info: info, nextFire: t0 + 3600, last: summary, active: nil,
            successRate: summary.flatMap { _ in .init(SuccessCounts(succeeded: 1, ended: 2)) }, decisions: [])
    }

    func report(_ jobs: [StatusReport.JobStatus]) -> StatusReport {
        StatusReport(
            stateDirectory: "/var/lib/wfd", daemon: .init(running: true, pid: 42, startedAt: t0, version: "wfd 0.1.0"),
            jobs: jobs, quarantined: [])
    }

    @Test func theJSONIsWhatTheRecordEncoderWritesAsJobsChangeAppearAndGo() throws {
        let encoder = StatusEncoder()
        var jobs = [
            try job("alpha", last: .succeeded), try job("beta"),
            try job("gamma", errors: [Diagnostic(file: "gamma.yaml", line: 3, column: 5, message: "no steps")]),
        ]
        for round in 0..<4 {
            let expected = try RecordJSON.encode(report(jobs))
            #expect(try encoder.encode(report(jobs)) == expected, "round \(round)")
            #expect(try encoder.encode(report(jobs)) == expected, "round \(round), every part kept")
            switch round {
            case 0: jobs[1] = try job("beta", last: .failed)  // one job changes
            case 1: jobs.append(try job("delta"))  // one appears
            case 2: jobs.remove(at: 0)  // one goes
            default: break
            }
        }
        #expect(try encoder.encode(report([])) == (try RecordJSON.encode(report([]))), "no jobs")
    }
}
