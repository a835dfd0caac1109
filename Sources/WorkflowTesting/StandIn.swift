import Foundation
import JSONSchemaKit

/// A loopback stand-in for a service wfd calls (an LLM API, a code host, a task tracker), serving
/// the real wire protocol from `scripts/standin.py` with scripted responses.
///
/// Each request it gets is logged, so a test can see exactly what wfd sent.
public final class StandIn: Sendable {
    public let process: DaemonProcess
    public let port: Int
    public let logPath: String

    /// Starts the server with `scenario` (see standin.py: routes with responses in turn).
    public init(_ scenario: String, in dir: TemporaryDirectory) async throws {
        let name = "standin-\(UInt32.random(in: 0...UInt32.max))"
        try dir.write("\(name).json", scenario)
        logPath = dir.file("\(name).log")
        let stdout = dir.file("\(name).out")
        process = try DaemonProcess(
            executable: "/usr/bin/env",
            arguments: [
                "python3", BuiltProducts.packageRoot + "/scripts/standin.py", dir.file("\(name).json"),
                logPath,
            ],
            environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"], stderrPath: stdout)
        let output = { (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? "" }
        guard await eventually(timeout: .seconds(10), { output().contains("PORT ") }),
            let line = output().split(separator: "\n").first(where: { $0.hasPrefix("PORT ") }),
            let port = Int(line.dropFirst(5))
        else {
            await process.stop()
            throw TestKitError("the stand-in server did not start: \(output())")
        }
        self.port = port
    }

    /// `http://127.0.0.1:PORT` and `path`.
    public func url(_ path: String = "") -> String { "http://127.0.0.1:\(port)\(path)" }

    /// Every request served so far, in order: method, path, query, headers (lower-case names),
    /// body (parsed JSON when it was JSON), idempotency_key, replayed, status.
    public func requests() -> [[String: JSONValue]] {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            if case .object(let fields)? = JSONValue.parse(Data(line.utf8)) { return fields }
            return nil
        }
    }

    public func stop() async { await process.stop() }
}
