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

use std::collections::HashMap;
use std::io::{self, Write};

use ruchytrace_runtime::model::{Return, Site, Value};
use serde_json::{json, Value as Json};

use super::futures::FutureInfo;
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
    id: String,
    parent: String,
    site: u32,
    args: Vec<Value>,
    events: Vec<Json>,
}

/// One thread of the process being written.
struct ThreadSpans {
    label: String,
    /// Spans started so far (their ids count from 1; the root span is 0).
    started: u64,
    stack: Vec<OpenSpan>,
    root_events: Vec<Json>,
    start: u64,
    end: u64,
}

/// Writes the spans of one process as nodes arrive (see the module docs).
pub(crate) struct OtlpSink<'w> {
    out: &'w mut dyn Write,
    /// Added to a `CLOCK_MONOTONIC` timestamp to get Unix nanoseconds.
    offset: i128,
    trace_id: String,
    opts: OtlpOptions,
    end_ns: u64,
    threads: HashMap<(u32, u32), ThreadSpans>,
    /// Thread keys in output order.
    order: Vec<(u32, u32)>,
    first: bool,
    /// What closes the resource after its spans.
    tail: String,
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
    /// Starts the resource of process `p` (`first`: the first resource of the request), whose
    /// visible threads are `threads` ((pid, tid), label).
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
        // The spans array is the last member of the last member: cut the document there.
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
                            root_events: Vec::new(),
                            start: u64::MAX,
                            end: 0,
                        },
                    )
                })
                .collect(),
            order: threads.iter().map(|(k, _)| *k).collect(),
            first: true,
            tail: tail.to_string(),
        })
    }

    fn unix(&self, ts: u64) -> String {
        (i128::from(ts) + self.offset).max(0).to_string()
    }

    fn span_id((pid, tid): (u32, u32), rank: u64) -> String {
        let id = mix(mix(u64::from(pid), u64::from(tid)), rank).max(1);
        format!("{id:016x}")
    }

    fn emit(&mut self, span: &Json) -> io::Result<()> {
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        serde_json::to_writer(&mut *self.out, span)?;
        Ok(())
    }

    /// One node of thread `key` (ignored unless the thread was announced): a call's entry
    /// (`close` false) or exit, a system call, a point event; `future` is the future a
    /// closing poll belongs to (from the tree).
    pub(crate) fn node(
        &mut self,
        key: (u32, u32),
        n: &Node,
        close: bool,
        sites: &[Site],
        future: Option<(&FutureInfo, usize)>,
    ) -> io::Result<()> {
        let end_ns = self.end_ns;
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
            .map_or_else(|| Self::span_id(key, 0), |o| o.id.clone());
        let event = match &n.kind {
            NodeKind::Call(c) if !close => {
                t.started += 1;
                let id = Self::span_id(key, t.started);
                t.stack.push(OpenSpan {
                    id,
                    parent,
                    site: c.site,
                    args: c.args.clone(),
                    events: Vec::new(),
                });
                return Ok(());
            }
            NodeKind::Call(c) => {
                let Some(open) = t.stack.pop() else {
                    return Ok(());
                };
                let stop = n.end_ns.unwrap_or(end_ns).max(n.start_ns);
                t.end = t.end.max(stop);
                let site = &sites[open.site as usize];
                let mut attributes = vec![
                    attr("code.function", string(site.qualified_name.clone())),
                    attr("code.filepath", string(site.location.file.clone())),
                    attr("code.lineno", int(i64::from(site.location.line))),
                    attr("code.column", int(i64::from(site.location.column))),
                    attr("thread.id", int(i64::from(key.1))),
                    attr("call.end", string(c.end.as_str())),
                ];
                for (i, v) in open.args.iter().enumerate() {
                    let name = site.args.get(i).map_or("?", |a| a.name.as_str());
                    attributes.push(attr(&format!("arg.{name}"), value(v)));
                }
                let mut status = json!({});
                match &c.ret {
                    Some(Return::Value(v)) => {
                        attributes.push(attr("return", value(v)));
                        if c.ret.as_ref().is_some_and(|r| r.is_error()) {
                            status = json!({"code": STATUS_CODE_ERROR, "message": v.to_string()});
                        }
                    }
                    Some(Return::Panic { message }) => {
                        let text = format!("panic: {}", message.as_deref().unwrap_or("?"));
                        attributes.push(attr("return", string(format!("<{text}>"))));
                        status = json!({"code": STATUS_CODE_ERROR, "message": text});
                    }
                    _ => {}
                }
                if let Some((f, k)) = future {
                    attributes.push(attr("async.poll", int(k as i64 + 1)));
                    attributes.push(attr("async.polls", int(f.polls.len() as i64)));
                    attributes.push(attr(
                        "async.future_lifetime_ns",
                        int(f.lifetime_ns() as i64),
                    ));
                    attributes.push(attr("async.future_busy_ns", int(f.busy_ns as i64)));
                }
                let span = json!({
                    "traceId": self.trace_id,
                    "spanId": open.id,
                    "parentSpanId": open.parent,
                    "name": site.name,
                    "kind": SPAN_KIND_INTERNAL,
                    "startTimeUnixNano": self.unix(n.start_ns),
                    "endTimeUnixNano": self.unix(stop),
                    "attributes": attributes,
                    "events": open.events,
                    "status": status,
                });
                return self.emit(&span);
            }
            NodeKind::Syscall(s) if syscall_spans => {
                t.started += 1;
                let id = Self::span_id(key, t.started);
                let stop = n.end_ns.unwrap_or(n.start_ns);
                let mut status = json!({});
                if let Some(e) = &s.errno {
                    status = json!({"code": STATUS_CODE_ERROR, "message": e});
                }
                let span = json!({
                    "traceId": self.trace_id,
                    "spanId": id,
                    "parentSpanId": parent,
                    "name": s.name,
                    "kind": SPAN_KIND_CLIENT,
                    "startTimeUnixNano": self.unix(n.start_ns),
                    "endTimeUnixNano": self.unix(stop),
                    "attributes": [
                        attr("syscall.args", string(s.args.join(", "))),
                        attr("syscall.return", string(fmt_return(s))),
                        attr("thread.id", int(i64::from(key.1))),
                    ],
                    "events": [],
                    "status": status,
                });
                return self.emit(&span);
            }
            NodeKind::Syscall(s) => json!({
                "timeUnixNano": self.unix(n.start_ns),
                "name": s.name,
                "attributes": [
                    attr("syscall.args", string(s.args.join(", "))),
                    attr("syscall.return", string(fmt_return(s))),
                    attr("syscall.duration_ns",
                         int(n.end_ns.map_or(0, |e| e.saturating_sub(n.start_ns)) as i64)),
                ],
            }),
            NodeKind::Point { category, text } => json!({
                "timeUnixNano": self.unix(n.start_ns),
                "name": category,
                "attributes": [attr("text", string(text.clone()))],
            }),
        };
        let t = self.threads.get_mut(&key).expect("checked above");
        match t.stack.last_mut() {
            Some(open) => open.events.push(event),
            None => t.root_events.push(event),
        }
        Ok(())
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
            let span = json!({
                "traceId": self.trace_id,
                "spanId": Self::span_id(key, 0),
                "name": format!("thread {}", t.label),
                "kind": SPAN_KIND_INTERNAL,
                "startTimeUnixNano": self.unix(t.start),
                "endTimeUnixNano": self.unix(t.end.max(t.start)),
                "attributes": [
                    attr("thread.id", int(i64::from(key.1))),
                    attr("thread.name", string(t.label)),
                ],
                "events": t.root_events,
                "status": {},
            });
            self.emit(&span)?;
        }
        let tail = std::mem::take(&mut self.tail);
        self.out.write_all(tail.as_bytes())
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
