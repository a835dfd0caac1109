import Foundation
import JSONSchemaKit
import Testing
import WorkflowTesting

/// wfctl's `--help` texts and the shapes of its `--json` outputs are interfaces: people read the
/// first, scripts read the second. Both are held to snapshots in Tests/Fixtures/snapshots; after
/// an intended change, `WFD_UPDATE_SNAPSHOTS=1 swift test --filter SnapshotTests` rewrites them
/// (and the diff shows what changed for users).
@Suite struct SnapshotTests {
    static let directory = BuiltProducts.packageRoot + "/Tests/Fixtures/snapshots"
    static let commands = [
        "", "status", "runs", "show", "why", "stats", "logs", "run", "retry", "cancel", "pending", "approve",
        "reject", "fsck", "next", "validate", "schema", "reload", "eval", "draft", "promote", "harden", "mcp",
    ]

    /// Compares `text` with the snapshot at `relative`, or writes it when asked to.
    func check(_ text: String, _ relative: String) throws {
        let path = "\(Self.directory)/\(relative)"
        if ProcessInfo.processInfo.environment["WFD_UPDATE_SNAPSHOTS"] == "1" {
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let expected = try? String(contentsOfFile: path, encoding: .utf8)
        #expect(
            expected == text,
            "\(relative) differs from its snapshot (WFD_UPDATE_SNAPSHOTS=1 rewrites it once the change is meant):\n\(text)"
        )
    }

    @Test func everyCommandsHelpMatchesItsSnapshot() async throws {
        let wfctl = try BuiltProducts.path("wfctl")
        for command in Self.commands {
            let arguments = command.isEmpty ? ["--help"] : [command, "--help"]
            let help = try await runProgram(wfctl, arguments, environment: ["COLUMNS": "80", "PATH": "/usr/bin:/bin"])
            #expect(help.status == 0)
            try check(help.output, "help/\(command.isEmpty ? "wfctl" : command).txt")
            if !["", "schema"].contains(command) {
                #expect(
                    help.output.contains("Exit codes:") || help.output.contains("exit codes"),
                    "\(command) documents its exit codes")
            }
        }
    }

    /// Every key path of a JSON value with its type, one per line, sorted: what a script relies on.
    static func shape(_ value: JSONValue, at path: String = "", into lines: inout Set<String>) {
        switch value {
        case .object(let members):
            lines.insert("\(path.isEmpty ? "." : path): object")
            for (key, member) in members { shape(member, at: "\(path).\(key)", into: &lines) }
        case .array(let items):
            lines.insert("\(path.isEmpty ? "." : path): array")
            for item in items { shape(item, at: "\(path)[]", into: &lines) }
        case .string: lines.insert("\(path): string")
        case .number: lines.insert("\(path): number")
        case .bool: lines.insert("\(path): boolean")
        case .null: lines.insert("\(path): null")
        }
    }

    static func shape(_ text: String) -> String? {
        guard let value = JSONValue.parse(Data(text.utf8)) else { return nil }
        var lines: Set<String> = []
        shape(value, into: &lines)
        return lines.sorted().joined(separator: "\n") + "\n"
    }

    @Test func everyJSONOutputKeepsItsShape() async throws {
        let dir = try TemporaryDirectory("shapes")
        try dir.write("jobs/ok.yaml", "schedule: '0 0 29 2 *'\nsteps:\n  - {id: hello, run: 'echo hi'}\n")
        try dir.write(
            "jobs/bad.yaml",
            "params: { day: { default: monday } }\nsteps:\n  - {id: first, run: 'echo one'}\n  - {id: broken, needs: [first], run: 'echo oops >&2; exit 4'}\n"
        )
        try dir.write("jobs/gate.yaml", "steps:\n  - id: confirm\n    approval: { message: 'Go?', timeout: 1h }\n")
        let daemon = try await TestDaemon.start(dir)
        defer { Task { await daemon.process.stop() } }
        let wfctl = try BuiltProducts.path("wfctl")
        let state = ["--state", dir.file("state")]
        func json(_ arguments: [String], withState: Bool = true) async throws -> String {
            try await runProgram(wfctl, arguments + (withState ? state : [])).output
        }
        _ = try await json(["run", "ok", "--wait"])
        let failedRun = try await json(["run", "bad", "--wait", "--json"])
        let bad = try #require(JSONValue.parse(Data(failedRun.utf8))?.objectValue?["run"]?.stringValue)
        let gate = try #require(
            JSONValue.parse(Data(try await json(["run", "gate", "--json"]).utf8))?.objectValue?["run"]?.stringValue)
        #expect(await eventually { (try? await runProgram(wfctl, ["pending"] + state))?.output.contains(gate) == true })

        let outputs: [(String, String)] = [
            ("run", failedRun),
            ("status", try await json(["status", "--json"])),
            ("runs", try await json(["runs", "--json"])),
            ("show", try await json(["show", bad, "--json"])),
            ("why", try await json(["why", bad, "--json"])),
            ("stats", try await json(["stats", "--json"])),
            ("logs", try await json(["logs", bad, "--json"])),
            ("pending", try await json(["pending", "--json"])),
            (
                "next",
                try await json(["next", "0 9 * * MON-FRI", "--tz", "UTC", "--count", "2", "--json"], withState: false)
            ),
            ("validate", try await json(["validate", dir.file("jobs"), "--json"], withState: false)),
            ("fsck", try await json(["fsck", "--json"])),
            ("reject", try await json(["reject", gate, "confirm", "--comment", "no", "--json"])),
            ("retry", try await json(["retry", bad, "--json"])),
        ]
        for (command, output) in outputs {
            let shape = try #require(Self.shape(output), "wfctl \(command) --json printed JSON: \(output)")
            try check(shape, "json/\(command).shape")
        }
    }
}
