//! The events the tracer records, the `sys.json` document they are written into, its streaming
//! writer ([`JsonWriter`]) and its readers ([`SysTrace`]'s `Deserialize`, [`read_sys_trace`]).
//!
//! ## Layouts
//!
//! Version 2 (written since the tracer streams) is written as the trace happens, one record per
//! line, so a trace cut by a crash or `SIGKILL` keeps every line before the cut:
//!
//! ```text
//! {"metadata":{"format":"ruchytrace-syscalls","version":2,...,"images":[]},
//! "events":[
//! {"type":"image","pid":1,"tid":1,"timestamp_ns":5,"exe":"/bin/true","maps":"..."},
//! {"type":"syscall","name":"brk",...},
//! ...
//! ],
//! "end":{"complete":true,"events":41}}
//! ```
//!
//! Events appear in the order they completed (a call when it returned); `image` records (an
//! exec's `/proc/PID/maps`) sit among them where the exec happened. Version 1 kept the images
//! in `metadata.images` and sorted the events. Both read into the same [`SysTrace`]: images in
//! `metadata.images`, events sorted (stably) by `timestamp_ns`.

use std::io::{self, BufWriter, Write};

use ruchytrace_runtime::model::ClockInfo;
use serde::{Deserialize, Serialize};

/// `metadata.format` of a system call trace.
pub const SYS_TRACE_FORMAT: &str = "ruchytrace-syscalls";
/// `metadata.version` written by this version (1: images in the metadata; 2: streamed, images
/// as `image` records among the events). Readers accept both.
pub const SYS_TRACE_VERSION: u32 = 2;

/// One event of a system call trace (the `events` array of `sys.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A system call, from its entry to its exit.
    Syscall(SyscallEvent),
    /// A signal delivered to a tracee.
    Signal(SignalEvent),
    /// A thread or process exited normally.
    Exit(ExitEvent),
    /// A thread or process was killed by a signal.
    Killed(KilledEvent),
}

impl Event {
    /// Entry timestamp (`CLOCK_MONOTONIC` ns), the sort key of `events`.
    pub fn timestamp_ns(&self) -> u64 {
        match self {
            Event::Syscall(e) => e.timestamp_ns,
            Event::Signal(e) => e.timestamp_ns,
            Event::Exit(e) => e.timestamp_ns,
            Event::Killed(e) => e.timestamp_ns,
        }
    }
}

/// One system call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyscallEvent {
    /// Name (`"openat"`), or `"syscall_NNN"` when unknown.
    pub name: String,
    /// Number on the traced architecture.
    pub nr: u64,
    /// Process id (thread group id).
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// `CLOCK_MONOTONIC` ns when the entry stop was observed.
    pub timestamp_ns: u64,
    /// Exit minus entry timestamp; `null` when the call never returned.
    pub duration_ns: Option<u64>,
    /// Decoded arguments, strace-style.
    pub args: Vec<String>,
    /// Raw argument registers (as many as the syscall takes).
    pub raw_args: Vec<u64>,
    /// Return value (`-1` on failure, like strace); `null` when the call never returned.
    #[serde(rename = "return")]
    pub ret: Option<i64>,
    /// Errno name (`"ENOENT"`) when the call failed.
    pub errno: Option<String>,
    /// With `-k`: the user stack at entry, innermost frame first (inlined calls as their own
    /// entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<std::sync::Arc<[crate::stack::Frame]>>,
    /// With `-k`: why the stack stops before the outermost frame (absent when complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_truncated: Option<String>,
}

/// A delivered signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalEvent {
    /// Process id.
    pub pid: i32,
    /// Thread id that received it.
    pub tid: i32,
    /// When the signal-delivery stop was observed.
    pub timestamp_ns: u64,
    /// Name (`"SIGCHLD"`).
    pub signal: String,
    /// Number.
    pub signo: i32,
    /// The siginfo, strace-style.
    pub info: String,
}

/// A normal exit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitEvent {
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// When the exit was observed.
    pub timestamp_ns: u64,
    /// Exit status.
    pub code: i32,
}

/// Death by a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KilledEvent {
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// When the death was observed.
    pub timestamp_ns: u64,
    /// Signal name.
    pub signal: String,
    /// Signal number.
    pub signo: i32,
    /// Whether a core dump was written.
    pub core_dumped: bool,
}

