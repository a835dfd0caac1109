import Foundation

/// The built `wfd` running on `dir/jobs` and `dir/state`, its notifications going to a socket
/// of the test's own.
public struct TestDaemon: Sendable {
    public let process: DaemonProcess
    public let socket: NotifySocket
    /// `dir/state`.
    public let state: String

    /// Starts wfd and waits for READY=1; throws with wfd's output when it does not come.
    public static func start(
        _ dir: TemporaryDirectory, arguments: [String] = [], environment: [String: String] = [:],
        log: String = "wfd.log"
    ) async throws -> TestDaemon {
        try FileManager.default.createDirectory(atPath: dir.file("jobs"), withIntermediateDirectories: true)
        let socket = try NotifySocket()
        let process = try DaemonProcess(
            executable: try BuiltProducts.path("wfd"),
            arguments: ["--jobs", dir.file("jobs"), "--state", dir.file("state"), "--log-target", "stderr"] + arguments,
            environment: ["NOTIFY_SOCKET": socket.address, "PATH": "/usr/bin:/bin"].merging(environment) { _, given in
                given
            },
            stderrPath: dir.file(log))
        guard await socket.waitFor({ $0.contains("READY=1") }) != nil else {
            await process.stop()
            throw TestKitError("wfd sent no READY=1: \(process.output)")
        }
        return TestDaemon(process: process, socket: socket, state: dir.file("state"))
    }
}
