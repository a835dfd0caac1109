import Foundation
import JobFormat
import RunModel
import Schedules
import WorkflowStore

/// A page of ended runs, newest first, with filters, and the cursor of the next page: what
/// `wfctl runs` prints and `GET /api/v1/runs` answers. It reads the index of the job it is
/// filtered to, or ``RunHistory`` (every job's), from where the cursor points towards the
/// start, so a page costs the same at the top of a history of 10⁶ runs as deep inside it.
public struct RunListing: Sendable, Codable {
    /// The ended runs of the page, newest first (by when they ended).
    public var runs: [RunIndex.Entry]
    /// The runs that have not ended (each job's active run), on the first page only.
    public var active: [RunIndex.Entry]?
    /// The cursor of the next page; nil when the listing is complete.
    public var next: String?
    /// How many index lines this page read: at most ``scanLimit``, so a filter that few runs
    /// pass answers with fewer runs than asked, and a `next` to go on with.
    public var scanned: Int

    /// The most index lines one page reads (about 3 MB).
    public static let scanLimit = 10_000

    enum CodingKeys: String, CodingKey {
        case runs, active, next, scanned
    }

    /// What runs to list.
    public struct Filter: Sendable, Equatable {
        public var job: JobID?
        public var states: Set<RunState>?
        public var triggers: Set<Trigger>?
        /// Runs that ended at or after it (and every active run).
        public var since: Date?
        /// Runs that ended at or before it (and no active run).
        public var until: Date?

        public init(
            job: JobID? = nil, states: Set<RunState>? = nil, triggers: Set<Trigger>? = nil, since: Date? = nil,
            until: Date? = nil
        ) {
            self.job = job
            self.states = states
            self.triggers = triggers
            self.since = since
            self.until = until
        }

        /// The filter the words of a query or a command line give (`state=failed,timed_out`,
        /// `since=24h`); the error names the word and what it takes.
        public init(
            job: String?, states: String?, triggers: String?, since: String?, until: String?, now: Date
        ) throws(Invalid) {
            if let job {
                guard let id = JobID(job) else { throw Invalid("'\(job)' is not a job id: \(JobID.rule)") }
                self.job = id
            }
            self.states = try Self.set(states, name: "state")
            self.triggers = try Self.set(triggers, name: "trigger")
            for (name, text) in [("since", since), ("until", until)] {
                guard let text else { continue }
                guard let instant = RunStatistics.instant(text, now: now) else {
                    throw Invalid("\(name) takes a duration back from now (24h, 7d) or an RFC 3339 time, not '\(text)'")
                }
                if name == "since" { self.since = instant } else { self.until = instant }
            }
        }

        static func set<T: RawRepresentable & CaseIterable>(_ text: String?, name: String) throws(Invalid) -> Set<T>?
        where T.RawValue == String {
            guard let text else { return nil }
            var values: Set<T> = []
            for word in text.split(separator: ",") {
                guard let value = T(rawValue: String(word)) else {
                    let known = T.allCases.map(\.rawValue).joined(separator: ", ")
                    throw Invalid("\(name) '\(word)' is not one of \(known) (give several with commas)")
                }
                values.insert(value)
            }
            return values
        }

        func admits(_ entry: RunIndex.Entry) -> Bool {
            (states?.contains(entry.state) ?? true) && (triggers?.contains(entry.trigger) ?? true)
                && (until.map { (entry.endedAt ?? .distantFuture) <= $0 } ?? true)
        }
    }

    /// A filter or a cursor that means nothing, and why.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Where the next page starts: the byte offset in the index read, and the last run listed,
    /// which must start there (else the file was rebuilt meanwhile, and the listing goes on
    /// after that run, wherever it is now).
    public struct Cursor: Sendable, Equatable, CustomStringConvertible {
        var offset: Int64
        var endedAt: Date
        var run: RunID

        public var description: String {
            "\(offset)-\(Int64((endedAt.timeIntervalSince1970 * 1000).rounded()))-\(run)"
        }

