import CSystemd
import Foundation
import WorkflowCore
import WorkflowEngine

#if canImport(Glibc)
    import Glibc
#endif

/// The service manager over the system bus, with sd-bus from libsystemd.
///
/// sd-bus objects have no locking, so the connection lives on one thread of its own: every call
/// is handed to it (an eventfd wakes it) and runs there, and it processes the bus between calls.
/// One match on `PropertiesChanged` under `/org/freedesktop/systemd1/unit` (with `Subscribe()`,
/// so that systemd sends them) passes the state of every followed unit to its handler.
public final class SystemdBus: UnitManager, @unchecked Sendable {
    /// Owned by the bus thread: touched only in closures that run there.
    private var bus: OpaquePointer?
    private var watchers: [String: Watcher] = [:]
    private var broken: UnitError?
    /// The read and write ends of the pipe that wakes the bus thread.
    private let wake: Int32
    private let waker: Int32
    private let pending = Locked([@Sendable (SystemdBus) -> Void]())
    /// How long one call may take (sd-bus's own default is 25 s).
    private let callTimeout: UInt64 = 25_000_000

    private struct Watcher {
        var state: UnitState
        let changed: @Sendable (UnitState) -> Void
    }

    private init(wake: Int32, waker: Int32) {
        self.wake = wake
        self.waker = waker
    }

