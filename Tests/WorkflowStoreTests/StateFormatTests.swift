import Foundation
import JobFormat
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
        // beta's line is from before lines named their job.
        try dir.write(
            "state/jobs/beta/runs.jsonl",
            line("beta", "20261201T000100.000Z-bbbbbb", "failed", ended: "2026-12-01T00:01:05Z")
                .replacingOccurrences(of: #""job":"beta","#, with: "") + "\n")
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
        #expect(merged.map(\.job) == [JobID("beta"), JobID("alpha"), JobID("alpha")], "each line names its job")
    }

    @Test func aDirectoryOfANewerFormatIsRefusedSayingWhoWroteItAndWhatToDo() throws {
        let dir = try TemporaryDirectory("format-newer")
        let state = StateDirectory(root: dir.file("state"))
        try RecordFile.makeDirectory(state.root)
        try RecordFile.write(StateFormat(format: StateFormat.current + 1, writtenBy: "wfd 9.0.0"), to: state.formatFile)
        #expect {
            try StateFormat.prepare(state, writtenBy: "wfd test")
        } throws: { error in
            let text = "\(error)"
            return text.contains("format \(StateFormat.current + 1), written by wfd 9.0.0")
                && text.contains("reads formats up to \(StateFormat.current)") && text.contains("--state")
        }
        #expect(try format(state).format == StateFormat.current + 1, "left as it was")
    }

    @Test func aDamagedFormatFileIsRefusedNamingTheFileAndTheFix() throws {
        let dir = try TemporaryDirectory("format-damaged")
        try dir.write("state/format.json", "{\"format\": ")
        let state = StateDirectory(root: dir.file("state"))
        #expect {
            try StateFormat.prepare(state, writtenBy: "wfd test")
        } throws: { error in
            "\(error)".contains(state.formatFile) && "\(error)".contains(#"{"format": 1"#)
        }
        // The fix it suggests works: a file written by hand is read (and format 1 upgraded).
        try dir.write("state/format.json", #"{"format": 1, "written_by": "by hand"}"#)
        #expect(try StateFormat.prepare(state, writtenBy: "wfd test") == Array(2...StateFormat.current))
        // A file wfd wrote whose checksum does not hold is refused.
        try RecordFile.write(StateFormat(format: 1, writtenBy: "wfd test"), to: state.formatFile)
        let sealed = try String(contentsOfFile: state.formatFile, encoding: .utf8)
        try dir.write("state/format.json", sealed.replacingOccurrences(of: "wfd test", with: "wfd tesT"))
        #expect(throws: StateFormat.Refusal.self) { try StateFormat.prepare(state, writtenBy: "wfd test") }
    }

    /// Migrations 1 → 2 → 3, the second failing once as if wfd were killed in it: the directory
    /// stays at format 2, and the next start finishes from there without running the first again.
    @Test func anUpgradeRunsEachMigrationOnceAndResumesWhereItStopped() throws {
        let dir = try TemporaryDirectory("format-upgrade")
        let state = StateDirectory(root: dir.file("state"))
        try dir.write("state/jobs/tick/latest.json", "{}")  // a directory from before format.json
        let ran = Locked<[Int]>([])
        let failNext = Locked(true)
        struct Killed: Error {}
        let migrations = [
            StateFormat.Migration(from: 1, what: "one") { _ in ran.withLock { $0.append(1) } },
            StateFormat.Migration(from: 2, what: "two") { _ in
                ran.withLock { $0.append(2) }
                if failNext.withLock({ $0 }) {
                    failNext.withLock { $0 = false }
                    throw Killed()
                }
            },
        ]
        #expect {
            try StateFormat.prepare(state, writtenBy: "wfd test", current: 3, migrations: migrations)
        } throws: { "\($0)".contains("at format 2 (two)") && "\($0)".contains("the next start tries again") }
        #expect(try format(state).format == 2)
        #expect(try StateFormat.prepare(state, writtenBy: "wfd test", current: 3, migrations: migrations) == [3])
        #expect(try format(state).format == 3)
        #expect(ran.withLock { $0 } == [1, 2, 2])
    }
}