        public init?(_ text: String) {
            let parts = text.split(separator: "-", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, let offset = Int64(parts[0]), offset >= 0, let millis = Int64(parts[1]),
                let run = RunID(parts[2])
            else { return nil }
            self.offset = offset
            endedAt = Date(timeIntervalSince1970: Double(millis) / 1000)
            self.run = run
        }

        init(offset: Int64, endedAt: Date, run: RunID) {
            self.offset = offset
            self.endedAt = endedAt
            self.run = run
        }
    }

    /// The page of `limit` runs after `cursor` (the first page when nil). `running`: the runs in
    /// progress by job, when the running wfd told (else each job's `latest.json` is read: 10,000
    /// files for 10,000 jobs).
    public static func load(
        _ filter: Filter, in state: StateDirectory, limit: Int, after cursor: Cursor? = nil, scanLimit: Int = scanLimit,
        running: [JobID: RunID]? = nil
    ) -> RunListing {
        let store = RunStore(directory: state)
        let scan = IndexScan(path: filter.job.map(state.runIndex) ?? RunHistory(directory: state).path)
        var listing = RunListing(runs: [], active: nil, next: nil, scanned: 0)
        if cursor == nil { listing.active = active(filter, store: store, running: running) }
        guard var start = scan.size() else { return listing }
        // The offset is good only in the file it was taken from. In a rebuilt one, reading starts
        // after the last run that ended when the cursor's did, and skips what the cursor passed.
        let resumes = cursor.map { scan.entry(at: $0.offset)?.id == $0.run } ?? false
        if let cursor {
            start = resumes ? cursor.offset : scan.offset(endedBy: cursor.endedAt) ?? start
        }
        if let until = filter.until, let bound = scan.offset(endedBy: until) { start = min(start, bound) }
        var seen: Set<RunID> = cursor.map { [$0.run] } ?? []
        var last: (Int64, RunIndex.Entry)? = nil
        var complete = false
        let stopped = scan.backwards(before: start, lines: scanLimit) { entry, offset in
            listing.scanned += 1
            last = (offset, entry)
            let ended = entry.endedAt ?? .distantPast
            if let since = filter.since, ended < since {
                complete = true
                return false
            }
            if let cursor, !resumes, (ended, entry.id) >= (cursor.endedAt, cursor.run) { return true }
            // (A job's own index may hold lines from before they named their job.)
            guard filter.job.map({ entry.job == nil || $0 == entry.job }) ?? true, filter.admits(entry),
                !seen.contains(entry.id),
                let job = entry.job ?? filter.job,
                // A line of a run retried since (its record ended later) or deleted by retention is stale.
                let record = try? RecordFile.read(
                    Ending.self, from: state.runRecord(job, entry.id), keys: Ending.CodingKeys.allCases.map(\.rawValue)),
                record.state == entry.state, record.endedAt == entry.endedAt
            else { return true }
            seen.insert(entry.id)
            listing.runs.append(entry)
            return listing.runs.count < limit
        }
        if !complete, stopped > 0, let (offset, entry) = last {
            listing.next =
                Cursor(offset: offset, endedAt: entry.endedAt ?? .distantPast, run: entry.id).description
        }
        return listing
    }

    /// What a listing checks of a run record: the two members of it it reads.
    struct Ending: Decodable {
        var state: RunState
        var endedAt: Date?

        enum CodingKeys: String, CodingKey, CaseIterable {
            case state
            case endedAt = "ended_at"
        }
    }

    /// The runs that have not ended, newest first: each job's active run, as its record says.
    static func active(_ filter: Filter, store: RunStore, running: [JobID: RunID]?) -> [RunIndex.Entry]? {
        guard filter.until == nil else { return [] }
        let jobs =
            filter.job.map { [$0] } ?? running.map { Array($0.keys) }
            ?? ((try? FileManager.default.contentsOfDirectory(atPath: store.directory.jobsRoot)) ?? []).compactMap(
                JobID.init)
        return jobs.compactMap { job -> RunIndex.Entry? in
            let id = running.map { $0[job] } ?? (try? store.loadLatest(job))?.active?.id
            guard let id, let record = try? store.loadRun(job, id), !record.state.isTerminal else { return nil }
            let entry = RunIndex.Entry(record)
            return (filter.states?.contains(entry.state) ?? true) && (filter.triggers?.contains(entry.trigger) ?? true)
                ? entry : nil
        }.sorted { $0.id > $1.id }
    }
}
