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

/// Webhooks end to end: a real wfd and a real wfd-web on a loopback port, deliveries sent by a
/// Python HTTP client signing them as GitHub does (`scripts/deliver.py`).
@Suite struct WebhookTests {
    static let secret = "whsec-PLANTED-0123456789"

    /// wfd on `dir/jobs` with the webhook secret as a credential, and wfd-web on a free port.
    struct Setup {
        let dir: TemporaryDirectory
        var daemon: TestDaemon
        let web: DaemonProcess
        let url: String

        static func start(
            _ dir: TemporaryDirectory, arguments: [String] = [], environment: [String: String] = [:]
        ) async throws -> Setup {
            try dir.write("credentials/github_webhook", WebhookTests.secret + "\n")
            let daemon = try await TestDaemon.start(
                dir, arguments: arguments,
                environment: environment.merging(["CREDENTIALS_DIRECTORY": dir.file("credentials")]) { $1 })
            let port = try freeLoopbackPort()
            let web = try DaemonProcess(
                executable: try BuiltProducts.path("wfd-web"),
                arguments: ["serve", "--listen", "127.0.0.1:\(port)", "--state", dir.file("state")],
                environment: ["PATH": "/usr/bin:/bin"], stderrPath: dir.file("web.log"))
            let url = "http://127.0.0.1:\(port)"
            let up = await eventually(timeout: .seconds(20), waitingFor: "wfd-web to listen") {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                return withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                    }
                }
            }
            guard up else { throw TestKitError("wfd-web did not listen: \(web.output)") }
            return Setup(dir: dir, daemon: daemon, web: web, url: url)
        }

        func stop() async {
            await web.stop()
            await daemon.process.stop()
        }
    }

    struct Delivery: Decodable {
        let delivery: String
        let kind: String
        let status: Int
        let run: String?
    }

    struct Burst: Decodable {
        let results: [Delivery]
    }

    /// Runs `scripts/deliver.py` against `path` and returns what each delivery was answered.
    static func deliver(_ url: String, _ path: String, _ arguments: [String], secret: String = secret) async throws
        -> [Delivery]
    {
        let script = BuiltProducts.packageRoot + "/scripts/deliver.py"
        let (status, output) = try await runProgram("/usr/bin/python3", [script, url + path, secret] + arguments)
        guard status == 0, let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw TestKitError("deliver.py failed (\(status)): \(output.suffix(2000))")
        }
        return try JSONDecoder().decode(Burst.self, from: Data(line.utf8)).results
    }

    func runDirectories(_ dir: TemporaryDirectory, _ job: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("state/runs/\(job)"))) ?? []).sorted()
    }

    @Test func signedRedeliveredForgedMalformedAndFilteredDeliveriesEachGetTheirAnswer() async throws {
        let dir = try TemporaryDirectory("webhook")
        try dir.write(
            "jobs/release.yaml",
            """
            on:
              webhook:
                secret: github_webhook
                headers: [X-GitHub-Event]
                max_bytes: 400
                filter: ${{ trigger.headers["x-github-event"] == "release" && trigger.payload.action == "published" }}
            steps:
              - id: show
                output: json
                run: 'printf "{\\"delivery\\": \\"%s\\", \\"source\\": \\"%s\\", \\"traceparent\\": \\"%s\\", \\"payload\\": %s}" "$WF_TRIGGER_DELIVERY" "$WF_TRIGGER_SOURCE" "$TRACEPARENT" "$(cat "$WF_TRIGGER_PAYLOAD_FILE")"'
              - id: tag
                needs: [show]
                when: ${{ trigger.payload.release.tag_name == "r-0" && trigger.headers["x-github-event"] == "release" }}
                run: 'echo tagged'
            """)
        try dir.write(
            "jobs/watching.yaml",
            "on: { webhook: { secret: github_webhook, mode: observe } }\nsteps: [{id: a, run: 'true'}]\n")
        try dir.write("jobs/scheduled.yaml", "steps: [{id: a, run: 'true'}]\n")
        let setup = try await Setup.start(dir)
        defer { Task { await setup.stop() } }

        // A signed delivery starts a run; GitHub's redelivery of it starts none and is told the
        // first run's id; a forged one is refused, and starts nothing.
        let answers = try await Self.deliver(
            setup.url, "/hooks/release", ["--count", "1", "--prefix", "r", "--redeliver", "1", "--forged", "1"])
        let valid = try #require(answers.first { $0.kind == "valid" })
        let run = try #require(valid.run)
        #expect(valid.status == 202)
        let again = try #require(answers.first { $0.kind == "redelivery" })
        #expect(again.status == 200 && again.run == run)
        let forged = try #require(answers.first { $0.kind == "forged" })
        #expect(forged.status == 401 && forged.run == nil)
        #expect(
            await eventually(waitingFor: "the run to end") {
                (try? RecordFile.read(RunRecordHead.self, from: dir.file("state/runs/release/\(run)/run.json")))?.state
                    == "succeeded"
            })
        #expect(runDirectories(dir, "release") == [run], "one run, for the one valid delivery")

        // The run saw the delivery: its id, where it came from, the payload as it was sent.
        let output = try String(contentsOfFile: dir.file("state/runs/release/\(run)/outputs/show"), encoding: .utf8)
        let shown = try #require(JSONValue.parse(Data(output.utf8)))
        #expect(shown.field("delivery") == .string("r-0"))
        #expect(shown.field("source") == .string("POST /hooks/release"))
        #expect(shown.field("payload")?.field("release")?.field("tag_name") == .string("r-0"))
        // Its process was told its place in the run's trace.
        let record = try RunStore(directory: StateDirectory(root: dir.file("state"))).loadRun(
            JobID("release")!, RunID(run)!)
        let trace = record.trace
        #expect(
            shown.field("traceparent")
                == .string(trace.traceparent(span: trace.attemptSpanID(step: StepID("show")!, item: nil, attempt: 1))))
        #expect(record.traceID?.count == 32)
        let tagged = try String(contentsOfFile: dir.file("state/runs/release/\(run)/steps/tag.json"), encoding: .utf8)
        #expect(tagged.contains("\"succeeded\""), "the condition read trigger.payload and trigger.headers")
        let show = try await runProgram(
            try BuiltProducts.path("wfctl"), ["show", run, "--state", dir.file("state")])
        #expect(
            show.output.contains("(webhook)") && show.output.contains("started by POST /hooks/release (delivery r-0)"),
            "\(show.output)")
        let status = try await runProgram(try BuiltProducts.path("wfctl"), ["status", "--state", dir.file("state")])
        #expect(status.output.contains("on webhook (github)"), "\(status.output)")

        // Filtered out: 204, nothing starts. Not JSON: 400. Too large: 413. No such job, or one
        // without a webhook: 404. Each refusal is logged with its reason, never the secret.
        let ping = try await Self.deliver(setup.url, "/hooks/release", ["--prefix", "p", "--event", "ping"])
        #expect(ping.map(\.status) == [204])
        let notJSON = try await Self.deliver(setup.url, "/hooks/release", ["--prefix", "n", "--body", "action=ID"])
        #expect(notJSON.map(\.status) == [400])
        let padded = #"{"action": "published", "pad": "\#(String(repeating: "x", count: 400))", "id": "ID"}"#
        let large = try await Self.deliver(setup.url, "/hooks/release", ["--prefix", "l", "--body", padded])
        #expect(large.map(\.status) == [413])
        #expect(try await Self.deliver(setup.url, "/hooks/nope", ["--prefix", "x"]).map(\.status) == [404])
        #expect(try await Self.deliver(setup.url, "/hooks/scheduled", ["--prefix", "x"]).map(\.status) == [404])
        #expect(runDirectories(dir, "release") == [run])

        // Observe mode lets a forged delivery through, and says what enforce would have done.
        let observed = try await Self.deliver(setup.url, "/hooks/watching", ["--forged", "1", "--count", "0"])
        #expect(observed.map(\.status) == [202])
        let log = try String(contentsOfFile: dir.file("wfd.log"), encoding: .utf8)
        #expect(
            log.contains(
                "let through in observe mode; enforce would refuse it: the signature in x-hub-signature-256 does not match"
            ))
        #expect(log.contains("refused a webhook delivery (401): the signature in x-hub-signature-256 does not match"))
        #expect(log.contains("webhook delivery filtered out: the filter is false"))
        let webLog = try String(contentsOfFile: dir.file("web.log"), encoding: .utf8)
        #expect(!log.contains(Self.secret) && !webLog.contains(Self.secret))
    }

    /// 1,000 valid deliveries over 16 connections at once, 100 forged ones among them, then 100
    /// redeliveries; wfd is killed while most of their runs still wait in the queue. Every valid
    /// delivery starts exactly one run, which runs once, after the restart too; nothing forged
    /// or redelivered starts anything.
    @Test func aBurstOfAThousandDeliveriesStartsExactlyOneRunEachThroughAKill() async throws {
        let dir = try TemporaryDirectory("webhook-burst")
        try dir.write(
            "jobs/burst.yaml",
            """
            concurrency: queue
            on: { webhook: { secret: github_webhook } }
            retention: { keep_runs: 5000 }
            steps:
              - id: a
                effect: idempotent
                run: 'true'
            """)
        var setup = try await Setup.start(dir)
        defer {
            let running = setup
            Task { await running.stop() }
        }
        let answers = try await Self.deliver(
            setup.url, "/hooks/burst",
            ["--count", "1000", "--concurrency", "16", "--forged", "100", "--redeliver", "100", "--prefix", "b"])
        let valid = answers.filter { $0.kind == "valid" }
        #expect(valid.count == 1000 && valid.allSatisfy { $0.status == 202 && $0.run != nil })
        let runs = Dictionary(valid.compactMap { answer in answer.run.map { (answer.delivery, $0) } }) { first, _ in
            first
        }
        #expect(Set(runs.values).count == 1000, "a run id each")
        #expect(answers.filter { $0.kind == "forged" }.map(\.status) == Array(repeating: 401, count: 100))
        let redelivered = answers.filter { $0.kind == "redelivery" }
        #expect(redelivered.count == 100 && redelivered.allSatisfy { $0.status == 200 && $0.run == runs[$0.delivery] })

        // Killed with most runs still queued (in the inbox); the next wfd takes them up.
        setup.daemon.process.send(SIGKILL)
        await setup.daemon.process.waitForExit()
        let pending = (try? FileManager.default.contentsOfDirectory(atPath: dir.file("state/jobs/burst/inbox"))) ?? []
        print("webhook burst: \(pending.count) deliveries waited in the inbox when wfd was killed")
        setup.daemon = try await TestDaemon.start(
            dir, environment: ["CREDENTIALS_DIRECTORY": dir.file("credentials")], log: "wfd2.log")
        #expect(
            await eventually(timeout: .seconds(300), waitingFor: "every run to end") {
                let ended = runDirectories(dir, "burst").filter { run in
                    let head = try? RecordFile.read(
                        RunRecordHead.self, from: dir.file("state/runs/burst/\(run)/run.json"))
                    return head?.state == "succeeded"
                }
                return ended.count >= 1000
            })
        let directories = runDirectories(dir, "burst")
        #expect(directories.count == 1000, "\(directories.count) runs")
        #expect(Set(directories) == Set(runs.values), "exactly the runs the deliveries were told")
        var seen: Set<Int> = []
        for run in directories {
            let payload = try #require(
                JSONValue.parse(
                    try Data(contentsOf: URL(fileURLWithPath: dir.file("state/runs/burst/\(run)/payload.json")))))
            if case .number(let n)? = payload.field("n") { seen.insert(Int(n)) }
        }
        #expect(seen == Set(0..<1000), "each delivery's payload ran once")
        #expect(
            ((try? FileManager.default.contentsOfDirectory(atPath: dir.file("state/jobs/burst/inbox"))) ?? []).isEmpty)
        let log = try String(contentsOfFile: dir.file("wfd2.log"), encoding: .utf8)
        if pending.count > 1 {
            #expect(log.contains("triggers a previous wfd had not started"), "\(pending.count) were in the inbox")
        }
    }
}

extension JSONValue {
    func field(_ name: String) -> JSONValue? {
        if case .object(let fields) = self { fields[name] } else { nil }
    }
}

/// The head of a run record: its state.
struct RunRecordHead: Decodable {
    let state: String
}