/// Image loaded by an exec: where the merge and source correlation find code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Process id.
    pub pid: i32,
    /// Thread id after the exec.
    pub tid: i32,
    /// When the exec was observed.
    pub timestamp_ns: u64,
    /// `/proc/PID/exe` target.
    pub exe: String,
    /// Text of `/proc/PID/maps` right after the exec.
    pub maps: String,
}

/// The options recorded in the metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedOptions {
    /// `-f`.
    pub follow_forks: bool,
    /// The `-e` expressions, or `null`.
    pub filter: Option<String>,
    /// `-s`.
    pub strsize: usize,
}

/// `metadata` of `sys.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Always [`SYS_TRACE_FORMAT`].
    pub format: String,
    /// Schema version ([`SYS_TRACE_VERSION`]).
    pub version: u32,
    /// Version of the writer.
    pub ruchytrace_version: String,
    /// Program run (empty with `-p`).
    pub program: String,
    /// Its argv.
    pub args: Vec<String>,
    /// The first traced process (spawned, or first `-p`).
    pub pid: i32,
    /// Architecture of the syscall numbers (`"x86_64"`, `"aarch64"`).
    pub arch: String,
    /// `CLOCK_REALTIME` and `CLOCK_MONOTONIC` read back to back, as the function trace's
    /// metadata records them, so the two traces' timestamps convert alike.
    pub clock: ClockInfo,
    /// Recording options.
    pub options: RecordedOptions,
    /// Exec'd images, in order.
    pub images: Vec<Image>,
}

/// `end` of `sys.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct End {
    /// `true` when the tracer saw every tracee to its end (or detached cleanly).
    pub complete: bool,
    /// Number of events.
    pub events: usize,
}

/// The whole `sys.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawSysTrace")]
pub struct SysTrace {
    /// Description of the run.
    pub metadata: Metadata,
    /// Events sorted by `timestamp_ns`.
    pub events: Vec<Event>,
    /// Completion record.
    pub end: End,
}

/// A record of the `events` array as stored: an [`Event`] or (version 2) an exec's image.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum StoredEvent {
    Syscall(SyscallEvent),
    Signal(SignalEvent),
    Exit(ExitEvent),
    Killed(KilledEvent),
    Image(Image),
}

/// The document as stored, in either layout.
#[derive(Deserialize)]
struct RawSysTrace {
    metadata: Metadata,
    events: Vec<StoredEvent>,
    end: End,
}

impl From<RawSysTrace> for SysTrace {
    fn from(raw: RawSysTrace) -> Self {
        let mut metadata = raw.metadata;
        let mut events = Vec::with_capacity(raw.events.len());
        for e in raw.events {
            push_stored(e, &mut metadata, &mut events);
        }
        // Stable: events observed at the same nanosecond keep their order.
        events.sort_by_key(Event::timestamp_ns);
        SysTrace {
            metadata,
            events,
            end: raw.end,
        }
    }
}

/// Parses one record of the `events` array as [`StoredEvent`]'s derived `Deserialize` does, but
/// faster: the `type` tag is read first (from the tracer's layout, `{"type":"syscall",...`,
/// else by a parse of the tag alone) and the record is deserialized straight into its variant's
/// struct, instead of being buffered whole by serde's internally-tagged enum support (which
/// costs most of the time of a merge's `sys.json` passes).
fn parse_stored(record: &[u8]) -> serde_json::Result<StoredEvent> {
    #[derive(Deserialize)]
    struct Tag<'a> {
        #[serde(rename = "type", borrow)]
        ty: std::borrow::Cow<'a, str>,
    }
    let fast = record
        .strip_prefix(b"{\"type\":\"")
        .and_then(|rest| rest.iter().position(|&b| b == b'"').map(|end| &rest[..end]))
        .and_then(|ty| std::str::from_utf8(ty).ok())
        .filter(|ty| !ty.contains('\\'));
    let tag: std::borrow::Cow<'_, str> = match fast {
        Some(ty) => ty.into(),
        None => serde_json::from_slice::<Tag<'_>>(record)?.ty,
    };
    match &*tag {
        "syscall" => serde_json::from_slice(record).map(StoredEvent::Syscall),
        "signal" => serde_json::from_slice(record).map(StoredEvent::Signal),
        "exit" => serde_json::from_slice(record).map(StoredEvent::Exit),
        "killed" => serde_json::from_slice(record).map(StoredEvent::Killed),
        "image" => serde_json::from_slice(record).map(StoredEvent::Image),
        // The derived parser's error for an unknown tag.
        _ => serde_json::from_slice::<StoredEvent>(record),
    }
}

