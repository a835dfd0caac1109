import Foundation
import JobFormat
import RunModel
import RuntimeSupport

/// A status report as JSON, byte for byte what `RecordJSON.encode(report)` writes, with each
/// job's part kept while the job's status stays the same. At 10,000 jobs the encoding is most of
/// what `wfctl status --json` and `GET /api/v1/jobs` cost (67 % of wfd's time, 7 MB of JSON);
/// between two changes of a job, its part is copied, not encoded again. What it keeps: each
/// job's status (its strings shared with the report's) and its bytes.
public final class StatusEncoder: Sendable {
    private let parts = Locked<[JobID: (status: StatusReport.JobStatus, bytes: [UInt8])]>([:])

    public init() {}

    /// How the `jobs` member of an encoded report looks when it is empty (the report's members
    /// are two spaces deep, the jobs four).
    static let emptyJobs = Array("\n  \"jobs\" : [\n\n  ]".utf8)

    public func encode(_ report: StatusReport) throws -> Data {
        var shell = report
        shell.jobs = []
        let head = try RecordJSON.encode(shell)
        guard let range = Self.find(Self.emptyJobs, in: head) else { return try RecordJSON.encode(report) }
        let known = parts.withLock { $0 }
        var fresh: [JobID: (status: StatusReport.JobStatus, bytes: [UInt8])] = [:]
        var out: [UInt8] = []
        out.reserveCapacity(head.count + report.jobs.count * 800)
        out += head[..<range.lowerBound]
        out += Array("\n  \"jobs\" : [\n".utf8)
        for (position, job) in report.jobs.enumerated() {
            if position > 0 { out += [UInt8(ascii: ","), UInt8(ascii: "\n")] }
            out += [UInt8](repeating: UInt8(ascii: " "), count: 4)
            if let kept = known[job.job], kept.status == job {
                out += kept.bytes
                fresh[job.job] = kept
            } else {
                let bytes = try RecordJSON.encode(job, indent: 4)
                out += bytes
                fresh[job.job] = (job, bytes)
            }
        }
        out += Array("\n  ]".utf8)
        out += head[range.upperBound...]
        // Jobs that are gone are forgotten.
        parts.withLock { $0 = fresh }
        return Data(out)
    }

    static func find(_ needle: [UInt8], in haystack: Data) -> Range<Int>? {
        let bytes = [UInt8](haystack)
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if bytes[start..<(start + needle.count)].elementsEqual(needle) { return start..<(start + needle.count) }
        }
        return nil
    }
}
