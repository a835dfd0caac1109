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

/// The web UI in a real browser: wfd and wfd-web (over TCP, with a token) on a state directory
/// with a failed run and a run waiting for approval; headless Chromium, driven by
/// Tests/Browser/ui_flow.py with Debian's python3-selenium, signs in, reads every page, follows a
/// log live, approves, retries; then the state directory must say what the browser did.
/// `WFD_UPDATE_SCREENSHOTS=1` puts the screenshots it takes into docs/web/.
@Suite struct BrowserTests {
    static let jobs = [
        "demo": """
        description: A run that fails at lint, then is retried past it
        schedule: "0 3 * * *"
        steps:
          - {id: fetch, run: 'echo fetching; sleep 0.2; echo fetched'}  # the data
          - {id: parse, needs: [fetch], run: 'echo parsing'}
          - {id: lint, needs: [fetch], run: 'echo lint found 2 problems; exit 3'}
          - {id: publish, needs: [parse, lint], run: 'echo publishing'}
        """,
        "gate": """
        description: Ships only when a person says so
        steps:
          - {id: build, run: 'echo "{\\"version\\": \\"1.4.2\\"}"', output: json}
          - id: confirm
            needs: [build]
            approval:
              message: Ship the build to production?
              input: {type: object, required: [ticket], properties: {ticket: {type: string}}}
          - {id: ship, needs: [confirm], run: 'echo shipping'}
        """,
        // Says four lines, then the other four once the browser has the page (it makes GO).
        "talk": """
        description: Says eight lines, the last four when told
        steps:
          - id: talk
            run: 'for n in 1 2 3 4; do echo "line $n"; done; while [ ! -e GO ]; do sleep 0.05; done; for n in 5 6 7 8; do echo "line $n"; sleep 0.2; done'
        """,
    ]

    @Test(.timeLimit(.minutes(5)))
    func aPersonSignsInFollowsALogApprovesAndRetriesInChromium() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver") else {
            throw TestKitError("no /usr/bin/chromedriver: make test installs chromium and chromium-driver")
        }
        let dir = try TemporaryDirectory("browser")
        for (name, text) in Self.jobs {
            try dir.write("jobs/\(name).yaml", text.replacingOccurrences(of: "GO", with: dir.file("go")) + "\n")
        }
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let state = StateDirectory(root: daemon.state)
        let wfctl = try BuiltProducts.path("wfctl")
        let added = try await runProgram(
            wfctl,
            [
                "token", "add", "ui-tester", "--scope", "read,operate,approve", "--file", dir.file("tokens.json"),
                "--json",
            ])
        let token = try #require(JSONValue.parse(Data(added.output.utf8))?["token"], "\(added.output)")
        guard case .string(let secret) = token else { throw TestKitError("no token in \(added.output)") }
        try dir.write("token", secret)

        func start(_ job: String) async throws -> RunID {
            let started = try await runProgram(wfctl, ["run", job, "--state", state.root, "--json"])
            guard case .string(let id)? = JSONValue.parse(Data(started.output.utf8))?["run"], let run = RunID(id) else {
                throw TestKitError("wfctl run \(job): \(started.output)")
            }
            return run
        }
        let demo = try await start("demo")
        let gate = try await start("gate")
        let store = RunStore(directory: state)
        #expect(
            await eventually(timeout: .seconds(30)) { (try? store.loadRun(JobID("demo")!, demo))?.state == .failed })
        #expect(
            await eventually(timeout: .seconds(30)) {
                (try? store.loadStep(JobID("gate")!, gate, StepID("confirm")!))?.state == .waiting
            })

        let port = try freeLoopbackPort()
        let web = try DaemonProcess(
            executable: try BuiltProducts.path("wfd-web"),
            arguments: [
                "serve", "--listen", "127.0.0.1:\(port)", "--state", state.root, "--tokens", dir.file("tokens.json"),
                "--session-key", dir.file("session.key"),
            ],
            environment: ["PATH": "/usr/bin:/bin"], stderrPath: dir.file("web.log"))
        defer { Task { await web.stop() } }
        #expect(
            await eventually(timeout: .seconds(20)) {
                (try? String(contentsOfFile: dir.file("web.log"), encoding: .utf8))?.contains("answering") == true
            })

        let shots = dir.file("shots")
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Browser/ui_flow.py").path
        let flow = try await runProgram(
            "/usr/bin/python3",
            [script, "http://127.0.0.1:\(port)", dir.file("token"), shots, demo.rawValue, dir.file("go")],
            environment: ["PATH": "/usr/bin:/bin", "HOME": dir.path])
        try #require(flow.status == 0, "\(flow.output)\n\(daemon.process.output)")

        // What the browser did, as the state directory has it.
        let confirm = try store.loadStep(JobID("gate")!, gate, StepID("confirm")!)
        let decision = try #require(confirm.attempts.last?.decision, "no decision on confirm")
        #expect(decision.approved && decision.by.hasPrefix("token ui-tester via "), "\(decision.by)")
        #expect(decision.comment == "checked the diff")
        #expect(decision.input == .object(["ticket": .string("T-12")]))
        #expect(confirm.attempts.compactMap(\.decision).count == 1, "the refused input decided nothing")
        #expect(
            await eventually(timeout: .seconds(30)) { (try? store.loadRun(JobID("gate")!, gate))?.state == .succeeded })
        let retried = try store.loadRun(JobID("demo")!, demo)
        #expect(retried.state == .succeeded && retried.retries?.count == 1, "\(retried)")
        let lint = try store.loadStep(JobID("demo")!, demo, StepID("lint")!)
        #expect(lint.state == .succeeded && lint.attempts.last?.byHand == true, "\(lint)")
        let output = try #require(lint.attempts.last?.output)
        #expect(
            try String(contentsOfFile: state.runFile(JobID("demo")!, demo, relative: output), encoding: .utf8)
                .hasPrefix("lint skipped by hand"))
        let talk = RunIndex(directory: state).recent(JobID("talk")!, limit: 5)
        #expect(talk.count == 1 && talk.first?.state == .succeeded)

        // The screenshots, each a PNG; into the docs when asked.
        let names = ["signin", "jobs", "run", "job", "log", "approvals"]
        for name in names {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(shots)/\(name).png"))
            #expect(data.count > 5000 && data.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "\(name).png")
        }
        if ProcessInfo.processInfo.environment["WFD_UPDATE_SCREENSHOTS"] == "1" {
            let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("docs/web").path
            try FileManager.default.createDirectory(atPath: docs, withIntermediateDirectories: true)
            for name in names {
                try? FileManager.default.removeItem(atPath: "\(docs)/\(name).png")
                try FileManager.default.copyItem(atPath: "\(shots)/\(name).png", toPath: "\(docs)/\(name).png")
            }
        }
    }
}