fn push_stored(e: StoredEvent, metadata: &mut Metadata, events: &mut Vec<Event>) {
    match e {
        StoredEvent::Syscall(x) => events.push(Event::Syscall(x)),
        StoredEvent::Signal(x) => events.push(Event::Signal(x)),
        StoredEvent::Exit(x) => events.push(Event::Exit(x)),
        StoredEvent::Killed(x) => events.push(Event::Killed(x)),
        StoredEvent::Image(x) => metadata.images.push(x),
    }
}

/// Where one event of a `sys.json` in the version-2 line layout is, and what a merge needs to
/// place it without parsing it again: its thread, its start and end, whether it is a system
/// call. See [`index_sys_lines`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysIndexEntry {
    /// Byte offset of the event's line in the file.
    pub offset: u64,
    /// Entry timestamp (`CLOCK_MONOTONIC` ns).
    pub start_ns: u64,
    /// Exit timestamp (the start for a point event or a call that never returned).
    pub end_ns: u64,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// A system call (not a signal, exit or kill).
    pub syscall: bool,
}

/// A complete `sys.json` in the version-2 line layout, indexed: the document without its
/// events, and one [`SysIndexEntry`] per event, sorted (stably) by start as [`SysTrace`]'s
/// events are. [`parse_indexed`] reads an event back from the file's bytes.
#[derive(Debug, Clone)]
pub struct SysIndex {
    /// The metadata (with the images of the `image` records) and the end record; `events` is
    /// empty.
    pub trace: SysTrace,
    /// The events, by start.
    pub entries: Vec<SysIndexEntry>,
}

/// Indexes a complete `sys.json` written in the version-2 line layout (one record per line)
/// without keeping its events: each is parsed once (to check it and note its thread and times)
/// and dropped. `None` for any other layout, or a damaged or cut file (read those whole, with
/// [`read_sys_trace`] or serde, whose errors say where the damage is).
pub fn index_sys_lines(bytes: &[u8]) -> Option<SysIndex> {
    index_sys_reader(bytes)
}

/// [`index_sys_lines`] reading the file through `input` (a line at a time: memory is one line
/// and the index).
pub fn index_sys_reader(mut input: impl io::BufRead) -> Option<SysIndex> {
    let mut line = Vec::with_capacity(1 << 12);
    let mut next = |line: &mut Vec<u8>| -> Option<usize> {
        line.clear();
        match input.read_until(b'\n', line) {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        }
    };
    let n = next(&mut line)?;
    let head = std::str::from_utf8(&line).ok()?.trim_end();
    let meta = head.strip_prefix("{\"metadata\":")?.strip_suffix(',')?;
    let mut metadata: Metadata = serde_json::from_str(meta).ok()?;
    let mut offset = n as u64;
    let n = next(&mut line)?;
    if line.trim_ascii_end() != b"\"events\":[" {
        return None;
    }
    offset += n as u64;
    let mut entries = Vec::new();
    let end = loop {
        let at = offset;
        offset += next(&mut line)? as u64;
        let text = line.trim_ascii_end();
        if text == b"]," {
            next(&mut line)?;
            let end_line = line.trim_ascii_end();
            let record = end_line.strip_prefix(b"\"end\":")?.strip_suffix(b"}")?;
            break serde_json::from_slice::<End>(record).ok()?;
        }
        let record = text.strip_suffix(b",").unwrap_or(text);
        let (pid, tid, start_ns, duration, syscall) = match parse_stored(record).ok()? {
            StoredEvent::Image(x) => {
                metadata.images.push(x);
                continue;
            }
            StoredEvent::Syscall(x) => (x.pid, x.tid, x.timestamp_ns, x.duration_ns, true),
            StoredEvent::Signal(x) => (x.pid, x.tid, x.timestamp_ns, None, false),
            StoredEvent::Exit(x) => (x.pid, x.tid, x.timestamp_ns, None, false),
            StoredEvent::Killed(x) => (x.pid, x.tid, x.timestamp_ns, None, false),
        };
        entries.push(SysIndexEntry {
            offset: at,
            start_ns,
            end_ns: start_ns + duration.unwrap_or(0),
            pid: pid as u32,
            tid: tid as u32,
            syscall,
        });
    };
    // Nothing but blank space may follow the end record.
    while next(&mut line).is_some() {
        if !line.trim_ascii().is_empty() {
            return None;
        }
    }
    // Stable: events observed at the same nanosecond keep their order.
    entries.sort_by_key(|e| e.start_ns);
    Some(SysIndex {
        trace: SysTrace {
            metadata,
            events: Vec::new(),
            end,
        },
        entries,
    })
}

