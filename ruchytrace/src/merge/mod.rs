//! Merging function traces and system call traces into one call tree per thread.
//!
//! [`load`] reads one input file (a binary or JSON function trace of the runtime, or the
//! `sys.json` of `ruchytrace syscalls`, told apart by their content); [`merge`] joins them by
//! (pid, tid) and `CLOCK_MONOTONIC` timestamps into a [`Merged`] forest: every system call sits
//! under the innermost traced call that was open across it (entered before the call's entry,
//! not returned before its exit; the attribution rules of `docs/merge.md`). A system call that straddles a function
//! boundary, or inputs that cannot come from the same run (pid or clock mismatch), are reported
//! as a [`MergeError`] naming the events — never silently re-parented (unless
//! [`MergeOptions::force`], which turns them into warnings).
//!
//! The output formats live in [`text`], [`json`], [`chrome`], [`flame`] (collapsed stacks and
//! SVG) and [`dot`]; [`report`] computes the call graph, hotspots, per-function system call
//! tables and the per-file I/O summary. The schemas are documented in `docs/merge.md`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use std::fs::File;
use std::io::{BufRead, BufReader, Read};

use ruchytrace_runtime::format::{self, binary, Detected};
use ruchytrace_runtime::model::{
    ClockInfo, Event, LossReason, Metadata, Return, Site, Trace, FN_TRACE_FORMAT,
};

use crate::syscalls::event::{Event as SysEvent, SysTrace, SYS_TRACE_FORMAT, SYS_TRACE_VERSION};

pub mod chrome;
pub mod dot;
pub mod flame;
pub mod json;
pub mod live;
pub mod report;
pub mod stream;
pub mod text;

/// Index of a [`Node`] in [`Merged::nodes`].
pub type NodeId = u32;

/// One input file, read.
#[derive(Debug)]
pub enum Input {
    /// A function trace of the runtime (binary or JSON).
    Functions {
        /// Where it came from.
        path: PathBuf,
        /// The trace (its events, for a binary file, are read again while merging).
        trace: Box<FnTrace>,
    },
    /// A `sys.json` of the companion.
    Syscalls {
        /// Where it came from.
        path: PathBuf,
        /// The document.
        trace: Box<SysTrace>,
    },
}

impl Input {
    /// The file the input was read from.
    pub fn path(&self) -> &Path {
        match self {
            Input::Functions { path, .. } | Input::Syscalls { path, .. } => path,
        }
    }
}

/// A function trace ready to merge. A binary trace is checked once by [`load`] and streamed
/// again, record by record, by [`merge`]: its events are never all in memory. A JSON trace is
/// kept as read.
#[derive(Debug)]
pub struct FnTrace {
    /// The trace's metadata.
    pub metadata: Metadata,
    /// Earliest and latest event timestamps.
    pub span: Option<(u64, u64)>,
    /// Why the trace is incomplete, if it is.
    pub truncation: Option<String>,
    /// Number of events.
    pub events: u64,
    data: FnData,
}

#[derive(Debug)]
enum FnData {
    Loaded {
        sites: Vec<Site>,
        events: Vec<Event>,
    },
    Binary,
    /// A JSON trace in the writer's line layout: its sites (read by [`scan_json_lines`]) and
    /// how many event lines to read back.
    JsonLines {
        sites: Vec<Site>,
        events: u64,
    },
}

/// A line reader that knows the byte offset of each line.
struct LineReader {
    input: BufReader<File>,
    offset: u64,
    line: String,
}

impl LineReader {
    fn open(path: &Path) -> Option<LineReader> {
        Some(LineReader {
            input: BufReader::with_capacity(1 << 16, File::open(path).ok()?),
            offset: 0,
            line: String::new(),
        })
    }

    /// The next line without its newline, and its offset; `None` at the end or on an error.
    fn next_line(&mut self) -> Option<(u64, &str)> {
        self.line.clear();
        let n = self.input.read_line(&mut self.line).ok()?;
        if n == 0 {
            return None;
        }
        let at = self.offset;
        self.offset += n as u64;
        Some((at, self.line.trim_end_matches(['\n', '\r'])))
    }
}

/// Checks a JSON function trace in the writer's streaming layout (metadata line, one event per
/// line, then the sites, then the end record) without keeping its events; `None` for any other
/// layout (read whole instead). A damaged event line ends the trace there, as the runtime's
/// reader does.
fn scan_json_lines(path: &Path) -> Option<FnTrace> {
    #[derive(serde::Deserialize)]
    struct Stamp {
        timestamp_ns: u64,
    }
    let mut r = LineReader::open(path)?;
    let (_, first) = r.next_line()?;
    let meta_text = first.strip_prefix("{\"metadata\":")?.strip_suffix(',')?;
    let metadata: Metadata = serde_json::from_str(meta_text).ok()?;
    format::json::check_metadata(&metadata).ok()?;
    if r.next_line()?.1 != "\"events\":[" {
        return None;
    }
    let stop = |at: u64, what: &str| Some(format!("truncated at byte {at}: {what}"));
    let mut span: Option<(u64, u64)> = None;
    let mut events = 0u64;
    let mut sites = Vec::new();
    let truncation = 'read: {
        loop {
            match r.next_line() {
                Some((_, "],")) => break,
                Some((at, line)) => {
                    let text = line.strip_suffix(',').unwrap_or(line);
                    match serde_json::from_str::<Stamp>(text) {
                        Ok(s) => {
                            let t = s.timestamp_ns;
                            span = Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                            events += 1;
                        }
                        Err(e) => break 'read stop(at, &format!("damaged event ({e})")),
                    }
                }
                None => break 'read stop(r.offset, "the file ends inside the events"),
            }
        }
        match r.next_line() {
            Some((_, "\"sites\":[")) => {}
            Some((at, _)) => break 'read stop(at, "expected the \"sites\" array"),
            None => break 'read stop(r.offset, "the file ends after the events"),
        }
        loop {
            match r.next_line() {
                Some((_, "],")) => break,
                Some((at, line)) => {
                    let text = line.strip_suffix(',').unwrap_or(line);
                    match serde_json::from_str::<Site>(text) {
                        Ok(s) => sites.push(s),
                        Err(e) => break 'read stop(at, &format!("damaged site ({e})")),
                    }
                }
                None => break 'read stop(r.offset, "the file ends inside the sites"),
            }
        }
        let Some((at, line)) = r.next_line() else {
            break 'read stop(r.offset, "the file ends before the \"end\" record");
        };
        let end = line
            .strip_prefix("\"end\":")
            .and_then(|l| l.strip_suffix('}'))
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok());
        match end.as_ref().and_then(|e| e.get("complete")?.as_bool()) {
            Some(true) => None,
            Some(false) => Some(
                end.as_ref()
                    .and_then(|e| e.get("truncation")?.as_str().map(str::to_owned))
                    .unwrap_or_else(|| "the writer marked the trace incomplete".into()),
            ),
            None => stop(at, "damaged \"end\" record"),
        }
    };
    Some(FnTrace {
        metadata,
        span,
        truncation,
        events,
        data: FnData::JsonLines { sites, events },
    })
}

