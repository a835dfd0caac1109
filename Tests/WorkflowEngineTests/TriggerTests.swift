import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import RuntimeSupport
import Schedules
import Testing
import WorkflowTesting

@testable import WorkflowEngine
@testable import WorkflowStore

/// Triggers without a daemon: a webhook's checks, cycles among job triggers, and the scheduler's
/// decisions about triggers under each `concurrency:`.
@Suite struct TriggerTests {
    let t0 = Timestamp.parse("2026-01-01T00:00:30Z")!

    func job(_ yaml: String, name: String = "hook") throws -> Job {
        try JobParser().parse(yaml + "\nsteps: [{id: a, run: 'true'}]\n", path: "/j/\(name).yaml")
    }

    func signature(_ body: String, _ secret: String) -> String {
        "sha256="
            + SHA256.hmac(key: Array(secret.utf8), message: Array(body.utf8)).map { String(format: "%02x", $0) }
            .joined()
    }

    /// RFC 4231's second test case, and GitHub's documented example of X-Hub-Signature-256.
    @Test func hmacMatchesTheStandardsVectors() {
        let rfc = SHA256.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(
            rfc.map { String(format: "%02x", $0) }.joined()
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(
            signature("Hello, World!", "It's a Secret to Everybody")
                == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")
        #expect(SHA256.constantTimeEqual([1, 2, 3], [1, 2, 3]) && !SHA256.constantTimeEqual([1, 2, 3], [1, 2, 4]))
    }

    @Test func aDeliveryIsVerifiedSizedParsedAndFiltered() throws {
        let hooked = try job(
            """
            on:
              webhook:
                secret: s
                headers: [X-GitHub-Event]
                max_bytes: 200
                filter: ${{ trigger.payload.action == "published" }}
            """)
        let gate = WebhookGate(job: hooked, hook: try #require(hooked.triggers?.webhook))
        let body = #"{"action": "published", "release": {"tag_name": "v1"}}"#
        func check(_ body: String, _ headers: [String: String], secret: String? = "k") -> WebhookGate.Verdict {
            gate.check(headers: headers, body: Data(body.utf8), secret: secret, missing: "no credential")
        }
        let signed = [
            "x-hub-signature-256": signature(body, "k"), "x-github-delivery": "d-1", "x-github-event": "release",
            "authorization": "Bearer leak", "x-other": "dropped",
        ]
        guard case .accept(let payload, let headers, let delivery, let observed) = check(body, signed) else {
            Issue.record("a signed delivery is accepted")
            return
        }
        #expect(payload == JSONValue.parse(Data(body.utf8)))
        #expect(headers == ["x-github-event": "release"], "only the allowlist is passed on")
        #expect(delivery == "d-1" && observed == nil)

        var forged = signed
        forged["x-hub-signature-256"] = signature(body, "wrong")
        #expect(
            check(body, forged) == .refuse(status: 401, reason: "the signature in x-hub-signature-256 does not match"))
        forged["x-hub-signature-256"] = nil
        #expect(check(body, forged) == .refuse(status: 401, reason: "no x-hub-signature-256 header"))
        forged["x-hub-signature-256"] = "sha1=abc"
        #expect(check(body, forged) == .refuse(status: 401, reason: "x-hub-signature-256 does not start with sha256="))
        #expect(check(body, signed, secret: nil) == .refuse(status: 503, reason: "no credential"))
        let tampered = body.replacingOccurrences(of: "v1", with: "v2")
        #expect(
            check(tampered, signed)
                == .refuse(status: 401, reason: "the signature in x-hub-signature-256 does not match"))

        let big = #"{"action": "published", "pad": "\#(String(repeating: "x", count: 200))"}"#
        #expect(
            check(big, ["x-hub-signature-256": signature(big, "k")])
                == .refuse(
                    status: 413,
                    reason: "the payload is \(big.utf8.count) bytes; this webhook takes at most 200 (max_bytes)"))
        let notJSON = "action=published"
        #expect(
            check(notJSON, ["x-hub-signature-256": signature(notJSON, "k")])
                == .refuse(status: 400, reason: "the payload is not JSON (send Content-Type: application/json)"))
        let other = #"{"action": "created"}"#
        #expect(check(other, ["x-hub-signature-256": signature(other, "k")]) == .filtered("the filter is false"))
        let ping = #"{"zen": "Design for failure."}"#
        guard case .filtered(let why) = check(ping, ["x-hub-signature-256": signature(ping, "k")]) else {
            Issue.record("a payload the filter cannot read is filtered out")
            return
        }
        #expect(why.hasPrefix("the filter could not be decided"), "\(why)")
    }

    @Test func observeModeLetsThroughWhatEnforceWouldRefuseAndSaysWhy() throws {
        let hooked = try job("on: { webhook: { secret: s, verify: bearer, mode: observe } }")
        let gate = WebhookGate(job: hooked, hook: try #require(hooked.triggers?.webhook))
        let verdict = gate.check(
            headers: ["authorization": "Bearer nope"], body: Data("{}".utf8), secret: "token", missing: nil)
        #expect(
            verdict
                == .accept(
                    payload: .object([:]), headers: [:], delivery: nil, observed: "the bearer token does not match"))
        let good = gate.check(
            headers: ["authorization": "Bearer token"], body: Data("{}".utf8), secret: "token", missing: nil)
        #expect(good == .accept(payload: .object([:]), headers: [:], delivery: nil, observed: nil))
    }

    @Test func aGenericHmacHeaderTakesTheDigestWithOrWithoutItsPrefix() throws {
        let hooked = try job(
            "on: { webhook: { secret: s, verify: hmac, signature_header: X-Sig, delivery_header: X-Id } }")
        let gate = WebhookGate(job: hooked, hook: try #require(hooked.triggers?.webhook))
        let body = #"{"n": 1}"#
        let digest = String(signature(body, "k").dropFirst(7))
        for value in [digest, "sha256=" + digest, digest.uppercased()] {
            let verdict = gate.check(
                headers: ["x-sig": value, "x-id": "7"], body: Data(body.utf8), secret: "k", missing: nil)
            #expect(verdict == .accept(payload: .object(["n": .number(1)]), headers: [:], delivery: "7", observed: nil))
        }
        #expect(
            gate.check(headers: ["x-sig": "zz"], body: Data(body.utf8), secret: "k", missing: nil)
                == .refuse(status: 401, reason: "x-sig is not 64 hex digits"))
    }

    @Test func aCycleOfJobTriggersIsNotLoadedAndSaysWhy() throws {
        let dir = try TemporaryDirectory("trigger-cycle")
        try dir.write("jobs/a.yaml", "on: { job: c }\nsteps: [{id: s, run: 'true'}]\n")
        try dir.write("jobs/b.yaml", "on: { job: a }\nsteps: [{id: s, run: 'true'}]\n")
        try dir.write("jobs/c.yaml", "on: { job: b }\nsteps: [{id: s, run: 'true'}]\n")
        try dir.write("jobs/d.yaml", "on: { job: a, states: [failed] }\nsteps: [{id: s, run: 'true'}]\n")
        var catalog = JobCatalog(directory: dir.file("jobs"))
        catalog.reload()
        for name in ["a", "b", "c"] {
            let entry = try #require(catalog.entries[JobID(name)!])
            #expect(entry.job == nil)
            #expect(entry.diagnostics.map(\.message) == ["cycle of 'on: job' triggers: a -> c -> b -> a"])
        }
        #expect(catalog.entries[JobID("d")!]?.job != nil, "a job that only follows the cycle is loaded")
        try dir.write("jobs/c.yaml", "steps: [{id: s, run: 'true'}]\n")
        catalog.reload()
        #expect(catalog.jobCount == 4, "broken, the others load again: \(catalog.diagnostics)")
        #expect(catalog.followers(of: JobID("a")!, endedAs: "succeeded") == [JobID("b")!])
        #expect(catalog.followers(of: JobID("a")!, endedAs: "failed") == [JobID("d")!])
        #expect(catalog.followers(of: JobID("c")!, endedAs: "succeeded") == [JobID("a")!])
    }

    /// The inbox and the deliveries' records, on disk: taken back in the order triggers came, a
    /// delivery found by its id, and records older than the job's retention pruned.
    @Test func theInboxAndTheDeliveriesLiveOnDisk() throws {
        let dir = try TemporaryDirectory("trigger-inbox")
        let state = StateDirectory(root: dir.file("state"))
        let hook = JobID("hook")!
        for n in [3, 1, 2] as [UInt32] { try TriggerInbox.put(pending("hook", n), in: state) }
        try TriggerInbox.put(pending("other", 4), in: state)
        var damaged: [String] = []
        try dir.write("state/jobs/hook/inbox/broken.json", "{")
        let loaded = TriggerInbox.load(in: state) { path, _ in damaged.append(path) }
        #expect(loaded.map(\.sequence) == [1, 2, 3, 4], "oldest first, over every job")
        #expect(damaged == [dir.file("state/jobs/hook/inbox/broken.json")])
        #expect(TriggerInbox.holds(hook, pending("hook", 1).run, in: state))
        TriggerInbox.remove(hook, pending("hook", 1).run, in: state)
        #expect(!TriggerInbox.holds(hook, pending("hook", 1).run, in: state))

        try TriggerInbox.recordDelivery("old", run: pending("hook", 1).run, of: hook, in: state)
        try TriggerInbox.recordDelivery("new", run: pending("hook", 2).run, of: hook, in: state)
        #expect(TriggerInbox.delivery("old", of: hook, in: state) == pending("hook", 1).run)
        #expect(TriggerInbox.delivery("never", of: hook, in: state) == nil)
        let path = TriggerInbox.deliveryPath("old", hook, in: state)
        var times = [timeval(tv_sec: 1_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000, tv_usec: 0)]
        #expect(utimes(path, &times) == 0)
        #expect(TriggerInbox.pruneDeliveries(of: hook, olderThan: Date().addingTimeInterval(-86_400), in: state) == 1)
        #expect(TriggerInbox.delivery("old", of: hook, in: state) == nil)
        #expect(TriggerInbox.delivery("new", of: hook, in: state) == pending("hook", 2).run)
        TriggerInbox.forgetDelivery("new", of: hook, in: state)
        #expect(TriggerInbox.delivery("new", of: hook, in: state) == nil)
    }

    // MARK: - The scheduler's decisions

    /// A state with these job files loaded, as `SchedulerStateTests` makes one (at the same `t0`).
    func state(_ files: [String: String], active: [JobID: SchedulerState.ActiveRun] = [:]) throws -> SchedulerState {
        try SchedulerStateTests().state(files, active: active)
    }

    func pending(_ job: String, _ n: UInt32, kind: Trigger = .webhook) -> PendingTrigger {
        PendingTrigger(
            job: JobID(job)!, run: RunID.make(at: t0, suffix: n), sequence: UInt64(n), kind: kind,
            origin: TriggerOrigin(source: "POST /hooks/\(job)", delivery: "d\(n)", receivedAt: t0), payload: "{}")
    }

    /// Offers `trigger` and returns the actions and what its sender heard.
    func offer(_ state: inout SchedulerState, _ trigger: PendingTrigger) -> ([SchedulerAction], TriggerOutcome?) {
        let heard = Locked<TriggerOutcome?>(nil)
        let actions = state.handle(.triggered(trigger, reply: { outcome in heard.withLock { $0 = outcome } }), now: t0)
        for action in actions { if case .reply(let reply) = action { reply() } }
        return (actions, heard.withLock { $0 })
    }

    func starts(_ actions: [SchedulerAction]) -> [Firing] {
        actions.compactMap { if case .start(let firing, _, _, _) = $0 { firing } else { nil } }
    }

    func dropped(_ actions: [SchedulerAction]) -> [RunID] {
        actions.compactMap { if case .dropTrigger(let pending) = $0 { pending.run } else { nil } }
    }

    @Test func eachConcurrencyPolicyDecidesATriggerLikeAFireTime() throws {
        let old = RunID.make(at: t0, suffix: 999)
        let hook = JobID("hook")!
        func file(_ policy: String) -> [String: String] {
            ["hook.yaml": "concurrency: \(policy)\non: { webhook: { secret: s } }\nsteps: [{id: a, run: 'true'}]\n"]
        }
        // Nothing active: it starts, with its own run id and payload.
        var idle = try state(file("skip"))
        let (started, heard) = offer(&idle, pending("hook", 1))
        #expect(starts(started).map { $0.pending?.run } == [pending("hook", 1).run])
        #expect(heard == .started(pending("hook", 1).run))

        var skipping = try state(file("skip"), active: [hook: .init(run: old)])
        let (skipped, refusal) = offer(&skipping, pending("hook", 2))
        #expect(starts(skipped).isEmpty && dropped(skipped) == [pending("hook", 2).run])
        #expect(refusal == .refused("the previous run is still running (concurrency: skip)"))

        var queueing = try state(file("queue"), active: [hook: .init(run: old)])
        for n in 3...5 {
            let (actions, outcome) = offer(&queueing, pending("hook", UInt32(n)))
            #expect(starts(actions).isEmpty && dropped(actions).isEmpty)
            #expect(
                outcome
                    == .queued(
                        pending("hook", UInt32(n)).run, reason: "queued behind the active run (concurrency: queue)"))
        }
        #expect(queueing.planner.queuedCount == 3)
        let snapshot = RunSnapshot(
            job: try #require(queueing.catalog.entries[hook]?.job), id: old, trigger: .webhook, scheduledFor: nil,
            createdAt: t0)
        let next = starts(queueing.handle(.runEnded(hook, snapshot, latest: nil), now: t0))
        #expect(
            next.map { $0.pending?.run } == [pending("hook", 3).run], "queued triggers start in the order they came")

        var replacing = try state(file("cancel-previous"), active: [hook: .init(run: old)])
        _ = offer(&replacing, pending("hook", 6))
        let (replaced, outcome) = offer(&replacing, pending("hook", 7))
        #expect(replaced.contains { if case .cancel(hook, _) = $0 { true } else { false } })
        #expect(dropped(replaced) == [pending("hook", 6).run], "the trigger it pushed out of the queue is let go of")
        #expect(
            outcome
                == .queued(
                    pending("hook", 7).run,
                    reason: "starts once the active run has stopped (concurrency: cancel-previous)"))

        var gone = try state([:])
        let (_, missing) = offer(&gone, pending("hook", 8))
        #expect(missing == .refused("the job is not loaded, or disabled"))
    }

    @Test func aTriggerWhileStoppingStaysInTheInboxForTheNextWfd() throws {
        var state = try state(["hook.yaml": "on: { webhook: { secret: s } }\nsteps: [{id: a, run: 'true'}]\n"])
        _ = state.handle(.shutdown, now: t0)
        let (actions, outcome) = offer(&state, pending("hook", 1))
        #expect(starts(actions).isEmpty && dropped(actions).isEmpty)
        #expect(outcome == .queued(pending("hook", 1).run, reason: "wfd is stopping: the run starts when wfd is back"))
    }

    @Test func aRunEndingStartsItsFollowersInTheStatesTheyCountAndTriggersDoNotMoveTheScheduleMark() throws {
        var state = try state([
            "build.yaml": "schedule: '0 * * * * *'\nsteps: [{id: a, run: 'true'}]\n",
            "deploy.yaml": "on: { job: build }\nsteps: [{id: a, run: 'true'}]\n",
            "page.yaml": "on: { job: build, states: [failed, timed_out] }\nsteps: [{id: a, run: 'true'}]\n",
        ])
        let build = JobID("build")!
        var snapshot = RunSnapshot(
            job: try #require(state.catalog.entries[build]?.job), id: RunID.make(at: t0, suffix: 1), trigger: .schedule,
            scheduledFor: t0, createdAt: t0)
        for (end, expected) in [(RunState.succeeded, ["deploy"]), (.failed, ["page"]), (.cancelled, [])] {
            snapshot.run.state = end
            let actions = state.handle(.runEnded(build, snapshot, latest: nil), now: t0)
            let followers = actions.compactMap { if case .follow(_, let jobs) = $0 { jobs } else { nil } }.flatMap {
                $0
            }
            #expect(followers.map(\.rawValue) == expected, "\(end)")
        }
        _ = offer(&state, pending("deploy", 1, kind: .job))
        #expect(state.marks.lastFireTimes[JobID("deploy")!] == nil, "a trigger is no fire time: catch-up ignores it")
    }
}
