//! OpenTelemetry's OTLP/JSON: the merged trace as an `ExportTraceServiceRequest`, the body an
//! OTLP/HTTP collector accepts at `/v1/traces` (`Content-Type: application/json`).
//!
//! * One `resourceSpans` per process (resource attributes `service.name` = the program's file
//!   name, `process.pid`, `process.executable.path`, `process.command_args`), one trace per
//!   process (its `traceId` derived from the pid and the trace's clock pair).
//! * Per thread a root span named `thread NAME` (attributes `thread.id`, `thread.name`) covering
//!   the thread's events; under it a span per traced call, its parent the caller's span
//!   (attributes `code.function` (qualified name), `code.filepath`, `code.lineno`,
//!   `code.column`, `thread.id`, one `arg.NAME` per argument, `return`); status `ERROR` with a
//!   message on a panic or an `Err` return. A poll of an `async fn` future is a span too, with
//!   `async.poll`, `async.polls`, `async.future_lifetime_ns` and `async.future_busy_ns`.
//! * System calls are span events on the innermost call (or the thread span) named after the
//!   system call, with `syscall.args`, `syscall.return` and `syscall.duration_ns`; with
//!   `syscall_spans` they are child spans instead (`kind` `SPAN_KIND_CLIENT`, error status on a
//!   failed call). Point events (instants, losses, signals, thread ends) are span events.
//!
//! Per the OTLP/JSON encoding, ids are lowercase hex (not base64), 64-bit integers are strings,
//! enums are numbers, and times are `CLOCK_REALTIME` Unix nanoseconds: each `CLOCK_MONOTONIC`
//! timestamp is shifted by the trace's clock pair.

use std::io::{self, Write};

use serde_json::{json, Value as Json};

use super::{fmt_return, Merged, NodeId, NodeKind, ThreadTrack};

const SPAN_KIND_INTERNAL: u32 = 1;
const SPAN_KIND_CLIENT: u32 = 3;
const STATUS_CODE_ERROR: u32 = 2;

fn mix(a: u64, b: u64) -> u64 {
    let mut z = a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn attr(key: &str, value: Json) -> Json {
    json!({"key": key, "value": value})
}

fn string(s: impl Into<String>) -> Json {
    json!({"stringValue": s.into()})
}

fn int(v: i64) -> Json {
    json!({"intValue": v.to_string()})
}

/// A captured value as an attribute value: integers, floats and booleans as themselves.
fn value(v: &ruchytrace_runtime::model::Value) -> Json {
    use ruchytrace_runtime::model::Value as V;
    match v {
        V::Bool(b) => json!({"boolValue": b}),
        V::I8(x) => int(i64::from(*x)),
        V::I16(x) => int(i64::from(*x)),
        V::I32(x) => int(i64::from(*x)),
        V::I64(x) => int(*x),
        V::U8(x) => int(i64::from(*x)),
        V::U16(x) => int(i64::from(*x)),
        V::U32(x) => int(i64::from(*x)),
        V::U64(x) if i64::try_from(*x).is_ok() => int(*x as i64),
        V::F32(x) => json!({"doubleValue": f64::from(*x)}),
        V::F64(x) if x.is_finite() => json!({"doubleValue": x}),
        other => string(other.to_string()),
    }
}

/// Options of the OTLP writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtlpOptions {
    /// Show the collector thread.
    pub show_tracer: bool,
    /// System calls as child spans instead of span events.
    pub syscall_spans: bool,
}

struct Ctx<'a> {
    m: &'a Merged,
    /// Added to a `CLOCK_MONOTONIC` timestamp to get Unix nanoseconds.
    offset: i128,
    trace_id: String,
    opts: OtlpOptions,
}

impl Ctx<'_> {
    fn unix(&self, ts: u64) -> String {
        (i128::from(ts) + self.offset).max(0).to_string()
    }

    fn span_id(&self, pid: u32, tid: u32, node: Option<NodeId>) -> String {
        let id = mix(
            mix(u64::from(pid), u64::from(tid)),
            node.map_or(0, |n| u64::from(n) + 1),
        )
        .max(1);
        format!("{id:016x}")
    }
}

