import Foundation
import JobFormat
import Logging
import RunModel
import RuntimeSupport
import Schedules
import Testing
import WorkflowStore
import WorkflowTesting

@testable import WorkflowEngine

/// A step whose template reads what is not there when it is due (an upstream step that failed,
/// run anyway by `when: always`) ends at once, saying which field and why. Manual clock.
@Suite struct LaunchTemplateTests {
    /// Fails step `a`, succeeds every other.
    final class FailingFirst: StepExecutor {
        func execute(_ invocation: StepInvocation, control: StepControl, logger: Logger) async -> AttemptResult {
            invocation.step.rawValue == "a" ? .failure(.exitStatus, "exited with status 1") : .success
        }
    }

    @Test func aFieldThatCannotBeRenderedEndsTheAttemptNamingTheField() async throws {
        let dir = try TemporaryDirectory("launch-template")
        let clock = ManualClock(now: Timestamp.parse("2026-01-01T00:00:00Z")!)
        let coordinator = RunCoordinator(
            store: RunStore(directory: StateDirectory(root: dir.file("state"))), executor: FailingFirst(),
            clock: clock, logger: CapturedLog().logger, workingDirectory: dir.path,
            daemonEnvironment: ["PATH": "/usr/bin:/bin"])
        var ask = StepDefinition(
            id: StepID("ask")!, kind: .approval(ApprovalSpec(message: "a said ${{ steps.a.output }}")),
            needs: [StepID("a")!])
        ask.when = .always
        let job = Job(id: JobID("tpl")!, steps: [StepDefinition(id: StepID("a")!, run: "false"), ask])
        let final = await coordinator.execute(coordinator.prepare(job: job, trigger: .manual, scheduledFor: nil))
        let attempt = try #require(final.step(StepID("ask")!)?.attempts.first)
        #expect(final.step(StepID("ask")!)?.state == .failed)
        #expect(attempt.errorKind == .template)
        #expect(attempt.error?.hasPrefix("in 'approval.message': ") == true, "\(attempt.error ?? "")")
    }
}
