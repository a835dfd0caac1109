import Foundation

/// The engine's only source of time, injected so that tests can drive it.
public protocol WorkflowClock: Sendable {
    /// The current wall-clock time.
    func now() -> Date
    /// Returns at `deadline` (wall clock) or throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Date) async throws
}

/// The real clock.
public struct SystemClock: WorkflowClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        guard seconds > 0 else {
            try Task.checkCancellation()
            return
        }
        try await Task.sleep(for: .nanoseconds(Int64((seconds * 1e9).rounded(.up))))
    }
}

/// The real clock run `speed` times faster from the moment it was made, for benchmarks that
/// live through hours of schedule in minutes (`wfd --clock-speed`, hidden): fire times, marks and
/// run records follow it; timeouts and step processes keep real time.
public struct ScaledClock: WorkflowClock {
    let origin: Date
    let speed: Double

    public init(speed: Double, origin: Date = Date()) {
        self.origin = origin
        self.speed = speed
    }

    public func now() -> Date { origin.addingTimeInterval(Date().timeIntervalSince(origin) * speed) }

    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSince(now()) / speed
        guard seconds > 0 else {
            try Task.checkCancellation()
            return
        }
        try await Task.sleep(for: .nanoseconds(Int64((seconds * 1e9).rounded(.up))))
    }
}
