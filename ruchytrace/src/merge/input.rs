//! Reading the inputs of a merge: function traces (binary or JSON) and `sys.json` syscall traces.
//!
//! [`load`] tells the kinds apart by their content and checks each file from end to end
//! without keeping its events when it can: a binary trace, or a JSON function trace in the
//! writer's one-event-per-line layout, is scanned once for its span, event count and
//! truncation, and read again record by record when it is merged. Other JSON function traces
//! and every `sys.json` are read whole. A damaged file gives an [`InputError`] naming the file
//! and the byte (or line and column) of the damage.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use ruchytrace_runtime::format::{self, binary, Detected};
use ruchytrace_runtime::model::{Event, Metadata, Site, Trace, FN_TRACE_FORMAT};

use super::MergeError;
use crate::syscalls::event::{
    Event as SysEvent, SysIndexEntry, SysTrace, SYS_TRACE_FORMAT, SYS_TRACE_VERSION,
};

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
        /// The document (without its events when they are left `in_file`).
        trace: Box<SysTrace>,
        /// The events left in the file, indexed ([`SysInFile`]); `None` when they are in
        /// `trace`.
        in_file: Option<Box<SysInFile>>,
        /// Where the file was cut (`truncated at byte N: ...`) when it was salvaged with
        /// `--partial`: its complete events were kept, what follows the cut is missing.
        truncation: Option<String>,
    },
    /// A merged JSON document (`merge --format json`), read back whole.
    Merged {
        /// Where it came from.
        path: PathBuf,
        /// The forest.
        merged: Box<super::Merged>,
    },
}

/// The events of a `sys.json` left in the file: an index of its events (where each is, its
/// thread and times), and the file, read again through a window when an event is written, so a
/// merge that streams holds a few words per event and one window of the file.
pub struct SysInFile {
    file: File,
    entries: Vec<SysIndexEntry>,
    /// The bytes of the file read last: (their offset, the bytes).
    window: std::sync::Mutex<(u64, Vec<u8>)>,
}

/// How much of a `sys.json` is read at a time when its events are read again (the replays
/// visit a thread's events in file order, so one read serves many).
const SYS_WINDOW: usize = 256 * 1024;

impl SysInFile {
    /// The event whose line starts at `offset`.
    fn event_at(&self, offset: u64) -> Option<SysEvent> {
        use std::os::unix::fs::FileExt;
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let (start, bytes) = &mut *w;
        let whole_line = |start: u64, bytes: &[u8]| {
            offset >= start && {
                let rel = (offset - start) as usize;
                rel < bytes.len() && bytes[rel..].contains(&b'\n')
            }
        };
        let mut want = SYS_WINDOW;
        while !whole_line(*start, bytes) {
            bytes.resize(want, 0);
            let mut got = 0;
            while got < want {
                match self.file.read_at(&mut bytes[got..], offset + got as u64) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return None,
                }
            }
            bytes.truncate(got);
            *start = offset;
            if got < want {
                // The end of the file: the line is whole or the file changed.
                break;
            }
            // A line longer than the window: read more of it.
            want *= 2;
        }
        crate::syscalls::event::parse_indexed(bytes, offset.checked_sub(*start)?)
    }
}

impl fmt::Debug for SysInFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SysInFile({} events)", self.entries.len())
    }
}

/// What the merge needs of a syscall-trace event to place it (see [`SysIndexEntry`]).
pub(crate) fn head_of(ev: &SysEvent) -> SysIndexEntry {
    let (pid, tid, start_ns, duration, syscall) = match ev {
        SysEvent::Syscall(x) => (x.pid, x.tid, x.timestamp_ns, x.duration_ns, true),
        SysEvent::Signal(x) => (x.pid, x.tid, x.timestamp_ns, None, false),
        SysEvent::Exit(x) => (x.pid, x.tid, x.timestamp_ns, None, false),
        SysEvent::Killed(x) => (x.pid, x.tid, x.timestamp_ns, None, false),
    };
    SysIndexEntry {
        offset: 0,
        start_ns,
        end_ns: start_ns + duration.unwrap_or(0),
        pid: pid as u32,
        tid: tid as u32,
        syscall,
    }
}