/// The event whose line starts at `offset` in `bytes` (the file [`index_sys_lines`] indexed);
/// `None` when it is not one (the file changed since).
pub fn parse_indexed(bytes: &[u8], offset: u64) -> Option<Event> {
    let rest = bytes.get(usize::try_from(offset).ok()?..)?;
    let line = rest.split(|&b| b == b'\n').next()?.trim_ascii_end();
    let record = line.strip_suffix(b",").unwrap_or(line);
    match parse_stored(record).ok()? {
        StoredEvent::Syscall(x) => Some(Event::Syscall(x)),
        StoredEvent::Signal(x) => Some(Event::Signal(x)),
        StoredEvent::Exit(x) => Some(Event::Exit(x)),
        StoredEvent::Killed(x) => Some(Event::Killed(x)),
        StoredEvent::Image(_) => None,
    }
}

/// Reads a `sys.json` of either layout. A complete document is read whole; a version-2 file cut
/// short (the tracer was killed) is read line by line up to the damage, and the second value
/// says where it was cut (`truncated at byte N: ...`); `end.complete` is then `false`.
pub fn read_sys_trace(bytes: &[u8]) -> Result<(SysTrace, Option<String>), String> {
    let whole_err = match serde_json::from_slice::<SysTrace>(bytes) {
        Ok(t) => return Ok((t, None)),
        Err(e) => e,
    };
    salvage(bytes).ok_or_else(|| format!("malformed syscall trace: {whole_err}"))
}

/// The line-by-line reader of the version-2 layout.
fn salvage(bytes: &[u8]) -> Option<(SysTrace, Option<String>)> {
    let mut lines = bytes.split_inclusive(|&b| b == b'\n');
    let first = lines.next()?;
    let head = std::str::from_utf8(first).ok()?.trim_end();
    let meta = head.strip_prefix("{\"metadata\":")?.strip_suffix(',')?;
    let mut metadata: Metadata = serde_json::from_str(meta).ok()?;
    let mut offset = first.len();
    let mut events = Vec::new();
    let mut truncation = None;
    let mut in_events = false;
    for line in lines {
        let at = offset;
        offset += line.len();
        let text = std::str::from_utf8(line).unwrap_or("").trim_end();
        if !in_events {
            if text == "\"events\":[" {
                in_events = true;
                continue;
            }
            truncation = Some(format!("truncated at byte {at}: no events array"));
            break;
        }
        if text == "]," || text == "]" {
            // Past the events: a complete file would have parsed whole, so the end is damaged.
            truncation = Some(format!(
                "truncated at byte {offset}: end record missing or damaged"
            ));
            break;
        }
        let record = text.strip_suffix(',').unwrap_or(text);
        match parse_stored(record.as_bytes()) {
            // A record parses only when whole (its closing brace is the line's last byte), so
            // the last line of a file cut after a flush is kept, a half-written one is not.
            Ok(e) => push_stored(e, &mut metadata, &mut events),
            _ => {
                truncation = Some(format!("truncated at byte {at}: incomplete event record"));
                break;
            }
        }
    }
    let truncation = truncation.or_else(|| {
        Some(format!(
            "truncated at byte {offset}: file ends inside the events"
        ))
    });
    events.sort_by_key(Event::timestamp_ns);
    let end = End {
        complete: false,
        events: events.len(),
    };
    Some((
        SysTrace {
            metadata,
            events,
            end,
        },
        truncation,
    ))
}

/// An image record as written among the events.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ImageRecord<'a> {
    Image(&'a Image),
}

/// Writes a version-2 `sys.json` as the trace happens (see the module docs for the layout).
pub struct JsonWriter<W: Write> {
    out: BufWriter<W>,
    events: usize,
    dirty: bool,
}

