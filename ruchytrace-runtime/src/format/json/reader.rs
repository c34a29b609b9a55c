//! Reading a JSON function trace: a whole document, or what is intact of a truncated one (line
//! by line).

use super::loss_reason_from;
use crate::format::value_json::from_parts;
use crate::format::{ReadError, SiteTable};
use crate::model::{
    ArgInfo, Category, Event, Location, Metadata, Return, Site, SiteKind, Trace, Trailer,
    FN_TRACE_FORMAT, SCHEMA_VERSION,
};
use serde::Deserialize;
use serde_json::Value as Json;

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
