import JobFormat

/// The properties of an attempt's transient service (systemd 252's D-Bus names and types).
///
/// Everything here is written by systemd to `/run/systemd/transient/<name>`, readable by anyone,
/// and shown on the bus: no secret goes in. Secrets reach the step as credentials
/// (`LoadCredential=` from files only root can read) and the command line sets
/// `$WF_SECRET_<NAME>` from `$CREDENTIALS_DIRECTORY` before it runs the step's command.
public enum UnitProperties {
    /// Where a unit's output goes (`StandardOutputFileToAppend=`): files in the run's directory,
    /// which wfd follows, and which a later wfd reads again from the start.
    public struct Output: Sendable, Equatable {
        public var stdout: String
        public var stderr: String

        public init(logFile: String) {
            stdout = logFile + ".stdout"
            stderr = logFile + ".stderr"
        }
    }

    /// `credentials`: a secret's name and the file systemd loads it from.
    public static func make(
        _ invocation: StepInvocation, program: String, arguments: [String], output: Output,
        credentials: [UnitProperty.Pair], slice: String, stopTimeout: Duration
    ) -> [UnitProperty] {
        let key = AttemptKey(invocation)
        var argv = [program] + arguments
        var path = program
        if !credentials.isEmpty {
            // The secrets' variables are set inside the unit, from its credentials, then the
            // step's own command line runs as it would have: `sh -c 'exports; exec "$0" "$@"' argv`.
            let exports = credentials.map { pair in
                let variable = StepEnvironmentNames.secretName(pair.first)
                return "\(variable)=$(cat \"$CREDENTIALS_DIRECTORY/\(pair.first)\") && export \(variable)"
            }.joined(separator: " && ")
            argv = ["/bin/sh", "-c", exports + " && exec \"$0\" \"$@\""] + argv
            path = "/bin/sh"
        }
        var properties: [UnitProperty] = [
            UnitProperty("Description", .string(description(key))),
            UnitProperty("Type", .string("exec")),
            // Keeps the unit, its exit status and CPU time, after the end until wfd has recorded
            // them (a successful unit would otherwise be collected at once).
            UnitProperty("RemainAfterExit", .bool(true)),
            UnitProperty("Slice", .string(slice)),
            UnitProperty("ExecStartEx", .command(path: path, arguments: argv, flags: ["no-env-expand"])),
            UnitProperty("WorkingDirectory", .string(invocation.workingDirectory)),
            UnitProperty(
                "Environment",
                .strings(invocation.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })),
            UnitProperty("StandardInput", .string("null")),
            UnitProperty("StandardOutputFileToAppend", .string(output.stdout)),
            UnitProperty("StandardErrorFileToAppend", .string(output.stderr)),
            UnitProperty("LogExtraFields", .byteArrays(logFields(key).map { Array($0.utf8) })),
            UnitProperty("KillMode", .string("control-group")),
            UnitProperty("TimeoutStopUSec", .uint64(microseconds(stopTimeout))),
            UnitProperty("CPUAccounting", .bool(true)),
            UnitProperty("MemoryAccounting", .bool(true)),
            UnitProperty("TasksAccounting", .bool(true)),
        ]
        if let account = invocation.account { properties.append(UnitProperty("User", .string(account.name))) }
        if !credentials.isEmpty { properties.append(UnitProperty("LoadCredential", .pairs(credentials))) }
        properties += sandbox(invocation.sandbox) + resources(invocation.resources)
        return properties
    }

    /// `wfd job J, run R, step S[, item N], attempt A`: what `systemctl status` shows, and how a
    /// later wfd tells which attempt a unit it finds belongs to (``attemptKey(description:)``).
    public static func description(_ key: AttemptKey) -> String {
        let item = key.item.map { ", item \($0)" } ?? ""
        return "wfd job \(key.job), run \(key.run), step \(key.step)\(item), attempt \(key.attempt)"
    }

    /// The attempt a unit's description names, or nil when it is not one wfd wrote.
    public static func attemptKey(description: String) -> AttemptKey? {
        guard description.hasPrefix("wfd job ") else { return nil }
        var fields: [String: String] = [:]
        for part in description.dropFirst(4).split(separator: ", ") {
            let words = part.split(separator: " ", maxSplits: 1)
            guard words.count == 2 else { return nil }
            fields[String(words[0])] = String(words[1])
        }
        guard let job = fields["job"].flatMap(JobID.init), let run = fields["run"].flatMap(RunID.init),
            let step = fields["step"].flatMap(StepID.init), let attempt = fields["attempt"].flatMap({ Int($0) })
        else { return nil }
        let item = fields["item"].flatMap { Int($0) }
        if fields["item"] != nil, item == nil { return nil }
        let key = AttemptKey(job: job, run: run, step: step, item: item, attempt: attempt)
        return description == Self.description(key) ? key : nil
    }

    /// The most environment a unit gets, all entries together.
    static let maximumEnvironment = 192 * 1024

    /// `environment` within ``maximumEnvironment``: upstream outputs (`WF_STEP_<ID>_OUTPUT`, whose
    /// `_FILE` stays) are left out, largest first, until it fits; nil when it cannot.
    static func environment(_ environment: [String: String]) -> [String: String]? {
        var result = environment
        var size = environment.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 1 }
        let droppable = environment.filter { $0.key.hasSuffix("_OUTPUT") && environment[$0.key + "_FILE"] != nil }
            .sorted { $0.value.utf8.count > $1.value.utf8.count }
        for (name, value) in droppable where size > maximumEnvironment {
            result[name] = nil
            size -= name.utf8.count + value.utf8.count + 1
        }
        return size > maximumEnvironment ? nil : result
    }

    /// `JOB=`, `RUN_ID=`, `STEP=`, `ATTEMPT=` (and `ITEM=`) on every journal entry of the unit.
    static func logFields(_ key: AttemptKey) -> [String] {
        var fields = ["JOB=\(key.job)", "RUN_ID=\(key.run)", "STEP=\(key.step)", "ATTEMPT=\(key.attempt)"]
        if let item = key.item { fields.append("ITEM=\(item)") }
        return fields
    }

    static func sandbox(_ settings: SandboxSettings) -> [UnitProperty] {
        var properties: [UnitProperty] = []
        if let value = settings.protectSystem { properties.append(UnitProperty("ProtectSystem", .string(value))) }
        if let value = settings.protectHome { properties.append(UnitProperty("ProtectHome", .string(value))) }
        for (name, paths) in [
            ("ReadWritePaths", settings.readWritePaths), ("ReadOnlyPaths", settings.readOnlyPaths),
            ("InaccessiblePaths", settings.inaccessiblePaths),
        ] {
            if let paths { properties.append(UnitProperty(name, .strings(paths))) }
        }
        for (name, flag) in [
            ("PrivateTmp", settings.privateTmp), ("PrivateNetwork", settings.privateNetwork),
            ("PrivateDevices", settings.privateDevices), ("NoNewPrivileges", settings.noNewPrivileges),
            ("DynamicUser", settings.dynamicUser),
        ] {
            if let flag { properties.append(UnitProperty(name, .bool(flag))) }
        }
        return properties
    }

    static func resources(_ settings: ResourceSettings) -> [UnitProperty] {
        var properties: [UnitProperty] = []
        if let bytes = settings.memoryMax { properties.append(UnitProperty("MemoryMax", .uint64(bytes))) }
        if let percent = settings.cpuQuota {
            // CPUQuota=50% is 500 ms of CPU time per second.
            properties.append(UnitProperty("CPUQuotaPerSecUSec", .uint64(UInt64(percent) * 10_000)))
        }
        if let count = settings.tasksMax { properties.append(UnitProperty("TasksMax", .uint64(count))) }
        if let weight = settings.ioWeight { properties.append(UnitProperty("IOWeight", .uint64(weight))) }
        if let nice = settings.nice { properties.append(UnitProperty("Nice", .int32(Int32(nice)))) }
        return properties
    }

    static func microseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000_000)
    }
}
