import Foundation
import JSONSchemaKit

/// Spans as an OTLP/HTTP JSON body (`ExportTraceServiceRequest`, OTLP 1.x): ids in hex, times in
/// nanoseconds since the epoch as strings, integers as strings, as the OTLP specification's JSON
/// encoding says.
public enum OTLPJSON {
    public static func body(_ spans: [Span], resource: [(String, String)], version: String) -> Data {
        let attributes: [JSONValue] = resource.map { attribute($0.0, .string($0.1)) }
        let request: JSONValue = .object([
            "resourceSpans": .array([
                .object([
                    "resource": .object(["attributes": .array(attributes)]),
                    "scopeSpans": .array([
                        .object([
                            "scope": .object(["name": .string("wfd"), "version": .string(version)]),
                            "spans": .array(spans.map(span)),
                        ])
                    ]),
                ])
            ])
        ])
        return Data(request.jsonText.utf8)
    }

    static func span(_ span: Span) -> JSONValue {
        var fields: [String: JSONValue] = [
            "traceId": .string(span.traceID), "spanId": .string(span.spanID), "name": .string(span.name),
            "kind": .number(Double(span.kind.rawValue)),
            "startTimeUnixNano": .string(nanoseconds(span.start)), "endTimeUnixNano": .string(nanoseconds(span.end)),
            "attributes": .array(span.attributes.map { attribute($0.0, $0.1) }),
        ]
        if let parent = span.parentSpanID { fields["parentSpanId"] = .string(parent) }
        if let error = span.error {
            fields["status"] = .object(["code": .number(2), "message": .string(error)])
        } else if span.ok {
            fields["status"] = .object(["code": .number(1)])
        }
        return .object(fields)
    }

    static func attribute(_ key: String, _ value: Span.Value) -> JSONValue {
        let encoded: JSONValue =
            switch value {
            case .string(let text): .object(["stringValue": .string(text)])
            case .int(let number): .object(["intValue": .string(String(number))])
            case .double(let number): .object(["doubleValue": .number(number)])
            case .bool(let flag): .object(["boolValue": .bool(flag)])
            }
        return .object(["key": .string(key), "value": encoded])
    }

    /// Nanoseconds since the epoch, exact to the microsecond (a `Date` holds no more).
    static func nanoseconds(_ date: Date) -> String {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        return String(Int64(micros)) + "000"
    }
}
