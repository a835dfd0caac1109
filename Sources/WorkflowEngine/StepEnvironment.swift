import JobFormat

/// Builds the clean environment of a step: nothing of wfd's own environment leaks in but a few
/// harmless basics, and never `NOTIFY_SOCKET`, `WATCHDOG_*`, `LISTEN_*`, `INVOCATION_ID`,
/// `JOURNAL_STREAM`, `CREDENTIALS_DIRECTORY` or the `*_DIRECTORY` variables systemd sets.
public enum StepEnvironment {
    /// The variables taken from wfd's environment when set there.
    public static let passedThrough = ["PATH", "LANG", "LC_ALL", "LC_CTYPE"]
    /// The variables that say who the step runs as, from the password database entry of its
    /// account (as cron and systemd's `User=` set them); from wfd's environment only when the
    /// account has no entry.
    public static let identity = ["HOME", "USER", "LOGNAME", "SHELL"]
    /// Variables that a job's `env` may not set: they belong to the service manager (the parser
    /// refuses them too).
    public static var reserved: Set<String> { StepEnvironmentNames.reserved }
    /// The longest value passed in one environment variable (Linux caps one at 128 KiB).
    public static let maximumValue = 64 * 1024

    /// `WF_STEP_<ID>_OUTPUT`: the id upper-cased, anything but letters and digits as `_`.
    public static func outputName(of step: StepID) -> String { "WF_STEP_\(variablePart(step.rawValue))_OUTPUT" }

    /// `WF_PARAM_<NAME>`.
    public static func parameterName(_ name: String) -> String { "WF_PARAM_\(variablePart(name))" }

    static func variablePart(_ name: String) -> String { StepEnvironmentNames.variablePart(name) }

    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// The environment of `attempt` of `step` in run `run` of `job`, run as `account` (the step's
    /// `user:`, else wfd's own). A job's `env` may still set `HOME` and the others.
    public static func make(
        job: Job, step: StepDefinition, run: RunID, attempt: Int, params: [String: String] = [:],
        account: UserAccount?, daemonEnvironment: [String: String]
    ) -> [String: String] {
        var environment: [String: String] = [:]
        for name in passedThrough {
            if let value = daemonEnvironment[name] { environment[name] = value }
        }
        if let account {
            environment["HOME"] = account.home
            environment["USER"] = account.name
            environment["LOGNAME"] = account.name
            environment["SHELL"] = account.shell
        } else {
            for name in identity {
                if let value = daemonEnvironment[name] { environment[name] = value }
            }
        }
        environment["PATH"] = environment["PATH"] ?? defaultPath
        if let zone = job.timezone { environment["TZ"] = zone }
        for (name, value) in job.env where !reserved.contains(name) { environment[name] = value }
        for (name, value) in step.env where !reserved.contains(name) { environment[name] = value }
        environment["WF_JOB"] = job.id.rawValue
        environment["WF_RUN_ID"] = run.rawValue
        environment["WF_STEP"] = step.id.rawValue
        environment["WF_ATTEMPT"] = String(attempt)
        for (name, value) in params { environment[parameterName(name)] = value }
        return environment
    }
}
