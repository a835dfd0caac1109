import Foundation

/// Every timer of one run, with one owner: the run's deadline (`timeout:`), the launch of a run
/// decided ahead of its fire time, retry waits and approval timeouts.
///
/// One task sleeps at a time, on the run's clock, until the earliest timer; it only wakes the
/// run (`wake`), which then takes what is due (``take(now:)``) in its own loop. Setting or
/// cancelling a timer re-arms that one task, and ``stop()`` leaves nothing sleeping.
struct RunTimers {
    enum Timer: Hashable, Comparable {
        case deadline
        case launch
        case retry(RunCoordinator.Slot)
        case decision(RunCoordinator.Slot)

        /// A fixed order among timers due at the same moment.
        static func < (left: Timer, right: Timer) -> Bool { left.order < right.order }

        private var order: String {
            switch self {
            case .deadline: "0"
            case .launch: "1"
            case .retry(let slot): "2\(slot)"
            case .decision(let slot): "3\(slot)"
            }
        }
    }

    private let clock: any WorkflowClock
    private let wake: @Sendable () -> Void
    private var due: [Timer: Date] = [:]
    /// The deadline the sleeping task waits for.
    private var armed: Date?
    private var sleeper: Task<Void, Never>?

    init(clock: any WorkflowClock, wake: @escaping @Sendable () -> Void) {
        self.clock = clock
        self.wake = wake
    }

    mutating func set(_ timer: Timer, at date: Date) {
        due[timer] = date
        arm()
    }

    mutating func cancel(_ timer: Timer) {
        guard due.removeValue(forKey: timer) != nil else { return }
        arm()
    }

    /// The timers due at `now`, earliest first, which are removed.
    mutating func take(now: Date) -> [Timer] {
        let fired = due.filter { $0.value <= now }.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.map(\.key)
        for timer in fired { due[timer] = nil }
        armed = nil  // the task that woke us has ended; a clock that woke it early gets a new one
        arm()
        return fired
    }

    /// Cancels every timer.
    mutating func stop() {
        due = [:]
        arm()
    }

    private mutating func arm() {
        let earliest = due.values.min()
        guard earliest != armed || sleeper == nil && earliest != nil else { return }
        sleeper?.cancel()
        sleeper = nil
        armed = earliest
        guard let earliest else { return }
        sleeper = Task { [clock, wake] in
            do {
                try await clock.sleep(until: earliest)
                wake()
            } catch {}
        }
    }
}