impl Input {
    /// The events of a syscall trace (none for other inputs).
    pub(crate) fn sys_len(&self) -> usize {
        match self {
            Input::Syscalls {
                in_file: Some(m), ..
            } => m.entries.len(),
            Input::Syscalls { trace, .. } => trace.events.len(),
            Input::Functions { .. } | Input::Merged { .. } => 0,
        }
    }

    /// Event `j` of a syscall trace (in time order): its thread and times.
    pub(crate) fn sys_head(&self, j: usize) -> SysIndexEntry {
        match self {
            Input::Syscalls {
                in_file: Some(m), ..
            } => m.entries[j],
            Input::Syscalls { trace, .. } => head_of(&trace.events[j]),
            Input::Functions { .. } | Input::Merged { .. } => {
                unreachable!("only syscall traces have events here")
            }
        }
    }

    /// Event `j` of a syscall trace, parsed again from the file when it was left there; `None` when
    /// the file no longer holds it.
    pub(crate) fn sys_event(&self, j: usize) -> Option<std::borrow::Cow<'_, SysEvent>> {
        match self {
            Input::Syscalls {
                in_file: Some(m), ..
            } => m.event_at(m.entries[j].offset).map(std::borrow::Cow::Owned),
            Input::Syscalls { trace, .. } => trace.events.get(j).map(std::borrow::Cow::Borrowed),
            Input::Functions { .. } | Input::Merged { .. } => None,
        }
    }

    /// The heads of every event of a syscall trace (see [`Input::sys_head`]): the index of a
    /// trace left in its file, borrowed.
    pub(crate) fn sys_heads(&self) -> std::borrow::Cow<'_, [SysIndexEntry]> {
        match self {
            Input::Syscalls {
                in_file: Some(m), ..
            } => std::borrow::Cow::Borrowed(&m.entries),
            _ => (0..self.sys_len()).map(|j| self.sys_head(j)).collect(),
        }
    }

    /// Reads the events of a syscall trace left in its file into its document (what the merged tree
    /// needs). Errors when the file changed since it was indexed.
    pub(crate) fn load_sys_events(&mut self) -> Result<(), MergeError> {
        let Input::Syscalls {
            path,
            trace,
            in_file,
            ..
        } = self
        else {
            return Ok(());
        };
        let Some(m) = in_file.take() else {
            return Ok(());
        };
        trace.events.reserve(m.entries.len());
        for e in &m.entries {
            let ev = m.event_at(e.offset).ok_or_else(|| {
                MergeError::NoInput(format!(
                    "{}: changed while being read (byte {})",
                    path.display(),
                    e.offset
                ))
            })?;
            trace.events.push(ev);
        }
        Ok(())
    }

    /// The file the input was read from.
    pub fn path(&self) -> &Path {
        match self {
            Input::Functions { path, .. }
            | Input::Syscalls { path, .. }
            | Input::Merged { path, .. } => path,
        }
    }
}

/// A function trace ready to merge. A binary trace is checked once by [`load`] and streamed
/// again, record by record, by [`merge`](super::merge): its events are never all in memory. A JSON trace is
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
    input: BufReader<super::progress::Tracked>,
    offset: u64,
    line: String,
}

