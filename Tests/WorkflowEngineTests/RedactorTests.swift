import Foundation
import JobFormat
import Testing
import WorkflowEngine
import WorkflowTesting

@Suite struct RedactorTests {
    @Test func everyOccurrenceIsReplacedTheLongestValueFirst() {
        let redactor = Redactor(secrets: ["token": "ghp_abcdef", "long": "ghp_abcdef123", "short": "abc"])
        #expect(redactor.redact("a ghp_abcdef123 b ghp_abcdef c abc") == "a [secret] b [secret] c abc")
        #expect(Redactor.none.redact("ghp_abcdef") == "ghp_abcdef")
    }

    @Test func aSecretCutBetweenTwoReadsIsStillHiddenInTheLogTheJournalAndTheOutput() async throws {
        let dir = try TemporaryDirectory("redact")
        let log = CapturedLog()
        var invocation = StepInvocation(
            job: JobID("j")!, run: RunID("r1")!, step: StepID("s")!, attempt: 1,
            // The secret is written in two pieces with a pause between, so it arrives in two reads.
            command: "printf 'key=ghp_ab'; sleep 0.2; printf 'cdef12345 end\\n'; echo ghp_abcdef12345 >&2",
            environment: ["PATH": "/usr/bin:/bin"], workingDirectory: dir.path, timeout: .seconds(10),
            logFile: dir.file("s.1.log"))
        invocation.redactor = Redactor(secrets: ["t": "ghp_abcdef12345"])
        let result = await ShellExecutor().execute(invocation, control: StepControl(), logger: log.logger)
        #expect(result.outcome == .succeeded)
        let file = try String(contentsOfFile: dir.file("s.1.log"), encoding: .utf8)
        #expect(!file.contains("ghp_") && file.contains("key=[secret] end") && file.contains("[secret]\n"))
        #expect(log.all.allSatisfy { !$0.message.contains("ghp_") })
        #expect(log.all.contains { $0.message == "key=[secret] end" })
        #expect(String(decoding: result.stdout ?? [], as: UTF8.self) == "key=[secret] end\n")
    }
}

@Suite struct MessageIDTests {
    /// docs/journal.md lists every MESSAGE_ID, and each is a distinct 128-bit id in hex.
    @Test func everyMessageIDIsDocumentedAndWellFormed() throws {
        let docs = try String(contentsOfFile: BuiltProducts.packageRoot + "/docs/journal.md", encoding: .utf8)
        #expect(Set(MessageID.all.map(\.id)).count == MessageID.all.count)
        for (name, id) in MessageID.all {
            #expect(id.count == 32 && id.allSatisfy(\.isHexDigit) && id == id.lowercased(), "\(name)")
            #expect(docs.contains("| `\(id)` |"), "docs/journal.md lists \(name)")
        }
    }
}
