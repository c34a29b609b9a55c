//! The JSON function trace (`fn.json`): writer and reader.
//!
//! The writer streams one event per line so the file is useful while it grows and a truncated
//! file can be salvaged line by line:
//!
//! ```text
//! {"metadata":{...},
//! "events":[
//! {"type":"function_enter",...},
//! {"type":"function_exit",...}
//! ],
//! "sites":[
//! {"id":0,...}
//! ],
//! "end":{"complete":true,"events":2,"lost":0,"end_ns":...}}
//! ```
//!
//! Sites come after the events because they are discovered while streaming; every call event
//! also carries its site's `name` (and the enter its `location`), so a truncated file is still
//! readable. The reader accepts any JSON layout of the same document (e.g. pretty-printed); only
//! the salvage of a damaged file relies on the line layout above. The schema is in
//! `docs/trace-format.md` and `docs/schema/fn-trace.schema.json`.

use super::value_json::{from_parts, write_json_str, write_typed};
use super::{EventCtx, ReadError, SiteTable, TraceWriter};
use crate::model::{
    ArgInfo, Category, Event, Location, LossReason, Metadata, Return, Site, SiteKind, Trace,
    Trailer, FN_TRACE_FORMAT, SCHEMA_VERSION,
};
use serde::Deserialize;
use serde_json::Value as Json;
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
            s.push_str(&serde_json::to_string(site).map_err(io::Error::other)?);
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

/// The file name of a loss reason (`buffer_full`, `evicted`, `unflushed`).
pub fn loss_reason_name(r: LossReason) -> &'static str {
    match r {
        LossReason::BufferFull => "buffer_full",
        LossReason::Evicted => "evicted",
        LossReason::Unflushed => "unflushed",
    }
}

fn loss_reason_from(s: &str) -> Option<LossReason> {
    match s {
        "buffer_full" => Some(LossReason::BufferFull),
        "evicted" => Some(LossReason::Evicted),
        "unflushed" => Some(LossReason::Unflushed),
        _ => None,
    }
}