/// A site definition or an event of a function trace, in file order.
enum FnItem {
    Site(Site),
    Event(Event),
}

fn open_binary(path: &Path) -> Result<binary::BinaryReader<BufReader<File>>, format::ReadError> {
    let file = File::open(path).map_err(|e| format::ReadError {
        offset: None,
        message: format!("cannot read: {e}"),
    })?;
    binary::BinaryReader::new(BufReader::with_capacity(1 << 16, file))
}

/// Checks a binary trace from end to end without keeping its events.
fn scan_binary(path: &Path) -> Result<FnTrace, format::ReadError> {
    let mut reader = open_binary(path)?;
    let mut span: Option<(u64, u64)> = None;
    let mut events = 0u64;
    let mut source_truncation = None;
    for rec in reader.by_ref() {
        match rec {
            binary::Record::Event(ev) => {
                let t = ev.ts();
                span = Some(span.map_or((t, t), |(a, b)| (a.min(t), b.max(t))));
                events += 1;
            }
            binary::Record::SourceTruncated(s) => source_truncation = Some(s),
            _ => {}
        }
    }
    let truncation = reader.truncation().map(str::to_owned).or(source_truncation);
    Ok(FnTrace {
        metadata: reader.metadata().clone(),
        span,
        truncation,
        events,
        data: FnData::Binary,
    })
}

impl FnTrace {
    fn from_trace(trace: Trace) -> FnTrace {
        let span = span(trace.events.iter().map(Event::ts));
        FnTrace {
            metadata: trace.metadata,
            span,
            truncation: trace.truncation,
            events: trace.events.len() as u64,
            data: FnData::Loaded {
                sites: trace.sites,
                events: trace.events,
            },
        }
    }

    /// Sites and events in file order, without consuming the trace (a loaded trace's events are
    /// cloned one at a time; the others are read again from their file), for the streaming
    /// passes of [`stream`].
    fn replay(&self, path: &Path) -> Result<Box<dyn Iterator<Item = FnItem> + '_>, MergeError> {
        match &self.data {
            FnData::Loaded { sites, events } => Ok(Box::new(
                sites
                    .iter()
                    .cloned()
                    .map(FnItem::Site)
                    .chain(events.iter().cloned().map(FnItem::Event)),
            )),
            FnData::JsonLines { sites, events } => Self::reread(path, sites.clone(), *events),
            FnData::Binary => Self::reread_binary(path),
        }
    }

    /// Sites and events in file order, owned (so their values move into the merged tree).
    fn items(self, path: &Path) -> Result<Box<dyn Iterator<Item = FnItem>>, MergeError> {
        match self.data {
            FnData::Loaded { sites, events } => Ok(Box::new(
                sites
                    .into_iter()
                    .map(FnItem::Site)
                    .chain(events.into_iter().map(FnItem::Event)),
            )),
            FnData::JsonLines { sites, events } => Self::reread(path, sites, events),
            FnData::Binary => Self::reread_binary(path),
        }
    }

    fn reread(
        path: &Path,
        sites: Vec<Site>,
        events: u64,
    ) -> Result<Box<dyn Iterator<Item = FnItem>>, MergeError> {
        let again = || MergeError::NoInput(format!("{}: cannot read again", path.display()));
        let mut r = LineReader::open(path).ok_or_else(again)?;
        // The metadata and `"events":[` lines were checked by the scan.
        r.next_line().ok_or_else(again)?;
        r.next_line().ok_or_else(again)?;
        let mut table = format::SiteTable::from_sites(&sites);
        let mut known: std::collections::HashSet<u32> = sites.iter().map(|s| s.id).collect();
        let mut left = events;
        let lines = std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let (_, line) = r.next_line()?;
            let text = line.strip_suffix(',').unwrap_or(line);
            let json: serde_json::Value = serde_json::from_str(text).ok()?;
            let ev = format::json::parse_event(&json, &mut table).ok()?;
            // A cut file has no site table: the sites its events describe come first.
            let site = match &ev {
                Event::Enter { site, .. }
                | Event::Exit { site, .. }
                | Event::Suspend { site, .. }
                | Event::Resume { site, .. } => Some(*site),
                _ => None,
            };
            let mut items = Vec::with_capacity(2);
            if let Some(id) = site.filter(|id| known.insert(*id)) {
                if let Some(s) = table.get(id) {
                    items.push(FnItem::Site(s.clone()));
                }
            }
            items.push(FnItem::Event(ev));
            Some(items)
        });
        Ok(Box::new(
            sites.into_iter().map(FnItem::Site).chain(lines.flatten()),
        ))
    }

    fn reread_binary(path: &Path) -> Result<Box<dyn Iterator<Item = FnItem>>, MergeError> {
        let reader = open_binary(path).map_err(|e| {
            MergeError::NoInput(format!("{}: cannot read again: {e}", path.display()))
        })?;
        Ok(Box::new(reader.filter_map(|rec| match rec {
            binary::Record::Site(s) => Some(FnItem::Site(s)),
            binary::Record::Event(e) => Some(FnItem::Event(e)),
            _ => None,
        })))
    }
}

