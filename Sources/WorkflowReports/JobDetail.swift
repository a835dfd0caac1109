import Foundation
import JobFormat
import Schedules
import WorkflowStore

/// One job as a page shows it: what wfd indexed of its file, the file's text, its next fire
/// times and its latest scheduling decisions. `GET /api/v1/jobs/{job}/definition` answers it.
public struct JobDetail: Sendable, Codable {
    /// The job as wfd last loaded it (`job.json`).
    public var info: JobInfo
    /// The job file's text as it is now (nil when it cannot be read).
    public var text: String?
    /// The next fire times, up to the number asked for (none when it has no schedule or is disabled).
    public var next: [Date]
    /// The latest scheduling decisions, oldest first (`schedule.json`).
    public var decisions: [ScheduleMark.Decision]

    /// Nil when wfd knows no such job.
    public static func load(
        _ job: JobID, in state: StateDirectory, now: Date, hostZone: TimeZone, count: Int
    ) -> JobDetail? {
        let store = RunStore(directory: state)
        guard let info = try? store.loadJobInfo(job) else { return nil }
        var next: [Date] = []
        var after = now
        while next.count < count, let fire = StatusReport.nextFire(of: info, after: after, hostZone: hostZone) {
            next.append(fire)
            after = fire
        }
        let text = try? String(contentsOfFile: info.file, encoding: .utf8)
        let decisions = (try? store.loadScheduleMark(job))?.recent ?? []
        return JobDetail(info: info, text: text, next: next, decisions: decisions)
    }
}
