import CLinux
import Foundation
import Logging
import RuntimeSupport
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Tells when the wall clock is set (an NTP step, `date -s`, a VM restored), the moment it
/// happens, without polling: a `CLOCK_REALTIME` timerfd armed with `TFD_TIMER_CANCEL_ON_SET`
/// fails its read with `ECANCELED` on every discontinuous change, as systemd's timers use it.
/// Suspend and resume need nothing: sleeps run on a clock that counts the suspended time.
public final class WallClockMonitor: Service, Sendable {
    let onChange: @Sendable () -> Void
    let logger: Logger
    private let stopped = Locked(false)

    public init(logger: Logger, onChange: @escaping @Sendable () -> Void) {
        self.logger = logger
        self.onChange = onChange
    }

    public func run() async throws {
        await runOnOwnThread(named: "wfd-clock", stop: { self.stopped.withLock { $0 = true } }) { self.watch() }
    }

    private func watch() {
        let fd = timerfd_create(CLOCK_REALTIME, Int32(TFD_CLOEXEC))
        guard fd >= 0 else {
            logger.warning("cannot watch for wall-clock changes (timerfd: \(String(cString: strerror(errno))))")
            return
        }
        defer { close(fd) }
        guard arm(fd) else { return }
        var value: UInt64 = 0
        while !stopped.withLock({ $0 }) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = read(fd, &value, MemoryLayout<UInt64>.size)
            if count < 0 && errno == ECANCELED {
                onChange()
            }
            guard arm(fd) else { return }  // re-arm after a change, or after the far deadline passed
        }
    }

    /// Arms the timer for a year from now, absolute, cancelled when the clock is set.
    private func arm(_ fd: Int32) -> Bool {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var spec = itimerspec()
        spec.it_value.tv_sec = now.tv_sec + 365 * 86400
        guard timerfd_settime(fd, Int32(TFD_TIMER_ABSTIME) | Int32(TFD_TIMER_CANCEL_ON_SET), &spec, nil) == 0 else {
            logger.warning("cannot watch for wall-clock changes (timerfd_settime: \(String(cString: strerror(errno))))")
            return false
        }
        return true
    }
}
