import Foundation
import JSONSchemaKit
import Schedules

/// Why a run exists.
public enum Trigger: String, Sendable, Codable, CaseIterable {
    case schedule, catchup, manual, retry
    /// `on:` in the job file: a webhook's delivery, files that changed, another job's run ending.
    case webhook, path, job

    /// A fire time of the schedule (on time or caught up): what moves the job's mark.
    public var isScheduled: Bool { self == .schedule || self == .catchup }
}

/// What started a run that `on:` started: where it came from, and what it carried.
public struct TriggerOrigin: Sendable, Equatable, Codable {
    /// Who or what sent it, in one phrase: `POST /hooks/deploy`, `/srv/inbox/a.csv`, `job build`.
    public var source: String
    /// The delivery's id (a webhook's `X-GitHub-Delivery`), or the run that ended (a job trigger).
    public var delivery: String?
    /// The headers passed on (a webhook's allowlist), lower-case names.
    public var headers: [String: String]?
    public var receivedAt: Date

    public init(source: String, delivery: String? = nil, headers: [String: String]? = nil, receivedAt: Date) {
        self.source = source
        self.delivery = delivery
        self.headers = headers
        self.receivedAt = receivedAt
    }

    /// What `trigger` is in templates and conditions, with the payload (`payload.json`).
    public func value(kind: Trigger, payload: JSONValue?) -> JSONValue {
        var fields: [String: JSONValue] = [
            "kind": .string(kind.rawValue), "source": .string(source),
            "delivery": delivery.map(JSONValue.string) ?? .null,
            "headers": .object((headers ?? [:]).mapValues(JSONValue.string)),
            "payload": payload ?? .null,
        ]
        fields["received_at"] = .string(Timestamp.rfc3339(receivedAt))
        return .object(fields)
    }

    enum CodingKeys: String, CodingKey {
        case source, delivery, headers
        case receivedAt = "received_at"
    }
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
        /// `wfctl retry`: a run that did not succeed (or, from a chosen step, one that did) goes on.
        case retry
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
        case (.failed, .retry), (.cancelled, .retry), (.timedOut, .retry), (.succeeded, .retry): .running
        default: nil
        }
    }
}

/// The life of a step within a run. Stored as its raw string.
public enum StepState: String, Sendable, Codable, CaseIterable {
    case pending, running, waiting, succeeded, failed, skipped, cancelled
    case retryWait = "retry_wait"
    /// An `effectful` step was running when wfd stopped: whether it did its work is unknown, so it
    /// waits for a person (`wfctl retry`) and is never re-run by a guess.
    case interrupted

    /// True once nothing but a person (`wfctl retry`) will change the step any more.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .skipped, .cancelled, .interrupted: true
        case .pending, .running, .waiting, .retryWait: false
        }
    }

    /// What moves a step from one state to the next.
    public enum Transition: String, Sendable, CaseIterable {
        case start, wait, resume, succeed, fail, retryLater, cancel, skip
        /// wfd stopped while an `effectful` attempt ran.
        case interrupt
        /// `wfctl retry` runs the step again: back to pending.
        case reset
        /// `wfctl retry --skip`: a person records the step as done, with its output.
        case markDone
    }

    /// The state after `transition`, or nil when the transition is not allowed from this state.
    public func after(_ transition: Transition) -> StepState? {
        switch (self, transition) {
        case (.pending, .start), (.retryWait, .start): .running
        case (.waiting, .start): .running  // a budget approved: the next attempt may make its call
        case (.pending, .skip): .skipped
        case (.pending, .cancel), (.retryWait, .cancel), (.waiting, .cancel), (.running, .cancel): .cancelled
        case (.running, .wait): .waiting
        case (.waiting, .resume): .succeeded
        case (.running, .succeed): .succeeded
        case (.running, .fail), (.waiting, .fail): .failed
        case (.running, .retryLater): .retryWait
        case (.running, .interrupt): .interrupted
        case (.failed, .reset), (.skipped, .reset), (.cancelled, .reset), (.interrupted, .reset),
            (.succeeded, .reset):
            .pending
        case (.pending, .markDone): .succeeded
        default: nil
        }
    }
}
