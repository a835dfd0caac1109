import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Schedules
import Testing
import WebAPI
import WorkflowReports
import WorkflowStore
import WorkflowTesting

/// `GET /api/v1/runs` (and `wfctl runs`, which reads the same ``RunListing``): filters, cursor
/// paging that neither repeats nor skips a run, stale lines of retried and deleted runs left
/// out, and a cursor that outlives a rebuild of the index.
@Suite struct RunListingTests {
    let t0 = Timestamp.parse("2026-01-01T00:00:00Z")!
    let jobs = ["alpha", "beta", "gamma"].map { JobID($0)! }

    /// 90 ended runs over three jobs, ended a minute apart (run n of job n % 3); every tenth
    /// failed, every seventh manual. Returns their summaries as they ended, oldest first.
    func seed(_ state: StateDirectory) throws -> [RunIndex.Entry] {
        let store = RunStore(directory: state)
        var ended: [RunIndex.Entry] = []
        for n in 0..<90 {
            let job = jobs[n % 3]
            let start = t0 + Double(n * 60)
            var run = RunRecord(
                job: Job(id: job, steps: []), id: RunID.make(at: start, suffix: UInt32(n)),
                trigger: n % 7 == 0 ? .manual : .schedule, scheduledFor: nil, createdAt: start)
            run.state = n % 10 == 0 ? .failed : .succeeded
            run.startedAt = start
            run.endedAt = start + 30
            try store.save(run)
            ended.append(RunIndex.Entry(run))
        }
        return ended
    }

    func page(_ api: WebAPI, _ query: String) throws -> (runs: [String], next: String?, body: JSONValue) {
        let response = api.respond(APIRequest(method: "GET", target: "/api/v1/runs?\(query)", caller: .root))
        #expect(response.status == 200, "\(query): \(String(decoding: response.body, as: UTF8.self))")
        let body = try #require(JSONValue.parse(response.body))
        guard case .array(let runs)? = body["runs"] else { throw TestKitError("no runs in \(body)") }
        let ids = runs.compactMap { value -> String? in
            if case .string(let id)? = value["id"] { return id }
            return nil
        }
        if case .string(let next)? = body["next"] { return (ids, next, body) }
        return (ids, nil, body)
    }

    /// Every page of `query`, following `next` to the end.
    func all(_ api: WebAPI, _ query: String, between: () throws -> Void = {}) throws -> [String] {
        var ids: [String] = []
        var cursor: String? = nil
        repeat {
            let found = try page(api, query + (cursor.map { "&cursor=\($0)" } ?? ""))
            ids += found.runs
            cursor = found.next
            try between()
        } while cursor != nil
        return ids
    }

