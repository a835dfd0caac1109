import Foundation
import JobFormat
import RuntimeSupport

/// The jobs loaded from a `jobs.d` directory, with the problems of the files that did not load.
///
/// A file that becomes invalid keeps its last valid version scheduled, like a server that keeps its
/// old configuration on a bad reload; its diagnostics are kept beside it so they can be shown. A
/// new invalid file has an entry with no job: it is shown as invalid and never runs.
///
/// A reload reads only the files whose ``FileSignature`` changed, and parses those on every core,
/// so one edited file among 10,000 costs one parse, not 10,000.
public struct JobCatalog: Sendable {
    /// What became of one file at the last load.
    public struct Entry: Sendable {
        public var file: String
        /// The job that runs: the file's current version when valid, else its last valid one.
        public var job: Job?
        public var diagnostics: [Diagnostic]
        /// The version read, when it may be trusted to be unchanged while its signature is.
        var signature: FileSignature?
    }

    public let directory: String
    public let reader: JobFileReader
    public private(set) var entries: [JobID: Entry] = [:]
    /// Problems with files whose name is not a valid job id (they have no entry).
    public private(set) var unnamed: [Diagnostic] = []
    /// How many files the last load read and parsed (the rest were unchanged), and their jobs.
    public private(set) var parsedAtLastLoad = 0
    public private(set) var readAtLastLoad: Set<JobID> = []
    /// How old (seconds) a file version must be to be trusted unchanged while its signature is
    /// (see ``FileSignature/isSettled(at:margin:)``). Tests lower it to see files of this instant
    /// as settled.
    public var settleMargin = 2

    public init(directory: String, reader: JobFileReader = JobFileReader()) {
        self.directory = directory
        self.reader = reader
    }

    /// The jobs that can run, sorted by id.
    public var jobs: [Job] { entries.keys.sorted().compactMap { entries[$0]?.job } }
    /// How many jobs can run, and how many files have problems (counted at each load, for the
    /// status line the loop sends after every event).
    public private(set) var jobCount = 0
    public private(set) var problemFileCount = 0
    /// Who follows whom (`on: { job: … }`) and the path triggers, among the jobs loaded.
    private(set) var triggers = TriggerGraph()

    /// The jobs a run of `job` that ended as `state` starts (`on: { job: …, states: … }`).
    func followers(of job: JobID, endedAs state: String) -> [JobID] { triggers.followers(of: job, endedAs: state) }

    /// The loaded jobs' path triggers.
    var pathTriggers: [JobID: Triggers] { triggers.paths }

    /// Every diagnostic of the last load.
    public var diagnostics: [Diagnostic] {
        unnamed + entries.keys.sorted().flatMap { entries[$0]?.diagnostics ?? [] }
    }

    /// Loads the directory again: reads and parses the files that are new or changed since the
    /// last load, keeps the entries of the others.
    ///
    /// - Parameter touched: the names of the files that may have changed (the watcher's), or nil to
    ///   look at every file. Other known files are kept without even a `stat`, unless the version
    ///   read was too recent to be trusted.
    /// - Returns: what changed, for logging.
    @discardableResult
    public mutating func reload(touched: Set<String>? = nil) -> [Change] {
        let paths: [String]
        switch JobFileReader.jobFiles(in: directory) {
        case .success(let found): paths = found
        case .failure(let problem):
            unnamed = problem.diagnostics
            return []
        }
        var next: [JobID: Entry] = [:]
        var files: [(id: JobID, path: String)] = []
        var seen: [JobID: String] = [:]
        unnamed = []
        for path in paths {
            let name = PathName.last(path)
            guard let id = JobParser.jobID(forFileName: name) else {
                unnamed.append(
                    Diagnostic(
                        file: path, line: 1, column: 1, message: "invalid job file name '\(name)'", hint: JobID.rule))
                continue
            }
            if let other = seen[id] {
                unnamed.append(
                    Diagnostic(
                        file: path, line: 1, column: 1, message: "job '\(id)' is already defined by \(other)",
                        hint: "keep one file per job id"))
                continue
            }
            seen[id] = path
            if let known = entries[id], known.file == path, let signature = known.signature,
                touched.map({ !$0.contains(name) }) ?? false || FileSignature.of(path) == signature
            {
                next[id] = known
            } else {
                files.append((id, path))
            }
        }
        var changes: [Change] = []
        let reader = reader
        let margin = settleMargin
        let loaded = files.concurrentMap { file in Self.load(file.path, reader: reader, margin: margin) }
        for (file, result) in zip(files, loaded) {
            let previous = entries[file.id]?.job
            switch result.outcome {
            case .success(let job):
                next[file.id] = Entry(file: file.path, job: job, diagnostics: [], signature: result.signature)
                if previous == nil {
                    changes.append(.added(file.id))
                } else if previous != job {
                    changes.append(.changed(file.id))
                }
            case .failure(let error):
                next[file.id] = Entry(
                    file: file.path, job: previous, diagnostics: error.diagnostics, signature: result.signature)
                changes.append(.invalid(file.id, keptPrevious: previous != nil))
            }
        }
        parsedAtLastLoad = files.count
        readAtLastLoad = Set(files.map(\.id))
        for id in entries.keys where next[id] == nil { changes.append(.removed(id)) }
        // Jobs that would start each other for ever (`on: { job: … }`) are not loaded.
        for cycle in Triggers.cycles(in: next.values.compactMap(\.job)) {
            for id in Set(cycle) {
                guard var entry = next[id], entry.job != nil else { continue }
                entry.job = nil
                entry.signature = nil
                entry.diagnostics.append(Triggers.cycleDiagnostic(cycle, file: entry.file))
                next[id] = entry
                changes.append(.invalid(id, keptPrevious: false))
            }
        }
        entries = next
        triggers = TriggerGraph(next.values.compactMap(\.job))
        jobCount = next.values.filter { $0.job != nil }.count
        problemFileCount = next.values.filter { !$0.diagnostics.isEmpty }.count + unnamed.count
        return changes
    }

    /// Reads and parses one file; the signature is kept only when the version read is settled.
    private static func load(
        _ path: String, reader: JobFileReader, margin: Int
    ) -> (outcome: Result<Job, JobFileError>, signature: FileSignature?) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        do {
            let (text, signature) = try reader.readSigned(path)
            let settled = signature.isSettled(at: now, margin: margin) ? signature : nil
            do {
                return (.success(try JobParser().parse(text, path: path)), settled)
            } catch {
                return (.failure(error), settled)
            }
        } catch {
            return (.failure(error), nil)
        }
    }

    /// One difference between two loads.
    public enum Change: Sendable, Hashable {
        case added(JobID)
        case changed(JobID)
        case removed(JobID)
        case invalid(JobID, keptPrevious: Bool)
    }
}
