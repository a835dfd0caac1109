#!/usr/bin/env python3
"""An OTLP/HTTP trace receiver for tests, built on the official protocol definitions (PyPI's
opentelemetry-proto): POST /v1/traces with a JSON body (OTLP's JSON encoding: hex ids) or a
protobuf one is parsed strictly into an ExportTraceServiceRequest (unknown fields are an
error, answered 400 and recorded), and each span is appended to OUT as one JSON line:
{"resource": {...}, "scope": "...", "trace_id", "span_id", "parent_span_id", "name", "kind",
"start_ns", "end_ns", "attributes": {...}, "status": {"code", "message"}}.

  otlp-receiver.py OUT PORTFILE      listens on 127.0.0.1 (a free port, written to PORTFILE)
"""
import base64
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

OUT, PORTFILE = sys.argv[1], sys.argv[2]
lock = threading.Lock()


def hex_to_base64(document):
    """OTLP's JSON encoding writes ids as hex; protobuf's JSON mapping reads bytes as base64."""
    for resource in document.get("resourceSpans", []):
        for scope in resource.get("scopeSpans", []):
            for span in scope.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        raw = bytes.fromhex(span[key])
                        expected = 16 if key == "traceId" else 8
                        if len(raw) != expected:
                            raise ValueError(f"{key} {span[key]} is not {expected} bytes")
                        span[key] = base64.b64encode(raw).decode()
    return document


def value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = trace_service_pb2.ExportTraceServiceRequest()
        try:
            if self.path != "/v1/traces":
                raise ValueError(f"unexpected path {self.path}")
            if self.headers.get("Content-Type", "").startswith("application/json"):
                json_format.ParseDict(hex_to_base64(json.loads(body)), request, ignore_unknown_fields=False)
            else:
                request.ParseFromString(body)
        except Exception as error:  # noqa: BLE001 - every failure is the sender's
            with lock, open(OUT, "a") as out:
                out.write(json.dumps({"error": str(error)}) + "\n")
            self.send_response(400)
            self.end_headers()
            return
        lines = []
        for resource_spans in request.resource_spans:
            resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    lines.append(json.dumps({
                        "resource": resource, "scope": scope_spans.scope.name,
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(), "name": span.name, "kind": span.kind,
                        "start_ns": span.start_time_unix_nano, "end_ns": span.end_time_unix_nano,
                        "attributes": {a.key: value(a.value) for a in span.attributes},
                        "status": {"code": span.status.code, "message": span.status.message},
                        "header": self.headers.get("X-Test-Header"),
                    }))
        with lock, open(OUT, "a") as out:
            for line in lines:
                out.write(line + "\n")
        answer = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
