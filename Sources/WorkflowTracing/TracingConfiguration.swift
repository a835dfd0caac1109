import Foundation

/// Where and how spans go, from the standard OpenTelemetry environment variables: off unless
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the full URL) or `OTEL_EXPORTER_OTLP_ENDPOINT` (a base
/// URL: `/v1/traces` is added) is set, and off with `OTEL_TRACES_EXPORTER=none` or
/// `OTEL_SDK_DISABLED=true`. Headers from `OTEL_EXPORTER_OTLP_[TRACES_]HEADERS` (`k=v,k2=v2`,
/// values percent-decoded), the timeout from `OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT` (ms, default
/// 10,000), the service from `OTEL_SERVICE_NAME` (default `wfd`) and `OTEL_RESOURCE_ATTRIBUTES`.
/// wfd sends OTLP/HTTP with JSON bodies, which every OTLP/HTTP receiver takes.
public struct TracingConfiguration: Sendable, Equatable {
    public var endpoint: URL
    public var headers: [String: String]
    public var timeout: Duration
    /// `service.name` first, then the rest of `OTEL_RESOURCE_ATTRIBUTES`.
    public var resource: [(String, String)]
    /// What the environment asked for that wfd does differently, for the log.
    public var notes: [String]

    public static func == (lhs: TracingConfiguration, rhs: TracingConfiguration) -> Bool {
        lhs.endpoint == rhs.endpoint && lhs.headers == rhs.headers && lhs.timeout == rhs.timeout
            && lhs.resource.map(\.0) == rhs.resource.map(\.0) && lhs.resource.map(\.1) == rhs.resource.map(\.1)
            && lhs.notes == rhs.notes
    }

    /// What the environment says: nil with why when tracing is off, or a problem to log.
    public enum Reading: Sendable, Equatable {
        case off(String)
        case on(TracingConfiguration)
        case invalid(String)
    }

    public static func read(_ environment: [String: String], hostName: String = ProcessInfo.processInfo.hostName)
        -> Reading
    {
        func value(_ name: String) -> String? {
            environment[name].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 }
        }
        if value("OTEL_SDK_DISABLED")?.lowercased() == "true" { return .off("OTEL_SDK_DISABLED=true") }
        if let exporter = value("OTEL_TRACES_EXPORTER")?.lowercased(), exporter == "none" {
            return .off("OTEL_TRACES_EXPORTER=none")
        }
        let text: String
        if let full = value("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            text = full
        } else if let base = value("OTEL_EXPORTER_OTLP_ENDPOINT") {
            text = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/v1/traces"
        } else {
            return .off("OTEL_EXPORTER_OTLP_ENDPOINT is not set")
        }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            url.host != nil
        else {
            return .invalid(
                "OTEL_EXPORTER_OTLP_ENDPOINT '\(text)' is not an http(s) URL: give the collector's OTLP/HTTP address, "
                    + "like http://localhost:4318")
        }
        var notes: [String] = []
        if let exporter = value("OTEL_TRACES_EXPORTER")?.lowercased(), exporter != "otlp" {
            notes.append("OTEL_TRACES_EXPORTER=\(exporter): wfd exports OTLP only")
        }
        if let proto = value("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? value("OTEL_EXPORTER_OTLP_PROTOCOL"),
            proto != "http/json"
        {
            notes.append(
                "OTEL_EXPORTER_OTLP_PROTOCOL=\(proto): wfd sends http/json (OTLP/HTTP receivers take it on the same port)"
            )
        }
        var headers: [String: String] = [:]
        for source in [value("OTEL_EXPORTER_OTLP_HEADERS"), value("OTEL_EXPORTER_OTLP_TRACES_HEADERS")] {
            for (key, item) in pairs(source ?? "") { headers[key] = item }
        }
        var timeout = Duration.seconds(10)
        if let text = value("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") ?? value("OTEL_EXPORTER_OTLP_TIMEOUT") {
            if let milliseconds = Int(text), milliseconds > 0 {
                timeout = .milliseconds(milliseconds)
            } else {
                notes.append("OTEL_EXPORTER_OTLP_TIMEOUT=\(text) is not a number of milliseconds: 10000 is used")
            }
        }
        var resource = [("service.name", value("OTEL_SERVICE_NAME") ?? "wfd")]
        for (key, item) in pairs(value("OTEL_RESOURCE_ATTRIBUTES") ?? "") where key != "service.name" {
            resource.append((key, item))
        }
        if !resource.contains(where: { $0.0 == "host.name" }) { resource.append(("host.name", hostName)) }
        return .on(
            TracingConfiguration(endpoint: url, headers: headers, timeout: timeout, resource: resource, notes: notes))
    }

    /// `k=v,k2=v2`, keys and values trimmed and percent-decoded, in order.
    static func pairs(_ text: String) -> [(String, String)] {
        text.split(separator: ",").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            let item = parts[1].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { return nil }
            return (key.removingPercentEncoding ?? key, item.removingPercentEncoding ?? item)
        }
    }
}
