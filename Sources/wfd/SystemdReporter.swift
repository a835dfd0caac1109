import SystemdSupport
import WorkflowEngine

/// Plugs systemd's notify protocol into the engine.
struct SystemdReporter: DaemonStatusReporter {
    let notifier = SystemdNotifier()
    let watchdogInterval: Duration?

    init() { watchdogInterval = notifier.watchdogInterval() }

    func ready(status: String) { notifier.ready(status: status) }
    func reloading(status: String) { notifier.reloading(status: status) }
    func stopping(status: String) { notifier.stopping(status: status) }
    func status(_ text: String) { notifier.status(text) }
    func watchdog() { notifier.watchdog() }
}
