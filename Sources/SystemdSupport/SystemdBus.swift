import CSystemd
import Foundation
import JobFormat
import Logging
import WorkflowEngine

#if canImport(Glibc)
    import Glibc
#endif

/// The service manager over D-Bus, with sd-bus from libsystemd: transient units started, followed
/// from their change signals, read, signalled and let go. The connection and its thread are a
/// ``BusConnection``; every call here runs on that thread, and so does every touch of `watchers`.
public final class SystemdBus: UnitManager, BusConnectionDelegate, @unchecked Sendable {
    private let connection: BusConnection
    /// Owned by the bus thread: touched only in closures that run there.
    private var watchers: [String: Watcher] = [:]

    private struct Watcher {
        let name: String
        var status: UnitStatus
        let changed: @Sendable (UnitStatus) -> Void
    }

    private init(connection: BusConnection) {
        self.connection = connection
    }

    /// Connects to systemd at `address` (nil: the system bus; see ``preferredAddress(environment:)``)
    /// and subscribes to its signals.
    public static func connect(address: String? = nil, logger: Logger? = nil) async throws(UnitError) -> SystemdBus {
        let connection = try BusConnection(address: address, logger: logger)
        let manager = SystemdBus(connection: connection)
        connection.delegate = manager
        try await connection.start()
        return manager
    }

    /// Whether systemd answers at `address` (nil: the system bus), for choosing an executor.
    public static func reachable(address: String? = nil) -> Result<Void, UnitError> {
        BusConnection.reachable(address: address)
    }

