import Foundation
import Testing
import WorkflowTesting

/// `make install` installs shell completions generated from wfctl's argument parser.
@Suite struct CompletionTests {
    @Test func completionScriptsKnowEveryCommand() async throws {
        let wfctl = try BuiltProducts.path("wfctl")
        for shell in ["bash", "zsh", "fish"] {
            let script = try await runProgram(wfctl, ["--generate-completion-script", shell])
            #expect(script.status == 0)
            for command in SnapshotTests.commands where !command.isEmpty {
                #expect(script.output.contains(command), "\(shell) completes \(command)")
            }
        }
    }
}
