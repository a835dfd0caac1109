import Foundation
import JSONSchemaKit
import JobFormat
import RunModel
import Testing
import WorkflowStore
import WorkflowTesting

#if canImport(Glibc)
    import Glibc
#endif

/// The shipped `jobs.d/release-aftermath.yaml` end to end (enabled, its params' defaults pointed at
/// loopback stand-ins for the code host, Canny and the model, as an operator points them at their
/// services): GitHub's signed `release` delivery through wfd-web starts it (a redelivery and a
/// forged one start nothing, a `created` release is filtered out) → commits → a model matches them to GitHub issues and
/// Canny posts (one answer off-schema, repaired) → a person approves with `wfctl approve` → each
/// item is closed exactly once, where it lives (routed by `when: ${{ item.source == … }}`), although
/// wfd is killed in the middle of the loop → release notes written. Then every file and every
/// output is searched for the three secrets the job used.
@Suite struct ReleaseAftermathTests {
    let secrets = [
        "github_token": "ghp_PLANTEDgithubSecret0123456789",
        "tracker_token": "trk_PLANTEDtrackerSecret0123456789",
        "openai_key": "sk-PLANTEDopenaiSecret0123456789",
    ]
    /// Three GitHub issues and three Canny posts, interleaved.
    let tasks = [
        ("github", "41"), ("canny", "T-4"), ("github", "42"), ("canny", "T-5"), ("github", "43"), ("canny", "T-6"),
    ]

    var scenario: String {
        let commits = tasks.enumerated().map { index, task in
            #"{"sha": "c0ffee\#(index)", "commit": {"message": "Finish \#(task.1)"}}"#
        }.joined(separator: ", ")
        let items = tasks.enumerated().map { index, task in
            #"{"source": "\#(task.0)", "id": "\#(task.1)", "commit": "c0ffee\#(index)"}"#
        }.joined(separator: ", ")
        return """
            {"routes": [
              {"method": "GET", "path": "/repos/acme/tolaria/commits", "responses": [{"json": [\(commits)]}]},
              {"method": "POST", "path": "/v1/chat/completions", "responses": [
                {"openai": {"content": "Here are the matches: T-1, T-2", "prompt_tokens": 300, "completion_tokens": 20}},
                {"openai": {"content": {"items": [\(items)]}, "prompt_tokens": 380, "completion_tokens": 150}},
                {"openai": {"content": "v1.4 closes six tasks.", "prompt_tokens": 200, "completion_tokens": 12}}
              ]},
              {"method": "PATCH", "path": "/repos/acme/tolaria/issues/[0-9]+", "idempotent": true,
               "responses": [{"delay_ms": 700, "json": {"state": "closed"}}]},
              {"method": "POST", "path": "/api/v1/posts/change_status", "idempotent": true,
               "responses": [{"delay_ms": 700, "json": {"status": "complete"}}]}
            ]}
            """
    }

    /// A shipped release job, enabled, its params' defaults pointed at `server` and `dir`, as an
    /// operator points them at their services.
    static func shipped(_ name: String, server: StandIn, dir: TemporaryDirectory) throws -> String {
        var shipped = try String(contentsOfFile: BuiltProducts.packageRoot + "/jobs.d/\(name)", encoding: .utf8)
        for (from, to) in [
            ("enabled: false", "enabled: true"), ("https://api.github.com", server.url()),
            ("https://canny.io", server.url()), ("https://api.openai.com/v1", server.url("/v1")),
            ("/var/lib/wfd/release-notes", dir.file("notes")),
        ] {
            #expect(shipped.contains(from), "the shipped file has \(from)")
            shipped = shipped.replacingOccurrences(of: from, with: to)
        }
        return shipped
    }