/// An input file that cannot be used: unreadable, malformed, truncated, or of the wrong kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// The file.
    pub path: PathBuf,
    /// Where in it (`byte 123`, `line 4 column 7`), when known.
    pub position: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(p) = &self.position {
            write!(f, ": at {p}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for InputError {}

/// Reads one input file. A truncated function trace is an error unless `partial_ok` (then every
/// event before the damage is kept and the truncation becomes a warning of the merge).
pub fn load(path: &Path, partial_ok: bool) -> Result<Input, InputError> {
    let err = |position: Option<String>, message: String| InputError {
        path: path.to_path_buf(),
        position,
        message,
    };
    let mut prefix = Vec::with_capacity(64 * 1024);
    File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut prefix))
        .map_err(|e| err(None, format!("cannot read: {e}")))?;
    let detected = format::detect(&prefix).map_err(|e| {
        err(
            e.offset.map(|o| format!("byte {o}")),
            format!(
                "{} (expected a ruchytrace function or syscall trace)",
                e.message
            ),
        )
    })?;
    let fn_trace = |trace: FnTrace| -> Result<Input, InputError> {
        if let (Some(t), false) = (&trace.truncation, partial_ok) {
            return Err(err(
                None,
                format!(
                    "incomplete function trace: {t} (pass --partial to use the events before it)"
                ),
            ));
        }
        Ok(Input::Functions {
            path: path.to_path_buf(),
            trace: Box::new(trace),
        })
    };
    let read_err = |e: format::ReadError| err(e.offset.map(|o| format!("byte {o}")), e.message);
    if detected == Detected::Binary {
        return fn_trace(scan_binary(path).map_err(read_err)?);
    }
    // A function trace in the writer's line layout is streamed like a binary one.
    if json_format_of(&prefix).is_some_and(|(_, f)| f == FN_TRACE_FORMAT) {
        if let Some(trace) = scan_json_lines(path) {
            return fn_trace(trace);
        }
    }
    let bytes = std::fs::read(path).map_err(|e| err(None, format!("cannot read: {e}")))?;
    match detected {
        Detected::Binary => unreachable!("handled above"),
        Detected::Json => match json_format_of(&bytes) {
            Some((_, f)) if f == FN_TRACE_FORMAT => fn_trace(FnTrace::from_trace(
                format::json::read_json(&bytes).map_err(read_err)?,
            )),
            Some((_, f)) if f == SYS_TRACE_FORMAT => {
                let trace: SysTrace = serde_json::from_slice(&bytes).map_err(|e| {
                    err(
                        Some(format!("line {} column {}", e.line(), e.column())),
                        format!("malformed syscall trace: {e}"),
                    )
                })?;
                if trace.metadata.version == 0 || trace.metadata.version > SYS_TRACE_VERSION {
                    return Err(err(
                        None,
                        format!(
                            "unsupported syscall trace version {} (this reader supports 1 to {SYS_TRACE_VERSION})",
                            trace.metadata.version
                        ),
                    ));
                }
                Ok(Input::Syscalls {
                    path: path.to_path_buf(),
                    trace: Box::new(trace),
                })
            }
            Some((at, f)) => Err(err(
                Some(format!("byte {at}")),
                format!(
                    "wrong kind of file: metadata.format is \"{f}\", expected \"{FN_TRACE_FORMAT}\" or \"{SYS_TRACE_FORMAT}\""
                ),
            )),
            None => {
                // No readable format tag: let the JSON parser say where the document is broken.
                match serde_json::from_slice::<serde_json::Value>(&bytes) {
                    Err(e) => Err(err(
                        Some(format!("line {} column {}", e.line(), e.column())),
                        format!("malformed JSON: {e}"),
                    )),
                    Ok(_) => Err(err(
                        Some("byte 0".into()),
                        "wrong kind of file: a JSON document without metadata.format, not a ruchytrace trace".into(),
                    )),
                }
            }
        },
    }
}

/// Finds `"format": "<value>"` near the start of a JSON document (both writers put the metadata,
/// and its `format`, first). Returns the byte offset of the value and the value.
fn json_format_of(bytes: &[u8]) -> Option<(usize, String)> {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    let key = b"\"format\"";
    let at = head.windows(key.len()).position(|w| w == key)? + key.len();
    let mut i = at;
    while i < head.len() && (head[i].is_ascii_whitespace() || head[i] == b':') {
        i += 1;
    }
    if head.get(i) != Some(&b'"') {
        return None;
    }
    let end = head[i + 1..].iter().position(|&b| b == b'"')? + i + 1;
    Some((i, String::from_utf8_lossy(&head[i + 1..end]).into_owned()))
}

/// Merge settings.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Turn straddling system calls and pid/clock mismatches into warnings (the straddling call
    /// goes under the innermost call that encloses it entirely).
    pub force: bool,
}

