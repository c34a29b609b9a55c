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
//! Spans are written as they end (a call's at its exit, so a caller follows its callees; a
//! thread's root span after every span of the thread), so the writer holds the calls still
//! open with the span events they have gathered, not the trace: the same [`OtlpSink`] writes a
//! merged tree ([`write`]) and a streamed replay ([`super::stream`]). A span's id is derived
//! from its thread and its rank among the thread's spans.
//!
//! Per the OTLP/JSON encoding, ids are lowercase hex (not base64), 64-bit integers are strings,
//! enums are numbers, and times are `CLOCK_REALTIME` Unix nanoseconds: each `CLOCK_MONOTONIC`
//! timestamp is shifted by the trace's clock pair.

use rustc_hash::FxHashMap as HashMap;
use std::io::{self, Write};

use ruchytrace_runtime::model::{Return, Site, Value};
use serde_json::{json, Value as Json};

use super::futures::FutureInfo;
use super::jsonw;
use super::{fmt_return, Merged, Node, NodeKind, ProcessInfo};

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

/// An open call's span: what its close needs.
struct OpenSpan {
    id: u64,
    parent: u64,
    site: u32,
    args: Vec<Value>,
    /// Its span events so far, written (comma-separated JSON objects).
    events: String,
}

/// A thread's spans in progress.
struct ThreadSpans {
    label: String,
    /// Spans started so far (the next span's rank).
    started: u64,
    stack: Vec<OpenSpan>,
    /// The span events outside every call (written), for the thread's root span.
    root_events: String,
    start: u64,
    end: u64,
}

/// Writes the spans of one process as nodes arrive (a call's span at its close).
pub(crate) struct OtlpSink<'w> {
    out: &'w mut dyn Write,
    /// `CLOCK_REALTIME - CLOCK_MONOTONIC`.
    offset: i128,
    trace_id: String,
    opts: OtlpOptions,
    end_ns: u64,
    threads: HashMap<(u32, u32), ThreadSpans>,
    /// Threads in the order their root spans are written.
    order: Vec<(u32, u32)>,
    first: bool,
    /// What closes the resource.
    tail: String,
    /// Spans written and not yet passed to `out`.
    buf: String,
    /// Per site id, the attributes every span of the site has (`code.*`), written once.
    site_attrs: Vec<Option<String>>,
}

/// The clock offset of a trace: Unix ns minus `CLOCK_MONOTONIC` ns.
pub(crate) fn clock_offset(clock: Option<&ruchytrace_runtime::model::ClockInfo>) -> i128 {
    clock.map_or(0, |c| {
        i128::from(c.realtime_ns) - i128::from(c.monotonic_ns)
    })
}

/// Starts the request (`{"resourceSpans":[`).
pub(crate) fn begin(out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"{\"resourceSpans\":[")
}

/// Ends the request.
pub(crate) fn end(out: &mut dyn Write) -> io::Result<()> {
    out.write_all(b"]}\n")?;
    out.flush()
}

impl<'w> OtlpSink<'w> {
    /// Starts the resource of process `p` (after a comma unless `first`): its attributes and
    /// scope, up to its spans.
    pub(crate) fn new(
        out: &'w mut dyn Write,
        p: &ProcessInfo,
        first: bool,
        (offset, origin_ns, end_ns): (i128, u64, u64),
        threads: &[((u32, u32), String)],
        opts: OtlpOptions,
    ) -> io::Result<Self> {
        let seed = mix(u64::from(p.pid), (offset as u64) ^ origin_ns);
        let service = std::path::Path::new(&p.program)
            .file_name()
            .map_or_else(|| p.program.clone(), |n| n.to_string_lossy().into_owned());
        let resource = json!({
            "resource": {"attributes": [
                attr("service.name", string(service)),
                attr("process.pid", int(i64::from(p.pid))),
                attr("process.executable.path", string(p.program.clone())),
                attr("process.command_args", json!({"arrayValue": {"values":
                    p.args.iter().map(|a| string(a.clone())).collect::<Vec<_>>()}})),
            ]},
            "scopeSpans": [{
                "scope": {"name": "ruchytrace", "version": env!("CARGO_PKG_VERSION")},
                "spans": [],
            }],
        });
        // The resource up to its (empty) spans array; the spans go in between.
        let text = resource.to_string();
        let tail = "]}]}";
        let head = text
            .strip_suffix(tail)
            .and_then(|h| h.strip_suffix("\"spans\":["))
            .ok_or_else(|| io::Error::other("unexpected resource layout"))?;
        if !first {
            out.write_all(b",")?;
        }
        out.write_all(head.as_bytes())?;
        out.write_all(b"\"spans\":[")?;
        Ok(OtlpSink {
            out,
            offset,
            trace_id: format!("{:016x}{:016x}", seed, mix(seed, 0x6f74_6c70)),
            opts,
            end_ns,
            threads: threads
                .iter()
                .map(|(k, label)| {
                    (
                        *k,
                        ThreadSpans {
                            label: label.clone(),
                            started: 0,
                            stack: Vec::new(),
                            root_events: String::new(),
                            start: u64::MAX,
                            end: 0,
                        },
                    )
                })
                .collect(),
            order: threads.iter().map(|(k, _)| *k).collect(),
            first: true,
            tail: tail.to_string(),
            buf: String::with_capacity(1 << 16),
            site_attrs: Vec::new(),
        })
    }