impl LineReader {
    fn open(path: &Path, what: &str) -> Option<LineReader> {
        Some(LineReader {
            input: BufReader::with_capacity(1 << 16, super::progress::open(path, what).ok()?),
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
    let mut r = LineReader::open(path, "checking")?;
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
pub(crate) enum FnItem {
    Site(Site),
    Event(Event),
}

/// A binary function trace being read: the framed stream through a buffered reader (its bytes
/// counted into a progress bar), or the runtime's segmented file mapped into memory.
pub(crate) type BinaryFile = binary::BinaryReader<BufReader<super::progress::Tracked>>;

/// A memory map shared between the reader (which reads it) and [`Paged`] (which drops the pages
/// of the segments the reader is done with).
struct SharedMap(std::sync::Arc<memmap2::Mmap>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Opens a binary trace for one pass labelled `what`, with the map of a file read in place
/// (the runtime's segmented file: its threads are merged by time straight from the page cache,
/// and the file never sits in the heap); `None` for a file streamed through a buffer (whose
/// progress bar counts its bytes).
pub(crate) fn open_binary_file(
    path: &Path,
    what: &str,
) -> Result<(BinaryFile, Option<std::sync::Arc<memmap2::Mmap>>), format::ReadError> {
    let cannot = |e: std::io::Error| format::ReadError {
        offset: None,
        message: format!("cannot read: {e}"),
    };
    let file = File::open(path).map_err(cannot)?;
    let mut head = Vec::with_capacity(8);
    (&file).take(8).read_to_end(&mut head).map_err(cannot)?;
    if binary::is_segmented(&head) {
        // SAFETY: the map is private and read-only, and nothing in this process writes the
        // file. The runtime only ever extends its trace files (segments are reserved whole and
        // written in place, never shrunk), so the mapped length stays backed; a record being
        // written while we read it is seen old or new, and the reader checks every record
        // (a damaged one ends its thread as truncated). Only another program truncating the
        // file under us could fault, as with any reader that maps its input.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            let map = std::sync::Arc::new(map);
            let bytes = binary::FileBytes::new(SharedMap(map.clone()));
            let reader = binary::BinaryReader::segmented(bytes)?;
            return Ok((reader, Some(map)));
        }
    }
    drop(file);
    let file = super::progress::open(path, what).map_err(cannot)?;
    let reader = binary::BinaryReader::new(BufReader::with_capacity(1 << 16, file))?;
    Ok((reader, None))
}

/// The records of a binary trace; for a mapped file, the pages of each segment the reader is
/// done with are dropped as it goes, so the pass's resident memory is the segments being merged
/// (one or two per thread), not the whole file.
pub(crate) struct Paged {
    reader: BinaryFile,
    map: Option<std::sync::Arc<memmap2::Mmap>>,
    until_check: u32,
}

/// Records between two looks for finished segments.
const PAGE_CHECK: u32 = 4096;

impl Paged {
    /// The reader.
    pub(crate) fn reader(&self) -> &BinaryFile {
        &self.reader
    }

    fn drop_finished(&mut self) {
        let Some(map) = &self.map else {
            return;
        };
        for (offset, len) in self.reader.take_finished() {
            // SAFETY: the map is a private, read-only file mapping, and the reader never reads
            // a finished segment again; dropping its pages only makes a later access (there is
            // none) read them from the file again. Failing to drop them costs memory, not
            // correctness, so the result is ignored.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)
            };
        }
    }
}

impl Iterator for Paged {
    type Item = binary::Record;

    fn next(&mut self) -> Option<binary::Record> {
        self.until_check = self.until_check.saturating_sub(1);
        if self.until_check == 0 {
            self.until_check = PAGE_CHECK;
            self.drop_finished();
        }
        self.reader.next()
    }
}

/// [`open_binary_file`] as [`Paged`] records, counted into a bar when the file is mapped
/// (`total`: its events, when a first pass counted them).
fn open_binary(
    path: &Path,
    what: &str,
    total: Option<u64>,
) -> Result<super::progress::Counted<Paged>, format::ReadError> {
    let (reader, map) = open_binary_file(path, what)?;
    let bar = if map.is_some() {
        super::progress::EventBar::new(path, what, total)
    } else {
        super::progress::EventBar::none()
    };
    let paged = Paged {
        reader,
        map,
        until_check: PAGE_CHECK,
    };
    Ok(super::progress::Counted::new(paged, bar))
}

/// Checks a binary trace from end to end without keeping its events.
fn scan_binary(path: &Path) -> Result<FnTrace, format::ReadError> {
    let mut reader = open_binary(path, "checking", None)?;
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
    let reader = reader.inner().reader();
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
    /// passes of [`stream`]. With `only`, the events of other threads are left out (a runtime
    /// trace file does not even decode them).
    pub(crate) fn replay(
        &self,
        path: &Path,
        only: Option<&[(u32, u32)]>,
    ) -> Result<Box<dyn Iterator<Item = FnItem> + '_>, MergeError> {
        let items: Box<dyn Iterator<Item = FnItem> + '_> = match &self.data {
            FnData::Loaded { sites, events } => {
                let only = only.map(<[_]>::to_vec);
                Box::new(
                    sites.iter().cloned().map(FnItem::Site).chain(
                        events
                            .iter()
                            .filter(move |e| only.as_ref().is_none_or(|o| o.contains(&e.pid_tid())))
                            .cloned()
                            .map(FnItem::Event),
                    ),
                )
            }
            FnData::JsonLines { sites, events } => {
                let only = only.map(<[_]>::to_vec);
                Box::new(
                    Self::reread(path, sites.clone(), *events, only.clone())?.filter(
                        move |i| match (i, &only) {
                            (FnItem::Event(e), Some(o)) => o.contains(&e.pid_tid()),
                            _ => true,
                        },
                    ),
                )
            }
            FnData::Binary => Self::reread_binary(path, self.events, only)?,
        };
        Ok(items)
    }

    /// Sites and events in file order, owned (so their values move into the merged tree).
    pub(crate) fn items(self, path: &Path) -> Result<Box<dyn Iterator<Item = FnItem>>, MergeError> {
        match self.data {
            FnData::Loaded { sites, events } => Ok(Box::new(
                sites
                    .into_iter()
                    .map(FnItem::Site)
                    .chain(events.into_iter().map(FnItem::Event)),
            )),
            FnData::JsonLines { sites, events } => Self::reread(path, sites, events, None),
            FnData::Binary => Self::reread_binary(path, self.events, None),
        }
    }

    /// The items of a JSON trace in the writer's line layout, read again; with `only`, the
    /// event lines of other threads are told apart by their `pid` and `tid` alone and skipped
    /// before they are parsed whole (so a line damaged beyond its `pid` and `tid`, which ends
    /// a full pass, is passed over by a pass of another thread).
    fn reread(
        path: &Path,
        sites: Vec<Site>,
        events: u64,
        only: Option<Vec<(u32, u32)>>,
    ) -> Result<Box<dyn Iterator<Item = FnItem>>, MergeError> {
        #[derive(serde::Deserialize)]
        struct Who {
            pid: u32,
            tid: u32,
        }
        let again = || MergeError::NoInput(format!("{}: cannot read again", path.display()));
        let mut r = LineReader::open(path, "reading").ok_or_else(again)?;
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
            if let (Some(o), Ok(w)) = (&only, serde_json::from_str::<Who>(text)) {
                if !o.contains(&(w.pid, w.tid)) {
                    return Some(Vec::new());
                }
            }
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

    fn reread_binary(
        path: &Path,
        events: u64,
        only: Option<&[(u32, u32)]>,
    ) -> Result<Box<dyn Iterator<Item = FnItem>>, MergeError> {
        let mut reader = open_binary(path, "reading", Some(events)).map_err(|e| {
            MergeError::NoInput(format!("{}: cannot read again: {e}", path.display()))
        })?;
        if let Some(only) = only {
            reader.inner_mut().reader.retain_threads(only);
        }
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
    // A syscall trace in the writer's line layout is indexed (its events left in the file, not
    // parsed into memory); any other layout, or a damaged file, is read whole below.
    if json_format_of(&prefix).is_some_and(|(_, f)| f == SYS_TRACE_FORMAT) {
        if let Some(input) = index_sys(path)? {
            return Ok(input);
        }
    }
    let mut bytes = Vec::new();
    super::progress::open(path, "reading")
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| err(None, format!("cannot read: {e}")))?;
    match detected {
        Detected::Binary => unreachable!("handled above"),
        Detected::Json => match json_format_of(&bytes) {
            Some((_, f)) if f == FN_TRACE_FORMAT => fn_trace(FnTrace::from_trace(
                format::json::read_json(&bytes).map_err(read_err)?,
            )),
            Some((_, f)) if f == SYS_TRACE_FORMAT => {
                let (trace, truncation) = match serde_json::from_slice::<SysTrace>(&bytes) {
                    Ok(trace) => (trace, None),
                    Err(e) => {
                        // A file in the tracer's line layout cut short (the tracer was killed):
                        // its complete events are kept with --partial.
                        let salvaged = crate::syscalls::read_sys_trace(&bytes)
                            .ok()
                            .and_then(|(t, cut)| Some((t, cut?)));
                        let malformed = || {
                            err(
                                Some(format!("line {} column {}", e.line(), e.column())),
                                format!("malformed syscall trace: {e}"),
                            )
                        };
                        match salvaged {
                            Some((t, cut)) if partial_ok => (t, Some(cut)),
                            Some((t, cut)) => {
                                let mut m = malformed();
                                m.message = format!(
                                    "{}; incomplete syscall trace: {cut} (pass --partial to use the {} complete events before it)",
                                    m.message,
                                    t.events.len()
                                );
                                return Err(m);
                            }
                            None => return Err(malformed()),
                        }
                    }
                };
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
                    in_file: None,
                    truncation,
                })
            }
            Some((_, f)) if f == super::json::MERGED_FORMAT => {
                let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
                    err(
                        Some(format!("line {} column {}", e.line(), e.column())),
                        format!("malformed merged trace: {e}"),
                    )
                })?;
                let merged = super::readback::read_merged(&doc)
                    .map_err(|m| err(None, format!("malformed merged trace: {m}")))?;
                Ok(Input::Merged {
                    path: path.to_path_buf(),
                    merged: Box::new(merged),
                })
            }
            Some((at, f)) => Err(err(
                Some(format!("byte {at}")),
                format!(
                    "wrong kind of file: metadata.format is \"{f}\", expected \"{FN_TRACE_FORMAT}\", \"{SYS_TRACE_FORMAT}\" or \"{}\"",
                    super::json::MERGED_FORMAT
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

/// The warning of a `sys.json` salvaged with `--partial`: which file, where it was cut.
pub(crate) fn sys_cut_warning(path: &Path, cut: &str) -> String {
    format!(
        "{}: incomplete syscall trace ({cut}); every system call before the cut is kept, the ones after it are missing",
        path.display()
    )
}

/// Indexes a `sys.json` in the writer's line layout, its events left in the file ([`SysInFile`]); `Ok(None)` when
/// it is not in that layout, or is damaged or cut (read whole instead, for the errors).
fn index_sys(path: &Path) -> Result<Option<Input>, InputError> {
    let cannot = |e: std::io::Error| InputError {
        path: path.to_path_buf(),
        position: None,
        message: format!("cannot read: {e}"),
    };
    let file = File::open(path).map_err(cannot)?;
    let reader = BufReader::with_capacity(
        1 << 16,
        super::progress::open(path, "indexing").map_err(cannot)?,
    );
    let Some(index) = crate::syscalls::event::index_sys_reader(reader) else {
        return Ok(None);
    };
    let version = index.trace.metadata.version;
    if version == 0 || version > SYS_TRACE_VERSION {
        return Err(InputError {
            path: path.to_path_buf(),
            position: None,
            message: format!(
                "unsupported syscall trace version {version} (this reader supports 1 to {SYS_TRACE_VERSION})"
            ),
        });
    }
    Ok(Some(Input::Syscalls {
        path: path.to_path_buf(),
        trace: Box::new(index.trace),
        in_file: Some(Box::new(SysInFile {
            file,
            entries: index.entries,
            window: std::sync::Mutex::new((0, Vec::new())),
        })),
        truncation: None,
    }))
}

/// What kind of trace a file holds, judged from its first 64 KiB: `Some(true)` for a function
/// trace, `Some(false)` for a syscall trace, `None` for anything else (or an unreadable file).
pub fn trace_kind(path: &Path) -> Option<bool> {
    let mut prefix = Vec::with_capacity(4096);
    File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut prefix))
        .ok()?;
    match format::detect(&prefix).ok()? {
        Detected::Binary => Some(true),
        Detected::Json => match json_format_of(&prefix)?.1.as_str() {
            FN_TRACE_FORMAT => Some(true),
            SYS_TRACE_FORMAT => Some(false),
            _ => None,
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

/// Earliest and latest of some timestamps.
pub(crate) fn span(it: impl Iterator<Item = u64>) -> Option<(u64, u64)> {
    it.fold(None, |acc, t| match acc {
        None => Some((t, t)),
        Some((a, b)) => Some((a.min(t), b.max(t))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_tag_is_found() {
        assert_eq!(
            json_format_of(br#"{"metadata": {"format" : "x-y", "v": 1}}"#),
            Some((25, "x-y".to_string()))
        );
        assert_eq!(json_format_of(br#"{"metadata": {"format": 3}}"#), None);
        assert_eq!(json_format_of(b"{}"), None);
    }

    #[test]
    fn a_sys_json_left_in_its_file_reads_back_lines_longer_than_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sys.json");
        let call = |name: &str, ts: u64, arg: String| {
            serde_json::json!({"type": "syscall", "name": name, "nr": 1, "pid": 7, "tid": 7,
                "timestamp_ns": ts, "duration_ns": 5, "args": [arg], "raw_args": [1],
                "return": 0, "errno": null})
            .to_string()
        };
        let long = "x".repeat(SYS_WINDOW * 2 + 17);
        let events = [
            call("read", 30, "3".into()),
            call("write", 10, long.clone()),
            call("close", 20, "3".into()),
        ];
        let text = format!(
            "{{\"metadata\":{{\"format\":\"ruchytrace-syscalls\",\"version\":2,\"ruchytrace_version\":\"0\",\"program\":\"/p\",\"args\":[],\"pid\":7,\"arch\":\"x86_64\",\"clock\":{{\"domain\":\"CLOCK_MONOTONIC\",\"source\":\"CLOCK_MONOTONIC\",\"realtime_ns\":10,\"monotonic_ns\":5}},\"options\":{{\"follow_forks\":false,\"filter\":null,\"strsize\":32}},\"images\":[]}},\n\"events\":[\n{}\n],\n\"end\":{{\"complete\":true,\"events\":3}}}}\n",
            events.join(",\n")
        );
        std::fs::write(&path, text).unwrap();
        let input = load(&path, false).unwrap();
        assert!(matches!(
            &input,
            Input::Syscalls {
                in_file: Some(_),
                ..
            }
        ));
        assert_eq!(input.sys_len(), 3);
        let seen: Vec<(String, usize, u64, u64)> = (0..3)
            .map(|j| {
                let h = input.sys_head(j);
                match &*input.sys_event(j).unwrap() {
                    SysEvent::Syscall(s) => (s.name.clone(), s.args[0].len(), h.start_ns, h.end_ns),
                    other => panic!("{other:?}"),
                }
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("write".to_string(), long.len(), 10, 15),
                ("close".to_string(), 1, 20, 25),
                ("read".to_string(), 1, 30, 35),
            ]
        );
        // Read again out of order (another window each time), then all into the document.
        assert!(matches!(&*input.sys_event(2).unwrap(), SysEvent::Syscall(s) if s.name == "read"));
        assert!(matches!(&*input.sys_event(0).unwrap(), SysEvent::Syscall(s) if s.name == "write"));
        let mut input = input;
        input.load_sys_events().unwrap();
        let Input::Syscalls { trace, in_file, .. } = &input else {
            unreachable!()
        };
        assert!(in_file.is_none());
        assert_eq!(trace.events.len(), 3);
    }
}