/// Why a merge was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeError {
    /// The inputs cannot come from the same run (different pids, clocks or boot).
    Mismatch(String),
    /// System calls that cross a function entry or exit: a clock or data error.
    Straddle(Vec<String>),
    /// Nothing to merge.
    NoInput(String),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Mismatch(m) | MergeError::NoInput(m) => f.write_str(m),
            MergeError::Straddle(list) => {
                write!(
                    f,
                    "{} system call(s) straddle a function boundary (clock or data error; --force attributes them to the enclosing call):",
                    list.len()
                )?;
                for s in list.iter().take(10) {
                    write!(f, "\n  {s}")?;
                }
                if list.len() > 10 {
                    write!(f, "\n  ... and {} more", list.len() - 10)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for MergeError {}

/// How a traced call ended, as far as the trace knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// Its exit was recorded.
    Returned,
    /// An `async fn` future returned `Pending`: this node is one poll of it.
    Suspended,
    /// Its exit was lost (an outer call's exit was seen first); the end is that outer exit.
    ExitLost,
    /// Still running when the trace ended.
    Open,
}

impl CallEnd {
    /// Lowercase name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CallEnd::Returned => "returned",
            CallEnd::Suspended => "suspended",
            CallEnd::ExitLost => "exit_lost",
            CallEnd::Open => "open",
        }
    }
}

/// A traced function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Index in [`Merged::sites`].
    pub site: u32,
    /// Captured arguments.
    pub args: Vec<ruchytrace_runtime::model::Value>,
    /// How it returned (when it did).
    pub ret: Option<Return>,
    /// How it ended.
    pub end: CallEnd,
    /// True for a resumed poll of an `async fn` future.
    pub resumed: bool,
}

/// A system call.
#[derive(Debug, Clone, PartialEq)]
pub struct Syscall {
    /// Name (`openat`).
    pub name: String,
    /// Decoded arguments, strace-style.
    pub args: Vec<String>,
    /// Raw argument registers.
    pub raw_args: Vec<u64>,
    /// Return value; `None` when it never returned.
    pub ret: Option<i64>,
    /// Errno name when it failed.
    pub errno: Option<String>,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A traced function call.
    Call(Call),
    /// A system call.
    Syscall(Syscall),
    /// A point event: instant (`instant`), loss record (`loss`), signal (`signal`), thread end
    /// (`exit`, `killed`).
    Point {
        /// `instant`, `loss`, `signal`, `exit` or `killed`.
        category: &'static str,
        /// Human-readable text.
        text: String,
    },
}

/// One node of a thread's tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Start (`CLOCK_MONOTONIC` ns).
    pub start_ns: u64,
    /// End; `None` when unknown (open call, syscall that never returned, point events).
    pub end_ns: Option<u64>,
    /// Children in time order.
    pub children: Vec<NodeId>,
    /// What it is.
    pub kind: NodeKind,
}

impl Node {
    /// Duration, using `trace_end` for calls still open at the end of the trace.
    pub fn duration(&self, trace_end: u64) -> u64 {
        match (&self.kind, self.end_ns) {
            (_, Some(e)) => e.saturating_sub(self.start_ns),
            (NodeKind::Call(_), None) => trace_end.saturating_sub(self.start_ns),
            _ => 0,
        }
    }
}

/// A traced process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Program path.
    pub program: String,
    /// Command line.
    pub args: Vec<String>,
    /// The runtime's collector thread, if known.
    pub collector_tid: Option<u32>,
}

/// One thread: its top-level nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTrack {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Thread name, when the function trace recorded one.
    pub name: Option<String>,
    /// The runtime's collector thread: its system calls are tracer traffic.
    pub tracer: bool,
    /// Top-level nodes in time order.
    pub roots: Vec<NodeId>,
}

impl ThreadTrack {
    /// `name` or `thread TID`.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None if self.pid == self.tid => "main".into(),
            None => format!("thread {}", self.tid),
        }
    }
}

/// The merged forest of every thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The input files.
    pub sources: Vec<String>,
    /// Traced processes.
    pub processes: Vec<ProcessInfo>,
    /// Threads, sorted by (pid, tid).
    pub threads: Vec<ThreadTrack>,
    /// Every node.
    pub nodes: Vec<Node>,
    /// Call sites of every function trace (ids are indexes into this table).
    pub sites: Vec<Site>,
    /// The earliest timestamp of any event: relative times count from here.
    pub origin_ns: u64,
    /// The latest timestamp seen (end of every open call).
    pub end_ns: u64,
    /// A clock pair, for wall-clock output.
    pub clock: Option<ClockInfo>,
    /// What the reader should know (losses, truncations, forced attributions).
    pub warnings: Vec<String>,
}

impl Merged {
    /// The node with id `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The site of a call.
    pub fn site(&self, call: &Call) -> &Site {
        &self.sites[call.site as usize]
    }

    /// The name of a node: function display name, syscall name, or point category.
    pub fn name(&self, id: NodeId) -> &str {
        match &self.node(id).kind {
            NodeKind::Call(c) => &self.site(c).name,
            NodeKind::Syscall(s) => &s.name,
            NodeKind::Point { category, .. } => category,
        }
    }

    /// Threads to show: every thread, or all but the tracer's own.
    pub fn visible_threads(&self, show_tracer: bool) -> impl Iterator<Item = &ThreadTrack> {
        self.threads
            .iter()
            .filter(move |t| show_tracer || !t.tracer)
    }

    /// Self time of a node: its duration minus its children's.
    pub fn self_time(&self, id: NodeId) -> u64 {
        let n = self.node(id);
        let children: u64 = n
            .children
            .iter()
            .map(|&c| self.node(c).duration(self.end_ns))
            .sum();
        n.duration(self.end_ns).saturating_sub(children)
    }
}

