import SystemdSupport
import WorkflowEngine
import WorkflowMetrics

/// Plugs systemd's notify protocol into the engine.
struct SystemdReporter: DaemonStatusReporter {
    let notifier = SystemdNotifier()
    let watchdogInterval: Duration?
    /// Hears the first READY=1, with the time since wfd started.
    let metrics: DaemonMetrics
    let started: ContinuousClock.Instant

    init(metrics: DaemonMetrics, started: ContinuousClock.Instant) {
        watchdogInterval = notifier.watchdogInterval()
        self.metrics = metrics
        self.started = started
    }

    func ready(status: String) {
        metrics.ready(after: ContinuousClock.now - started)
        notifier.ready(status: status)
    }
    func reloading(status: String) { notifier.reloading(status: status) }
    func stopping(status: String) { notifier.stopping(status: status) }
    func status(_ text: String) { notifier.status(text) }
    func watchdog() { notifier.watchdog() }
}
