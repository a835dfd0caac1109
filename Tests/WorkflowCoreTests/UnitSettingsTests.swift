import Foundation
import JobFormat
import RunModel
import Testing

/// `executor:`, `sandbox:` and `resources:` in job files, and recovery of attempts whose units
/// outlived wfd.
@Suite struct UnitSettingsTests {
    let parser = JobParser()

    func problems(_ yaml: String) -> [String] {
        do {
            _ = try parser.parse(yaml, path: "/j/demo.yaml")
            return []
        } catch {
            return error.diagnostics.map {
                "\($0.line):\($0.column): \($0.message)" + ($0.hint.map { " (\($0))" } ?? "")
            }
        }
    }

    @Test func sandboxAndResourcesAtJobAndStepLevelAreReadAndMerged() throws {
        let job = try parser.parse(
            """
            executor: unit
            sandbox: { protect_system: strict, protect_home: true, read_write_paths: [/srv/backup, -/var/cache/x] }
            resources: { memory_max: 512M, cpu_quota: 50%, tasks_max: 64, io_weight: 200, nice: 5 }
            steps:
              - id: a
                run: "true"
                sandbox: { private_network: true, protect_system: full, dynamic_user: true, no_new_privileges: true }
                resources: { memory_max: 2G }
            """, path: "/j/demo.yaml")
        #expect(job.executor == .unit)
        #expect(job.sandbox?.value.protectSystem == "strict" && job.sandbox?.value.protectHome == "yes")
        #expect(job.sandbox?.value.readWritePaths == ["/srv/backup", "-/var/cache/x"])
        #expect(job.resources?.value.memoryMax == 512 << 20 && job.resources?.value.cpuQuota == 50)
        #expect(
            job.resources?.value.tasksMax == 64 && job.resources?.value.ioWeight == 200
                && job.resources?.value.nice == 5)
        let merged = try #require(job.sandbox?.value).overridden(by: job.steps[0].sandbox?.value)
        #expect(merged.protectSystem == "full" && merged.privateNetwork == true && merged.protectHome == "yes")
        #expect(merged.readWritePaths == ["/srv/backup", "-/var/cache/x"])
        let limits = try #require(job.resources?.value).overridden(by: job.steps[0].resources?.value)
        #expect(limits.memoryMax == 2 << 30 && limits.cpuQuota == 50)
        #expect(limits.lines == ["memory_max: 2G", "cpu_quota: 50%", "tasks_max: 64", "io_weight: 200", "nice: 5"])
        // The frozen spec keeps them.
        let data = try JSONEncoder().encode(job)
        #expect(try JSONDecoder().decode(Job.self, from: data) == job)
    }

    @Test func badSettingsAreReportedAtTheirPlaceWithTheFix() {
        let found = problems(
            """
            executor: docker
            sandbox: { protect_system: maybe, read_write_paths: [relative/dir, /a/../b], privat_tmp: true }
            resources: { memory_max: lots, cpu_quota: 50, nice: 40, tasks_max: 0 }
            steps:
              - id: a
                http: { url: "https://example.com" }
                resources: { memory_max: 1G }
            """)
        let expected = [
            "1:11: 'executor' must be one of",
            "2:28: 'protect_system' cannot be 'maybe' (one of true, false, full, strict",
            "2:54: 'read_write_paths' needs absolute paths without spaces or '..', not 'relative/dir'",
            "2:68: 'read_write_paths' needs absolute paths without spaces or '..', not '/a/../b'",
            "2:78: unknown key 'privat_tmp' in 'sandbox' (did you mean 'private_tmp'?)",
            "3:26: 'memory_max' must be a size like 512M or 2G",
            "3:43: 'cpu_quota' must be a percentage like 50% or 200%",
            "3:53: 'nice'",
            "3:68: 'tasks_max'",
            "7:16: 'resources' applies to a step's process; an http step runs inside wfd",
        ]
        for prefix in expected {
            #expect(found.contains { $0.hasPrefix(prefix) }, "\(prefix)… in \(found.joined(separator: "\n"))")
        }
        #expect(found.count == expected.count, "\(found.joined(separator: "\n"))")
    }

    @Test func sizesAreReadTheWaySystemdReadsThem() {
        #expect(ResourceSettings.parseBytes("4096") == 4096)
        #expect(ResourceSettings.parseBytes("64K") == 65536)
        #expect(ResourceSettings.parseBytes("1g") == 1 << 30)
        #expect(ResourceSettings.parseBytes(" 2T ") == 2 << 40)
        for bad in ["", "M", "0", "-1M", "1.5G", "12Q", "99999999999T"] {
            #expect(ResourceSettings.parseBytes(bad) == nil, "\(bad)")
        }
        #expect(ResourceSettings.bytes(64 << 20) == "64M" && ResourceSettings.bytes(1000) == "1000")
    }

    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func snapshot(_ steps: [(String, EffectClass?)]) throws -> RunSnapshot {
        let job = Job(
            id: JobID("demo")!,
            steps: steps.map { id, effect in
                var step = StepDefinition(id: StepID(id)!, run: "true")
                step.effect = effect
                return step
            })
        let fresh = RunSnapshot(
            job: job, id: RunID.make(at: t0, suffix: 7), trigger: .manual, scheduledFor: nil, createdAt: t0)
        return try RunMachine.apply(fresh, .start(at: t0)).0
    }

    @Test func anAttemptWhoseUnitOutlivedWfdStaysOpenAndIsFollowedNotRecovered() throws {
        let running = try snapshot([("kept", nil), ("lost", nil), ("again", .idempotent)])
        let (recovered, effects) = try RunMachine.apply(
            running, .recover(at: t0 + 5, survivors: [StepSlot(StepID("kept")!)]))
        let kept = try #require(recovered.step(StepID("kept")!))
        #expect(kept.state == .running && kept.attempts.count == 1 && kept.attempts[0].endedAt == nil)
        #expect(effects.contains(.reattach(StepID("kept")!, attempt: 1)))
        // The others as before: an effectful one waits for a person, an idempotent one runs again.
        #expect(recovered.step(StepID("lost")!)?.state == .interrupted)
        #expect(effects.contains(.spawn(StepID("again")!, attempt: 2)))
        #expect(recovered.run.state == .running, "the run goes on while the followed step runs")

        // Its end, when it comes, is recorded like any other (from the unit's real start).
        var result = AttemptResult(outcome: .failed, exitCode: 7, error: "exited with status 7")
        result.startedAt = t0 + 0.25
        result.unit = "wfd-demo:x:kept:1.service"
        let (ended, _) = try RunMachine.apply(recovered, .attemptEnded(StepID("kept")!, result, at: t0 + 20))
        let attempt = try #require(ended.step(StepID("kept")!)?.attempts.first)
        #expect(attempt.exitCode == 7 && attempt.unit == result.unit && attempt.startedAt == t0 + 0.25)
        #expect(attempt.durationMilliseconds == 19_750)
    }

    @Test func aRunBeingCancelledWhenWfdDiedStopsItsFollowedSteps() throws {
        var running = try snapshot([("kept", nil)])
        running = try RunMachine.apply(running, .launch(StepID("kept")!, attempt: 1, at: t0)).0
        running = try RunMachine.apply(running, .cancel(reason: "by hand", at: t0 + 1)).0
        // On disk a running attempt has no start time yet (it is written with its end).
        running.steps[0].attempts[0].startedAt = nil
        let (recovered, effects) = try RunMachine.apply(
            running, .recover(at: t0 + 5, survivors: [StepSlot(StepID("kept")!)]))
        #expect(effects.contains(.reattach(StepID("kept")!, attempt: 1)))
        #expect(effects.contains(.terminate(StepID("kept")!)), "followed, then stopped")
        #expect(!recovered.run.state.isTerminal, "it ends once the unit has stopped")
    }
}
