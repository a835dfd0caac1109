/// How the engine tells its supervisor what it is doing. `wfd` plugs systemd's notify protocol in;
/// tests plug in a recorder. The engine never imports systemd.
public protocol DaemonStatusReporter: Sendable {
    /// Jobs are loaded and recovery is done.
    func ready(status: String)
    /// A reload of `jobs.d` begins; ``ready(status:)`` follows when it is done.
    func reloading(status: String)
    /// Shutdown begins: no new runs start.
    func stopping(status: String)
    /// A one-line summary changed.
    func status(_ text: String)
    /// Proof of life, sent from the scheduler loop itself.
    func watchdog()
    /// The interval the supervisor expects ``watchdog()`` within, if it watches at all.
    var watchdogInterval: Duration? { get }
}
