import RuntimeSupport
import Yams

/// How a job's `run:` steps are started: as children of wfd, or as transient systemd services.
public enum ExecutorKind: String, Sendable, Codable, CaseIterable {
    /// A child process of wfd (its session, its pipes): what `make run` and containers use.
    case process
    /// A transient service `wfd-….service` in `wfd.slice`, started over D-Bus.
    case unit
}

/// A value kept out of line: a job or step that sets none of it costs one word, not the value's
/// size (10,000 loaded jobs carried 8 MiB more with these settings inline). Encoded as the value.
public enum Indirect<Value: Sendable & Equatable & Codable>: Sendable, Equatable, Codable {
    indirect case value(Value)

    public init(_ value: Value) { self = .value(value) }

    public var value: Value {
        switch self {
        case .value(let value): value
        }
    }

    public init(from decoder: any Decoder) throws { self = .value(try Value(from: decoder)) }
    public func encode(to encoder: any Encoder) throws { try value.encode(to: encoder) }
}

/// `sandbox:` — the systemd sandboxing a step's unit gets, at job or step level (a step's keys
/// go over the job's). Only the unit executor can apply it.
public struct SandboxSettings: Sendable, Equatable, Codable {
    /// `ProtectSystem=`: `true` (yes), `full`, `strict`, or `false`.
    public var protectSystem: String?
    /// `ProtectHome=`: `true` (yes), `read-only`, `tmpfs`, or `false`.
    public var protectHome: String?
    public var readWritePaths: [String]?
    public var readOnlyPaths: [String]?
    public var inaccessiblePaths: [String]?
    public var privateTmp: Bool?
    public var privateNetwork: Bool?
    public var privateDevices: Bool?
    public var noNewPrivileges: Bool?
    public var dynamicUser: Bool?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case protectSystem = "protect_system"
        case protectHome = "protect_home"
        case readWritePaths = "read_write_paths"
        case readOnlyPaths = "read_only_paths"
        case inaccessiblePaths = "inaccessible_paths"
        case privateTmp = "private_tmp"
        case privateNetwork = "private_network"
        case privateDevices = "private_devices"
        case noNewPrivileges = "no_new_privileges"
        case dynamicUser = "dynamic_user"
    }

    /// These settings with `other`'s over them.
    public func overridden(by other: SandboxSettings?) -> SandboxSettings {
        guard let other else { return self }
        var merged = self
        merged.protectSystem = other.protectSystem ?? protectSystem
        merged.protectHome = other.protectHome ?? protectHome
        merged.readWritePaths = other.readWritePaths ?? readWritePaths
        merged.readOnlyPaths = other.readOnlyPaths ?? readOnlyPaths
        merged.inaccessiblePaths = other.inaccessiblePaths ?? inaccessiblePaths
        merged.privateTmp = other.privateTmp ?? privateTmp
        merged.privateNetwork = other.privateNetwork ?? privateNetwork
        merged.privateDevices = other.privateDevices ?? privateDevices
        merged.noNewPrivileges = other.noNewPrivileges ?? noNewPrivileges
        merged.dynamicUser = other.dynamicUser ?? dynamicUser
        return merged
    }

    public var isEmpty: Bool { self == SandboxSettings() }

    /// `key: value` lines as the job file would give them, for `wfctl show`.
    public var lines: [String] {
        var lines: [String] = []
        func add(_ key: CodingKeys, _ value: String?) { if let value { lines.append("\(key.rawValue): \(value)") } }
        func list(_ paths: [String]?) -> String? { paths.map { "[" + $0.joined(separator: ", ") + "]" } }
        add(.protectSystem, protectSystem)
        add(.protectHome, protectHome)
        add(.readWritePaths, list(readWritePaths))
        add(.readOnlyPaths, list(readOnlyPaths))
        add(.inaccessiblePaths, list(inaccessiblePaths))
        add(.privateTmp, privateTmp.map(String.init))
        add(.privateNetwork, privateNetwork.map(String.init))
        add(.privateDevices, privateDevices.map(String.init))
        add(.noNewPrivileges, noNewPrivileges.map(String.init))
        add(.dynamicUser, dynamicUser.map(String.init))
        return lines
    }
}

/// `resources:` — limits on a step's unit (its cgroup), at job or step level.
public struct ResourceSettings: Sendable, Equatable, Codable {
    /// `MemoryMax=` in bytes: past it the kernel kills the step (outcome `oom`).
    public var memoryMax: UInt64?
    /// `CPUQuota=` in percent of one CPU (200 = two CPUs).
    public var cpuQuota: Int?
    /// `TasksMax=`: processes and threads.
    public var tasksMax: UInt64?
    /// `IOWeight=`, 1–10000 (default 100).
    public var ioWeight: UInt64?
    /// `Nice=`, -20–19.
    public var nice: Int?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case memoryMax = "memory_max"
        case cpuQuota = "cpu_quota"
        case tasksMax = "tasks_max"
        case ioWeight = "io_weight"
        case nice
    }

    public func overridden(by other: ResourceSettings?) -> ResourceSettings {
        guard let other else { return self }
        var merged = self
        merged.memoryMax = other.memoryMax ?? memoryMax
        merged.cpuQuota = other.cpuQuota ?? cpuQuota
        merged.tasksMax = other.tasksMax ?? tasksMax
        merged.ioWeight = other.ioWeight ?? ioWeight
        merged.nice = other.nice ?? nice
        return merged
    }

    public var isEmpty: Bool { self == ResourceSettings() }

    public var lines: [String] {
        var lines: [String] = []
        if let memoryMax { lines.append("memory_max: \(Self.bytes(memoryMax))") }
        if let cpuQuota { lines.append("cpu_quota: \(cpuQuota)%") }
        if let tasksMax { lines.append("tasks_max: \(tasksMax)") }
        if let ioWeight { lines.append("io_weight: \(ioWeight)") }
        if let nice { lines.append("nice: \(nice)") }
        return lines
    }

    /// `512M`, `2G`, or plain bytes: the largest unit that divides the value.
    public static func bytes(_ value: UInt64) -> String {
        for (suffix, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] where value % (1 << shift) == 0 {
            return "\(value >> shift)\(suffix)"
        }
        return String(value)
    }

    /// Reads a size the way systemd does: bytes, or a number with K, M, G or T (powers of 1024).
    public static func parseBytes(_ text: String) -> UInt64? {
        let trimmed = text.trimmingWhitespace()
        guard let last = trimmed.last else { return nil }
        let shifts: [Character: UInt64] = ["K": 10, "M": 20, "G": 30, "T": 40]
        let upper = Character(last.uppercased())
        if let shift = shifts[upper] {
            guard let number = UInt64(trimmed.dropLast()), number > 0, number <= UInt64.max >> shift else {
                return nil
            }
            return number << shift
        }
        return UInt64(trimmed).flatMap { $0 > 0 ? $0 : nil }
    }
}