/// Writes the request.
pub fn write(m: &Merged, opts: OtlpOptions, out: &mut dyn Write) -> io::Result<()> {
    let offset = m.clock.as_ref().map_or(0, |c| {
        i128::from(c.realtime_ns) - i128::from(c.monotonic_ns)
    });
    let mut resources = Vec::new();
    for p in &m.processes {
        let seed = mix(u64::from(p.pid), (offset as u64) ^ m.origin_ns);
        let ctx = Ctx {
            m,
            offset,
            trace_id: format!("{:016x}{:016x}", seed, mix(seed, 0x6f74_6c70)),
            opts,
        };
        let mut spans = Vec::new();
        for t in m
            .visible_threads(opts.show_tracer)
            .filter(|t| t.pid == p.pid)
        {
            thread_spans(&ctx, t, &mut spans);
        }
        let service = std::path::Path::new(&p.program)
            .file_name()
            .map_or_else(|| p.program.clone(), |n| n.to_string_lossy().into_owned());
        resources.push(json!({
            "resource": {"attributes": [
                attr("service.name", string(service)),
                attr("process.pid", int(i64::from(p.pid))),
                attr("process.executable.path", string(p.program.clone())),
                attr("process.command_args", json!({"arrayValue": {"values":
                    p.args.iter().map(|a| string(a.clone())).collect::<Vec<_>>()}})),
            ]},
            "scopeSpans": [{
                "scope": {"name": "ruchytrace", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
        }));
    }
    serde_json::to_writer(&mut *out, &json!({"resourceSpans": resources}))?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The thread's root span and every span under it.
fn thread_spans(ctx: &Ctx<'_>, t: &ThreadTrack, spans: &mut Vec<Json>) {
    let m = ctx.m;
    let root_id = ctx.span_id(t.pid, t.tid, None);
    let (mut start, mut end) = (u64::MAX, 0u64);
    let mut root_events = Vec::new();
    // (node, parent span id)
    let mut stack: Vec<(NodeId, String)> = t
        .roots
        .iter()
        .rev()
        .map(|&r| (r, root_id.clone()))
        .collect();
    let mut events_of: Vec<(String, Json)> = Vec::new();
    while let Some((id, parent)) = stack.pop() {
        let n = m.node(id);
        start = start.min(n.start_ns);
        end = end.max(n.end_ns.unwrap_or(n.start_ns));
        let event = match &n.kind {
            NodeKind::Call(c) => {
                let span_id = ctx.span_id(t.pid, t.tid, Some(id));
                let site = m.site(c);
                let stop = n.end_ns.unwrap_or(m.end_ns).max(n.start_ns);
                end = end.max(stop);
                let mut attributes = vec![
                    attr("code.function", string(site.qualified_name.clone())),
                    attr("code.filepath", string(site.location.file.clone())),
                    attr("code.lineno", int(i64::from(site.location.line))),
                    attr("code.column", int(i64::from(site.location.column))),
                    attr("thread.id", int(i64::from(t.tid))),
                    attr("call.end", string(c.end.as_str())),
                ];
                for (i, v) in c.args.iter().enumerate() {
                    let name = site.args.get(i).map_or("?", |a| a.name.as_str());
                    attributes.push(attr(&format!("arg.{name}"), value(v)));
                }
                let mut status = json!({});
                match &c.ret {
                    Some(ruchytrace_runtime::model::Return::Value(v)) => {
                        attributes.push(attr("return", value(v)));
                        if c.ret.as_ref().is_some_and(|r| r.is_error()) {
                            status = json!({"code": STATUS_CODE_ERROR, "message": v.to_string()});
                        }
                    }
                    Some(ruchytrace_runtime::model::Return::Panic { message }) => {
                        let text = format!("panic: {}", message.as_deref().unwrap_or("?"));
                        attributes.push(attr("return", string(format!("<{text}>"))));
                        status = json!({"code": STATUS_CODE_ERROR, "message": text});
                    }
                    _ => {}
                }
                if let Some((f, k)) = m.futures.of(id) {
                    attributes.push(attr("async.poll", int(k as i64 + 1)));
                    attributes.push(attr("async.polls", int(f.polls.len() as i64)));
                    attributes.push(attr(
                        "async.future_lifetime_ns",
                        int(f.lifetime_ns() as i64),
                    ));
                    attributes.push(attr("async.future_busy_ns", int(f.busy_ns as i64)));
                }
                spans.push(json!({
                    "traceId": ctx.trace_id,
                    "spanId": span_id,
                    "parentSpanId": parent,
                    "name": site.name,
                    "kind": SPAN_KIND_INTERNAL,
                    "startTimeUnixNano": ctx.unix(n.start_ns),
                    "endTimeUnixNano": ctx.unix(stop),
                    "attributes": attributes,
                    "events": [],
                    "status": status,
                }));
                stack.extend(n.children.iter().rev().map(|&ch| (ch, span_id.clone())));
                None
            }
            NodeKind::Syscall(s) if ctx.opts.syscall_spans => {
                let stop = n.end_ns.unwrap_or(n.start_ns);
                let mut status = json!({});
                if let Some(e) = &s.errno {
                    status = json!({"code": STATUS_CODE_ERROR, "message": e});
                }
                spans.push(json!({
                    "traceId": ctx.trace_id,
                    "spanId": ctx.span_id(t.pid, t.tid, Some(id)),
                    "parentSpanId": parent,
                    "name": s.name,
                    "kind": SPAN_KIND_CLIENT,
                    "startTimeUnixNano": ctx.unix(n.start_ns),
                    "endTimeUnixNano": ctx.unix(stop),
                    "attributes": [
                        attr("syscall.args", string(s.args.join(", "))),
                        attr("syscall.return", string(fmt_return(s))),
                        attr("thread.id", int(i64::from(t.tid))),
                    ],
                    "events": [],
                    "status": status,
                }));
                None
            }
            NodeKind::Syscall(s) => Some(json!({
                "timeUnixNano": ctx.unix(n.start_ns),
                "name": s.name,
                "attributes": [
                    attr("syscall.args", string(s.args.join(", "))),
                    attr("syscall.return", string(fmt_return(s))),
                    attr("syscall.duration_ns",
                         int(n.end_ns.map_or(0, |e| e.saturating_sub(n.start_ns)) as i64)),
                ],
            })),
            NodeKind::Point { category, text } => Some(json!({
                "timeUnixNano": ctx.unix(n.start_ns),
                "name": category,
                "attributes": [attr("text", string(text.clone()))],
            })),
        };
        if let Some(ev) = event {
            if parent == root_id {
                root_events.push(ev);
            } else {
                events_of.push((parent, ev));
            }
        }
    }
    // Attach the events to their spans (spans are few per parent; index them once).
    let index: std::collections::HashMap<String, usize> = spans
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((s["spanId"].as_str()?.to_owned(), i)))
        .collect();
    for (parent, ev) in events_of {
        if let Some(&i) = index.get(&parent) {
            if let Some(list) = spans[i]["events"].as_array_mut() {
                list.push(ev);
            }
        }
    }
    if start == u64::MAX {
        return;
    }
    let label = t.label();
    spans.push(json!({
        "traceId": ctx.trace_id,
        "spanId": root_id,
        "name": format!("thread {label}"),
        "kind": SPAN_KIND_INTERNAL,
        "startTimeUnixNano": ctx.unix(start),
        "endTimeUnixNano": ctx.unix(end.max(start)),
        "attributes": [
            attr("thread.id", int(i64::from(t.tid))),
            attr("thread.name", string(label)),
        ],
        "events": root_events,
        "status": {},
    }));
}