impl<W: Write + Send> TraceWriter for JsonWriter<W> {
    fn begin(&mut self, meta: &Metadata) -> io::Result<()> {
        let m = serde_json::to_string(meta).map_err(io::Error::other)?;
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

// ---------------------------------------------------------------------------------------------
// Reading

fn get_u64(obj: &Json, key: &str) -> Result<u64, String> {
    obj.get(key)
        .and_then(Json::as_u64)
        .ok_or_else(|| format!("\"{key}\" must be an unsigned integer"))
}

/// An event object as it appears in the file (every member any event type may have). Parsing
/// into this typed shape, rather than a `serde_json::Value` tree, is what keeps reading a big
/// `fn.json` fast.
#[derive(Deserialize)]
struct RawEvent {
    #[serde(rename = "type")]
    ty: String,
    timestamp_ns: u64,
    pid: u32,
    tid: u32,
    site: Option<u32>,
    /// Function, instant or thread name (`null` for an unnamed thread).
    name: Option<String>,
    location: Option<Location>,
    args: Option<Vec<RawTyped>>,
    #[serde(rename = "return")]
    ret: Option<RawTyped>,
    panic: Option<RawPanic>,
    cancelled: Option<bool>,
    call_id: Option<u64>,
    category: Option<String>,
    detail: Option<String>,
    count: Option<u64>,
    reason: Option<String>,
    waited_ns: Option<u64>,
}

/// A typed value: an argument (with `name`) or a return value.
#[derive(Deserialize)]
struct RawTyped {
    name: Option<String>,
    type_info: RawTypeInfo,
    value: Json,
    truncated_from: Option<Json>,
}

#[derive(Deserialize)]
struct RawTypeInfo {
    name: String,
    kind: String,
}

#[derive(Deserialize)]
struct RawPanic {
    message: Option<String>,
}

impl RawTyped {
    fn value(&self) -> Result<crate::model::Value, String> {
        from_parts(
            &self.type_info.kind,
            &self.value,
            self.truncated_from.as_ref(),
        )
    }
}

fn need<T>(v: Option<T>, ty: &str, key: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("{ty} needs \"{key}\""))
}

/// Parses one event object. Also learns a provisional site from call events whose site is not in
/// `sites` (so a file cut before its site table still names its functions).
pub fn parse_event(obj: &Json, sites: &mut SiteTable) -> Result<Event, String> {
    let raw = RawEvent::deserialize(obj).map_err(|e| e.to_string())?;
    raw_to_event(raw, sites)
}

/// Parses one event from its JSON text (see [`parse_event`]).
pub fn parse_event_str(text: &str, sites: &mut SiteTable) -> Result<Event, String> {
    let raw: RawEvent = serde_json::from_str(text).map_err(|e| e.to_string())?;
    raw_to_event(raw, sites)
}

fn raw_to_event(raw: RawEvent, sites: &mut SiteTable) -> Result<Event, String> {
    let (ts, pid, tid) = (raw.timestamp_ns, raw.pid, raw.tid);
    let ty = raw.ty.as_str();
    let ev = match ty {
        "function_enter" => {
            let site = need(raw.site, ty, "site")?;
            let args_raw = need(raw.args, ty, "args")?;
            let args = args_raw
                .iter()
                .map(RawTyped::value)
                .collect::<Result<Vec<_>, _>>()?;
            if !sites.contains(site) {
                let name = raw.name.unwrap_or_else(|| "?".to_owned());
                sites.insert(Site {
                    id: site,
                    qualified_name: name.clone(),
                    name,
                    location: raw.location.unwrap_or(Location {
                        file: "?".to_owned(),
                        line: 0,
                        column: 0,
                    }),
                    args: args_raw
                        .into_iter()
                        .map(|a| ArgInfo {
                            name: a.name.unwrap_or_else(|| "?".to_owned()),
                            type_name: a.type_info.name,
                        })
                        .collect(),
                    return_type: "?".to_owned(),
                    kind: if raw.call_id.is_some() {
                        SiteKind::Async
                    } else {
                        SiteKind::Fn
                    },
                });
            }
            Event::Enter {
                site,
                ts,
                pid,
                tid,
                args,
                call_id: raw.call_id,
            }
        }
        "function_exit" => {
            let ret = match (&raw.ret, raw.panic, raw.cancelled) {
                (Some(r), _, _) => Return::Value(r.value()?),
                (None, Some(p), _) => Return::Panic { message: p.message },
                (None, None, Some(true)) => Return::Cancelled,
                (None, None, _) => Return::NotCaptured,
            };
            Event::Exit {
                site: need(raw.site, ty, "site")?,
                ts,
                pid,
                tid,
                ret,
                call_id: raw.call_id,
            }
        }
        "async_suspend" => Event::Suspend {
            site: need(raw.site, ty, "site")?,
            ts,
            pid,
            tid,
            call_id: need(raw.call_id, ty, "call_id")?,
        },
        "async_resume" => Event::Resume {
            site: need(raw.site, ty, "site")?,
            ts,
            pid,
            tid,
            call_id: need(raw.call_id, ty, "call_id")?,
        },
        "instant" => {
            let cat = need(raw.category, ty, "category")?;
            Event::Instant {
                ts,
                pid,
                tid,
                category: Category::from_name(&cat)
                    .ok_or_else(|| format!("unknown category {cat:?}"))?,
                name: need(raw.name, ty, "name")?,
                detail: need(raw.detail, ty, "detail")?,
            }
        }
        "thread" => Event::Thread {
            ts,
            pid,
            tid,
            name: raw.name,
        },
        "loss" => {
            let r = need(raw.reason, ty, "reason")?;
            Event::Loss {
                ts,
                pid,
                tid,
                count: need(raw.count, ty, "count")?,
                reason: loss_reason_from(&r).ok_or_else(|| format!("unknown loss reason {r:?}"))?,
            }
        }
        "stall" => Event::Stall {
            ts,
            pid,
            tid,
            waited_ns: need(raw.waited_ns, ty, "waited_ns")?,
        },
        other => return Err(format!("unknown event type {other:?}")),
    };
    Ok(ev)
}

fn parse_metadata(m: &Json) -> Result<Metadata, String> {
    let meta: Metadata =
        serde_json::from_value(m.clone()).map_err(|e| format!("invalid metadata: {e}"))?;
    check_metadata(&meta)?;
    Ok(meta)
}

/// Rejects traces this reader cannot interpret.
pub fn check_metadata(meta: &Metadata) -> Result<(), String> {
    if meta.format != FN_TRACE_FORMAT {
        return Err(format!(
            "not a function trace (metadata.format is {:?}, expected {FN_TRACE_FORMAT:?})",
            meta.format
        ));
    }
    if meta.version == 0 || meta.version > SCHEMA_VERSION {
        return Err(format!(
            "unsupported schema version {} (this reader supports 1 to {SCHEMA_VERSION})",
            meta.version
        ));
    }
    Ok(())
}

fn parse_end(end: &Json) -> Result<(Trailer, Option<String>), String> {
    let trailer = Trailer {
        events: get_u64(end, "events")?,
        lost: get_u64(end, "lost")?,
        end_ns: get_u64(end, "end_ns")?,
    };
    let complete = end
        .get("complete")
        .and_then(Json::as_bool)
        .ok_or("\"end.complete\" must be a boolean")?;
    let truncation = if complete {
        None
    } else {
        Some(
            end.get("truncation")
                .and_then(Json::as_str)
                .unwrap_or("the writer marked the trace incomplete")
                .to_owned(),
        )
    };
    Ok((trailer, truncation))
}

/// Byte offset of a (1-based) line and column in `bytes`.
fn offset_of(bytes: &[u8], line: usize, column: usize) -> u64 {
    let mut start = 0usize;
    for _ in 1..line {
        match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(p) => start += p + 1,
            None => break,
        }
    }
    (start + column.saturating_sub(1)).min(bytes.len()) as u64
}

