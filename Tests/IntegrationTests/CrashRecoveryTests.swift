import Foundation
import JobFormat
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// wfd is killed with SIGKILL at random moments while multi-step jobs run, and restarted each
/// time; the steps write every execution to marker files, so the test can hold the records
/// against what really ran.
@Suite(.serialized) struct CrashRecoveryTests {
    /// Every step appends "<run> <step> <attempt>" to marks/started when it begins and to
    /// marks/ended when it is done, and sleeps 10-90 ms in between.
    static func step(_ id: String, needs: [String] = [], effect: String, more: [String] = [], fail: Bool = false)
        -> String
    {
        let mark = "echo \"$WF_RUN_ID $WF_STEP${WF_ITEM_INDEX:+#$WF_ITEM_INDEX} $WF_ATTEMPT\""
        let failFirst = fail ? "[ \"$WF_ATTEMPT\" -gt 1 ] || exit 3; " : ""
        var lines = [
            "  - id: \(id)",
            "    run: \(mark) >> \"$MARKS/started\"; \(failFirst)sleep 0.0$(( $$ % 9 + 1 )); \(mark) >> \"$MARKS/ended\"",
            "    effect: \(effect)",
        ]
        if !needs.isEmpty { lines.append("    needs: [\(needs.joined(separator: ", "))]") }
        return (lines + more).joined(separator: "\n") + "\n"
    }

    /// Four jobs firing every second: a chain, a fan-in, a step that fails once and retries, and
    /// a fan-out over an earlier output (for_each).
    static func jobs(marks: String, enabled: Bool) -> [String: String] {
        let head = "schedule: \"* * * * * *\"\nenabled: \(enabled)\nenv: { MARKS: \(marks) }\nsteps:\n"
        return [
            "chain.yaml": head + step("fetch", effect: "pure") + step("charge", needs: ["fetch"], effect: "effectful")
                + step("report", needs: ["charge"], effect: "idempotent"),
            "fan.yaml": head + step("left", effect: "idempotent") + step("right", effect: "pure")
                + step("merge", needs: ["left", "right"], effect: "effectful"),
            "flaky.yaml": head
                + step("call", effect: "idempotent", more: ["    retry: { attempts: 3, delay: 200ms }"], fail: true)
                + step("after", needs: ["call"], effect: "pure"),
            "items.yaml": head.replacingOccurrences(of: "steps:", with: "max_parallel: 2\nsteps:")
                + "  - id: list\n    effect: pure\n    output: json\n    run: echo '[1, 2, 3, 4]'\n"
                + step(
                    "each", needs: ["list"], effect: "effectful", more: ["    for_each: ${{ steps.list.output }}"]),
        ]
    }

    struct Mark: Hashable {
        let run: String
        let step: String
        let attempt: Int
    }

    func marks(_ file: String) -> [Mark] {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 3, let attempt = Int(parts[2]) else { return nil }
            return Mark(run: String(parts[0]), step: String(parts[1]), attempt: attempt)
        }
    }

    @Test func killingWfdAtRandomNeverLosesARecordOrRepeatsFinishedWork() async throws {
        let kills = Int(ProcessInfo.processInfo.environment["WFD_CRASH_KILLS"] ?? "") ?? 50
        let dir = try TemporaryDirectory("crash")
        let marksDirectory = dir.file("marks")
        try FileManager.default.createDirectory(atPath: marksDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        for (name, text) in Self.jobs(marks: marksDirectory, enabled: true) { try dir.write("jobs/\(name)", text) }

        var generator = SystemRandomNumberGenerator()
        for _ in 0..<kills {
            let daemon = try await TestDaemon.start(dir)
            try await Task.sleep(for: .milliseconds(Int.random(in: 20...700, using: &generator)))
            daemon.process.send(SIGKILL)
            _ = await daemon.process.waitForExit()
        }

        // No new fire times; the last start recovers what is left and runs it to its end.
        for (name, text) in Self.jobs(marks: marksDirectory, enabled: false) { try dir.write("jobs/\(name)", text) }
        let daemon = try await TestDaemon.start(dir)
        let state = StateDirectory(root: daemon.state)
        let store = RunStore(directory: state)
        let jobs = ["chain", "fan", "flaky", "items"].compactMap(JobID.init)
        let settled = await eventually(timeout: .seconds(60)) {
            jobs.allSatisfy { (try? store.loadLatest($0))?.active == nil }
        }
        #expect(settled, "every recovered run ends")
        await daemon.process.stop()
        try await Task.sleep(for: .milliseconds(300))  // steps orphaned by the last kill finish writing marks

        var runs = 0
        var interrupted = 0
        var recoveredAttempts = 0
        let started = marks("\(marksDirectory)/started")
        var startedBy: [String: [Mark]] = [:]
        for mark in started { startedBy["\(mark.run)/\(mark.step)", default: []].append(mark) }
        #expect(Set(started).count == started.count, "no attempt was spawned twice")

        for job in jobs {
            for run in store.runIDs(job) {
                guard FileManager.default.fileExists(atPath: state.runRecord(job, run)) else {
                    // wfd died after freezing the definition and before the run began: nothing ran.
                    #expect(!started.contains { $0.run == run.rawValue }, "\(run) ran without a record")
                    continue
                }
                let snapshot = try store.loadSnapshot(job, run)
                runs += 1
                #expect(snapshot.run.state.isTerminal, "\(run) is \(snapshot.run.state)")
                if snapshot.run.interrupted == true { interrupted += 1 }
                for step in snapshot.steps.flatMap({ [$0] + ($0.items ?? []) }) {
                    let definition = try #require(snapshot.spec.steps.first { $0.id == step.step })
                    let name = step.item.map { "\(step.step)#\($0)" } ?? step.step.rawValue
                    let ran = startedBy["\(run)/\(name)"] ?? []
                    for mark in ran {
                        #expect(
                            mark.attempt <= step.attempts.count,
                            "\(run) \(step.step) attempt \(mark.attempt) ran with no intent on disk")
                    }
                    if step.state == .succeeded, let done = step.attempts.last?.number {
                        #expect(ran.allSatisfy { $0.attempt <= done }, "\(run) \(step.step) ran after it succeeded")
                    }
                    let outcomes = step.attempts.map(\.outcome)
                    recoveredAttempts += outcomes.filter { $0 == .interrupted }.count
                    if (definition.effect ?? definition.defaultEffect) == .effectful {
                        #expect(ran.count <= 1, "\(run) \(step.step) is effectful and ran \(ran.count) times")
                        #expect(
                            outcomes.dropLast().allSatisfy { $0 != .interrupted },
                            "\(run) \(step.step) was re-run after an interruption without wfctl retry")
                    }
                    #expect(step.state.isTerminal, "\(run) \(step.step) is \(step.state)")
                }
            }
        }
        let files = FileManager.default.enumerator(atPath: daemon.state)?.compactMap { $0 as? String } ?? []
        for file in files where file.hasSuffix(".json") {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(daemon.state)/\(file)"))
            #expect((try? JSONSerialization.jsonObject(with: data)) != nil, "\(file) parses")
        }
        #expect(!files.contains { $0.contains(".corrupt-") }, "no record was found corrupt")
        #expect(runs >= kills / 2, "the workload ran (\(runs) runs)")
        #expect(recoveredAttempts > 0, "some kills caught a step running")
        #expect(started.contains { $0.step.hasPrefix("each#") }, "for_each items ran")
        print("crash test: \(kills) kills, \(runs) runs, \(interrupted) interrupted, \(recoveredAttempts) attempts cut")
    }
}
