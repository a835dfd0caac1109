import Foundation
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// The state directory on a small tmpfs that fills up while a run is in the middle: wfd says so,
/// keeps every record whole, waits at the write it could not make, and goes on once there is space.
/// Mounting needs root (CI runs as root).
@Suite(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"))
struct FullDiskTests {
    @Test func aFullStateDirectoryPausesTheRunWithoutLosingOrTearingARecordAndItGoesOnWithSpace() async throws {
        let dir = try TemporaryDirectory("fulldisk")
        let state = dir.file("state")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        let mounted = try await runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", state])
        try #require(mounted.status == 0, "\(mounted.output)")
        defer { umount2(state, Int32(MNT_DETACH)) }  // a lazy unmount: a syscall, nothing to wait for

        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        try dir.write(
            "jobs/fill.yaml",
            """
            steps:
              - id: before
                run: echo before >> "$OUT/marks"
              - id: hold
                run: while [ ! -e "$OUT/go" ]; do sleep 0.05; done; echo held
                needs: [before]
              - id: after
                run: echo after >> "$OUT/marks"
                needs: [hold]
            env: { OUT: \(dir.path) }
            """)
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let started = try await runProgram(wfctl, ["run", "fill", "--state", state])
        #expect(started.status == 0, "\(started.output)")
        let store = RunStore(directory: StateDirectory(root: state))
        let job = JobID("fill")!
        var run: RunID?
        #expect(
            await eventually(timeout: .seconds(30)) {
                run = store.runIDs(job).last
                return run.flatMap { try? store.loadStep(job, $0, StepID("hold")!) }?.state == .running
            }, "the run reaches its holding step")
        let runID = try #require(run)

        // Fill the file system to the last byte, then let the holding step end.
        let filled = try await runProgram("/bin/sh", ["-c", "dd if=/dev/zero of='\(state)/filler' bs=64k 2>&1; true"])
        #expect(filled.output.contains("No space left on device"), "\(filled.output)")
        try dir.write("go", "")
        #expect(
            await eventually(timeout: .seconds(30)) {
                ((try? String(contentsOfFile: dir.file("wfd.log"), encoding: .utf8)) ?? "").contains(
                    "the state directory is full")
            }, "wfd says what is wrong")
        try await Task.sleep(for: .seconds(2))

        // While full: wfd is up, the holding step ended but could not be recorded, so nothing after
        // it ran; every record reads whole (the last version written), no temporary file is left.
        #expect(isAlive(daemon.process.pid))
        #expect(try String(contentsOfFile: dir.file("marks"), encoding: .utf8) == "before\n")
        #expect(try store.loadRun(job, runID).state == .running)
        #expect(try store.loadStep(job, runID, StepID("before")!).state == .succeeded)
        #expect(try store.loadStep(job, runID, StepID("hold")!).state == .running)
        let leftovers = (FileManager.default.enumerator(atPath: state)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")
        let status = try await runProgram(wfctl, ["status", "--state", state])
        #expect(status.status == 0, "wfctl answers while the disk is full: \(status.output)")

        // Space returns: the run goes on from where it waited and ends; nothing ran twice.
        try FileManager.default.removeItem(atPath: "\(state)/filler")
        var ended: RunRecord?
        #expect(
            await eventually(timeout: .seconds(30)) {
                ended = try? store.loadRun(job, runID)
                return ended?.state.isTerminal == true
            })
        #expect(ended?.state == .succeeded, "\(String(describing: ended))")
        #expect(try String(contentsOfFile: dir.file("marks"), encoding: .utf8) == "before\nafter\n")
        #expect(try store.loadStep(job, runID, StepID("hold")!).attempts.count == 1)
        let log = (try? String(contentsOfFile: dir.file("wfd.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("space in the state directory is back"), "\(log.suffix(2000))")
    }
}
