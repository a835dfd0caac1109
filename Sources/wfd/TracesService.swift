import Foundation
import Logging
import ServiceLifecycle
import WorkflowTracing

/// The span exporter's life: started with wfd, and on shutdown, once the runs have stopped, it
/// sends what waits (5 s at most) before wfd exits.
struct TracesService: Service {
    let exporter: SpanExporter

    /// The service when the environment asks for traces (`OTEL_EXPORTER_OTLP_ENDPOINT`); what it
    /// says is logged either way.
    static func make(environment: [String: String], version: String, logger: Logger) -> TracesService? {
        switch TracingConfiguration.read(environment) {
        case .off(let why):
            logger.info("traces: off (\(why))")
            return nil
        case .invalid(let problem):
            logger.error("traces: off: \(problem)")
            return nil
        case .on(let configuration):
            for note in configuration.notes { logger.notice("traces: \(note)") }
            logger.info("traces: OTLP/HTTP (JSON) to \(configuration.endpoint.absoluteString)")
            return TracesService(exporter: SpanExporter(configuration: configuration, version: version, logger: logger))
        }
    }

    func run() async throws {
        exporter.start()
        try? await gracefulShutdown()
        await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                exporter.stop(within: 5)
                finished.resume()
            }
            thread.name = "wfd-traces-stop"
            thread.start()
        }
    }
}
