import Foundation
import WorkflowCore

/// The jobs loaded from a `jobs.d` directory, with the problems of the files that did not load.
///
/// A file that becomes invalid keeps its last valid version scheduled, like a server that keeps its
/// old configuration on a bad reload; its diagnostics are kept beside it so they can be shown. A
/// new invalid file has an entry with no job: it is shown as invalid and never runs.
public struct JobCatalog: Sendable {
    /// What became of one file at the last load.
    public struct Entry: Sendable {
        public var file: String
        /// The job that runs: the file's current version when valid, else its last valid one.
        public var job: Job?
        public var diagnostics: [Diagnostic]
    }

    public let directory: String
    public let reader: JobFileReader
    public private(set) var entries: [JobID: Entry] = [:]
    /// Problems with files whose name is not a valid job id (they have no entry).
    public private(set) var unnamed: [Diagnostic] = []

    public init(directory: String, reader: JobFileReader = JobFileReader()) {
        self.directory = directory
        self.reader = reader
    }

    /// The jobs that can run, sorted by id.
    public var jobs: [Job] { entries.keys.sorted().compactMap { entries[$0]?.job } }

    /// Every diagnostic of the last load.
    public var diagnostics: [Diagnostic] {
        unnamed + entries.keys.sorted().flatMap { entries[$0]?.diagnostics ?? [] }
    }

    /// The job files of `directory`, sorted, or the reason it cannot be listed.
    public static func jobFiles(in directory: String) -> Result<[String], JobFileError> {
        do {
            let names = try FileManager.default.contentsOfDirectory(atPath: directory)
            return .success(names.filter(JobParser.isJobFileName).sorted().map { "\(directory)/\($0)" })
        } catch {
            return .failure(
                JobFileError([
                    Diagnostic(
                        file: directory, line: 0, column: 0,
                        message: "cannot read the jobs directory: \(error.localizedDescription)",
                        hint: "create it, or point wfd at another one with --jobs")
                ]))
        }
    }

    /// Reads every job file in the directory again.
    ///
    /// - Returns: what changed, for logging.
    @discardableResult
    public mutating func reload() -> [Change] {
        let paths: [String]
        switch Self.jobFiles(in: directory) {
        case .success(let found): paths = found
        case .failure(let problem):
            unnamed = problem.diagnostics
            return []
        }
        var next: [JobID: Entry] = [:]
        var changes: [Change] = []
        unnamed = []
        for path in paths {
            let name = (path as NSString).lastPathComponent
            guard let id = JobParser.jobID(forFileName: name) else {
                unnamed.append(
                    Diagnostic(
                        file: path, line: 1, column: 1, message: "invalid job file name '\(name)'", hint: JobID.rule))
                continue
            }
            if let other = next[id] {
                unnamed.append(
                    Diagnostic(
                        file: path, line: 1, column: 1, message: "job '\(id)' is already defined by \(other.file)",
                        hint: "keep one file per job id"))
                continue
            }
            let previous = entries[id]?.job
            do {
                let job = try reader.load(path)
                next[id] = Entry(file: path, job: job, diagnostics: [])
                if previous == nil {
                    changes.append(.added(id))
                } else if previous != job {
                    changes.append(.changed(id))
                }
            } catch {
                next[id] = Entry(file: path, job: previous, diagnostics: error.diagnostics)
                changes.append(.invalid(id, keptPrevious: previous != nil))
            }
        }
        for id in entries.keys where next[id] == nil { changes.append(.removed(id)) }
        entries = next
        return changes
    }

    /// One difference between two loads.
    public enum Change: Sendable, Equatable {
        case added(JobID)
        case changed(JobID)
        case removed(JobID)
        case invalid(JobID, keptPrevious: Bool)
    }
}