struct Frame {
    node: NodeId,
    site: u32,
    call_id: Option<u64>,
}

#[derive(Default)]
struct ThreadBuild {
    name: Option<String>,
    roots: Vec<NodeId>,
    stack: Vec<Frame>,
}

/// Where a syscall goes, or why it cannot.
enum Placement {
    Under(Option<NodeId>),
    Straddle { at: Option<NodeId>, what: String },
}

/// Merges function traces and at most one syscall trace (several syscall traces are merged as
/// one when they come from the same run).
pub fn merge(inputs: Vec<Input>, opts: &MergeOptions) -> Result<Merged, MergeError> {
    if inputs.is_empty() {
        return Err(MergeError::NoInput("no input files".into()));
    }
    let mut fn_traces = Vec::new();
    let mut sys_traces = Vec::new();
    let mut sources = Vec::new();
    for input in inputs {
        sources.push(input.path().display().to_string());
        match input {
            Input::Functions { path, trace } => fn_traces.push((path, trace)),
            Input::Syscalls { path, trace } => sys_traces.push((path, trace)),
        }
    }
    let mut warnings = Vec::new();
    {
        let fns: Vec<(&Path, &FnTrace)> =
            fn_traces.iter().map(|(p, t)| (p.as_path(), &**t)).collect();
        let sys: Vec<(&Path, &SysTrace)> = sys_traces
            .iter()
            .map(|(p, t)| (p.as_path(), &**t))
            .collect();
        check_consistency(&fns, &sys, opts, &mut warnings)?;
    }

    // One node per call (two events) and per syscall: reserving avoids the 2x overshoot of a
    // growing vector on large traces.
    let expected_nodes = fn_traces.iter().map(|(_, t)| t.events / 2).sum::<u64>()
        + sys_traces
            .iter()
            .map(|(_, t)| t.events.len() as u64)
            .sum::<u64>();
    let mut nodes: Vec<Node> = Vec::with_capacity(expected_nodes.min(1 << 28) as usize);
    let mut sites: Vec<Site> = Vec::new();
    let mut threads: HashMap<(u32, u32), ThreadBuild> = HashMap::new();
    let mut processes = Vec::new();
    let mut clock = None;
    let mut origin = u64::MAX;
    let mut end = 0u64;
    for (path, trace) in fn_traces {
        let meta = &trace.metadata;
        clock.get_or_insert_with(|| meta.clock.clone());
        processes.push(ProcessInfo {
            pid: meta.pid,
            program: meta.program.clone(),
            args: meta.args.clone(),
            collector_tid: meta.collector_tid,
        });
        if let Some(t) = &trace.truncation {
            warnings.push(format!(
                "{}: incomplete function trace ({t}); calls still open at its end are shown as unfinished",
                path.display()
            ));
        }
        let mut remap: HashMap<u32, u32> = HashMap::new();
        let mut unmatched = 0u64;
        let mut lost_exits = 0u64;
        let mut suspended: HashMap<u64, Vec<ruchytrace_runtime::model::Value>> = HashMap::new();
        for item in trace.items(&path)? {
            let mut ev = match item {
                FnItem::Site(mut s) => {
                    let id = sites.len() as u32;
                    remap.insert(s.id, id);
                    s.id = id;
                    sites.push(s);
                    continue;
                }
                FnItem::Event(ev) => ev,
            };
            let ts = ev.ts();
            origin = origin.min(ts);
            end = end.max(ts);
            let key = ev.pid_tid();
            let th = threads.entry(key).or_default();
            let global = |site: u32, sites: &mut Vec<Site>, remap: &mut HashMap<u32, u32>| {
                *remap.entry(site).or_insert_with(|| {
                    // An event whose site is missing from the table: keep it visible.
                    let id = sites.len() as u32;
                    sites.push(unknown_site(id, site));
                    id
                })
            };
            match &mut ev {
                Event::Enter {
                    site,
                    args,
                    call_id,
                    ..
                } => {
                    let g = global(*site, &mut sites, &mut remap);
                    let id = push_node(
                        &mut nodes,
                        th,
                        Node {
                            start_ns: ts,
                            end_ns: None,
                            children: Vec::new(),
                            kind: NodeKind::Call(Call {
                                site: g,
                                args: std::mem::take(args),
                                ret: None,
                                end: CallEnd::Open,
                                resumed: false,
                            }),
                        },
                    );
                    th.stack.push(Frame {
                        node: id,
                        site: g,
                        call_id: *call_id,
                    });
                }
                Event::Exit {
                    site, ret, call_id, ..
                } => {
                    let g = global(*site, &mut sites, &mut remap);
                    match pop_to(&mut nodes, th, g, *call_id, ts) {
                        Some((node, lost)) => {
                            lost_exits += lost;
                            let n = &mut nodes[node as usize];
                            n.end_ns = Some(ts);
                            if let NodeKind::Call(c) = &mut n.kind {
                                c.ret = Some(std::mem::replace(ret, Return::NotCaptured));
                                c.end = CallEnd::Returned;
                            }
                        }
                        None => unmatched += 1,
                    }
                }
                Event::Suspend { site, call_id, .. } => {
                    let g = global(*site, &mut sites, &mut remap);
                    if let Some((node, lost)) = pop_to(&mut nodes, th, g, Some(*call_id), ts) {
                        lost_exits += lost;
                        let n = &mut nodes[node as usize];
                        n.end_ns = Some(ts);
                        if let NodeKind::Call(c) = &mut n.kind {
                            c.end = CallEnd::Suspended;
                            suspended.insert(*call_id, c.args.clone());
                        }
                    }
                }
                Event::Resume { site, call_id, .. } => {
                    let g = global(*site, &mut sites, &mut remap);
                    let args = suspended.remove(call_id).unwrap_or_default();
                    let id = push_node(
                        &mut nodes,
                        th,
                        Node {
                            start_ns: ts,
                            end_ns: None,
                            children: Vec::new(),
                            kind: NodeKind::Call(Call {
                                site: g,
                                args,
                                ret: None,
                                end: CallEnd::Open,
                                resumed: true,
                            }),
                        },
                    );
                    th.stack.push(Frame {
                        node: id,
                        site: g,
                        call_id: Some(*call_id),
                    });
                }
                Event::Instant {
                    category,
                    name,
                    detail,
                    ..
                } => {
                    push_point(
                        &mut nodes,
                        th,
                        ts,
                        "instant",
                        format!("{} {name}: {detail}", category.as_str()),
                    );
                }
                Event::Thread { name, .. } => {
                    if name.is_some() {
                        th.name.clone_from(name);
                    }
                }
                Event::Loss { count, reason, .. } => {
                    let why = match reason {
                        LossReason::BufferFull => "buffer full",
                        LossReason::Evicted => "evicted by ring buffer",
                        LossReason::Unflushed => "not flushed before the end",
                    };
                    let (pid, tid) = key;
                    warnings.push(format!(
                        "pid {pid} tid {tid}: {count} function events lost ({why}); system calls near them may sit under an outer call"
                    ));
                    push_point(
                        &mut nodes,
                        th,
                        ts,
                        "loss",
                        format!("{count} events lost ({why})"),
                    );
                }
                Event::Stall { .. } => {}
            }
        }
        if unmatched > 0 {
            warnings.push(format!(
                "{}: {unmatched} exit(s) without a matching enter (enter lost or before the trace started)",
                path.display()
            ));
        }
        if lost_exits > 0 {
            warnings.push(format!(
                "{}: {lost_exits} call(s) whose exit was lost end at their caller's exit",
                path.display()
            ));
        }
    }
    // Calls still open end with the trace; the collector marks tracer threads.
    for th in threads.values_mut() {
        th.stack.clear();
    }

    // System calls.
    let mut straddles = Vec::new();
    let mut attached: Vec<(Option<NodeId>, (u32, u32), NodeId)> = Vec::new();
    for (_, mut trace) in sys_traces {
        if clock.is_none() {
            clock = Some(trace.metadata.clock.clone());
        }
        if processes.iter().all(|p| p.pid != trace.metadata.pid as u32) {
            processes.push(ProcessInfo {
                pid: trace.metadata.pid as u32,
                program: trace.metadata.program.clone(),
                args: trace.metadata.args.clone(),
                collector_tid: None,
            });
        }
        if !trace.end.complete {
            warnings.push(format!(
                "syscall trace of pid {} is incomplete (the tracer did not see every thread end)",
                trace.metadata.pid
            ));
        }
        for ev in std::mem::take(&mut trace.events) {
            let ts = ev.timestamp_ns();
            origin = origin.min(ts);
            end = end.max(ts);
            let (node, key) = match ev {
                SysEvent::Syscall(s) => {
                    let exit = s.duration_ns.map(|d| ts + d);
                    if let Some(x) = exit {
                        end = end.max(x);
                    }
                    (
                        Node {
                            start_ns: ts,
                            end_ns: exit,
                            children: Vec::new(),
                            kind: NodeKind::Syscall(Syscall {
                                name: s.name,
                                args: s.args,
                                raw_args: s.raw_args,
                                ret: s.ret,
                                errno: s.errno,
                            }),
                        },
                        (s.pid as u32, s.tid as u32),
                    )
                }
                SysEvent::Signal(s) => (
                    point(ts, "signal", format!("--- {} {} ---", s.signal, s.info)),
                    (s.pid as u32, s.tid as u32),
                ),
                SysEvent::Exit(e) => (
                    point(ts, "exit", format!("+++ exited with {} +++", e.code)),
                    (e.pid as u32, e.tid as u32),
                ),
                SysEvent::Killed(k) => (
                    point(
                        ts,
                        "killed",
                        format!(
                            "+++ killed by {}{} +++",
                            k.signal,
                            if k.core_dumped { " (core dumped)" } else { "" }
                        ),
                    ),
                    (k.pid as u32, k.tid as u32),
                ),
            };
            let th = threads.entry(key).or_default();
            let e = node.start_ns;
            let x = node.end_ns.unwrap_or(e);
            let place = place(&nodes, &sites, &th.roots, e, x);
            let parent = match place {
                Placement::Under(p) => p,
                Placement::Straddle { at, what } => {
                    straddles.push(format!(
                        "pid {} tid {}: {} at {} (returned at {}) {what}",
                        key.0,
                        key.1,
                        describe_syscall(&node),
                        e,
                        x
                    ));
                    at
                }
            };
            let id = nodes.len() as NodeId;
            nodes.push(node);
            attached.push((parent, key, id));
        }
    }
    if !straddles.is_empty() {
        if opts.force {
            let n = straddles.len();
            warnings.extend(straddles);
            warnings.push(format!(
                "--force: {n} straddling system call(s) attributed to the enclosing call"
            ));
        } else {
            return Err(MergeError::Straddle(straddles));
        }
    }
    // Insert the syscalls among their parents' children, keeping time order.
    let mut touched_parents = Vec::new();
    let mut touched_threads = Vec::new();
    for (parent, key, id) in attached {
        match parent {
            Some(p) => {
                nodes[p as usize].children.push(id);
                touched_parents.push(p);
            }
            None => {
                threads.entry(key).or_default().roots.push(id);
                touched_threads.push(key);
            }
        }
    }
    touched_parents.sort_unstable();
    touched_parents.dedup();
    for p in touched_parents {
        let mut children = std::mem::take(&mut nodes[p as usize].children);
        children.sort_by_key(|&c| nodes[c as usize].start_ns);
        nodes[p as usize].children = children;
    }
    touched_threads.sort_unstable();
    touched_threads.dedup();
    for key in touched_threads {
        if let Some(th) = threads.get_mut(&key) {
            th.roots.sort_by_key(|&c| nodes[c as usize].start_ns);
        }
    }

    let mut threads: Vec<ThreadTrack> = threads
        .into_iter()
        .map(|((pid, tid), b)| ThreadTrack {
            pid,
            tid,
            name: b.name,
            tracer: processes
                .iter()
                .any(|p| p.pid == pid && p.collector_tid == Some(tid)),
            roots: b.roots,
        })
        .collect();
    threads.sort_by_key(|t| (t.pid, t.tid));
    processes.sort_by_key(|p| p.pid);
    Ok(Merged {
        sources,
        processes,
        threads,
        nodes,
        sites,
        origin_ns: if origin == u64::MAX { 0 } else { origin },
        end_ns: end,
        clock,
        warnings,
    })
}

