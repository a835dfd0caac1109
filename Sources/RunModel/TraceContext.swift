import Foundation
import JobFormat

/// A run's OpenTelemetry trace: its id (kept in the run record) and the ids of its spans, each
/// worked out from the trace id and what the span stands for, so that a wfd that takes the run up
/// after a restart names the same spans as the one before it, and a step knows its span id when
/// it is launched (for `traceparent`) without asking anyone.
public struct TraceContext: Sendable, Equatable {
    /// 32 lower-case hex digits.
    public let traceID: String

    public init(traceID: String) { self.traceID = traceID }

    /// A new, random trace id.
    public static func newTraceID() -> String {
        var generator = SystemRandomNumberGenerator()
        return hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// The trace id of a run recorded before runs kept one: worked out from its job and id.
    public static func derivedTraceID(job: JobID, run: RunID) -> String {
        hex(SHA256.digest(Array("wfd trace \(job)/\(run)".utf8)).prefix(16))
    }

    /// The run's root span; `episode` counts the run's `wfctl retry`s (each takes it up anew).
    public func rootSpanID(episode: Int) -> String { spanID("run", String(episode)) }

    /// The span of attempt `attempt` of `step` (item `item` of a `for_each` step).
    public func attemptSpanID(step: StepID, item: Int?, attempt: Int) -> String {
        spanID("attempt", step.rawValue, item.map(String.init) ?? "-", String(attempt))
    }

    /// The span of the `call`th model call (from 0) of that attempt.
    public func callSpanID(step: StepID, item: Int?, attempt: Int, call: Int) -> String {
        spanID("call", step.rawValue, item.map(String.init) ?? "-", String(attempt), String(call))
    }

    /// The span of an agent's tool call (its id in the transcript), run by that attempt.
    public func toolSpanID(step: StepID, item: Int?, attempt: Int, call: String) -> String {
        spanID("tool", step.rawValue, item.map(String.init) ?? "-", String(attempt), call)
    }

    /// The W3C `traceparent` header that makes `span` the parent (sampled).
    public func traceparent(span: String) -> String { "00-\(traceID)-\(span)-01" }

    func spanID(_ parts: String...) -> String {
        let digest = SHA256.digest(Array(([traceID] + parts).joined(separator: "\u{1f}").utf8))
        // An all-zero span id is invalid; a digest starting with eight zero bytes is not a concern.
        return Self.hex(digest.prefix(8))
    }

    static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension RunRecord {
    /// The run's trace: the id it keeps, or (a record from before) one worked out from its id.
    public var trace: TraceContext {
        TraceContext(traceID: traceID ?? TraceContext.derivedTraceID(job: job, run: id))
    }

    /// How many times `wfctl retry` took the run up: its root span's episode.
    public var episode: Int { retries?.count ?? 0 }
}