    @Test func theReleaseJobRunsEndToEndClosingEachTaskOnceThroughAKillAndLeaksNoSecret() async throws {
        let dir = try TemporaryDirectory("aftermath")
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        let server = try await StandIn(scenario, in: dir)
        defer { Task { await server.stop() } }
        try dir.write(
            "jobs/release-aftermath.yaml", try Self.shipped("release-aftermath.yaml", server: server, dir: dir))
        try FileManager.default.createDirectory(atPath: dir.file("credentials"), withIntermediateDirectories: true)
        for (name, value) in secrets {
            try dir.write("credentials/\(name)", value + "\n")
            chmod(dir.file("credentials/\(name)"), 0o400)
        }
        let collector = try await OTLPReceiver.start(in: dir)
        defer { Task { await collector.process.stop() } }
        let environment = [
            "CREDENTIALS_DIRECTORY": dir.file("credentials"), "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        ]
        let arguments = ["--prices", BuiltProducts.packageRoot + "/config/prices.yaml"]
        let setup = try await WebhookTests.Setup.start(dir, arguments: arguments, environment: environment)
        var daemon = setup.daemon
        defer { Task { [daemon] in await daemon.process.stop() } }
        defer { Task { await setup.web.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let state = ["--state", dir.file("state")]

        // GitHub's release event, signed; then its redelivery and a forged copy; then a release
        // created but not published, which the job's filter turns down.
        let release =
            #"{"action": "published", "release": {"tag_name": "v1.4", "name": "ID"}, "repository": {"full_name": "acme/tolaria"}}"#
        let answers = try await WebhookTests.deliver(
            setup.url, "/hooks/release-aftermath",
            ["--prefix", "gh", "--body", release, "--redeliver", "1", "--forged", "1"])
        let valid = try #require(answers.first { $0.kind == "valid" })
        #expect(valid.status == 202, "\(answers)")
        #expect(answers.first { $0.kind == "redelivery" }.map { ($0.status, $0.run) } ?? (0, nil) == (200, valid.run))
        #expect(answers.first { $0.kind == "forged" }?.status == 401)
        let created = release.replacingOccurrences(of: "published", with: "created")
        let filtered = try await WebhookTests.deliver(
            setup.url, "/hooks/release-aftermath", ["--prefix", "gh-created", "--body", created])
        #expect(filtered.map(\.status) == [204])
        let run = try #require(valid.run.flatMap(RunID.init))
        #expect(
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("state/runs/release-aftermath"))) ?? [])
                == [run.rawValue], "one run, for the one published release")