fn unknown_site(id: u32, original: u32) -> Site {
    Site {
        id,
        name: format!("<site {original}>"),
        qualified_name: format!("<site {original}>"),
        location: ruchytrace_runtime::model::Location {
            file: "?".into(),
            line: 0,
            column: 0,
        },
        args: Vec::new(),
        return_type: "?".into(),
        kind: ruchytrace_runtime::model::SiteKind::Fn,
    }
}

fn point(ts: u64, category: &'static str, text: String) -> Node {
    Node {
        start_ns: ts,
        end_ns: None,
        children: Vec::new(),
        kind: NodeKind::Point { category, text },
    }
}

fn push_node(nodes: &mut Vec<Node>, th: &mut ThreadBuild, node: Node) -> NodeId {
    let id = nodes.len() as NodeId;
    nodes.push(node);
    match th.stack.last() {
        Some(f) => nodes[f.node as usize].children.push(id),
        None => th.roots.push(id),
    }
    id
}

fn push_point(
    nodes: &mut Vec<Node>,
    th: &mut ThreadBuild,
    ts: u64,
    category: &'static str,
    text: String,
) {
    push_node(nodes, th, point(ts, category, text));
}

/// Pops the innermost frame of `site` (and `call_id`) and every frame above it, which lost
/// their exits (they end at `ts`). Returns the matched node and how many frames were above it.
fn pop_to(
    nodes: &mut [Node],
    th: &mut ThreadBuild,
    site: u32,
    call_id: Option<u64>,
    ts: u64,
) -> Option<(NodeId, u64)> {
    let pos = th
        .stack
        .iter()
        .rposition(|f| f.site == site && (call_id.is_none() || f.call_id == call_id))?;
    let lost = (th.stack.len() - pos - 1) as u64;
    for f in th.stack.drain(pos + 1..) {
        let n = &mut nodes[f.node as usize];
        n.end_ns = Some(ts);
        if let NodeKind::Call(c) = &mut n.kind {
            c.end = CallEnd::ExitLost;
        }
    }
    th.stack.pop().map(|f| (f.node, lost))
}

