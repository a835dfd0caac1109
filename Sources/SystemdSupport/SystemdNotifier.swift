import CSystemd
import Glibc

/// Talks to the service manager through `sd_notify`.
///
/// One code path serves both worlds: outside systemd (`NOTIFY_SOCKET` unset) every call returns
/// ``Result/notUnderSystemd`` and does nothing.
public struct SystemdNotifier: Sendable {
    /// What became of a notification.
    public enum Result: Sendable, Equatable {
        case sent
        case notUnderSystemd
        case failed(errno: Int32)
    }

    public init() {}

    /// Sends newline-separated `KEY=VALUE` assignments in one datagram.
    @discardableResult
    public func notify(_ assignments: [String]) -> Result {
        let text = assignments.joined(separator: "\n")
        let code = sd_notify(0, text)
        if code > 0 { return .sent }
        if code == 0 { return .notUnderSystemd }
        return .failed(errno: -code)
    }

    /// `READY=1` with a status line.
    @discardableResult
    public func ready(status: String) -> Result { notify(["READY=1", "STATUS=\(Self.oneLine(status))"]) }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (required from systemd 253, harmless before).
    @discardableResult
    public func reloading(status: String) -> Result {
        notify(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())", "STATUS=\(Self.oneLine(status))"])
    }

    /// `STOPPING=1` with a status line.
    @discardableResult
    public func stopping(status: String) -> Result { notify(["STOPPING=1", "STATUS=\(Self.oneLine(status))"]) }

    /// `STATUS=` alone.
    @discardableResult
    public func status(_ text: String) -> Result { notify(["STATUS=\(Self.oneLine(text))"]) }

    /// `WATCHDOG=1`: send from the loop whose health it vouches for.
    @discardableResult
    public func watchdog() -> Result { notify(["WATCHDOG=1"]) }

    /// Asks for more time to stop: `EXTEND_TIMEOUT_USEC=`.
    @discardableResult

    /// The watchdog interval systemd expects pings within, when the watchdog is on for this process.
    public func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(clamping: usec))
    }

    /// CLOCK_MONOTONIC in microseconds, as `MONOTONIC_USEC=` wants it.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
