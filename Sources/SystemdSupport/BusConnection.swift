import CSystemd
import Foundation
import Logging
import RuntimeSupport
import WorkflowEngine

#if canImport(Glibc)
    import Glibc
#endif

/// Hears what a ``BusConnection`` receives, on its thread.
protocol BusConnectionDelegate: AnyObject {
    /// A `PropertiesChanged` signal of a unit.
    func busSignal(_ message: OpaquePointer)
    /// The connection was lost and is back (subscribed again): what was followed may have changed.
    func busReconnected(_ connection: BusConnection)
}

/// One sd-bus connection to systemd, on a thread of its own.
///
/// sd-bus objects have no locking: every call is handed to the thread (a pipe wakes it) and runs
/// there, and the thread processes the bus between calls. It subscribes to systemd's signals and
/// adds one match on `PropertiesChanged` under `/org/freedesktop/systemd1/unit`, passed to its
/// delegate. When the connection drops, it connects again (after 200 ms, then every second).
final class BusConnection: @unchecked Sendable {
    /// Owned by the bus thread once it runs.
    private var bus: OpaquePointer?
    private var broken: UnitError?
    /// While the connection is down: when to try again.
    private var retryAt: ContinuousClock.Instant?
    /// Where systemd is reached (nil: the system bus), kept to connect again.
    private let address: String?
    let logger: Logger?
    /// The read and write ends of the pipe that wakes the bus thread.
    private let wake: Int32
    private let waker: Int32
    private let pending = Locked([@Sendable (BusConnection) -> Void]())
    /// How long one call may take (sd-bus's own default is 25 s).
    private let callTimeout: UInt64 = 25_000_000
    /// Set before ``start()``; called on the bus thread.
    weak var delegate: (any BusConnectionDelegate)?

    init(address: String?, logger: Logger?) throws(UnitError) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw UnitError(name: "", message: "pipe: \(String(cString: strerror(errno)))") }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        wake = ends[0]
        waker = ends[1]
        self.address = address
        self.logger = logger
    }

    /// Starts the thread, which connects and subscribes; returns once it has, or why it could not.
    /// The caller's task is suspended meanwhile, never its thread.
    func start() async throws(UnitError) {
        let failure: UnitError? = await withCheckedContinuation { opened in
            let thread = Thread { [self] in
                let failure = open(address: address)
                opened.resume(returning: failure)
                guard failure == nil else {  // nobody will use this connection: the thread ends
                    if let bus { sd_bus_flush_close_unref(bus) }
                    bus = nil
                    return
                }
                loop()
            }
            thread.name = "wfd-systemd-bus"
            thread.start()
        }
        if let failure { throw failure }
    }

    /// Whether systemd answers at `address` (nil: the system bus), for choosing an executor.
    static func reachable(address: String? = nil) -> Result<Void, UnitError> {
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
        if code >= 0, address != SystemdBus.privateAddress { code = sd_bus_set_bus_client(created, 1) }
        if code >= 0 { code = sd_bus_start(created) }
        return code
    }

    /// On the bus thread: connects, subscribes, adds the one match.
    private func open(address: String?) -> UnitError? {
        var opened: OpaquePointer?
        let code = Self.open(&opened, address: address)
        guard code >= 0, let opened else {
            return BusMessage.errnoError("cannot connect to \(address ?? "the system bus")", code)
        }
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
                Unmanaged<BusConnection>.fromOpaque(userdata).takeUnretainedValue().delegate?.busSignal(message)
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
    /// back, and the delegate hears when it is.
    private func fail(_ error: UnitError) {
        logger?.warning("lost the connection to systemd (\(error)); connecting again")
        broken = error
        if let bus { sd_bus_flush_close_unref(bus) }
        bus = nil
        retryAt = .now + .milliseconds(200)
    }

    /// Waits for the next try (or for work), then connects again and subscribes again.
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
        delegate?.busReconnected(self)
    }

    /// Runs `body` on the bus thread and returns what it returns.
    func perform<T: Sendable>(_ body: @escaping @Sendable (BusConnection) throws(UnitError) -> T)
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

    static let manager = ("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager")

    func path(of name: String) throws(UnitError) -> String {
        var encoded: UnsafeMutablePointer<CChar>?
        try BusMessage.check(sd_bus_path_encode("/org/freedesktop/systemd1/unit", name, &encoded))
        defer { free(encoded) }
        return encoded.map { String(cString: $0) } ?? ""
    }

    /// Calls `method` of systemd's manager with string arguments.
    func manage(_ method: String, _ arguments: String...) throws(UnitError) {
        try call(method, on: Self.manager) { message throws(UnitError) in
            for argument in arguments {
                try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), argument))
            }
        }
    }

    /// Calls `method` of systemd and returns what `read` makes of the reply.
    @discardableResult
    func call<T>(
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

    func call(
        _ method: String, on target: (path: String, interface: String),
        arguments: (OpaquePointer) throws(UnitError) -> Void
    ) throws(UnitError) {
        try call(method, on: target, arguments: arguments, read: { _ in () })
    }

    /// `GetAll` of one interface of the unit at `path`.
    func properties(of path: String, interface: String) throws(UnitError) -> [String: BusMessage.Value] {
        try call("GetAll", on: (path, "org.freedesktop.DBus.Properties")) { message throws(UnitError) in
            try BusMessage.check(sd_bus_message_append_basic(message, BusMessage.type("s"), interface))
        } read: { reply throws(UnitError) in
            try BusMessage.readDictionary(reply)
        }
    }
}
