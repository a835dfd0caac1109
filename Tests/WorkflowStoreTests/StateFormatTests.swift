import Foundation
import RuntimeSupport
import Testing
import WorkflowStore
import WorkflowTesting

/// The state directory's format: stamped, upgraded in place step by step (resumable), and a
/// newer one refused rather than misread.
@Suite struct StateFormatTests {
    func format(_ state: StateDirectory) throws -> StateFormat {
        try RecordFile.read(StateFormat.self, from: state.formatFile)
    }

    @Test func aNewDirectoryIsTheCurrentFormatAndOneFromBeforeTheFileIsUpgradedFromFormatOne() throws {
        let dir = try TemporaryDirectory("format-new")
        let fresh = StateDirectory(root: dir.file("fresh"))
        try RecordFile.makeDirectory(fresh.root)
        #expect(try StateFormat.prepare(fresh, writtenBy: "wfd test").isEmpty)
        #expect(try format(fresh) == StateFormat(format: StateFormat.current, writtenBy: "wfd test"))

        let old = StateDirectory(root: dir.file("old"))
        try dir.write("old/jobs/tick/latest.json", "{}")
        #expect(try StateFormat.prepare(old, writtenBy: "wfd test") == Array(2...StateFormat.current))
        #expect(try format(old).format == StateFormat.current)
        #expect(try String(contentsOfFile: dir.file("old/jobs/tick/latest.json"), encoding: .utf8) == "{}")
        #expect(try StateFormat.prepare(old, writtenBy: "wfd later").isEmpty, "a second start changes nothing")
        #expect(try format(old).writtenBy == "wfd test")
    }

    /// Format 2's migration: the jobs' indexes, merged into one in the order the runs ended,
    /// each run once as it ended last (a retried run has two lines in its job's index).
    @Test func theUpgradeToFormatTwoMergesTheJobsIndexesInTheOrderRunsEnded() throws {
        let dir = try TemporaryDirectory("format-two")
        let state = StateDirectory(root: dir.file("state"))
        func line(_ job: String, _ id: String, _ state: String, ended: String) -> String {
            #"{"job":"\#(job)","id":"\#(id)","state":"\#(state)","trigger":"schedule","ended_at":"\#(ended)"}"#
        }
        try dir.write(
            "state/jobs/alpha/runs.jsonl",
            [
                line("alpha", "20261201T000000.000Z-aaaaaa", "failed", ended: "2026-12-01T00:00:05Z"),
                line("alpha", "20261201T000200.000Z-cccccc", "succeeded", ended: "2026-12-01T00:02:05Z"),
                // the first run, retried, ended again last
                line("alpha", "20261201T000000.000Z-aaaaaa", "succeeded", ended: "2026-12-01T00:09:00Z"),
                #"{"job":"alpha","id":"torn"#,
            ].joined(separator: "\n") + "\n")
        try dir.write(
            "state/jobs/beta/runs.jsonl",
            line("beta", "20261201T000100.000Z-bbbbbb", "failed", ended: "2026-12-01T00:01:05Z") + "\n")
        try StateFormat.prepare(state, writtenBy: "wfd test", current: 2)
        var merged: [RunIndex.Entry] = []
        IndexScan(path: RunHistory(directory: state).path).backwards { entry, _ in
            merged.insert(entry, at: 0)
            return true
        }
        #expect(
            merged.map(\.id.rawValue) == [
                "20261201T000100.000Z-bbbbbb", "20261201T000200.000Z-cccccc", "20261201T000000.000Z-aaaaaa",
            ])
        #expect(merged.map(\.state) == [.failed, .succeeded, .succeeded], "the retried run as it ended last")
    }
}
