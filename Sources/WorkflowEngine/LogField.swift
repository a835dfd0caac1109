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
}

extension Logger {
    /// A copy of this logger carrying `fields` as metadata on every entry.
    func with(_ fields: [String: String]) -> Logger {
        var copy = self
        for (key, value) in fields { copy[metadataKey: key] = .string(value) }
        return copy
    }
}
