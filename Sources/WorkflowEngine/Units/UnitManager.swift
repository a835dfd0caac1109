import Foundation

/// One property of a transient unit, by its D-Bus name (`MemoryMax`, `ExecStartEx`, …), with a
/// value of the wire type systemd 252 expects for it.
public struct UnitProperty: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        /// `s`
        case string(String)
        /// `b`
        case bool(Bool)
        /// `t`
        case uint64(UInt64)
        /// `i`
        case int32(Int32)
        /// `as`
        case strings([String])
        /// `aay`: `LogExtraFields`
        case byteArrays([[UInt8]])
        /// `a(ss)`: `LoadCredential`
        case pairs([Pair])
        /// `a(sasas)` with one command: `ExecStartEx`
        case command(path: String, arguments: [String], flags: [String])
    }

    public struct Pair: Sendable, Equatable {
        public var first: String
        public var second: String

        public init(_ first: String, _ second: String) {
            self.first = first
            self.second = second
        }
    }

    public var name: String
    public var value: Value

    public init(_ name: String, _ value: Value) {
        self.name = name
        self.value = value
    }
}

/// What a unit is doing, from its `org.freedesktop.systemd1.Unit` properties.
public struct UnitState: Sendable, Equatable {
    public var activeState: String
    public var subState: String
    /// A start or stop job is queued or running for it.
    public var jobPending: Bool

    public init(activeState: String, subState: String, jobPending: Bool) {
        self.activeState = activeState
        self.subState = subState
        self.jobPending = jobPending
    }

    /// The main process has ended (started with `RemainAfterExit=yes`: `active/exited` after a
    /// clean exit, `failed` after anything else) and no job is left to change that.
    public var hasEnded: Bool {
        !jobPending && (activeState == "failed" || activeState == "inactive" || subState == "exited")
    }
}

/// A unit's state, how its main process ended and what it used, read in one go.
public struct UnitStatus: Sendable, Equatable {
    public var state: UnitState
    /// `Result`: `success`, `exit-code`, `signal`, `core-dump`, `timeout`, `oom-kill`, …
    public var result: String
    /// `ExecMainCode`: 1 exited, 2 killed, 3 dumped (CLD_*); 0 while it runs.
    public var mainCode: Int32
    /// `ExecMainStatus`: the exit status, or the signal.
    public var mainStatus: Int32
    public var mainPID: UInt32
    /// `ExecMainStartTimestamp` and `ExecMainExitTimestamp` (nil when 0).
    public var startedAt: Date?
    public var exitedAt: Date?
    /// `CPUUsageNSec` (kept by systemd after the cgroup is gone); nil when unknown.
    public var cpuNanoseconds: UInt64?
    /// `ControlGroup`, relative to the cgroup root; empty once the cgroup is gone.
    public var controlGroup: String
    /// `InvocationID` in hex.
    public var invocationID: String

    public init(
        state: UnitState, result: String = "", mainCode: Int32 = 0, mainStatus: Int32 = 0, mainPID: UInt32 = 0,
        startedAt: Date? = nil, exitedAt: Date? = nil, cpuNanoseconds: UInt64? = nil, controlGroup: String = "",
        invocationID: String = ""
    ) {
        self.state = state
        self.result = result
        self.mainCode = mainCode
        self.mainStatus = mainStatus
        self.mainPID = mainPID
        self.startedAt = startedAt
        self.exitedAt = exitedAt
        self.cpuNanoseconds = cpuNanoseconds
        self.controlGroup = controlGroup
        self.invocationID = invocationID
    }
}

/// A unit listed by ``UnitManager/list(matching:)``.
public struct UnitListing: Sendable, Equatable {
    public var name: String
    public var description: String
    public var state: UnitState

    public init(name: String, description: String, state: UnitState) {
        self.name = name
        self.description = description
        self.state = state
    }
}

/// A refusal or failure from the service manager, said for a person.
public struct UnitError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The D-Bus error name (`org.freedesktop.systemd1.UnitExists`), or empty for a local failure.
    public var name: String
    public var message: String

    public init(name: String, message: String) {
        self.name = name
        self.message = message
    }

    public var description: String { name.isEmpty ? message : "\(message) (\(name))" }

    public static let unitExists = "org.freedesktop.systemd1.UnitExists"
    public static let noSuchUnit = "org.freedesktop.systemd1.NoSuchUnit"
}

/// What the unit executor needs from the service manager: systemd over D-Bus in wfd
/// (`SystemdBus`), nothing else in tests — the end-to-end tests drive a real systemd.
public protocol UnitManager: Sendable {
    /// Starts the transient service `name`. `changed` hears of its state and how its main process
    /// ended, from the change signals systemd sends (so the end costs no call), from the moment
    /// before the call (so none is missed), until ``forget(_:)``.
    func start(
        _ name: String, properties: [UnitProperty], changed: @escaping @Sendable (UnitStatus) -> Void
    ) async throws(UnitError)

    /// Follows a unit started earlier (by a previous wfd): how it stands now, or nil when it is
    /// not loaded (collected, or never started); `changed` as for ``start(_:properties:changed:)``.
    func follow(_ name: String, changed: @escaping @Sendable (UnitStatus) -> Void) async throws(UnitError)
        -> UnitStatus?

    /// Stops passing on changes of `name`.
    func forget(_ name: String) async

    /// How the unit stands, read in full; throws `NoSuchUnit` when it is not loaded.
    func status(_ name: String) async throws(UnitError) -> UnitStatus

    /// The unit's CPU time (`CPUUsageNSec`, kept after its end), nil when unknown.
    func cpuUsage(_ name: String) async throws(UnitError) -> UInt64?

    /// Sends `signal` to every process of the unit.
    func kill(_ name: String, signal: Int32) async throws(UnitError)

    /// Lets the unit go once its end is recorded: resets it when it `failed`, else stops it
    /// (killing what it left running), so that systemd collects it. `failed` nil: looked up.
    func release(_ name: String, failed: Bool?) async throws(UnitError)

    /// Loaded units whose names match the glob `pattern`.
    func list(matching pattern: String) async throws(UnitError) -> [UnitListing]
}
