//! [`JsonWriter`]: streams a trace as JSON, one event per line.

use super::loss_reason_name;
use crate::format::value_json::{write_json_str, write_typed};
use crate::format::{EventCtx, SiteTable, TraceWriter};
use crate::model::{Event, Metadata, Return, Site, Trailer};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Streams a trace as JSON (see the module docs for the layout).
pub struct JsonWriter<W: Write + Send> {
    out: W,
    line: String,
    sites: SiteTable,
    events: u64,
}

impl<W: Write + Send> JsonWriter<W> {
    /// A writer on `out` (buffer it: the writer issues one `write` per event).
    pub fn new(out: W) -> Self {
        JsonWriter {
            out,
            line: String::with_capacity(256),
            sites: SiteTable::new(),
            events: 0,
        }
    }

    /// Gives the output back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn close(&mut self, trailer: &Trailer, truncation: Option<&str>) -> io::Result<()> {
        let mut s = String::from("\n],\n\"sites\":[");
        for (i, site) in self.sites.iter().enumerate() {
            s.push_str(if i == 0 { "\n" } else { ",\n" });
            site_json(&mut s, site);
        }
        let _ = write!(s, "\n],\n\"end\":{{\"complete\":{},", truncation.is_none());
        if let Some(t) = truncation {
            s.push_str("\"truncation\":");
            write_json_str(&mut s, t);
            s.push(',');
        }
        let _ = writeln!(
            s,
            "\"events\":{},\"lost\":{},\"end_ns\":{}}}}}",
            trailer.events, trailer.lost, trailer.end_ns
        );
        self.out.write_all(s.as_bytes())?;
        self.out.flush()
    }
}

fn site_name(out: &mut String, site: u32, ctx: &EventCtx<'_>) {
    let _ = write!(out, ",\"site\":{site},\"name\":");
    match ctx.site {
        Some(s) => write_json_str(out, &s.name),
        None => write_json_str(out, &format!("<site {site}>")),
    }
}

fn common(out: &mut String, ty: &str, ts: u64, pid: u32, tid: u32, depth: usize) {
    let _ = write!(
        out,
        "{{\"type\":\"{ty}\",\"timestamp_ns\":{ts},\"pid\":{pid},\"tid\":{tid},\"depth\":{depth}"
    );
}

/// Appends the JSON object of one event (no trailing newline).
pub fn write_event(out: &mut String, ev: &Event, ctx: &EventCtx<'_>) {
    match ev {
        Event::Enter {
            site,
            ts,
            pid,
            tid,
            args,
            call_id,
        } => {
            common(out, "function_enter", *ts, *pid, *tid, ctx.depth);
            site_name(out, *site, ctx);
            if let Some(s) = ctx.site {
                let _ = write!(out, ",\"location\":{{\"file\":");
                write_json_str(out, &s.location.file);
                let _ = write!(
                    out,
                    ",\"line\":{},\"column\":{}}}",
                    s.location.line, s.location.column
                );
            }
            out.push_str(",\"args\":[");
            for (i, v) in args.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let info = ctx.site.and_then(|s| s.args.get(i));
                out.push_str("{\"name\":");
                match info {
                    Some(a) => write_json_str(out, &a.name),
                    None => write_json_str(out, &i.to_string()),
                }
                out.push(',');
                write_typed(out, v, info.map_or(v.kind(), |a| a.type_name.as_str()));
                out.push('}');
            }
            out.push(']');
            if let Some(id) = call_id {
                let _ = write!(out, ",\"call_id\":{id}");
            }
        }
        Event::Exit {
            site,
            ts,
            pid,
            tid,
            ret,
            call_id,
        } => {
            common(out, "function_exit", *ts, *pid, *tid, ctx.depth);
            site_name(out, *site, ctx);
            out.push_str(",\"return\":");
            match ret {
                Return::Value(v) => {
                    out.push('{');
                    write_typed(out, v, ctx.site.map_or(v.kind(), |s| &s.return_type));
                    out.push('}');
                }
                _ => out.push_str("null"),
            }
            let _ = write!(out, ",\"error\":{}", ret.is_error());
            match ctx.duration_ns {
                Some(d) => {
                    let _ = write!(out, ",\"duration_ns\":{d}");
                }
                None => out.push_str(",\"duration_ns\":null"),
            }
            match ret {
                Return::Panic { message } => {
                    out.push_str(",\"panic\":{\"message\":");
                    match message {
                        Some(m) => write_json_str(out, m),
                        None => out.push_str("null"),
                    }
                    out.push('}');
                }
                Return::Cancelled => out.push_str(",\"cancelled\":true"),
                Return::Value(_) | Return::NotCaptured => {}
            }
            if let Some(id) = call_id {
                let _ = write!(out, ",\"call_id\":{id}");
            }
        }
        Event::Suspend {
            site,
            ts,
            pid,
            tid,
            call_id,
        }
        | Event::Resume {
            site,
            ts,
            pid,
            tid,
            call_id,
        } => {
            let ty = if matches!(ev, Event::Suspend { .. }) {
                "async_suspend"
            } else {
                "async_resume"
            };
            common(out, ty, *ts, *pid, *tid, ctx.depth);
            site_name(out, *site, ctx);
            let _ = write!(out, ",\"call_id\":{call_id}");
        }
        Event::Instant {
            ts,
            pid,
            tid,
            category,
            name,
            detail,
        } => {
            common(out, "instant", *ts, *pid, *tid, ctx.depth);
            let _ = write!(out, ",\"category\":\"{}\",\"name\":", category.as_str());
            write_json_str(out, name);
            out.push_str(",\"detail\":");
            write_json_str(out, detail);
        }
        Event::Thread { ts, pid, tid, name } => {
            common(out, "thread", *ts, *pid, *tid, ctx.depth);
            out.push_str(",\"name\":");
            match name {
                Some(n) => write_json_str(out, n),
                None => out.push_str("null"),
            }
        }
        Event::Loss {
            ts,
            pid,
            tid,
            count,
            reason,
        } => {
            common(out, "loss", *ts, *pid, *tid, ctx.depth);
            let _ = write!(
                out,
                ",\"count\":{count},\"reason\":\"{}\"",
                loss_reason_name(*reason)
            );
        }
        Event::Stall {
            ts,
            pid,
            tid,
            waited_ns,
        } => {
            common(out, "stall", *ts, *pid, *tid, ctx.depth);
            let _ = write!(out, ",\"waited_ns\":{waited_ns}");
        }
    }
    out.push('}');
}