    /// Connects to the system bus (or `address`, a D-Bus address such as
    /// `unix:path=/run/dbus/system_bus_socket`) and subscribes to systemd's signals.
    public static func connect(address: String? = nil) throws(UnitError) -> SystemdBus {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw UnitError(name: "", message: "pipe: \(String(cString: strerror(errno)))") }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        let connection = SystemdBus(wake: ends[0], waker: ends[1])
        let opened = DispatchSemaphore(value: 0)
        let outcome = Locked<UnitError?>(nil)
        let thread = Thread {
            outcome.withLock { $0 = connection.open(address: address) }
            opened.signal()
            connection.loop()
        }
        thread.name = "wfd-systemd-bus"
        thread.start()
        opened.wait()
        if let failure = outcome.withLock({ $0 }) { throw failure }
        return connection
    }

    /// Whether the system bus can be reached and systemd answers on it (for choosing an executor).
    public static func reachable(address: String? = nil) -> Result<Void, UnitError> {
        var bus: OpaquePointer?
        let code = open(&bus, address: address)
        defer { if let bus { sd_bus_flush_close_unref(bus) } }
        guard code >= 0, let bus else { return .failure(errnoError("cannot connect to the system bus", code)) }
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var message: OpaquePointer?
        var reply: OpaquePointer?
        defer {
            sd_bus_message_unref(message)
            sd_bus_message_unref(reply)
        }
        guard
            sd_bus_message_new_method_call(
                bus, &message, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                "org.freedesktop.DBus.Peer", "Ping") >= 0,
            sd_bus_call(bus, message, 2_000_000, &error, &reply) >= 0
        else {
            return .failure(
                UnitError(
                    name: Self.text(error.name),
                    message: "systemd does not answer on the system bus: \(Self.text(error.message))"))
        }
        return .success(())
    }

    private static func open(_ bus: inout OpaquePointer?, address: String?) -> Int32 {
        guard let address else { return sd_bus_open_system(&bus) }
        var code = sd_bus_new(&bus)
        guard code >= 0, let created = bus else { return code }
        code = sd_bus_set_address(created, address)
        if code >= 0 { code = sd_bus_set_bus_client(created, 1) }
        if code >= 0 { code = sd_bus_start(created) }
        return code
    }

    /// On the bus thread: connects, subscribes, adds the one match.
    private func open(address: String?) -> UnitError? {
        var opened: OpaquePointer?
        let code = Self.open(&opened, address: address)
        guard code >= 0, let opened else { return Self.errnoError("cannot connect to the system bus", code) }
        bus = opened
        do throws(UnitError) {
            _ = try call("Subscribe", on: Self.manager) { _ in }
        } catch {
            // A second Subscribe on one connection is the only refusal, and this is the first.
            return error
        }
        let match =
            "type='signal',sender='org.freedesktop.systemd1',interface='org.freedesktop.DBus.Properties',"
            + "member='PropertiesChanged',path_namespace='/org/freedesktop/systemd1/unit'"
        let added = sd_bus_add_match(
            opened, nil, match,
            { message, userdata, _ in
                guard let message, let userdata else { return 0 }
                Unmanaged<SystemdBus>.fromOpaque(userdata).takeUnretainedValue().propertiesChanged(message)
                return 0
            }, Unmanaged.passUnretained(self).toOpaque())
        guard added >= 0 else { return Self.errnoError("cannot watch systemd's units", added) }
        return nil
    }

    private func loop() {
        while true {
            let work = pending.withLock { queue in
                defer { queue.removeAll() }
                return queue
            }
            for job in work { job(self) }
            guard let bus, broken == nil else {
                var poll = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
                _ = Glibc.poll(&poll, 1, -1)
                drainWake()
                continue
            }
            var processed: Int32
            repeat {
                processed = sd_bus_process(bus, nil)
            } while processed > 0
            if processed < 0 {
                fail(Self.errnoError("the connection to the system bus broke", processed))
                continue
            }
            var timeout: UInt64 = 0
            var milliseconds: Int32 = -1
            if sd_bus_get_timeout(bus, &timeout) > 0, timeout != UInt64.max {
                var now = timespec()
                clock_gettime(CLOCK_MONOTONIC, &now)
                let current = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
                milliseconds = timeout <= current ? 0 : Int32(clamping: (timeout - current + 999) / 1000)
            }
            var polls = [
                pollfd(fd: sd_bus_get_fd(bus), events: Int16(truncatingIfNeeded: sd_bus_get_events(bus)), revents: 0),
                pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
            ]
            _ = Glibc.poll(&polls, 2, milliseconds)
            if polls[1].revents != 0 { drainWake() }
        }
    }

    /// The connection is gone: every follower hears of it as an unknown state, later calls fail.
    private func drainWake() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while read(wake, &bytes, bytes.count) > 0 {}
    }

    private func fail(_ error: UnitError) {
        broken = error
        if let bus { sd_bus_flush_close_unref(bus) }
        bus = nil
        watchers.removeAll()
    }

    /// Runs `body` on the bus thread and returns what it returns.
    private func perform<T: Sendable>(_ body: @escaping @Sendable (SystemdBus) throws(UnitError) -> T)
        async throws(UnitError) -> T
    {
        let result: Result<T, UnitError> = await withCheckedContinuation { continuation in
            pending.withLock {
                $0.append { bus in
                    do throws(UnitError) {
                        continuation.resume(returning: .success(try body(bus)))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                }
            }
            var one: UInt8 = 1
            _ = write(waker, &one, 1)
        }
        return try result.get()
    }

    // MARK: UnitManager

    public func start(
        _ name: String, properties: [UnitProperty], changed: @escaping @Sendable (UnitState) -> Void
    ) async throws(UnitError) {
        try await perform { bus throws(UnitError) in
            let path = try bus.path(of: name)
            bus.watchers[path] = Watcher(
                state: UnitState(activeState: "inactive", subState: "dead", jobPending: true), changed: changed)
            do throws(UnitError) {
                _ = try bus.call("StartTransientUnit", on: Self.manager) { message throws(UnitError) in
                    try Self.check(sd_bus_message_append_basic(message, Self.type("s"), name))
                    try Self.check(sd_bus_message_append_basic(message, Self.type("s"), "fail"))
                    try Self.check(sd_bus_message_open_container(message, Self.type("a"), "(sv)"))
                    for property in properties { try Self.append(property, to: message) }
                    try Self.check(sd_bus_message_close_container(message))
                    try Self.check(sd_bus_message_open_container(message, Self.type("a"), "(sa(sv))"))
                    try Self.check(sd_bus_message_close_container(message))
                }
            } catch {
                bus.watchers[path] = nil
                throw error
            }
            // Whatever changed before the match saw it (run.c does the same after its match).
            try bus.refresh(path)
        }
    }

    public func follow(_ name: String, changed: @escaping @Sendable (UnitState) -> Void) async throws(UnitError)
        -> UnitState?
    {
        try await perform { bus throws(UnitError) in
            do throws(UnitError) {
                // GetUnit never loads a unit (reading properties by path would, and a collected
                // unit would then read as a clean success).
                _ = try bus.call("GetUnit", on: Self.manager) { message throws(UnitError) in
                    try Self.check(sd_bus_message_append_basic(message, Self.type("s"), name))
                }
            } catch  where error.name == UnitError.noSuchUnit {
                return nil
            }
            let path = try bus.path(of: name)
            bus.watchers[path] = Watcher(
                state: UnitState(activeState: "", subState: "", jobPending: true), changed: changed)
            return try bus.refresh(path)
        }
    }

    public func forget(_ name: String) async {
        _ = try? await perform { bus throws(UnitError) in
            bus.watchers[try bus.path(of: name)] = nil
        }
    }

    public func status(_ name: String) async throws(UnitError) -> UnitStatus {
        try await perform { bus throws(UnitError) in
            _ = try bus.call("GetUnit", on: Self.manager) { message throws(UnitError) in
                try Self.check(sd_bus_message_append_basic(message, Self.type("s"), name))
            }
            let path = try bus.path(of: name)
            let unit = try bus.properties(of: path, interface: "org.freedesktop.systemd1.Unit")
            let service = try bus.properties(of: path, interface: "org.freedesktop.systemd1.Service")
            func date(_ key: String) -> Date? {
                guard case .uint64(let micros)? = service[key], micros != 0 else { return nil }
                return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
            }
            var cpu: UInt64?
            if case .uint64(let value)? = service["CPUUsageNSec"], value != UInt64.max { cpu = value }
            return UnitStatus(
                state: Self.state(unit), result: service["Result"]?.string ?? "",
                mainCode: service["ExecMainCode"]?.int32 ?? 0, mainStatus: service["ExecMainStatus"]?.int32 ?? 0,
                mainPID: service["MainPID"]?.uint32 ?? 0, startedAt: date("ExecMainStartTimestamp"),
                exitedAt: date("ExecMainExitTimestamp"), cpuNanoseconds: cpu,
                controlGroup: service["ControlGroup"]?.string ?? "",
                invocationID: unit["InvocationID"]?.hex ?? "")
        }
    }

    public func kill(_ name: String, signal: Int32) async throws(UnitError) {
        try await perform { bus throws(UnitError) in
            _ = try bus.call("KillUnit", on: Self.manager) { message throws(UnitError) in
                try Self.check(sd_bus_message_append_basic(message, Self.type("s"), name))
                try Self.check(sd_bus_message_append_basic(message, Self.type("s"), "all"))
                var number = signal
                try Self.check(sd_bus_message_append_basic(message, Self.type("i"), &number))
            }
        }
    }

    public func release(_ name: String) async throws(UnitError) {
        try await perform { bus throws(UnitError) in
            let path = try bus.path(of: name)
            bus.watchers[path] = nil
            let state: UnitState
            do throws(UnitError) {
                _ = try bus.call("GetUnit", on: Self.manager) { message throws(UnitError) in
                    try Self.check(sd_bus_message_append_basic(message, Self.type("s"), name))
                }
                state = Self.state(try bus.properties(of: path, interface: "org.freedesktop.systemd1.Unit"))
            } catch  where error.name == UnitError.noSuchUnit {
                return  // collected already
            }
            if state.activeState == "failed" {
                _ = try bus.call("ResetFailedUnit", on: Self.manager) { message throws(UnitError) in
                    try Self.check(sd_bus_message_append_basic(message, Self.type("s"), name))
                }
            } else if state.activeState != "inactive" {
                _ = try bus.call("StopUnit", on: Self.manager) { message throws(UnitError) in
                    try Self.check(sd_bus_message_append_basic(message, Self.type("s"), name))
                    try Self.check(sd_bus_message_append_basic(message, Self.type("s"), "replace"))
                }
            }
        }
    }

    public func list(matching pattern: String) async throws(UnitError) -> [UnitListing] {
        try await perform { bus throws(UnitError) in
            try bus.call("ListUnitsByPatterns", on: Self.manager) { message throws(UnitError) in
                try Self.appendStrings([], to: message)
                try Self.appendStrings([pattern], to: message)
            } read: { reply throws(UnitError) in
                // a(ssssssouso): name, description, load, active, sub, following, path, job id, type, job path
                var units: [UnitListing] = []
                try Self.check(sd_bus_message_enter_container(reply, Self.type("a"), "(ssssssouso)"))
                while try Self.enter(reply, "r", "ssssssouso") {
                    let strings = try (0..<6).map { _ throws(UnitError) in try Self.readString(reply) }
                    _ = try Self.readString(reply, type: "o")
                    var job: UInt32 = 0
                    try Self.check(sd_bus_message_read_basic(reply, Self.type("u"), &job))
                    try Self.check(sd_bus_message_skip(reply, "so"))
                    try Self.check(sd_bus_message_exit_container(reply))
                    units.append(
                        UnitListing(
                            name: strings[0], description: strings[1],
                            state: UnitState(activeState: strings[3], subState: strings[4], jobPending: job != 0)))
                }
                try Self.check(sd_bus_message_exit_container(reply))
                return units
            }
        }
    }

    // MARK: On the bus thread

    private static let manager = ("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")

    private func path(of name: String) throws(UnitError) -> String {
        var encoded: UnsafeMutablePointer<CChar>?
        try Self.check(sd_bus_path_encode("/org/freedesktop/systemd1/unit", name, &encoded))
        defer { free(encoded) }
        return encoded.map { String(cString: $0) } ?? ""
    }

    /// Calls `method` of systemd and returns what `read` makes of the reply.
    @discardableResult
    private func call<T>(
        _ method: String, on target: (path: String, interface: String),
        arguments: (OpaquePointer) throws(UnitError) -> Void,
        read: (OpaquePointer) throws(UnitError) -> T
    ) throws(UnitError) -> T {
        if let broken { throw broken }
        guard let bus else { throw UnitError(name: "", message: "not connected to the system bus") }
        var message: OpaquePointer?
        var reply: OpaquePointer?
        var error = sd_bus_error()
        defer {
            sd_bus_message_unref(message)
            sd_bus_message_unref(reply)
            sd_bus_error_free(&error)
        }
        try Self.check(
            sd_bus_message_new_method_call(
                bus, &message, "org.freedesktop.systemd1", target.path, target.interface, method))
        guard let message else { throw UnitError(name: "", message: "cannot build a D-Bus message") }
        try arguments(message)
        let code = sd_bus_call(bus, message, callTimeout, &error, &reply)
        guard code >= 0, let reply else {
            if error.name == nil { throw Self.errnoError("\(method) failed", code) }
            throw UnitError(name: Self.text(error.name), message: Self.text(error.message))
        }
        return try read(reply)
    }

    private func call(
        _ method: String, on target: (path: String, interface: String),
        arguments: (OpaquePointer) throws(UnitError) -> Void
    ) throws(UnitError) {
        try call(method, on: target, arguments: arguments, read: { _ in () })
    }

    /// `GetAll` of one interface of the unit at `path`.
    private func properties(of path: String, interface: String) throws(UnitError) -> [String: BusValue] {
        try call("GetAll", on: (path, "org.freedesktop.DBus.Properties")) { message throws(UnitError) in
            try Self.check(sd_bus_message_append_basic(message, Self.type("s"), interface))
        } read: { reply throws(UnitError) in
            try Self.readDictionary(reply)
        }
    }

    /// Reads the unit's state now and passes it on, as a change would be.
    @discardableResult
    private func refresh(_ path: String) throws(UnitError) -> UnitState {
        let state = Self.state(try properties(of: path, interface: "org.freedesktop.systemd1.Unit"))
        if var watcher = watchers[path] {
            watcher.state = state
            watchers[path] = watcher
            watcher.changed(state)
        }
        return state
    }

    private func propertiesChanged(_ message: OpaquePointer) {
        guard let raw = sd_bus_message_get_path(message) else { return }
        let path = String(cString: raw)
        guard var watcher = watchers[path],
            let interface = try? Self.readString(message), interface == "org.freedesktop.systemd1.Unit",
            let changed = try? Self.readDictionary(message)
        else { return }
        if let active = changed["ActiveState"]?.string { watcher.state.activeState = active }
        if let sub = changed["SubState"]?.string { watcher.state.subState = sub }
        if case .job(let id)? = changed["Job"] { watcher.state.jobPending = id != 0 }
        watchers[path] = watcher
        watcher.changed(watcher.state)
    }

    private static func state(_ unit: [String: BusValue]) -> UnitState {
        var pending = false
        if case .job(let id)? = unit["Job"] { pending = id != 0 }
        return UnitState(
            activeState: unit["ActiveState"]?.string ?? "", subState: unit["SubState"]?.string ?? "",
            jobPending: pending)
    }

    // MARK: Messages

    /// The values wfd reads from properties; anything else is skipped.
    enum BusValue {
        case string(String)
        case bool(Bool)
        case int32(Int32)
        case uint32(UInt32)
        case uint64(UInt64)
        case bytes([UInt8])
        case job(UInt32)
        case other

        var string: String? { if case .string(let value) = self { value } else { nil } }
        var int32: Int32? { if case .int32(let value) = self { value } else { nil } }
        var uint32: UInt32? { if case .uint32(let value) = self { value } else { nil } }
        var hex: String? {
            guard case .bytes(let bytes) = self else { return nil }
            return bytes.map { String(format: "%02x", $0) }.joined()
        }
    }

    static func type(_ character: Character) -> CChar { CChar(bitPattern: character.asciiValue ?? 0) }

    static func text(_ pointer: UnsafePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }

    static func errnoError(_ what: String, _ code: Int32) -> UnitError {
        UnitError(name: "", message: "\(what): \(String(cString: strerror(-code)))")
    }

    static func check(_ code: Int32) throws(UnitError) {
        guard code >= 0 else { throw errnoError("D-Bus message", code) }
    }

    /// Enters the next container of `type`, or returns false at the end of the enclosing array.
    static func enter(_ message: OpaquePointer, _ type: Character, _ contents: String) throws(UnitError) -> Bool {
        let code = sd_bus_message_enter_container(message, Self.type(type), contents)
        try check(code)
        return code > 0
    }

    static func readString(_ message: OpaquePointer, type: Character = "s") throws(UnitError) -> String {
        var value: UnsafePointer<CChar>?
        try check(sd_bus_message_read_basic(message, Self.type(type), &value))
        return text(value)
    }

    /// Reads an `a{sv}`.
    static func readDictionary(_ message: OpaquePointer) throws(UnitError) -> [String: BusValue] {
        var values: [String: BusValue] = [:]
        try check(sd_bus_message_enter_container(message, type("a"), "{sv}"))
        while try enter(message, "e", "sv") {
            let key = try readString(message)
            var kind: CChar = 0
            var contents: UnsafePointer<CChar>?
            try check(sd_bus_message_peek_type(message, &kind, &contents))
            let signature = text(contents)
            try check(sd_bus_message_enter_container(message, type("v"), signature))
            values[key] = try readValue(message, signature: signature)
            try check(sd_bus_message_exit_container(message))
            try check(sd_bus_message_exit_container(message))
        }
        try check(sd_bus_message_exit_container(message))
        return values
    }

    private static func readValue(_ message: OpaquePointer, signature: String) throws(UnitError) -> BusValue {
        switch signature {
        case "s", "o": return .string(try readString(message, type: Character(signature)))
        case "b":
            var value: Int32 = 0
            try check(sd_bus_message_read_basic(message, type("b"), &value))
            return .bool(value != 0)
        case "i":
            var value: Int32 = 0
            try check(sd_bus_message_read_basic(message, type("i"), &value))
            return .int32(value)
        case "u":
            var value: UInt32 = 0
            try check(sd_bus_message_read_basic(message, type("u"), &value))
            return .uint32(value)
        case "t":
            var value: UInt64 = 0
            try check(sd_bus_message_read_basic(message, type("t"), &value))
            return .uint64(value)
        case "ay":
            var pointer: UnsafeRawPointer?
            var size = 0
            try check(sd_bus_message_read_array(message, type("y"), &pointer, &size))
            guard let pointer else { return .bytes([]) }
            return .bytes(Array(UnsafeRawBufferPointer(start: pointer, count: size)))
        case "(uo)":
            try check(sd_bus_message_enter_container(message, type("r"), "uo"))
            var id: UInt32 = 0
            try check(sd_bus_message_read_basic(message, type("u"), &id))
            _ = try readString(message, type: "o")
            try check(sd_bus_message_exit_container(message))
            return .job(id)
        default:
            try check(sd_bus_message_skip(message, signature))
            return .other
        }
    }

    static func appendStrings(_ strings: [String], to message: OpaquePointer) throws(UnitError) {
        try check(sd_bus_message_open_container(message, type("a"), "s"))
        for string in strings { try check(sd_bus_message_append_basic(message, type("s"), string)) }
        try check(sd_bus_message_close_container(message))
    }

    /// Appends one `(sv)` entry of a property list.
    static func append(_ property: UnitProperty, to message: OpaquePointer) throws(UnitError) {
        let signature: String =
            switch property.value {
            case .string: "s"
            case .bool: "b"
            case .uint64: "t"
            case .int32: "i"
            case .strings: "as"
            case .byteArrays: "aay"
            case .pairs: "a(ss)"
            case .command: "a(sasas)"
            }
        try check(sd_bus_message_open_container(message, type("r"), "sv"))
        try check(sd_bus_message_append_basic(message, type("s"), property.name))
        try check(sd_bus_message_open_container(message, type("v"), signature))
        switch property.value {
        case .string(let value): try check(sd_bus_message_append_basic(message, type("s"), value))
        case .bool(let value):
            var number: Int32 = value ? 1 : 0
            try check(sd_bus_message_append_basic(message, type("b"), &number))
        case .uint64(let value):
            var number = value
            try check(sd_bus_message_append_basic(message, type("t"), &number))
        case .int32(let value):
            var number = value
            try check(sd_bus_message_append_basic(message, type("i"), &number))
        case .strings(let values): try appendStrings(values, to: message)
        case .byteArrays(let arrays):
            try check(sd_bus_message_open_container(message, type("a"), "ay"))
            for bytes in arrays {
                let code = bytes.withUnsafeBytes { buffer in
                    sd_bus_message_append_array(message, type("y"), buffer.baseAddress, buffer.count)
                }
                try check(code)
            }
            try check(sd_bus_message_close_container(message))
        case .pairs(let pairs):
            try check(sd_bus_message_open_container(message, type("a"), "(ss)"))
            for pair in pairs {
                try check(sd_bus_message_open_container(message, type("r"), "ss"))
                try check(sd_bus_message_append_basic(message, type("s"), pair.first))
                try check(sd_bus_message_append_basic(message, type("s"), pair.second))
                try check(sd_bus_message_close_container(message))
            }
            try check(sd_bus_message_close_container(message))
        case .command(let path, let arguments, let flags):
            try check(sd_bus_message_open_container(message, type("a"), "(sasas)"))
            try check(sd_bus_message_open_container(message, type("r"), "sasas"))
            try check(sd_bus_message_append_basic(message, type("s"), path))
            try appendStrings(arguments, to: message)
            try appendStrings(flags, to: message)
            try check(sd_bus_message_close_container(message))
            try check(sd_bus_message_close_container(message))
        }
        try check(sd_bus_message_close_container(message))
        try check(sd_bus_message_close_container(message))
    }
}