impl<W: Write> JsonWriter<W> {
    /// Writes the metadata line and opens the events array.
    pub fn new(out: W, metadata: &Metadata) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(64 * 1024, out);
        out.write_all(b"{\"metadata\":")?;
        serde_json::to_writer(&mut out, metadata)?;
        out.write_all(b",\n\"events\":[\n")?;
        Ok(JsonWriter {
            out,
            events: 0,
            dirty: true,
        })
    }

    fn separator(&mut self) -> io::Result<()> {
        if self.events > 0 {
            self.out.write_all(b",\n")?;
        }
        Ok(())
    }

    /// Appends one event.
    pub fn event(&mut self, e: &Event) -> io::Result<()> {
        self.separator()?;
        serde_json::to_writer(&mut self.out, e)?;
        self.events += 1;
        self.dirty = true;
        Ok(())
    }

    /// Appends an exec's image record.
    pub fn image(&mut self, image: &Image) -> io::Result<()> {
        self.separator()?;
        serde_json::to_writer(&mut self.out, &ImageRecord::Image(image))?;
        self.events += 1;
        self.dirty = true;
        Ok(())
    }

    /// Pushes what is buffered to the file, so a killed tracer leaves it behind.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.dirty {
            self.out.flush()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Closes the events array and writes the end record. `events` counts the non-image
    /// records, as version 1 did.
    pub fn finish(mut self, complete: bool, events: usize) -> io::Result<W> {
        if self.events > 0 {
            self.out.write_all(b"\n")?;
        }
        self.out.write_all(b"],\n\"end\":")?;
        serde_json::to_writer(&mut self.out, &End { complete, events })?;
        self.out.write_all(b"}\n")?;
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> Metadata {
        Metadata {
            format: SYS_TRACE_FORMAT.into(),
            version: SYS_TRACE_VERSION,
            ruchytrace_version: "0".into(),
            program: "/bin/true".into(),
            args: vec!["true".into()],
            pid: 7,
            arch: "x86_64".into(),
            clock: ClockInfo {
                domain: "CLOCK_MONOTONIC".into(),
                source: "CLOCK_MONOTONIC".into(),
                realtime_ns: 10,
                monotonic_ns: 5,
                tsc_hz: None,
            },
            options: RecordedOptions {
                follow_forks: false,
                filter: None,
                strsize: 32,
            },
            images: Vec::new(),
        }
    }

    fn call(name: &str, ts: u64) -> Event {
        Event::Syscall(SyscallEvent {
            name: name.into(),
            nr: 1,
            pid: 7,
            tid: 7,
            timestamp_ns: ts,
            duration_ns: Some(1),
            args: vec!["1".into()],
            raw_args: vec![1],
            ret: Some(0),
            errno: None,
            stack: None,
            stack_truncated: None,
        })
    }

    fn image() -> Image {
        Image {
            pid: 7,
            tid: 7,
            timestamp_ns: 1,
            exe: "/bin/true".into(),
            maps: "00400000-00401000 r-xp 0 08:01 1 /bin/true\n".into(),
        }
    }

    fn written(events: &[Event], finish: bool) -> Vec<u8> {
        let mut w = JsonWriter::new(Vec::new(), &metadata()).unwrap();
        w.image(&image()).unwrap();
        for e in events {
            w.event(e).unwrap();
        }
        if finish {
            w.finish(true, events.len()).unwrap()
        } else {
            w.flush().unwrap();
            w.out.get_ref().clone()
        }
    }

    #[test]
    fn streamed_layout_reads_back_sorted_with_images() {
        let bytes = written(&[call("b", 20), call("a", 10), call("c", 30)], true);
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.lines().count(), 2 + 4 + 2, "{text}");
        let (t, cut) = read_sys_trace(&bytes).unwrap();
        assert_eq!(cut, None);
        assert!(t.end.complete);
        assert_eq!(t.end.events, 3);
        assert_eq!(t.metadata.images, vec![image()]);
        let names: Vec<&str> = t
            .events
            .iter()
            .map(|e| match e {
                Event::Syscall(s) => s.name.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn version_1_layout_still_reads() {
        let mut meta = metadata();
        meta.version = 1;
        meta.images = vec![image()];
        let v1 = serde_json::json!({
            "metadata": meta,
            "events": [call("a", 10)],
            "end": {"complete": true, "events": 1},
        });
        let t: SysTrace = serde_json::from_value(v1).unwrap();
        assert_eq!(t.metadata.images.len(), 1);
        assert_eq!(t.events, vec![call("a", 10)]);
    }

    #[test]
    fn cut_file_keeps_whole_lines_only() {
        let full = written(&[call("a", 10), call("b", 20), call("c", 30)], true);
        let text = String::from_utf8(full.clone()).unwrap();
        // Cut in the middle of the third call's line.
        let cut_at = text.find("\"c\"").unwrap();
        let (t, cut) = read_sys_trace(&full[..cut_at]).unwrap();
        assert!(!t.end.complete);
        assert_eq!(t.events, vec![call("a", 10), call("b", 20)]);
        assert_eq!(t.metadata.images.len(), 1);
        let cut = cut.unwrap();
        assert!(cut.starts_with("truncated at byte "), "{cut}");
        // A flushed but unfinished stream (tracer killed): everything written is kept.
        let open = written(&[call("a", 10), call("b", 20)], false);
        let (t, cut) = read_sys_trace(&open).unwrap();
        assert!(cut.is_some());
        assert_eq!(t.events.len(), 2);
        // Not a trace at all.
        assert!(read_sys_trace(b"{\"x\":1}").is_err());
    }

    #[test]
    fn the_line_layout_indexes_as_it_reads() {
        let bytes = written(&[call("b", 20), call("a", 10), call("c", 30)], true);
        let index = index_sys_lines(&bytes).unwrap();
        let (whole, _) = read_sys_trace(&bytes).unwrap();
        assert!(index.trace.events.is_empty());
        assert_eq!(index.trace.metadata, whole.metadata);
        assert_eq!(index.trace.end, whole.end);
        let back: Vec<Event> = index
            .entries
            .iter()
            .map(|e| parse_indexed(&bytes, e.offset).unwrap())
            .collect();
        assert_eq!(back, whole.events);
        let starts: Vec<u64> = index.entries.iter().map(|e| e.start_ns).collect();
        assert_eq!(starts, [10, 20, 30]);
        assert!(index.entries.iter().all(|e| e.syscall && e.tid == 7));
        // Cut, damaged, or not the line layout: read whole instead.
        let cut = bytes.len() - 5;
        assert!(index_sys_lines(&bytes[..cut]).is_none());
        assert!(index_sys_lines(&written(&[call("a", 10)], false)).is_none());
        let v1 = serde_json::to_vec(&whole).unwrap();
        assert!(index_sys_lines(&v1).is_none());
        let mut damaged = bytes.clone();
        let at = String::from_utf8(bytes).unwrap().find("\"b\"").unwrap();
        damaged[at] = b'{';
        assert!(index_sys_lines(&damaged).is_none());
    }

    #[test]
    fn records_parse_by_their_tag_as_the_derived_parser_does() {
        let records = [
            r#"{"type":"syscall","name":"read","nr":0,"pid":1,"tid":2,"timestamp_ns":5,"duration_ns":7,"args":["3","\"a\\n\"",""],"raw_args":[3,4,5],"return":1,"errno":null}"#,
            r#"{"name":"open","type":"syscall","nr":2,"pid":1,"tid":2,"timestamp_ns":5,"duration_ns":null,"args":[],"raw_args":[],"return":-1,"errno":"ENOENT","extra":[1,{"x":2}]}"#,
            r#"{"type":"signal","pid":1,"tid":1,"timestamp_ns":9,"signal":"SIGCHLD","signo":17,"info":"{si_signo=SIGCHLD}"}"#,
            r#"{"type":"exit","pid":1,"tid":1,"timestamp_ns":10,"code":3}"#,
            r#"{"type":"killed","pid":1,"tid":1,"timestamp_ns":11,"signal":"SIGKILL","signo":9,"core_dumped":false}"#,
            r#"{"type":"image","pid":1,"tid":1,"timestamp_ns":4,"exe":"/bin/x","maps":"a b"}"#,
        ];
        for r in records {
            let fast = format!("{:?}", parse_stored(r.as_bytes()).unwrap());
            let derived = format!("{:?}", serde_json::from_str::<StoredEvent>(r).unwrap());
            assert_eq!(fast, derived, "{r}");
        }
        for bad in [
            r#"{"type":"bogus","pid":1}"#,
            r#"{"type":"exit","pid":1,"tid":1,"timestamp_ns":10}"#,
            r#"{"type":"syscall","name":"read""#,
            r#"{"pid":1}"#,
        ] {
            assert!(parse_stored(bad.as_bytes()).is_err(), "{bad}");
            assert!(serde_json::from_str::<StoredEvent>(bad).is_err(), "{bad}");
        }
    }
}
