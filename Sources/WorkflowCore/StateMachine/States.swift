/// Why a run exists.
public enum Trigger: String, Sendable, Codable, CaseIterable {
    case schedule, catchup, manual, retry
}

/// The life of a run. Stored as its raw string.
public enum RunState: String, Sendable, Codable, CaseIterable {
    case queued, running, waiting, succeeded, failed, cancelled
    case timedOut = "timed_out"

    /// True once nothing will change the run any more.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .timedOut: true
        case .queued, .running, .waiting: false
        }
    }

    /// What moves a run from one state to the next.
    public enum Transition: String, Sendable, CaseIterable {
        case start, wait, resume, succeed, fail, cancel, timeOut
    }

    /// The state after `transition`, or nil when the transition is not allowed from this state.
    public func after(_ transition: Transition) -> RunState? {
        switch (self, transition) {
        case (.queued, .start): .running
        case (.queued, .cancel): .cancelled
        case (.running, .wait): .waiting
        case (.waiting, .resume): .running
        case (.running, .succeed): .succeeded
        case (.running, .fail), (.waiting, .fail): .failed
        case (.running, .cancel), (.waiting, .cancel): .cancelled
        case (.running, .timeOut), (.waiting, .timeOut): .timedOut
        default: nil
        }
    }
}

/// The life of a step within a run. Stored as its raw string.
public enum StepState: String, Sendable, Codable, CaseIterable {
    case pending, running, waiting, succeeded, failed, skipped, cancelled
    case retryWait = "retry_wait"

    /// True once nothing will change the step any more.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .skipped, .cancelled: true
        case .pending, .running, .waiting, .retryWait: false
        }
    }

    /// What moves a step from one state to the next.
    public enum Transition: String, Sendable, CaseIterable {
        case start, wait, resume, succeed, fail, retryLater, cancel, skip
    }

    /// The state after `transition`, or nil when the transition is not allowed from this state.
    public func after(_ transition: Transition) -> StepState? {
        switch (self, transition) {
        case (.pending, .start), (.retryWait, .start): .running
        case (.pending, .skip): .skipped
        case (.pending, .cancel), (.retryWait, .cancel), (.waiting, .cancel), (.running, .cancel): .cancelled
        case (.running, .wait): .waiting
        case (.waiting, .resume): .succeeded
        case (.running, .succeed): .succeeded
        case (.running, .fail), (.waiting, .fail): .failed
        case (.running, .retryLater): .retryWait
        default: nil
        }
    }
}