    /// `"N"`: `ts` as a quoted Unix nanosecond count.
    fn unix(out: &mut String, offset: i128, ts: u64) {
        out.push('"');
        jsonw::i128(out, (i128::from(ts) + offset).max(0));
        out.push('"');
    }

    fn span_id((pid, tid): (u32, u32), rank: u64) -> u64 {
        mix(mix(u64::from(pid), u64::from(tid)), rank).max(1)
    }

    /// `"XXXXXXXXXXXXXXXX"`: a span id.
    fn id(out: &mut String, id: u64) {
        out.push('"');
        jsonw::hex16(out, id);
        out.push('"');
    }

    /// Starts a span in `buf` (after a comma unless it is the first): its attributes array is
    /// open.
    fn span_start(&mut self) {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        self.buf.push_str("{\"attributes\":[");
    }

    /// Ends a span's attributes, then writes its other members (in `serde_json`'s key order)
    /// and the span's end.
    #[allow(clippy::too_many_arguments)]
    fn span_rest(
        &mut self,
        (start, stop): (u64, u64),
        events: &str,
        kind: u32,
        name: &str,
        parent: Option<u64>,
        id: u64,
        status: Option<(&str, bool)>,
    ) -> io::Result<()> {
        let b = &mut self.buf;
        b.push_str("],\"endTimeUnixNano\":");
        Self::unix(b, self.offset, stop);
        b.push_str(",\"events\":[");
        b.push_str(events);
        b.push_str("],\"kind\":");
        jsonw::u64(b, u64::from(kind));
        b.push_str(",\"name\":");
        jsonw::str(b, name);
        if let Some(p) = parent {
            b.push_str(",\"parentSpanId\":");
            Self::id(b, p);
        }
        b.push_str(",\"spanId\":");
        Self::id(b, id);
        b.push_str(",\"startTimeUnixNano\":");
        Self::unix(b, self.offset, start);
        b.push_str(",\"status\":{");
        if let Some((message, _)) = status {
            b.push_str("\"code\":");
            jsonw::u64(b, u64::from(STATUS_CODE_ERROR));
            b.push_str(",\"message\":");
            jsonw::str(b, message);
        }
        b.push_str("},\"traceId\":");
        jsonw::str(b, &self.trace_id);
        b.push('}');
        if self.buf.len() > 1 << 16 {
            self.out.write_all(self.buf.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }

    /// One node of thread `key` (threads of other processes are ignored). `future` is the
    /// future a closing poll belongs to (from the tree).
    pub(crate) fn node(
        &mut self,
        key: (u32, u32),
        n: &Node,
        close: bool,
        sites: &[Site],
        future: Option<(&FutureInfo, usize)>,
    ) -> io::Result<()> {
        let end_ns = self.end_ns;
        let offset = self.offset;
        let syscall_spans = self.opts.syscall_spans;
        let Some(t) = self.threads.get_mut(&key) else {
            return Ok(());
        };
        if !close {
            t.start = t.start.min(n.start_ns);
            t.end = t.end.max(n.end_ns.unwrap_or(n.start_ns));
        }
        let parent = t
            .stack
            .last()
            .map_or_else(|| Self::span_id(key, 0), |o| o.id);
        // A span event, appended to the innermost open call's events (or the thread's).
        let events = match t.stack.last_mut() {
            Some(open) => &mut open.events,
            None => &mut t.root_events,
        };
        match &n.kind {
            NodeKind::Call(c) if !close => {
                t.started += 1;
                let id = Self::span_id(key, t.started);
                t.stack.push(OpenSpan {
                    id,
                    parent,
                    site: c.site,
                    args: c.args.clone(),
                    events: String::new(),
                });
                Ok(())
            }
            NodeKind::Call(c) => {
                let Some(open) = t.stack.pop() else {
                    return Ok(());
                };
                let stop = n.end_ns.unwrap_or(end_ns).max(n.start_ns);
                t.end = t.end.max(stop);
                self.span_start();
                let b = &mut self.buf;
                b.push_str(site_attrs(&mut self.site_attrs, sites, open.site));
                b.push(',');
                attr_int(b, "thread.id", i64::from(key.1));
                b.push(',');
                attr_str(b, "call.end", c.end.as_str());
                let site = &sites[open.site as usize];
                for (i, v) in open.args.iter().enumerate() {
                    let name = site.args.get(i).map_or("?", |a| a.name.as_str());
                    b.push_str(",{\"key\":\"arg.");
                    jsonw::str_contents(b, name);
                    b.push_str("\",\"value\":");
                    value_into(b, v);
                    b.push('}');
                }
                let mut status: Option<String> = None;
                match &c.ret {
                    Some(Return::Value(v)) => {
                        b.push_str(",{\"key\":\"return\",\"value\":");
                        value_into(b, v);
                        b.push('}');
                        if c.ret.as_ref().is_some_and(|r| r.is_error()) {
                            status = Some(v.to_string());
                        }
                    }
                    Some(Return::Panic { message }) => {
                        let text = format!("panic: {}", message.as_deref().unwrap_or("?"));
                        b.push(',');
                        attr_str(b, "return", &format!("<{text}>"));
                        status = Some(text);
                    }
                    _ => {}
                }
                if let Some((f, k)) = future {
                    for (key, v) in [
                        ("async.poll", k as i64 + 1),
                        ("async.polls", f.polls.len() as i64),
                        ("async.future_lifetime_ns", f.lifetime_ns() as i64),
                        ("async.future_busy_ns", f.busy_ns as i64),
                    ] {
                        b.push(',');
                        attr_int(b, key, v);
                    }
                }
                self.span_rest(
                    (n.start_ns, stop),
                    &open.events,
                    SPAN_KIND_INTERNAL,
                    &site.name,
                    Some(open.parent),
                    open.id,
                    status.as_deref().map(|m| (m, true)),
                )
            }
            NodeKind::Syscall(s) if syscall_spans => {
                t.started += 1;
                let id = Self::span_id(key, t.started);
                let stop = n.end_ns.unwrap_or(n.start_ns);
                self.span_start();
                let b = &mut self.buf;
                attr_str(b, "syscall.args", &s.args.join(", "));
                b.push(',');
                attr_str(b, "syscall.return", &fmt_return(s));
                b.push(',');
                attr_int(b, "thread.id", i64::from(key.1));
                self.span_rest(
                    (n.start_ns, stop),
                    "",
                    SPAN_KIND_CLIENT,
                    &s.name,
                    Some(parent),
                    id,
                    s.errno.as_deref().map(|e| (e, true)),
                )
            }
            NodeKind::Syscall(s) => {
                if !events.is_empty() {
                    events.push(',');
                }
                events.push_str("{\"attributes\":[");
                attr_str(events, "syscall.args", &s.args.join(", "));
                events.push(',');
                attr_str(events, "syscall.return", &fmt_return(s));
                events.push(',');
                let d = n.end_ns.map_or(0, |e| e.saturating_sub(n.start_ns)) as i64;
                attr_int(events, "syscall.duration_ns", d);
                events.push_str("],\"name\":");
                jsonw::str(events, &s.name);
                events.push_str(",\"timeUnixNano\":");
                Self::unix(events, offset, n.start_ns);
                events.push('}');
                Ok(())
            }
            NodeKind::Point { category, text } => {
                if !events.is_empty() {
                    events.push(',');
                }
                events.push_str("{\"attributes\":[");
                attr_str(events, "text", text);
                events.push_str("],\"name\":");
                jsonw::str(events, category);
                events.push_str(",\"timeUnixNano\":");
                Self::unix(events, offset, n.start_ns);
                events.push('}');
                Ok(())
            }
        }
    }

    /// Writes every thread's root span (after its other spans) and closes the resource.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        for key in std::mem::take(&mut self.order) {
            let Some(t) = self.threads.remove(&key) else {
                continue;
            };
            if t.start == u64::MAX {
                continue;
            }
            self.span_start();
            attr_int(&mut self.buf, "thread.id", i64::from(key.1));
            self.buf.push(',');
            attr_str(&mut self.buf, "thread.name", &t.label);
            self.span_rest(
                (t.start, t.end.max(t.start)),
                &t.root_events,
                SPAN_KIND_INTERNAL,
                &format!("thread {}", t.label),
                None,
                Self::span_id(key, 0),
                None,
            )?;
        }
        let tail = std::mem::take(&mut self.tail);
        self.buf.push_str(&tail);
        self.out.write_all(self.buf.as_bytes())
    }
}