    /// Where to reach systemd: `$DBUS_SYSTEM_BUS_ADDRESS` when set; else, for root, the manager's
    /// own socket (/run/systemd/private, what systemctl uses: a direct connection, no broker in
    /// between, so each call costs about half a millisecond less and a restart of dbus-daemon
    /// does not cut wfd off); else the system bus.
    public static func preferredAddress(environment: [String: String]) -> String? {
        if let explicit = environment["DBUS_SYSTEM_BUS_ADDRESS"], !explicit.isEmpty { return explicit }
        guard geteuid() == 0 else { return nil }
        var info = stat()
        guard stat("/run/systemd/private", &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return privateAddress
    }

    /// The manager's own D-Bus socket (what systemctl uses as root): no broker in between.
    public static let privateAddress = "unix:path=/run/systemd/private"

    // MARK: UnitManager

    public func start(
        _ name: String, properties: [UnitProperty], changed: @escaping @Sendable (UnitStatus) -> Void
    ) async throws(UnitError) {
        try await connection.perform { [self] bus throws(UnitError) in
            let path = try bus.path(of: name)
            // Nothing is read after the call: the match and the watcher are in place before it,
            // so every change signal of the new unit reaches the watcher.
            watchers[path] = Watcher(
                name: name,
                status: UnitStatus(state: UnitState(activeState: "inactive", subState: "dead", jobPending: true)),
                changed: changed)
            do throws(UnitError) {
                _ = try bus.call("StartTransientUnit", on: BusConnection.manager) { message throws(UnitError) in
                    try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), name))
                    try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), "fail"))
                    try BusMessage.check(sd_bus_message_open_container(message, BusMessage.type("a"), "(sv)"))
                    for property in properties { try BusMessage.append(property, to: message) }
                    try BusMessage.check(sd_bus_message_close_container(message))
                    try BusMessage.check(sd_bus_message_open_container(message, BusMessage.type("a"), "(sa(sv))"))
                    try BusMessage.check(sd_bus_message_close_container(message))
                }
            } catch {
                watchers[path] = nil
                throw error
            }
        }
    }

    public func follow(_ name: String, changed: @escaping @Sendable (UnitStatus) -> Void) async throws(UnitError)
        -> UnitStatus?
    {
        try await connection.perform { [self] bus throws(UnitError) in
            let path = try bus.path(of: name)
            // Watching first, then reading: a change in between is seen by one or the other.
            watchers[path] = Watcher(
                name: name, status: UnitStatus(state: UnitState(activeState: "", subState: "", jobPending: true)),
                changed: changed)
            let status: UnitStatus
            do throws(UnitError) {
                status = try read(name, on: bus)
            } catch {
                watchers[path] = nil
                if error.name == UnitError.noSuchUnit { return nil }
                throw error
            }
            watchers[path]?.status = status
            changed(status)
            return status
        }
    }

    public func forget(_ name: String) async {
        _ = try? await connection.perform { [self] bus throws(UnitError) in
            watchers[try bus.path(of: name)] = nil
        }
    }

    public func status(_ name: String) async throws(UnitError) -> UnitStatus {
        try await connection.perform { [self] bus throws(UnitError) in try read(name, on: bus) }
    }

    public func cpuUsage(_ name: String) async throws(UnitError) -> UInt64? {
        try await connection.perform { [self] bus throws(UnitError) in
            let value = try bus.call("Get", on: (try bus.path(of: name), "org.freedesktop.DBus.Properties")) {
                message throws(UnitError) in
                for argument in ["org.freedesktop.systemd1.Service", "CPUUsageNSec"] {
                    try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), argument))
                }
            } read: { reply throws(UnitError) in
                try BusMessage.check(sd_bus_message_enter_container(reply, BusMessage.type("v"), "t"))
                return try BusMessage.readValue(reply, signature: "t")
            }
            guard case .uint64(let nanoseconds) = value, nanoseconds != UInt64.max else { return nil }
            return nanoseconds
        }
    }

    public func kill(_ name: String, signal: Int32) async throws(UnitError) {
        try await connection.perform { [self] bus throws(UnitError) in
            _ = try bus.call("KillUnit", on: BusConnection.manager) { message throws(UnitError) in
                try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), name))
                try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), "all"))
                var number = signal
                try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("i"), &number))
            }
        }
    }

    public func release(_ name: String, failed: Bool?) async throws(UnitError) {
        try await connection.perform { [self] bus throws(UnitError) in
            watchers[try bus.path(of: name)] = nil
            var failed = failed
            if failed == nil {
                do throws(UnitError) {
                    let state = try read(name, on: bus).state
                    if state.activeState == "inactive" { return }
                    failed = state.activeState == "failed"
                } catch  where error.name == UnitError.noSuchUnit {
                    return  // collected already
                }
            }
            do throws(UnitError) {
                if failed == true {
                    try bus.manage("ResetFailedUnit", name)
                } else {
                    try bus.manage("StopUnit", name, "replace")
                }
            } catch  where error.name == UnitError.noSuchUnit {
                return
            }
        }
    }

    public func list(matching pattern: String) async throws(UnitError) -> [UnitListing] {
        try await connection.perform { [self] bus throws(UnitError) in
            try bus.call("ListUnitsByPatterns", on: BusConnection.manager) { message throws(UnitError) in
                try BusMessage.appendStrings([], to: message)
                try BusMessage.appendStrings([pattern], to: message)
            } read: { reply throws(UnitError) in
                // a(ssssssouso): name, description, load, active, sub, following, path, job id, type, job path
                var units: [UnitListing] = []
                try BusMessage.check(sd_bus_message_enter_container(reply, BusMessage.type("a"), "(ssssssouso)"))
                while try BusMessage.enter(reply, "r", "ssssssouso") {
                    let strings = try (0..<6).map { _ throws(UnitError) in try BusMessage.readString(reply) }
                    _ = try BusMessage.readString(reply, type: "o")
                    var job: UInt32 = 0
                    try BusMessage.check(sd_bus_message_read_basic(reply, BusMessage.type("u"), &job))
                    try BusMessage.check(sd_bus_message_skip(reply, "so"))
                    try BusMessage.check(sd_bus_message_exit_container(reply))
                    units.append(
                        UnitListing(
                            name: strings[0], description: strings[1],
                            state: UnitState(activeState: strings[3], subState: strings[4], jobPending: job != 0)))
                }
                try BusMessage.check(sd_bus_message_exit_container(reply))
                return units
            }
        }
    }

    // MARK: On the bus thread

    /// The unit's status in full: `GetUnit` (which never loads a unit: reading properties of a
    /// collected one by its path would load it, and it would read as a clean success), then the
    /// properties of both interfaces.
    private func read(_ name: String, on bus: BusConnection) throws(UnitError) -> UnitStatus {
        try bus.manage("GetUnit", name)
        let path = try bus.path(of: name)
        var status = UnitStatus(state: UnitState(activeState: "", subState: "", jobPending: false))
        for interface in ["org.freedesktop.systemd1.Unit", "org.freedesktop.systemd1.Service"] {
            Self.apply(try bus.properties(of: path, interface: interface), to: &status)
        }
        return status
    }

    /// Back after a lost connection: each followed unit's state is read anew and passed on (a
    /// change missed meanwhile is seen then).
    func busReconnected(_ bus: BusConnection) {
        connection.logger?.notice("connected to systemd again; reading the \(watchers.count) units followed anew")
        for (path, watcher) in watchers {
            var status: UnitStatus
            do throws(UnitError) {
                status = try read(watcher.name, on: bus)
            } catch  where error.name == UnitError.noSuchUnit {
                // Gone meanwhile: ended, with its end unknown (the status read next says so).
                status = watcher.status
                status.state = UnitState(activeState: "inactive", subState: "dead", jobPending: false)
            } catch {
                continue
            }
            watchers[path]?.status = status
            watcher.changed(status)
        }
    }

    /// A change signal: what changed goes into the followed unit's status, which is passed on.
    /// systemd sends a unit's `Service` changes (its main process's end) before its `Unit` ones
    /// (its state), so the status is complete when the state says the unit ended.
    func busSignal(_ message: OpaquePointer) {
        guard let raw = sd_bus_message_get_path(message) else { return }
        let path = String(cString: raw)
        guard var watcher = watchers[path], (try? BusMessage.readString(message)) != nil,
            let changed = try? BusMessage.readDictionary(message)
        else { return }
        Self.apply(changed, to: &watcher.status)
        watchers[path] = watcher
        watcher.changed(watcher.status)
    }

    /// Takes the properties wfd follows from `values` (of either interface) into `status`.
    private static func apply(_ values: [String: BusMessage.Value], to status: inout UnitStatus) {
        func date(_ key: String) -> Date?? {
            guard case .uint64(let micros)? = values[key] else { return nil }
            return .some(micros == 0 ? nil : Date(timeIntervalSince1970: Double(micros) / 1_000_000))
        }
        if let active = values["ActiveState"]?.string { status.state.activeState = active }
        if let sub = values["SubState"]?.string { status.state.subState = sub }
        if case .job(let id)? = values["Job"] { status.state.jobPending = id != 0 }
        if let result = values["Result"]?.string { status.result = result }
        if let code = values["ExecMainCode"]?.int32 { status.mainCode = code }
        if let code = values["ExecMainStatus"]?.int32 { status.mainStatus = code }
        if let pid = values["MainPID"]?.uint32 { status.mainPID = pid }
        if let started = date("ExecMainStartTimestamp") { status.startedAt = started }
        if let exited = date("ExecMainExitTimestamp") { status.exitedAt = exited }
        if case .uint64(let cpu)? = values["CPUUsageNSec"] { status.cpuNanoseconds = cpu == UInt64.max ? nil : cpu }
        if let group = values["ControlGroup"]?.string { status.controlGroup = group }
        if let id = values["InvocationID"]?.hex { status.invocationID = id }
    }
}
