import RunModel
import Testing

/// Every (state, transition) pair, against a table written out by hand.
@Suite struct StateTableTests {
    @Test func runTransitionsMatchTheTableExactly() {
        let allowed: [RunState: [RunState.Transition: RunState]] = [
            .queued: [.start: .running, .cancel: .cancelled],
            .running: [
                .wait: .waiting, .succeed: .succeeded, .fail: .failed, .cancel: .cancelled, .timeOut: .timedOut,
            ],
            .waiting: [.resume: .running, .fail: .failed, .cancel: .cancelled, .timeOut: .timedOut],
            .succeeded: [.retry: .running], .failed: [.retry: .running], .cancelled: [.retry: .running],
            .timedOut: [.retry: .running],
        ]
        for state in RunState.allCases {
            for transition in RunState.Transition.allCases {
                #expect(
                    state.after(transition) == allowed[state]?[transition],
                    "run \(state.rawValue) --\(transition.rawValue)-->")
            }
        }
    }

    @Test func stepTransitionsMatchTheTableExactly() {
        let allowed: [StepState: [StepState.Transition: StepState]] = [
            .pending: [.start: .running, .skip: .skipped, .cancel: .cancelled, .markDone: .succeeded],
            .running: [
                .wait: .waiting, .succeed: .succeeded, .fail: .failed, .retryLater: .retryWait, .cancel: .cancelled,
                .interrupt: .interrupted,
            ],
            .waiting: [.resume: .succeeded, .fail: .failed, .cancel: .cancelled, .start: .running],
            .retryWait: [.start: .running, .cancel: .cancelled],
            .succeeded: [.reset: .pending], .failed: [.reset: .pending], .skipped: [.reset: .pending],
            .cancelled: [.reset: .pending], .interrupted: [.reset: .pending],
        ]
        for state in StepState.allCases {
            for transition in StepState.Transition.allCases {
                #expect(
                    state.after(transition) == allowed[state]?[transition],
                    "step \(state.rawValue) --\(transition.rawValue)-->")
            }
        }
    }

    /// Only a person (`wfctl retry`) moves what has ended.
    @Test func terminalStatesMoveOnlyByRetry() {
        for state in RunState.allCases where state.isTerminal {
            #expect(RunState.Transition.allCases.allSatisfy { state.after($0) == nil || $0 == .retry })
        }
        for state in StepState.allCases where state.isTerminal {
            #expect(StepState.Transition.allCases.allSatisfy { state.after($0) == nil || $0 == .reset })
        }
    }

    @Test func statesAreStoredAsStrings() throws {
        #expect(RunState.timedOut.rawValue == "timed_out")
        #expect(StepState.retryWait.rawValue == "retry_wait")
        #expect(Set(RunState.allCases.map(\.rawValue)).count == RunState.allCases.count)
    }
}
