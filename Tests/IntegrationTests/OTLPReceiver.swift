import Foundation
import JSONSchemaKit
import WorkflowTesting

/// `scripts/otlp-receiver.py`: an OTLP/HTTP receiver built on the official protocol definitions
/// (PyPI's opentelemetry-proto, installed by `make otlp` into `.build-tools/python`), which
/// parses every request strictly and keeps each span as a line of JSON.
struct OTLPReceiver {
    let process: DaemonProcess
    let spansPath: String
    let endpoint: String

    static func start(in dir: TemporaryDirectory) async throws -> OTLPReceiver {
        let root = BuiltProducts.packageRoot
        guard FileManager.default.fileExists(atPath: root + "/.build-tools/python/opentelemetry/proto") else {
            throw TestKitError("opentelemetry-proto is not installed: run make otlp")
        }
        let portFile = dir.file("otlp.port")
        let process = try DaemonProcess(
            executable: "/usr/bin/python3",
            arguments: [root + "/scripts/otlp-receiver.py", dir.file("spans.jsonl"), portFile],
            environment: ["PATH": "/usr/bin:/bin", "PYTHONPATH": root + "/.build-tools/python"],
            stderrPath: dir.file("otlp.log"))
        guard await eventually(timeout: .seconds(30), { FileManager.default.fileExists(atPath: portFile) }),
            let port = try? String(contentsOfFile: portFile, encoding: .utf8)
        else {
            await process.stop()
            throw TestKitError("the OTLP receiver did not start: \(process.output)")
        }
        return OTLPReceiver(process: process, spansPath: dir.file("spans.jsonl"), endpoint: "http://127.0.0.1:\(port)")
    }

    /// Every span received so far (and every request it refused, as `{"error": …}`).
    func received() -> [[String: JSONValue]] {
        let text = (try? String(contentsOfFile: spansPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard case .object(let fields)? = JSONValue.parse(Data(line.utf8)) else { return nil }
            return fields
        }
    }
}
