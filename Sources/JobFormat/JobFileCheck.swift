import Foundation

/// A job file checked: whether it is valid, the job it defines, and every problem with its line
/// and column. What `wfctl validate --json` prints for each file and `POST /api/v1/validate`
/// answers.
public struct JobFileCheck: Sendable, Codable, Equatable {
    public var file: String
    public var job: String?
    public var valid: Bool
    public var diagnostics: [Diagnostic]

    public init(file: String, job: String? = nil, valid: Bool, diagnostics: [Diagnostic]) {
        (self.file, self.job, self.valid, self.diagnostics) = (file, job, valid, diagnostics)
    }

    /// `text` checked as the job file `file` (whose name gives the job id).
    public static func check(_ text: String, file: String) -> JobFileCheck {
        do {
            let job = try JobParser().parse(text, path: file)
            return JobFileCheck(file: file, job: job.id.rawValue, valid: true, diagnostics: [])
        } catch {
            let id = JobParser.jobID(forFileName: PathName.last(file))?.rawValue
            return JobFileCheck(file: file, job: id, valid: false, diagnostics: error.diagnostics)
        }
    }
}