        // The run waits for a person; wfctl pending says so, from disk.
        #expect(
            await eventually(timeout: .seconds(30)) {
                try await runProgram(wfctl, ["pending"] + state).output.contains("wfctl approve \(run) confirm")
            }, "\(daemon.process.output)")
        let pending = try await runProgram(wfctl, ["pending", "--json"] + state)
        #expect(
            pending.output.contains(#""kind" : "approval""#) && pending.output.contains("Close these items for v1.4?"))
        let shown = try await runProgram(wfctl, ["show", run.rawValue] + state).output
        #expect(shown.contains(": waiting (webhook)") && shown.contains("waiting for approval since"), "\(shown)")
        #expect(shown.contains("started by POST /hooks/release-aftermath (delivery gh-0)"), "\(shown)")
        #expect(shown.contains("model gpt-4o-mini: invalid_output") && shown.contains("model gpt-4o-mini: ok"))

        let refused = try await runProgram(wfctl, ["approve", run.rawValue, "close_github"] + state)
        #expect(refused.status == 1 && refused.output.contains("not waiting for a decision"), "\(refused.output)")
        let approved = try await runProgram(
            wfctl, ["approve", run.rawValue, "confirm", "--comment", "six tasks, all done"] + state)
        #expect(approved.status == 0 && approved.output.contains("approved step 'confirm'"), "\(approved.output)")

        // Kill wfd while the tracker is answering the first closes, then start it again.
        #expect(await eventually(timeout: .seconds(30)) { closes(server).count >= 3 }, "\(daemon.process.output)")
        let killedAt = Date()
        daemon.process.send(SIGKILL)
        _ = await daemon.process.waitForExit()
        let closedBeforeTheKill = closes(server).count
        daemon = try await TestDaemon.start(dir, arguments: arguments, environment: environment, log: "wfd-2.log")
        let store = RunStore(directory: StateDirectory(root: dir.file("state")))
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? store.loadRun(JobID("release-aftermath")!, run))?.state.isTerminal == true
            }, "\(daemon.process.output)")
        let final = try store.loadRun(JobID("release-aftermath")!, run)
        #expect(final.state == .succeeded, "\(final.error ?? "")\n\(daemon.process.output)")

        // Each item closed once, where it lives: every other request for it was a replay the
        // service recognised, and no item went to the other service.
        let requests = closes(server)
        #expect(closedBeforeTheKill < tasks.count + 1)
        for (source, id) in tasks {
            let github = requests.filter { $0["path"] == .string("/repos/acme/tolaria/issues/\(id)") }
            let canny = requests.filter {
                $0["path"] == .string("/api/v1/posts/change_status")
                    && $0["body"]?.objectValue?["postID"] == .string(id)
            }
            let (forTask, other) = source == "github" ? (github, canny) : (canny, github)
            #expect(other.isEmpty, "\(source) item \(id) was sent to the other service: \(other)")
            #expect(forTask.filter { $0["replayed"] == .bool(false) }.count == 1, "\(id) closed once: \(forTask)")
            #expect(forTask.allSatisfy { $0["idempotency_key"] == .string("\(run)-\(id)") })
            let token = source == "github" ? "github_token" : "tracker_token"
            #expect(
                forTask.allSatisfy {
                    $0["headers"]?.objectValue?["authorization"] == .string("Bearer \(secrets[token] ?? "")")
                })
        }
        // The items of the other source are skipped by the condition, not failed, in the records
        // and in wfctl show.
        let job = JobID("release-aftermath")!
        for (step, source) in [("close_github", "github"), ("close_canny", "canny")] {
            let record = try store.loadStep(job, run, StepID(step)!)
            #expect(record.state == .succeeded, "\(step): \(record.error ?? "")")
            for (index, task) in tasks.enumerated() {
                let item = try #require(record.items?[index])
                if task.0 == source {
                    #expect(item.state == .succeeded && item.condition?.value == true)
                } else {
                    #expect(item.state == .skipped && item.skipCause == .condition && item.condition?.value == false)
                    #expect(item.condition?.seen?["item.source"] == .string(task.0))
                }
            }
        }
        let afterwards = try await runProgram(wfctl, ["show", run.rawValue] + state).output
        #expect(afterwards.contains(#"skipped (condition): its condition is false: ${{ item.source == "github" }}"#))
        #expect(
            try String(contentsOfFile: dir.file("notes/v1.4.md"), encoding: .utf8) == "v1.4 closes six tasks.\n")
        let confirm = try store.loadStep(JobID("release-aftermath")!, run, StepID("confirm")!)
        #expect(confirm.attempts.last?.decision?.comment == "six tasks, all done")
        #expect(confirm.attempts.last?.decision?.by.hasPrefix("uid \(getuid())") == true)
        let classify = try store.loadStep(JobID("release-aftermath")!, run, StepID("classify")!)
        #expect(classify.attempts.last?.calls?.map(\.result) == ["invalid_output", "ok"])
        #expect(try store.loadRunSpend(JobID("release-aftermath")!, run).calls == 3, "each model call paid once")

        try await checkTrace(
            of: run, final: final, collector: collector, server: server, store: store, killedAt: killedAt)

        // The secrets were used (the stand-ins saw them) and appear nowhere wfd keeps or shows.
        let sawGithub = server.requests().contains {
            $0["headers"]?.objectValue?["authorization"] == .string("Bearer \(secrets["github_token"] ?? "")")
        }
        #expect(sawGithub)
        var places: [(String, String)] = []
        for path in try files(under: dir.file("state")) + [
            dir.file("wfd.log"), dir.file("wfd-2.log"), dir.file("web.log"),
        ] {
            places.append((path, (try? String(contentsOfFile: path, encoding: .isoLatin1)) ?? ""))
        }
        for command in [
            ["show", run.rawValue], ["show", run.rawValue, "--json"], ["logs", run.rawValue], ["status"],
            ["status", "--json"], ["runs", "release-aftermath", "--json"], ["pending", "--json"],
        ] {
            places.append(
                ("wfctl \(command.joined(separator: " "))", try await runProgram(wfctl, command + state).output))
        }
        #expect(places.count > 20)
        for (place, text) in places {
            for (name, value) in secrets { #expect(!text.contains(value), "secret \(name) in \(place)") }
            #expect(!text.contains(WebhookTests.secret), "the webhook's secret in \(place)")
        }
    }

    /// The run's trace, as a receiver built on the official OTLP definitions got it, through the
    /// kill: one trace (the id in the run record and `wfctl show`), a root span, a span for each
    /// attempt the new wfd ended and for each the first one ended before the kill (spans are sent
    /// as they come: a killed wfd loses only those of its last moment), each under the root, the
    /// model calls with the GenAI attributes under their attempt, no span twice, and the
    /// `traceparent` each request to the stand-ins carried naming its attempt's or call's span.
    func checkTrace(
        of run: RunID, final: RunRecord, collector: OTLPReceiver, server: StandIn, store: RunStore, killedAt: Date
    ) async throws {
        let job = JobID("release-aftermath")!
        let trace = try #require(final.traceID)
        #expect(trace.count == 32 && trace != String(repeating: "0", count: 32))
        #expect(
            await eventually(timeout: .seconds(20), waitingFor: "the root span") {
                collector.received().contains { $0["name"] == .string("run release-aftermath") }
            })
        let spans = collector.received()
        #expect(
            !spans.contains { $0["error"] != nil },
            "the receiver refused a request: \(spans.filter { $0["error"] != nil })")
        #expect(spans.allSatisfy { $0["trace_id"] == .string(trace) }, "one trace")
        let ids = spans.compactMap { $0["span_id"]?.stringValue }
        #expect(Set(ids).count == ids.count, "no span twice")
        let context = final.trace
        let root = try #require(spans.first { $0["name"] == .string("run release-aftermath") })
        #expect(root["span_id"] == .string(context.rootSpanID(episode: 0)) && root["parent_span_id"] == .string(""))
        #expect(root["kind"] == .number(2) && root["status"]?.objectValue?["code"] == .number(1))
        let attributes = root["attributes"]?.objectValue ?? [:]
        #expect(
            attributes["wfd.run.trigger"] == .string("webhook") && attributes["wfd.trigger.delivery"] == .string("gh-0")
        )
        #expect(attributes["gen_ai.usage.input_tokens"] == .number(880), "\(attributes)")
        #expect(root["resource"]?.objectValue?["service.name"] == .string("wfd"))

        // The attempts' spans hang under the root; the model's calls under their attempt.
        let byID = Dictionary(spans.compactMap { span in span["span_id"]?.stringValue.map { ($0, span) } }) { a, _ in a
        }
        var expected: [String] = []
        var required: [String: String] = [:]  // span id → the attempt, for those that must have arrived
        for step in ["commits", "classify", "confirm", "close_github", "close_canny", "notes", "publish"] {
            let record = try store.loadStep(job, run, StepID(step)!)
            for slot in record.items ?? [record] {
                for attempt in slot.attempts {
                    guard let ended = attempt.endedAt else { continue }
                    let id = context.attemptSpanID(step: StepID(step)!, item: slot.item, attempt: attempt.number)
                    expected.append(id)
                    // Not those that ended in the killed wfd's last half second.
                    if !(ended < killedAt && ended > killedAt - 0.5) {
                        required[id] = "\(step)[\(slot.item.map(String.init) ?? "-")] attempt \(attempt.number)"
                    }
                }
            }
        }
        let attempts = spans.filter { $0["name"]?.stringValue?.hasPrefix("step ") == true }
        #expect(attempts.allSatisfy { $0["parent_span_id"] == .string(context.rootSpanID(episode: 0)) })
        let attemptIDs = Set(attempts.compactMap { $0["span_id"]?.stringValue })
        #expect(attemptIDs.isSubset(of: Set(expected)), "every attempt span is one the records name")
        for (id, attempt) in required.sorted(by: { $0.value < $1.value }) {
            #expect(attemptIDs.contains(id), "\(attempt) has its span")
        }
        // Not vacuous: what the new wfd ran (notes, publish) ended after the restart, so it is required.
        #expect(
            ["notes", "publish"].allSatisfy { step in required.values.contains { $0.hasPrefix("\(step)[") } },
            "\(required)")
        // (confirm is decided right before the kill: its span may be among the last moment's.)
        for step in ["commits", "classify", "notes", "publish"] {
            #expect(attempts.contains { $0["name"] == .string("step \(step)") }, "\(step) has its span")
        }
        let classify = try #require(attempts.first { $0["name"] == .string("step classify") })
        let calls = spans.filter { $0["name"] == .string("chat gpt-4o-mini") }
        let classifyCalls = calls.filter { $0["parent_span_id"] == classify["span_id"] }
        #expect(classifyCalls.count == 2, "the answer off-schema and its repair")
        let repaired = try #require(classifyCalls.first { $0["status"]?.objectValue?["code"] == .number(1) })
        let genAI = repaired["attributes"]?.objectValue ?? [:]
        #expect(genAI["gen_ai.system"] == .string("openai") && genAI["gen_ai.request.model"] == .string("gpt-4o-mini"))
        #expect(
            genAI["gen_ai.usage.input_tokens"] == .number(380) && genAI["gen_ai.usage.output_tokens"] == .number(150))
        if case .number(let cost)? = genAI["wfd.cost_usd"] { #expect(cost > 0) } else { Issue.record("no cost") }
        #expect(repaired["kind"] == .number(3))

        // What the stand-ins were sent: each request's traceparent names its attempt or call.
        for request in server.requests() {
            guard let header = request["headers"]?.objectValue?["traceparent"]?.stringValue else {
                Issue.record("no traceparent on \(request["method"] ?? .null) \(request["path"] ?? .null)")
                continue
            }
            let parts = header.split(separator: "-").map(String.init)
            #expect(parts.count == 4 && parts[0] == "00" && parts[1] == trace && parts[3] == "01", "\(header)")
            guard parts.count == 4 else { continue }
            if request["path"] == .string("/v1/chat/completions") {
                #expect(calls.contains { $0["span_id"] == .string(parts[2]) } || byID[parts[2]] == nil)
            } else {
                #expect(expected.contains(parts[2]), "\(header) names an attempt of the run")
            }
        }
        let shown = try await runProgram(
            try BuiltProducts.path("wfctl"), ["show", run.rawValue, "--state", store.directory.root])
        #expect(shown.output.contains("trace: \(trace)"), "\(shown.output)")
    }

    /// The requests that close an item: on GitHub or on Canny.
    func closes(_ server: StandIn) -> [[String: JSONValue]] {
        server.requests().filter {
            $0["method"] == .string("PATCH") || $0["path"] == .string("/api/v1/posts/change_status")
        }
    }

    func files(under root: String) throws -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var paths: [String] = []
        while let next = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            let path = "\(root)/\(next)"
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                paths.append(path)
            }
        }
        return paths
    }
}

extension JSONValue {
    var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }
}
