#!/usr/bin/env python3
"""Parses an OTLP/JSON ExportTraceServiceRequest with OpenTelemetry's own message types (the
`opentelemetry-proto` package, google.protobuf.json_format) and prints a summary as JSON for the
Rust tests.

OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64: they
are converted before parsing, as OTLP's specification says receivers do.

Checks (failures go to "errors"): the document parses as ExportTraceServiceRequest with no
unknown field; trace ids are 16 bytes and span ids 8; one trace per resource; every parent span
exists in the same trace; a child span lies within its parent's time; span events lie within
their span's time.
"""

import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def hex_to_b64(obj):
    if isinstance(obj, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode()
                    if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str)
                    else hex_to_b64(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [hex_to_b64(v) for v in obj]
    return obj


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def main(path):
    with open(path) as f:
        doc = json.load(f)
    req = trace_service_pb2.ExportTraceServiceRequest()
    json_format.Parse(json.dumps(hex_to_b64(doc)), req)  # raises on unknown fields
    errors = []
    resources = []
    for rs in req.resource_spans:
        res = {a.key: value(a.value) for a in rs.resource.attributes}
        spans = []
        by_id = {}
        trace_ids = set()
        for ss in rs.scope_spans:
            for s in ss.spans:
                if len(s.trace_id) != 16 or len(s.span_id) != 8:
                    errors.append(f"span {s.name}: id lengths {len(s.trace_id)}/{len(s.span_id)}")
                trace_ids.add(s.trace_id)
                span = {
                    "name": s.name, "id": s.span_id.hex(), "parent": s.parent_span_id.hex() or None,
                    "kind": s.kind, "start": s.start_time_unix_nano, "end": s.end_time_unix_nano,
                    "attributes": {a.key: value(a.value) for a in s.attributes},
                    "events": [{"name": e.name, "time": e.time_unix_nano,
                                "attributes": {a.key: value(a.value) for a in e.attributes}}
                               for e in s.events],
                    "status": {"code": s.status.code, "message": s.status.message},
                }
                if s.start_time_unix_nano > s.end_time_unix_nano:
                    errors.append(f"span {s.name} ends before it starts")
                for e in s.events:
                    if not s.start_time_unix_nano <= e.time_unix_nano <= s.end_time_unix_nano:
                        errors.append(f"event {e.name} outside span {s.name}")
                spans.append(span)
                by_id[span["id"]] = span
        if len(trace_ids) > 1:
            errors.append(f"{len(trace_ids)} traces in one resource")
        for s in spans:
            if s["parent"] is None:
                continue
            p = by_id.get(s["parent"])
            if p is None:
                errors.append(f"span {s['name']}: unknown parent {s['parent']}")
            elif not (p["start"] <= s["start"] and s["end"] <= p["end"]):
                errors.append(f"span {s['name']} outside its parent {p['name']}")
        resources.append({"resource": res, "spans": spans})
    json.dump({"resources": resources, "errors": errors}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