fn describe_syscall(n: &Node) -> String {
    match &n.kind {
        NodeKind::Syscall(s) => format!("{}({})", s.name, s.args.join(", ")),
        NodeKind::Point { text, .. } => text.clone(),
        NodeKind::Call(_) => "call".into(),
    }
}

fn call_name(nodes: &[Node], sites: &[Site], id: NodeId) -> String {
    let n = &nodes[id as usize];
    match &n.kind {
        NodeKind::Call(c) => {
            let name = sites.get(c.site as usize).map_or("?", |s| s.name.as_str());
            match n.end_ns {
                Some(e) => format!("{name}() (entered at {}, returned at {e})", n.start_ns),
                None => format!("{name}() (entered at {})", n.start_ns),
            }
        }
        _ => format!("node #{id}"),
    }
}

/// Finds the innermost call among `level` (and below) that encloses `[e, x]`.
fn place(nodes: &[Node], sites: &[Site], level: &[NodeId], e: u64, x: u64) -> Placement {
    let mut parent: Option<NodeId> = None;
    let mut level = level;
    loop {
        // Calls in `level` are in time order and do not overlap: find the last one that
        // started at or before `e`, skipping point events.
        let upto = level.partition_point(|&c| nodes[c as usize].start_ns <= e);
        let before = level[..upto]
            .iter()
            .rev()
            .find(|&&c| matches!(nodes[c as usize].kind, NodeKind::Call(_)));
        if let Some(&c) = before {
            let n = &nodes[c as usize];
            match n.end_ns {
                None => {
                    parent = Some(c);
                    level = &n.children;
                    continue;
                }
                Some(cx) if cx >= x => {
                    parent = Some(c);
                    level = &n.children;
                    continue;
                }
                Some(cx) if cx > e => {
                    return Placement::Straddle {
                        at: parent,
                        what: format!("straddles the exit of {}", call_name(nodes, sites, c)),
                    };
                }
                Some(_) => {}
            }
        }
        // No enclosing call at this level: a call that starts during the syscall straddles it.
        if let Some(&next) = level[upto..]
            .iter()
            .find(|&&c| matches!(nodes[c as usize].kind, NodeKind::Call(_)))
        {
            let s = nodes[next as usize].start_ns;
            if s < x {
                return Placement::Straddle {
                    at: parent,
                    what: format!("straddles the entry of {}", call_name(nodes, sites, next)),
                };
            }
        }
        return Placement::Under(parent);
    }
}