impl<W: Write + Send> TraceWriter for JsonWriter<W> {
    fn begin(&mut self, meta: &Metadata) -> io::Result<()> {
        let mut m = String::new();
        metadata_json(&mut m, meta);
        write!(self.out, "{{\"metadata\":{m},\n\"events\":[")
    }

    fn site(&mut self, site: &Site) -> io::Result<()> {
        self.sites.insert(site.clone());
        Ok(())
    }

    fn event(&mut self, ev: &Event, ctx: &EventCtx<'_>) -> io::Result<()> {
        // Sites the caller did not declare still reach the site table.
        if let Some(s) = ctx.site {
            if !self.sites.contains(s.id) {
                self.sites.insert(s.clone());
            }
        }
        self.line.clear();
        self.line
            .push_str(if self.events == 0 { "\n" } else { ",\n" });
        write_event(&mut self.line, ev, ctx);
        self.events += 1;
        self.out.write_all(self.line.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, trailer: &Trailer) -> io::Result<()> {
        self.close(trailer, None)
    }

    fn finish_incomplete(&mut self, trailer: &Trailer, truncation: &str) -> io::Result<()> {
        self.close(trailer, Some(truncation))
    }
}

/// A site as JSON, field for field as the schema (and the `readers` feature's serde
/// derive) has it. Written by hand: the runtime links no serde (see `docs/runtime.md`).
pub fn site_json(out: &mut String, site: &Site) {
    let _ = write!(out, "{{\"id\":{},\"name\":", site.id);
    write_json_str(out, &site.name);
    out.push_str(",\"qualified_name\":");
    write_json_str(out, &site.qualified_name);
    out.push_str(",\"location\":{\"file\":");
    write_json_str(out, &site.location.file);
    let _ = write!(
        out,
        ",\"line\":{},\"column\":{}}},\"args\":[",
        site.location.line, site.location.column
    );
    for (i, a) in site.args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        write_json_str(out, &a.name);
        out.push_str(",\"type\":");
        write_json_str(out, &a.type_name);
        out.push('}');
    }
    out.push_str("],\"return_type\":");
    write_json_str(out, &site.return_type);
    let _ = write!(out, ",\"kind\":\"{}\"}}", site.kind.as_str());
}

/// The metadata as JSON (see [`site_json`]).
pub fn metadata_json(out: &mut String, m: &Metadata) {
    out.push_str("{\"format\":");
    write_json_str(out, &m.format);
    let _ = write!(out, ",\"version\":{},\"ruchytrace_version\":", m.version);
    write_json_str(out, &m.ruchytrace_version);
    out.push_str(",\"program\":");
    write_json_str(out, &m.program);
    out.push_str(",\"args\":[");
    for (i, a) in m.args.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, a);
    }
    let _ = write!(out, "],\"pid\":{}", m.pid);
    if let Some(t) = m.collector_tid {
        let _ = write!(out, ",\"collector_tid\":{t}");
    }
    let c = &m.clock;
    out.push_str(",\"clock\":{\"domain\":");
    write_json_str(out, &c.domain);
    out.push_str(",\"source\":");
    write_json_str(out, &c.source);
    let _ = write!(
        out,
        ",\"realtime_ns\":{},\"monotonic_ns\":{}",
        c.realtime_ns, c.monotonic_ns
    );
    if let Some(hz) = c.tsc_hz.filter(|h| h.is_finite()) {
        let _ = write!(out, ",\"tsc_hz\":{hz:?}");
    }
    let st = &m.settings;
    let _ = write!(out, "}},\"settings\":{{\"sample\":{}", st.sample);
    if let Some(f) = &st.filter {
        out.push_str(",\"filter\":");
        write_json_str(out, f);
    }
    out.push_str(",\"overflow\":");
    write_json_str(out, &st.overflow);
    let _ = write!(
        out,
        ",\"buffer_bytes\":{},\"strsize\":{},\"max_items\":{}}}}}",
        st.buffer_bytes, st.strsize, st.max_items
    );
}