extension JobReader {
    static let sandboxKeys = SandboxSettings.CodingKeys.allRawValues
    static let resourceKeys = ResourceSettings.CodingKeys.allRawValues

    mutating func sandbox(_ node: Node) -> SandboxSettings? {
        guard
            let mapping = mapping(
                node, "sandbox", example: "sandbox: { protect_system: strict, read_write_paths: [/srv/backup] }")
        else { return nil }
        let fields = fields(mapping, allowed: Self.sandboxKeys, in: "'sandbox'")
        var settings = SandboxSettings()
        func choice(_ key: String, _ allowed: [String]) -> String? {
            guard let (_, value) = fields[key] else { return nil }
            if let flag = value.bool, case .scalar(let scalar) = value, scalar.tagName == .bool {
                return flag ? "yes" : "no"
            }
            guard let text = string(value, key) else { return nil }
            guard allowed.contains(text) else {
                report(
                    value, "'\(key)' cannot be '\(text)'",
                    hint: "one of true, false, \(allowed.joined(separator: ", ")) (systemd.exec(5))")
                return nil
            }
            return text
        }
        func paths(_ key: String) -> [String]? {
            guard let (_, value) = fields[key], let items = stringList(value, key) else { return nil }
            var paths: [String] = []
            for (path, item) in items {
                // systemd's own prefixes: '-' ignores a missing path, '+' is relative to RootDirectory.
                let bare = path.drop { $0 == "-" || $0 == "+" }
                guard bare.hasPrefix("/"), !bare.split(separator: "/").contains(".."),
                    !path.contains(where: { $0 == " " || $0 == "\n" })
                else {
                    report(
                        item, "'\(key)' needs absolute paths without spaces or '..', not '\(path)'",
                        hint: "for example /srv/backup; a leading '-' lets the path be missing")
                    continue
                }
                paths.append(path)
            }
            return paths
        }
        func flag(_ key: String) -> Bool? { fields[key].flatMap { bool($0.value, key) } }
        settings.protectSystem = choice("protect_system", ["full", "strict"])
        settings.protectHome = choice("protect_home", ["read-only", "tmpfs"])
        settings.readWritePaths = paths("read_write_paths")
        settings.readOnlyPaths = paths("read_only_paths")
        settings.inaccessiblePaths = paths("inaccessible_paths")
        settings.privateTmp = flag("private_tmp")
        settings.privateNetwork = flag("private_network")
        settings.privateDevices = flag("private_devices")
        settings.noNewPrivileges = flag("no_new_privileges")
        settings.dynamicUser = flag("dynamic_user")
        return settings
    }

    mutating func resources(_ node: Node) -> ResourceSettings? {
        guard let mapping = mapping(node, "resources", example: "resources: { memory_max: 512M, cpu_quota: 50% }")
        else { return nil }
        let fields = fields(mapping, allowed: Self.resourceKeys, in: "'resources'")
        var settings = ResourceSettings()
        if let (_, value) = fields["memory_max"] {
            let text = value.scalar?.string ?? ""
            if let bytes = ResourceSettings.parseBytes(text), value.scalar != nil {
                settings.memoryMax = bytes
            } else {
                report(
                    value, "'memory_max' must be a size like 512M or 2G, not \(Self.describe(value))",
                    hint: "bytes, or a number with K, M, G or T (powers of 1024)")
            }
        }
        if let (_, value) = fields["cpu_quota"] {
            let text = value.scalar?.string.trimmingWhitespace() ?? ""
            if text.hasSuffix("%"), let percent = Int(text.dropLast()), (1...100_000).contains(percent) {
                settings.cpuQuota = percent
            } else {
                report(
                    value, "'cpu_quota' must be a percentage like 50% or 200%, not \(Self.describe(value))",
                    hint: "100% is one whole CPU")
            }
        }
        if let (_, value) = fields["tasks_max"], let count = int(value, "tasks_max", range: 1...4_194_304) {
            settings.tasksMax = UInt64(count)
        }
        if let (_, value) = fields["io_weight"], let weight = int(value, "io_weight", range: 1...10_000) {
            settings.ioWeight = UInt64(weight)
        }
        if let (_, value) = fields["nice"], let nice = int(value, "nice", range: -20...19) { settings.nice = nice }
        return settings
    }
}

extension CodingKey where Self: CaseIterable {
    static var allRawValues: [String] { allCases.map(\.stringValue) }
}