    @Test func pagesFollowEachOtherWithoutRepeatingOrSkippingARunAndFiltersNarrowThem() throws {
        let dir = try TemporaryDirectory("listing")
        let state = StateDirectory(root: dir.path)
        let ended = try seed(state)
        let api = WebAPI(state: state, now: { self.t0 + 90 * 60 }, hostZone: .gmt)
        let newestFirst = ended.reversed().map(\.id.rawValue)

        let first = try page(api, "limit=7")
        #expect(first.runs == Array(newestFirst.prefix(7)))
        #expect(first.body["active"] == .array([]))
        try WebAPITests.conforms(
            api.respond(APIRequest(method: "GET", target: "/api/v1/runs?limit=7", caller: .root)), to: "/api/v1/runs",
            try WebAPITests.document())
        #expect(try all(api, "limit=7") == newestFirst)

        // Filters, alone and together, over every page.
        let alpha = ended.filter { $0.job == jobs[0] }
        #expect(try all(api, "limit=4&job=alpha") == alpha.reversed().map(\.id.rawValue))
        #expect(
            try all(api, "limit=2&state=failed") == ended.reversed().filter { $0.state == .failed }.map(\.id.rawValue))
        #expect(
            try all(api, "limit=3&trigger=manual&state=succeeded,failed")
                == ended.reversed().filter { $0.trigger == .manual }.map(\.id.rawValue))
        let since = t0 + 60 * 60  // the last 30 runs ended after it
        let until = t0 + 80 * 60
        let window = ended.reversed().filter { $0.endedAt! >= since && $0.endedAt! <= until }.map(\.id.rawValue)
        #expect(window.count == 20)
        #expect(try all(api, "limit=6&since=2026-01-01T01:00:00Z&until=2026-01-01T01:20:00Z") == window)
        #expect(try all(api, "until=2026-01-01T00:10:00Z") == ended.prefix(10).reversed().map(\.id.rawValue))

        // A filter few runs pass: each page reads at most its allowance and says where to go on.
        let failed = try RunListing.Filter(job: nil, states: "failed", triggers: nil, since: nil, until: nil, now: t0)
        var sparse = RunListing.load(failed, in: state, limit: 50, scanLimit: 25)
        #expect(sparse.scanned == 25 && sparse.runs.count == 2 && sparse.next != nil, "runs 89 to 65: 80 and 70")
        var found = sparse.runs
        while let next = sparse.next {
            sparse = RunListing.load(failed, in: state, limit: 50, after: RunListing.Cursor(next), scanLimit: 25)
            found += sparse.runs
        }
        #expect(found.map(\.id) == ended.reversed().filter { $0.state == .failed }.map(\.id))
    }

    @Test func aRetriedRunIsListedOnceAsItEndedLastAndDeletedRunsNotAtAll() throws {
        let dir = try TemporaryDirectory("listing-stale")
        let state = StateDirectory(root: dir.path)
        let store = RunStore(directory: state)
        let ended = try seed(state)
        // The oldest failed run is retried and succeeds at the end; the second run is deleted.
        var retried = try store.loadRun(ended[0].job!, ended[0].id)
        retried.state = .succeeded
        retried.endedAt = t0 + 200 * 60
        try store.save(retried)
        try FileManager.default.removeItem(atPath: state.runDirectory(ended[1].job!, ended[1].id))
        // A crash made wfd save a run twice: the history keeps one line.
        try RunIndex(directory: state).append(try store.loadRun(ended[89].job!, ended[89].id))
        let lines = try String(contentsOfFile: RunHistory(directory: state).path, encoding: .utf8)
        #expect(lines.components(separatedBy: ended[89].id.rawValue).count == 2, "one line of the last run")

        let api = WebAPI(state: state, now: { self.t0 + 300 * 60 }, hostZone: .gmt)
        let expected = [retried.id.rawValue] + ended[2...].reversed().map(\.id.rawValue)
        #expect(try all(api, "limit=9") == expected)
        #expect(try all(api, "limit=5&state=failed").contains(retried.id.rawValue) == false)
    }

    /// The index rebuilt between two pages (a new file: the cursor's offset means nothing in it)
    /// goes on after the last run listed.
    @Test func aCursorOutlivesARebuildOfTheIndexThatMovedEveryLine() throws {
        let dir = try TemporaryDirectory("listing-rebuild")
        let state = StateDirectory(root: dir.path)
        let ended = try seed(state)
        let api = WebAPI(state: state, now: { self.t0 + 90 * 60 }, hostZone: .gmt)
        let history = RunHistory(directory: state)
        // The rebuilt file is shorter by a run's line: every offset of the old one is off by it.
        let gone = ended[45]
        try FileManager.default.removeItem(atPath: state.runDirectory(gone.job!, gone.id))
        try RunIndex(directory: state).rewrite(
            gone.job!,
            RunIndex(directory: state).all(gone.job!).values.filter {
                $0.id != gone.id
            }.sorted { $0.id < $1.id })
        var rebuilt = 0
        let ids = try all(api, "limit=8") {
            if rebuilt == 0 { try history.rebuild() }
            rebuilt += 1
        }
        #expect(rebuilt > 10 && ids == ended.reversed().filter { $0.id != gone.id }.map(\.id.rawValue))
    }

    /// A job's index from before its lines named the job: listed by job all the same.
    @Test func linesThatDoNotNameTheirJobAreListedForTheirJob() throws {
        let dir = try TemporaryDirectory("listing-old")
        let state = StateDirectory(root: dir.path)
        let ended = try seed(state)
        let alpha = state.runIndex(jobs[0])
        let old = try String(contentsOfFile: alpha, encoding: .utf8).replacingOccurrences(
            of: #""job":"alpha","#, with: "")
        #expect(!old.contains("alpha"))
        try old.write(toFile: alpha, atomically: true, encoding: .utf8)
        let listing = RunListing.load(RunListing.Filter(job: jobs[0]), in: state, limit: 100)
        #expect(listing.runs.map(\.id) == ended.reversed().filter { $0.job == jobs[0] }.map(\.id))
    }

    @Test func activeRunsComeOnTheFirstPageAndBadWordsAreProblems() throws {
        let dir = try TemporaryDirectory("listing-active")
        let state = StateDirectory(root: dir.path)
        _ = try seed(state)
        let store = RunStore(directory: state)
        var running = RunRecord(
            job: Job(id: jobs[1], steps: []), id: RunID.make(at: t0 + 95 * 60, suffix: 99), trigger: .manual,
            scheduledFor: nil, createdAt: t0 + 95 * 60)
        running.state = .running
        try store.save(running)
        let api = WebAPI(state: state, now: { self.t0 + 96 * 60 }, hostZone: .gmt)
        let first = try page(api, "limit=1")
        #expect(first.body["active"]?[0]?["id"] == .string(running.id.rawValue))
        #expect(try page(api, "limit=1&cursor=\(try #require(first.next))").body["active"] == nil)
        // A cursor whose offset points elsewhere (the index was rebuilt) goes on after its run.
        let next = try #require(first.next)
        let moved = "1" + next.drop { $0 != "-" }
        #expect(try page(api, "limit=3&cursor=\(moved)").runs == (try page(api, "limit=3&cursor=\(next)").runs))
        #expect(try page(api, "until=1h").body["active"] == .array([]))

        for (query, words) in [
            ("state=broken", "state 'broken' is not one of"), ("trigger=cron", "trigger 'cron'"),
            ("since=yesterday", "since takes a duration"), ("limit=0", "limit is how many"),
            ("limit=501", "1 to 500"), ("cursor=12-x", "is not a cursor"),
            ("cursor=-1-0-\(running.id)", "is not a cursor"), ("job=..", "is not a job id"),
        ] {
            let response = api.respond(APIRequest(method: "GET", target: "/api/v1/runs?\(query)", caller: .root))
            #expect(response.status == 400 && response.contentType == "application/problem+json", "\(query)")
            #expect(String(decoding: response.body, as: UTF8.self).contains(words), "\(query)")
        }
    }
}