/// Refuses inputs that cannot come from one run.
fn check_consistency(
    fn_traces: &[(&Path, &FnTrace)],
    sys_traces: &[(&Path, &SysTrace)],
    opts: &MergeOptions,
    warnings: &mut Vec<String>,
) -> Result<(), MergeError> {
    let mut problems = Vec::new();
    for (path, t) in fn_traces {
        if t.metadata.clock.domain != "CLOCK_MONOTONIC" {
            problems.push(format!(
                "{}: clock domain is {:?}, expected CLOCK_MONOTONIC",
                path.display(),
                t.metadata.clock.domain
            ));
        }
    }
    for (spath, s) in sys_traces {
        let sys_pids: std::collections::BTreeSet<u32> = s
            .events
            .iter()
            .map(|e| match e {
                SysEvent::Syscall(x) => x.pid,
                SysEvent::Signal(x) => x.pid,
                SysEvent::Exit(x) => x.pid,
                SysEvent::Killed(x) => x.pid,
            } as u32)
            .chain(std::iter::once(s.metadata.pid as u32))
            .collect();
        let s_off = s.metadata.clock.realtime_ns as i128 - s.metadata.clock.monotonic_ns as i128;
        for (fpath, f) in fn_traces {
            let pid = f.metadata.pid;
            if !sys_pids.contains(&pid) {
                problems.push(format!(
                    "pid mismatch: {} is a trace of pid {pid}, but {} traced pid(s) {:?} — traces from different runs?",
                    fpath.display(),
                    spath.display(),
                    sys_pids
                ));
                continue;
            }
            let f_off =
                f.metadata.clock.realtime_ns as i128 - f.metadata.clock.monotonic_ns as i128;
            if (f_off - s_off).abs() > 2_000_000_000 {
                problems.push(format!(
                    "clock mismatch: {} and {} disagree by {:.3}s on CLOCK_REALTIME - CLOCK_MONOTONIC (recorded on different boots or machines?)",
                    fpath.display(),
                    spath.display(),
                    (f_off - s_off) as f64 / 1e9
                ));
                continue;
            }
            // Both spans of this pid must overlap: same pid but disjoint times is a reused pid.
            let fspan = f.span;
            let sspan = span(s.events.iter().filter_map(|e| match e {
                SysEvent::Syscall(x) if x.pid as u32 == pid => {
                    Some(x.timestamp_ns + x.duration_ns.unwrap_or(0))
                }
                _ => None,
            }));
            let sstart = span(s.events.iter().filter_map(|e| match e {
                SysEvent::Syscall(x) if x.pid as u32 == pid => Some(x.timestamp_ns),
                _ => None,
            }));
            if let (Some((f0, f1)), Some((s0, _)), Some((_, s1))) = (fspan, sstart, sspan) {
                if f1 < s0 || f0 > s1 {
                    problems.push(format!(
                        "clock mismatch: function events of pid {pid} in {} span {f0}..{f1} ns, system calls in {} span {s0}..{s1} ns — they do not overlap (traces from different runs?)",
                        fpath.display(),
                        spath.display()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    if opts.force {
        warnings.extend(problems);
        return Ok(());
    }
    Err(MergeError::Mismatch(problems.join("\n")))
}

fn span(it: impl Iterator<Item = u64>) -> Option<(u64, u64)> {
    it.fold(None, |acc, t| match acc {
        None => Some((t, t)),
        Some((a, b)) => Some((a.min(t), b.max(t))),
    })
}

/// Renders a duration compactly: `850ns`, `4us`, `1.222ms`, `2.500s`.
pub fn fmt_duration(ns: u64) -> String {
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}us", ns / 1_000)
    } else if ns < 1_000_000_000 {
        format!("{}.{:03}ms", ns / 1_000_000, (ns % 1_000_000) / 1_000)
    } else {
        format!(
            "{}.{:03}s",
            ns / 1_000_000_000,
            (ns % 1_000_000_000) / 1_000_000
        )
    }
}

/// Renders a system call's result the way strace does: `3`, `0x7f12a000` for addresses,
/// `-1 ENOENT`, `?` when it never returned.
pub fn fmt_return(s: &Syscall) -> String {
    match (s.ret, &s.errno) {
        (None, _) => "?".into(),
        (Some(r), Some(e)) => format!("{r} {e}"),
        (Some(r), None) => {
            if matches!(s.name.as_str(), "mmap" | "mremap" | "brk" | "shmat") || r > 0xffff_ffff {
                format!("{r:#x}")
            } else {
                r.to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_returns() {
        assert_eq!(fmt_duration(850), "850ns");
        assert_eq!(fmt_duration(4_200), "4us");
        assert_eq!(fmt_duration(1_222_000), "1.222ms");
        assert_eq!(fmt_duration(2_500_000_000), "2.500s");
        let mut s = Syscall {
            name: "mmap".into(),
            args: vec![],
            raw_args: vec![],
            ret: Some(0x7f00_0000_0000),
            errno: None,
        };
        assert_eq!(fmt_return(&s), "0x7f0000000000");
        s.name = "openat".into();
        s.ret = Some(-1);
        s.errno = Some("ENOENT".into());
        assert_eq!(fmt_return(&s), "-1 ENOENT");
        s.ret = None;
        assert_eq!(fmt_return(&s), "?");
    }

    #[test]
    fn format_tag_is_found() {
        assert_eq!(
            json_format_of(br#"{"metadata": {"format" : "x-y", "v": 1}}"#),
            Some((25, "x-y".to_string()))
        );
        assert_eq!(json_format_of(br#"{"metadata": {"format": 3}}"#), None);
        assert_eq!(json_format_of(b"{}"), None);
    }
}
