import CSystemd
import Foundation
import Logging
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
    /// Where systemd is reached (nil: the system bus), kept to connect again.
    private var address: String?
    /// While the connection is down: when to try again.
    private var retryAt: ContinuousClock.Instant?
    private var logger: Logger?
    /// The read and write ends of the pipe that wakes the bus thread.
    private let wake: Int32
    private let waker: Int32
    private let pending = Locked([@Sendable (SystemdBus) -> Void]())
    /// How long one call may take (sd-bus's own default is 25 s).
    private let callTimeout: UInt64 = 25_000_000

    private struct Watcher {
        let name: String
        var status: UnitStatus
        let changed: @Sendable (UnitStatus) -> Void
    }

    private init(wake: Int32, waker: Int32) {
        self.wake = wake
        self.waker = waker
    }

    /// Connects to the system bus (or `address`, a D-Bus address such as
    /// `unix:path=/run/dbus/system_bus_socket`) and subscribes to systemd's signals.
    public static func connect(address: String? = nil, logger: Logger? = nil) throws(UnitError) -> SystemdBus {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw UnitError(name: "", message: "pipe: \(String(cString: strerror(errno)))") }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        let connection = SystemdBus(wake: ends[0], waker: ends[1])
        let opened = DispatchSemaphore(value: 0)
        let outcome = Locked<UnitError?>(nil)
        connection.address = address
        connection.logger = logger
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

    /// Whether systemd answers at `address` (nil: the system bus), for choosing an executor.
    public static func reachable(address: String? = nil) -> Result<Void, UnitError> {
        var bus: OpaquePointer?
        let code = open(&bus, address: address)
        defer { if let bus { sd_bus_flush_close_unref(bus) } }
        guard code >= 0, let bus else {
            return .failure(BusMessage.errnoError("cannot connect to \(address ?? "the system bus")", code))
        }
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
                    name: BusMessage.text(error.name),
                    message:
                        "systemd does not answer at \(address ?? "the system bus"): \(BusMessage.text(error.message))"))
        }
        return .success(())
    }

    private static func open(_ bus: inout OpaquePointer?, address: String?) -> Int32 {
        guard let address else { return sd_bus_open_system(&bus) }
        var code = sd_bus_new(&bus)
        guard code >= 0, let created = bus else { return code }
        code = sd_bus_set_address(created, address)
        // systemd's own socket is a direct connection to the manager; anything else a bus.
        if code >= 0, address != privateAddress { code = sd_bus_set_bus_client(created, 1) }
        if code >= 0 { code = sd_bus_start(created) }
        return code
    }

    /// The manager's own D-Bus socket (what systemctl uses as root): no broker in between.
    public static let privateAddress = "unix:path=/run/systemd/private"

    /// On the bus thread: connects, subscribes, adds the one match.
    private func open(address: String?) -> UnitError? {
        var opened: OpaquePointer?
        let code = Self.open(&opened, address: address)
        guard code >= 0, let opened else { return BusMessage.errnoError("cannot connect to the system bus", code) }
        bus = opened
        do throws(UnitError) {
            try manage("Subscribe")
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
        guard added >= 0 else { return BusMessage.errnoError("cannot watch systemd's units", added) }
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
                reconnect()
                continue
            }
            var processed: Int32
            repeat {
                processed = sd_bus_process(bus, nil)
            } while processed > 0
            if processed < 0 || sd_bus_is_open(bus) <= 0 {
                fail(BusMessage.errnoError("the connection to systemd broke", processed < 0 ? processed : -ECONNRESET))
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

    private func drainWake() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while Glibc.read(wake, &bytes, bytes.count) > 0 {}
    }

    /// The connection is gone (systemd re-executed, dbus-daemon restarted): calls fail until it is
    /// back; the followed units keep their watchers, and hear how they stand once it is.
    private func fail(_ error: UnitError) {
        logger?.warning("lost the connection to systemd (\(error)); connecting again")
        broken = error
        if let bus { sd_bus_flush_close_unref(bus) }
        bus = nil
        retryAt = .now + .milliseconds(200)
    }

    /// Waits for the next try (or for work), then connects again, subscribes again, and passes
    /// each followed unit's state on, read anew: a change missed meanwhile is seen then.
    private func reconnect() {
        let wait = retryAt.map { ContinuousClock.now.duration(to: $0) } ?? .zero
        if wait > .zero {
            var poll = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
            let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000
            _ = Glibc.poll(&poll, 1, Int32(clamping: milliseconds + 1))
            drainWake()
            return
        }
        let lost = broken
        broken = nil  // calls on the new connection (Subscribe) may go through
        if let failure = open(address: address) {
            if let bus { sd_bus_flush_close_unref(bus) }
            bus = nil
            broken = lost ?? failure
            retryAt = .now + .seconds(1)
            return
        }
        retryAt = nil
        logger?.notice("connected to systemd again; reading the \(watchers.count) units followed anew")
        for (path, watcher) in watchers {
            var status: UnitStatus
            do throws(UnitError) {
                status = try read(watcher.name)
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
        _ name: String, properties: [UnitProperty], changed: @escaping @Sendable (UnitStatus) -> Void
    ) async throws(UnitError) {
        try await perform { bus throws(UnitError) in
            let path = try bus.path(of: name)
            // Nothing is read after the call: the match and the watcher are in place before it,
            // so every change signal of the new unit reaches the watcher.
            bus.watchers[path] = Watcher(
                name: name,
                status: UnitStatus(state: UnitState(activeState: "inactive", subState: "dead", jobPending: true)),
                changed: changed)
            do throws(UnitError) {
                _ = try bus.call("StartTransientUnit", on: Self.manager) { message throws(UnitError) in
                    try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), name))
                    try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), "fail"))
                    try BusMessage.check(sd_bus_message_open_container(message, BusMessage.type("a"), "(sv)"))
                    for property in properties { try BusMessage.append(property, to: message) }
                    try BusMessage.check(sd_bus_message_close_container(message))
                    try BusMessage.check(sd_bus_message_open_container(message, BusMessage.type("a"), "(sa(sv))"))
                    try BusMessage.check(sd_bus_message_close_container(message))
                }
            } catch {
                bus.watchers[path] = nil
                throw error
            }
        }
    }

    public func follow(_ name: String, changed: @escaping @Sendable (UnitStatus) -> Void) async throws(UnitError)
        -> UnitStatus?
    {
        try await perform { bus throws(UnitError) in
            let path = try bus.path(of: name)
            // Watching first, then reading: a change in between is seen by one or the other.
            bus.watchers[path] = Watcher(
                name: name, status: UnitStatus(state: UnitState(activeState: "", subState: "", jobPending: true)),
                changed: changed)
            let status: UnitStatus
            do throws(UnitError) {
                status = try bus.read(name)
            } catch {
                bus.watchers[path] = nil
                if error.name == UnitError.noSuchUnit { return nil }
                throw error
            }
            bus.watchers[path]?.status = status
            changed(status)
            return status
        }
    }

    public func forget(_ name: String) async {
        _ = try? await perform { bus throws(UnitError) in
            bus.watchers[try bus.path(of: name)] = nil
        }
    }

    public func status(_ name: String) async throws(UnitError) -> UnitStatus {
        try await perform { bus throws(UnitError) in try bus.read(name) }
    }

    public func cpuUsage(_ name: String) async throws(UnitError) -> UInt64? {
        try await perform { bus throws(UnitError) in
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
        try await perform { bus throws(UnitError) in
            _ = try bus.call("KillUnit", on: Self.manager) { message throws(UnitError) in
                try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), name))
                try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), "all"))
                var number = signal
                try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("i"), &number))
            }
        }
    }

    public func release(_ name: String, failed: Bool?) async throws(UnitError) {
        try await perform { bus throws(UnitError) in
            bus.watchers[try bus.path(of: name)] = nil
            var failed = failed
            if failed == nil {
                do throws(UnitError) {
                    let state = try bus.read(name).state
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
        try await perform { bus throws(UnitError) in
            try bus.call("ListUnitsByPatterns", on: Self.manager) { message throws(UnitError) in
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

    private static let manager = ("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")

    private func path(of name: String) throws(UnitError) -> String {
        var encoded: UnsafeMutablePointer<CChar>?
        try BusMessage.check(sd_bus_path_encode("/org/freedesktop/systemd1/unit", name, &encoded))
        defer { free(encoded) }
        return encoded.map { String(cString: $0) } ?? ""
    }

    /// Calls `method` of systemd's manager with string arguments.
    private func manage(_ method: String, _ arguments: String...) throws(UnitError) {
        try call(method, on: Self.manager) { message throws(UnitError) in
            for argument in arguments {
                try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), argument))
            }
        }
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
        try BusMessage.check(
            sd_bus_message_new_method_call(
                bus, &message, "org.freedesktop.systemd1", target.path, target.interface, method))
        guard let message else { throw UnitError(name: "", message: "cannot build a D-Bus message") }
        try arguments(message)
        let code = sd_bus_call(bus, message, callTimeout, &error, &reply)
        guard code >= 0, let reply else {
            if error.name == nil { throw BusMessage.errnoError("\(method) failed", code) }
            throw UnitError(name: BusMessage.text(error.name), message: BusMessage.text(error.message))
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
    private func properties(of path: String, interface: String) throws(UnitError) -> [String: BusMessage.Value] {
        try call("GetAll", on: (path, "org.freedesktop.DBus.Properties")) { message throws(UnitError) in
            try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), interface))
        } read: { reply throws(UnitError) in
            try BusMessage.readDictionary(reply)
        }
    }

    /// The unit's status in full: `GetUnit` (which never loads a unit: reading properties of a
    /// collected one by its path would load it, and it would read as a clean success), then the
    /// properties of both interfaces.
    private func read(_ name: String) throws(UnitError) -> UnitStatus {
        try manage("GetUnit", name)
        let path = try path(of: name)
        var status = UnitStatus(state: UnitState(activeState: "", subState: "", jobPending: false))
        for interface in ["org.freedesktop.systemd1.Unit", "org.freedesktop.systemd1.Service"] {
            Self.apply(try properties(of: path, interface: interface), to: &status)
        }
        return status
    }

    /// A change signal: what changed goes into the followed unit's status, which is passed on.
    /// systemd sends a unit's `Service` changes (its main process's end) before its `Unit` ones
    /// (its state), so the status is complete when the state says the unit ended.
    private func propertiesChanged(_ message: OpaquePointer) {
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