/// The `code.*` attributes of `site`, written once per site into `cache`.
fn site_attrs<'c>(cache: &'c mut Vec<Option<String>>, sites: &[Site], site: u32) -> &'c str {
    let i = site as usize;
    if cache.len() <= i {
        cache.resize(i + 1, None);
    }
    cache[i].get_or_insert_with(|| {
        let s = &sites[i];
        let mut out = String::new();
        attr_str(&mut out, "code.function", &s.qualified_name);
        out.push(',');
        attr_str(&mut out, "code.filepath", &s.location.file);
        out.push(',');
        attr_int(&mut out, "code.lineno", i64::from(s.location.line));
        out.push(',');
        attr_int(&mut out, "code.column", i64::from(s.location.column));
        out
    })
}

/// `{"key":KEY,"value":{"stringValue":VALUE}}`.
fn attr_str(out: &mut String, key: &str, value: &str) {
    out.push_str("{\"key\":");
    jsonw::str(out, key);
    out.push_str(",\"value\":{\"stringValue\":");
    jsonw::str(out, value);
    out.push_str("}}");
}

/// `{"key":KEY,"value":{"intValue":"N"}}`.
fn attr_int(out: &mut String, key: &str, v: i64) {
    out.push_str("{\"key\":");
    jsonw::str(out, key);
    out.push_str(",\"value\":{\"intValue\":\"");
    jsonw::i64(out, v);
    out.push_str("\"}}");
}