/// Reads a JSON function trace.
///
/// A file in the writer's streaming layout (recognised by its first line) is read line by line:
/// memory stays proportional to the events, not to a JSON tree of the whole file, and damage
/// (a cut, a broken line) keeps every event before it, with the trace marked truncated at that
/// line's byte. Any other layout of the same document (e.g. pretty-printed) is parsed whole; if
/// it does not parse, that is a [`ReadError`] at the parser's position.
pub fn read_json(bytes: &[u8]) -> Result<Trace, ReadError> {
    if let Some(trace) = read_lines(bytes) {
        return Ok(trace);
    }
    let doc = serde_json::from_slice::<Json>(bytes).map_err(|e| {
        let at = offset_of(bytes, e.line(), e.column());
        let reason = if e.is_eof() {
            "unexpected end of JSON"
        } else {
            "invalid JSON"
        };
        // The byte offset replaces serde_json's own "at line L column C" suffix.
        let full = e.to_string();
        let what = full
            .rsplit_once(" at line ")
            .map_or(full.as_str(), |(w, _)| w);
        ReadError::at(at, format!("{reason}: {what}"))
    })?;
    read_doc(&doc)
}

fn read_doc(doc: &Json) -> Result<Trace, ReadError> {
    let err = |m: String| ReadError {
        offset: None,
        message: m,
    };
    let meta = parse_metadata(doc.get("metadata").ok_or_else(|| {
        err("not a ruchytrace function trace (no \"metadata\" object)".to_owned())
    })?)
    .map_err(err)?;
    let mut sites = SiteTable::new();
    if let Some(list) = doc.get("sites") {
        for (i, s) in list
            .as_array()
            .ok_or_else(|| err("\"sites\" must be an array".into()))?
            .iter()
            .enumerate()
        {
            let site: Site =
                serde_json::from_value(s.clone()).map_err(|e| err(format!("sites[{i}]: {e}")))?;
            sites.insert(site);
        }
    }
    let events = doc
        .get("events")
        .and_then(Json::as_array)
        .ok_or_else(|| err("\"events\" must be an array".into()))?
        .iter()
        .enumerate()
        .map(|(i, e)| parse_event(e, &mut sites).map_err(|m| err(format!("events[{i}]: {m}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let (trailer, truncation) = match doc.get("end") {
        Some(end) => {
            let (t, tr) = parse_end(end).map_err(err)?;
            (Some(t), tr)
        }
        None => (None, Some("the trace has no \"end\" record".to_owned())),
    };
    Ok(Trace {
        metadata: meta,
        sites: sites.iter().cloned().collect(),
        events,
        trailer,
        truncation,
    })
}

/// Reads a file in the streaming layout line by line. `None` when the first line is not a
/// usable metadata line (another layout); otherwise the trace, with `truncation` saying where
/// reading stopped if it met damage.
fn read_lines(bytes: &[u8]) -> Option<Trace> {
    let mut lines = Lines { bytes, pos: 0 };
    let (_, first) = lines.next()?;
    let meta_text = first.strip_prefix("{\"metadata\":")?.strip_suffix(',')?;
    let meta_json: Json = serde_json::from_str(meta_text).ok()?;
    let metadata = parse_metadata(&meta_json).ok()?;
    let mut trace = Trace {
        metadata,
        sites: Vec::new(),
        events: Vec::new(),
        trailer: None,
        truncation: None,
    };
    let mut sites = SiteTable::new();
    let stop = |at: usize, what: &str| Some(format!("truncated at byte {at}: {what}"));
    let damage = 'read: {
        match lines.next() {
            Some((_, "\"events\":[")) => {}
            Some((at, _)) => break 'read stop(at, "expected the \"events\" array"),
            None => break 'read stop(bytes.len(), "the file ends after the metadata"),
        }
        loop {
            match lines.next() {
                Some((_, "],")) => break,
                Some((at, line)) => {
                    let text = line.strip_suffix(',').unwrap_or(line);
                    let parsed = parse_event_str(text, &mut sites);
                    match parsed {
                        Ok(ev) => trace.events.push(ev),
                        Err(e) => break 'read stop(at, &format!("damaged event ({e})")),
                    }
                }
                None => break 'read stop(bytes.len(), "the file ends inside the events"),
            }
        }
        match lines.next() {
            Some((_, "\"sites\":[")) => {}
            Some((at, _)) => break 'read stop(at, "expected the \"sites\" array"),
            None => break 'read stop(bytes.len(), "the file ends after the events"),
        }
        loop {
            match lines.next() {
                Some((_, "],")) => break,
                Some((at, line)) => {
                    let text = line.strip_suffix(',').unwrap_or(line);
                    match serde_json::from_str::<Site>(text) {
                        Ok(s) => sites.insert(s),
                        Err(e) => break 'read stop(at, &format!("damaged site ({e})")),
                    }
                }
                None => break 'read stop(bytes.len(), "the file ends inside the sites"),
            }
        }
        let Some((at, line)) = lines.next() else {
            break 'read stop(bytes.len(), "the file ends before the \"end\" record");
        };
        let end = line
            .strip_prefix("\"end\":")
            .and_then(|l| l.strip_suffix('}'))
            .and_then(|l| serde_json::from_str::<Json>(l).ok())
            .and_then(|j| parse_end(&j).ok());
        match end {
            Some((trailer, truncation)) => {
                trace.trailer = Some(trailer);
                trace.truncation = truncation;
            }
            None => break 'read stop(at, "damaged \"end\" record"),
        }
        match lines.find(|(_, l)| !l.trim().is_empty()) {
            Some((at, _)) => stop(at, "unexpected data after the \"end\" record"),
            None => None,
        }
    };
    trace.sites = sites.iter().cloned().collect();
    if damage.is_some() {
        trace.trailer = None;
        trace.truncation = damage;
    }
    Some(trace)
}

/// Lines with their byte offsets (the last line may lack its newline).
struct Lines<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a str);
    fn next(&mut self) -> Option<(usize, &'a str)> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let start = self.pos;
        let rest = &self.bytes[start..];
        let (line, adv) = match rest.iter().position(|&b| b == b'\n') {
            Some(p) => (&rest[..p], p + 1),
            None => (rest, rest.len()),
        };
        self.pos += adv;
        // A line cut inside a multi-byte character is not valid UTF-8: treat it as damage by
        // returning text the parsers will reject.
        Some((start, std::str::from_utf8(line).unwrap_or("\u{0}")))
    }
}
