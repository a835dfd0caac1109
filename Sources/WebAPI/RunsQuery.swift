import Foundation
import JobFormat
import RunModel
import WorkflowReports

/// The query of `GET /api/v1/runs` (`?job=&state=&trigger=&since=&until=&limit=&cursor=`), read
/// and checked: each word that means nothing is a 400 naming it.
struct RunsQuery {
    var filter: RunListing.Filter
    var limit: Int
    var cursor: RunListing.Cursor?

    init(_ query: [String: String], now: Date) throws(Problem) {
        do {
            filter = try RunListing.Filter(
                job: query["job"], states: query["state"], triggers: query["trigger"], since: query["since"],
                until: query["until"], now: now)
        } catch {
            throw Problem(.badRequest, detail: error.description)
        }
        let text = query["limit"] ?? "50"
        guard let limit = Int(text), (1...500).contains(limit) else {
            throw Problem(.badRequest, detail: "limit is how many runs a page has, 1 to 500, not '\(text)'")
        }
        self.limit = limit
        if let given = query["cursor"] {
            guard let parsed = RunListing.Cursor(given) else {
                throw Problem(.badRequest, detail: "'\(given)' is not a cursor: give the next of the page before")
            }
            cursor = parsed
        }
    }

    /// wfd's answer to `status` in format `active` (`{"job": "run id"}`), typed; nil when it is not that.
    static func active(_ text: String) -> [JobID: RunID]? {
        guard let known = try? JSONDecoder().decode([String: String].self, from: Data(text.utf8)) else { return nil }
        var runs: [JobID: RunID] = [:]
        for (job, run) in known {
            if let job = JobID(job), let run = RunID(run) { runs[job] = run }
        }
        return runs
    }
}