/// The `AnyValue` of an argument or return value, written as [`value`] serializes it.
fn value_into(out: &mut String, v: &Value) {
    use ruchytrace_runtime::model::Value as V;
    let int = |out: &mut String, x: i64| {
        out.push_str("{\"intValue\":\"");
        jsonw::i64(out, x);
        out.push_str("\"}");
    };
    match v {
        V::Bool(b) => out.push_str(if *b {
            "{\"boolValue\":true}"
        } else {
            "{\"boolValue\":false}"
        }),
        V::I8(x) => int(out, i64::from(*x)),
        V::I16(x) => int(out, i64::from(*x)),
        V::I32(x) => int(out, i64::from(*x)),
        V::I64(x) => int(out, *x),
        V::U8(x) => int(out, i64::from(*x)),
        V::U16(x) => int(out, i64::from(*x)),
        V::U32(x) => int(out, i64::from(*x)),
        V::U64(x) if i64::try_from(*x).is_ok() => int(out, *x as i64),
        // Floats (rare) and everything else go through serde_json, as before.
        _ => out.push_str(&value(v).to_string()),
    }
}

/// Writes the request of a merged tree.
pub fn write(m: &Merged, opts: OtlpOptions, out: &mut dyn Write) -> io::Result<()> {
    let offset = clock_offset(m.clock.as_ref());
    begin(out)?;
    for (i, p) in m.processes.iter().enumerate() {
        let threads: Vec<((u32, u32), String)> = m
            .visible_threads(opts.show_tracer)
            .filter(|t| t.pid == p.pid)
            .map(|t| ((t.pid, t.tid), t.label()))
            .collect();
        let mut sink = OtlpSink::new(
            &mut *out,
            p,
            i == 0,
            (offset, m.origin_ns, m.end_ns),
            &threads,
            opts,
        )?;
        for t in m
            .visible_threads(opts.show_tracer)
            .filter(|t| t.pid == p.pid)
        {
            let key = (t.pid, t.tid);
            m.replay_thread(t, opts.show_tracer, |n, leaving, fut| {
                sink.node(key, n, leaving, &m.sites, fut)
            })?;
        }
        sink.finish()?;
    }
    end(out)
}
