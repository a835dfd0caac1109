import Logging

/// The names of structured log fields. The journald handler upper-cases them: `run_id` → `RUN_ID`.
public enum LogField {
    public static let job = "job"
    public static let runID = "run_id"
    public static let step = "step"
    public static let attempt = "attempt"
    /// The index of a for_each item.
    public static let item = "item"
    public static let stream = "stream"
    public static let file = "file"
    public static let state = "state"
    public static let trigger = "trigger"
    /// journald's `MESSAGE_ID`: one per kind of event, so `journalctl MESSAGE_ID=…` finds every
    /// one of them across jobs (docs/journal.md lists them).
    public static let messageID = "message_id"
}

/// The `MESSAGE_ID`s of wfd's events (128-bit ids, as journald expects; fixed forever).
public enum MessageID {
    public static let runStarted = "ca8d65201ddf498495560e272cd03d2e"
    public static let runSucceeded = "68518fa23efa4e269962750e886a05f1"
    /// A run ended `failed` or `timed_out`.
    public static let runFailed = "e0fb8db1ba5d464e88360860625da82b"
    public static let runCancelled = "d24ecc915b1442ee9b10c233dfcc0629"
    /// An attempt of a step failed (it may be retried).
    public static let stepFailed = "df3e83e3dbd54409ad5c26d39c9ec33b"
    /// A step waits for a person: an approval, or a model call over budget.
    public static let approvalRequested = "3e0f4ce0070b47d88a8c85aecaa3d9c7"
    /// A model call was not made because it could pass a budget.
    public static let budgetExceeded = "c5be5a876fc242c9b8e08d56a5fa5048"
    /// A record failed its checks and was moved aside.
    public static let recordQuarantined = "d216663f29db43bebb81005bdfa1582d"

    /// Every id with its name, for docs and tests.
    public static let all: [(name: String, id: String)] = [
        ("run started", runStarted), ("run succeeded", runSucceeded), ("run failed", runFailed),
        ("run cancelled", runCancelled), ("step failed", stepFailed), ("approval requested", approvalRequested),
        ("budget exceeded", budgetExceeded), ("record quarantined", recordQuarantined),
    ]
}

extension Logger {
    /// A copy of this logger carrying `fields` as metadata on every entry.
    func with(_ fields: [String: String]) -> Logger {
        var copy = self
        for (key, value) in fields { copy[metadataKey: key] = .string(value) }
        return copy
    }
}
