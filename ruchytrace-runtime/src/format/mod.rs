//! Trace file formats: binary (`.rtrace`), JSON and text writers, and readers.
//!
//! Every format is one type behind the streaming [`TraceWriter`] trait; [`writer`] picks one.
//! Writers are fed `begin`, then sites (each before the first event that uses it), events and
//! `finish`. The per-event context a writer needs (stack depth, call duration, the event's site)
//! is computed by [`Nesting`], which the collector and the converters share, so every format
//! agrees on nesting. [`read_trace`] reads a binary or JSON trace back (detected from the
//! content), keeping every complete event of a truncated file; [`binary::BinaryReader`] streams the
//! records of a binary trace with bounded memory.
//!
//! The wire formats are documented in `docs/trace-format.md`.

pub use nesting::{Nesting, OpenCall};

use crate::model::{Event, Metadata, Site, Trace, Trailer};
use std::fmt;
use std::io::{self, Write};
use std::path::Path;

#[cfg(feature = "readers")]
pub mod binary;
pub mod json;
mod nesting;
pub mod segmented;
pub mod text;
pub mod value_json;

/// One record of a trace as readers yield it, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A site definition (before the first event that uses it).
    Site(Site),
    /// An event.
    Event(Event),
    /// The file was converted from an incomplete source: why.
    SourceTruncated(String),
    /// The trailer: the file is complete.
    Trailer(Trailer),
}

/// An output format of a function trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// strace-like lines for people ([`text::TextWriter`]).
    Text,
    /// The documented JSON schema ([`json::JsonWriter`]).
    Json,
    /// Compact framed binary `.rtrace` ([`binary::BinaryWriter`]).
    Binary,
}

impl Format {
    /// Parses `text`, `json` or `binary` (also `txt`, `rtrace`, `bin`), case-insensitively.
    pub fn from_name(s: &str) -> Option<Format> {
        match s.to_ascii_lowercase().as_str() {
            "text" | "txt" => Some(Format::Text),
            "json" => Some(Format::Json),
            "binary" | "bin" | "rtrace" => Some(Format::Binary),
            _ => None,
        }
    }

    /// The format a file name implies: `.json`; `.rtrace` or `.bin`; `.txt` or `.log`.
    pub fn from_path(p: &Path) -> Option<Format> {
        let ext = p.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Format::Json),
            "rtrace" | "bin" => Some(Format::Binary),
            "txt" | "log" => Some(Format::Text),
            _ => None,
        }
    }

    /// The canonical name (`text`, `json`, `binary`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Binary => "binary",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-event context a writer gets (computed by [`Nesting::observe`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventCtx<'a> {
    /// Stack depth of the event's thread: before the push for an enter or resume, after the pop
    /// for an exit or suspend, the current depth for other events.
    pub depth: usize,
    /// For an exit: its timestamp minus the matching enter's (for `async fn`: from the first
    /// poll). `None` when the enter is unknown (lost or before the start of the trace).
    pub duration_ns: Option<u64>,
    /// The event's site, for enter, exit, suspend and resume events whose site is known.
    pub site: Option<&'a Site>,
    /// True once more than one thread has been seen.
    pub multi_thread: bool,
}

impl EventCtx<'_> {
    /// A context with depth 0, no duration, no site (for events that need none).
    pub const EMPTY: EventCtx<'static> = EventCtx {
        depth: 0,
        duration_ns: None,
        site: None,
        multi_thread: false,
    };
}

/// Streaming writer: `begin`, then sites (each before the first event that uses it), events,
/// `flush` at will, and `finish` (or `finish_incomplete`) once.
pub trait TraceWriter: Send {
    /// Writes the header.
    fn begin(&mut self, meta: &Metadata) -> io::Result<()>;
    /// Declares a site; called before the first event that refers to it. (The binary and JSON
    /// writers also declare, on their own, an undeclared site they meet in an event's
    /// [`EventCtx::site`].)
    fn site(&mut self, site: &Site) -> io::Result<()>;
    /// Writes one event.
    fn event(&mut self, ev: &Event, ctx: &EventCtx<'_>) -> io::Result<()>;
    /// Makes everything written so far durable in the output (a `SIGKILL` after this returns
    /// keeps it).
    fn flush(&mut self) -> io::Result<()>;
    /// Closes the trace as complete, writing the trailer, and flushes.
    fn finish(&mut self, trailer: &Trailer) -> io::Result<()>;
    /// Closes a trace whose source was incomplete (a truncated input being converted): the
    /// output says so, and readers report it as truncated with `truncation` as the reason.
    fn finish_incomplete(&mut self, trailer: &Trailer, truncation: &str) -> io::Result<()>;
}

/// Creates the writer of `format` on `out`. Text and JSON output is buffered here (one line per
/// event would otherwise be one `write`); [`TraceWriter::flush`] pushes it through.
pub fn writer(format: Format, out: Box<dyn Write + Send>) -> Box<dyn TraceWriter> {
    match format {
        Format::Text => Box::new(text::TextWriter::new(io::BufWriter::with_capacity(
            1 << 16,
            out,
        ))),
        Format::Json => Box::new(json::JsonWriter::new(io::BufWriter::with_capacity(
            1 << 16,
            out,
        ))),
        #[cfg(feature = "readers")]
        Format::Binary => Box::new(binary::BinaryWriter::new(out)),
        #[cfg(not(feature = "readers"))]
        Format::Binary => Box::new(NoBinary),
    }
}

/// Without the `readers` feature the framed binary stream cannot be written (a traced program
/// records its binary trace file directly; only `convert` writes the stream).
#[cfg(not(feature = "readers"))]
struct NoBinary;

#[cfg(not(feature = "readers"))]
fn no_binary() -> io::Error {
    io::Error::other("the framed binary stream needs ruchytrace-runtime's `readers` feature")
}

#[cfg(not(feature = "readers"))]
impl TraceWriter for NoBinary {
    fn begin(&mut self, _: &Metadata) -> io::Result<()> {
        Err(no_binary())
    }
    fn site(&mut self, _: &Site) -> io::Result<()> {
        Err(no_binary())
    }
    fn event(&mut self, _: &Event, _: &EventCtx<'_>) -> io::Result<()> {
        Err(no_binary())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, _: &Trailer) -> io::Result<()> {
        Err(no_binary())
    }
    fn finish_incomplete(&mut self, _: &Trailer, _: &str) -> io::Result<()> {
        Err(no_binary())
    }
}

/// A `HashMap` with the Fx hash (`rustc-hash`) for the small integer keys the writers look up
/// once per event; the keys come from our own program, so no DoS resistance is needed and
/// SipHash would dominate the collector's per-event cost.
pub(crate) type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Sites indexed by id (ids are small and dense).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteTable {
    sites: Vec<Option<Site>>,
}

impl SiteTable {
    /// An empty table.
    pub fn new() -> Self {
        SiteTable::default()
    }

    /// A table holding `sites`.
    pub fn from_sites<'a>(sites: impl IntoIterator<Item = &'a Site>) -> Self {
        let mut t = SiteTable::new();
        for s in sites {
            t.insert(s.clone());
        }
        t
    }

    /// Adds or replaces a site (by its id).
    pub fn insert(&mut self, site: Site) {
        let i = site.id as usize;
        if self.sites.len() <= i {
            self.sites.resize(i + 1, None);
        }
        self.sites[i] = Some(site);
    }

    /// Looks a site up.
    pub fn get(&self, id: u32) -> Option<&Site> {
        self.sites.get(id as usize).and_then(Option::as_ref)
    }

    /// True when `id` is present.
    pub fn contains(&self, id: u32) -> bool {
        self.get(id).is_some()
    }

    /// Every site, by increasing id.
    pub fn iter(&self) -> impl Iterator<Item = &Site> {
        self.sites.iter().flatten()
    }
}

/// A file that cannot be read as a trace at all (as opposed to a truncated one, which
/// [`read_trace`] returns with [`Trace::truncation`] set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// Byte offset of the problem in the input, when it is about the content.
    pub offset: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl ReadError {
    /// An error at byte `offset`.
    pub fn at(offset: u64, message: impl Into<String>) -> Self {
        ReadError {
            offset: Some(offset),
            message: message.into(),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} at byte {o}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ReadError {}

/// What kind of trace some bytes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A binary `.rtrace` (magic present).
    Binary,
    /// A JSON document.
    Json,
}

/// Detects the format from the first bytes of a file.
pub fn detect(prefix: &[u8]) -> Result<Detected, ReadError> {
    if prefix.is_empty() {
        return Err(ReadError::at(0, "empty file, not a ruchytrace trace"));
    }
    /// The framed binary stream's magic (`format::binary::MAGIC`).
    const FRAMED: [u8; 8] = *b"RUCHYTR\0";
    let n = prefix.len().min(FRAMED.len());
    if prefix[..n] == FRAMED[..n] || prefix[..n] == crate::segment::FILE_MAGIC[..n] {
        return Ok(Detected::Binary);
    }
    match prefix.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) if prefix[i] == b'{' => Ok(Detected::Json),
        None => Err(ReadError::at(
            prefix.len() as u64,
            "blank file, not a ruchytrace trace",
        )),
        Some(i) => Err(ReadError::at(
            i as u64,
            "not a ruchytrace trace (neither the binary magic nor a JSON object)",
        )),
    }
}

#[cfg(feature = "readers")]
/// Reads a whole trace file (binary or JSON, detected from the content). A binary file is
/// decoded as it is read (no copy of the file in memory).
pub fn read_trace(path: &Path) -> Result<Trace, ReadError> {
    let io_err = |e: io::Error| ReadError {
        offset: None,
        message: format!("cannot read: {e}"),
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut file = io::BufReader::with_capacity(1 << 16, file);
    let kind = detect(io::BufRead::fill_buf(&mut file).map_err(io_err)?)?;
    match kind {
        Detected::Binary => binary::read_all(file),
        Detected::Json => {
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut file, &mut bytes).map_err(io_err)?;
            json::read_json(&bytes)
        }
    }
}

#[cfg(feature = "readers")]
/// Reads a whole trace from memory. A truncated or damaged tail is not an error: the result keeps
/// every complete event before it and says where and why in [`Trace::truncation`].
pub fn read_trace_from(bytes: &[u8]) -> Result<Trace, ReadError> {
    match detect(bytes)? {
        Detected::Binary => binary::read_all(bytes),
        Detected::Json => json::read_json(bytes),
    }
}

#[cfg(feature = "readers")]
/// What [`convert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertSummary {
    /// Events written.
    pub events: u64,
    /// The input's truncation, when it was incomplete.
    pub truncation: Option<String>,
}

#[cfg(feature = "readers")]
/// Why [`convert`] failed.
#[derive(Debug)]
pub enum ConvertError {
    /// The input is not a readable trace.
    Read(ReadError),
    /// Writing the output failed.
    Write(io::Error),
}

#[cfg(feature = "readers")]
impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConvertError::Read(e) => e.fmt(f),
            ConvertError::Write(e) => write!(f, "cannot write output: {e}"),
        }
    }
}

#[cfg(feature = "readers")]
impl std::error::Error for ConvertError {}

#[cfg(feature = "readers")]
impl From<io::Error> for ConvertError {
    fn from(e: io::Error) -> Self {
        ConvertError::Write(e)
    }
}

#[cfg(feature = "readers")]
/// Re-encodes the trace in `input` (binary or JSON) as `format` on `out`. A binary input is
/// streamed record by record (bounded memory); a JSON input is read whole. A truncated input is
/// converted up to its damage and the output is closed with
/// [`TraceWriter::finish_incomplete`], so it stays marked as truncated.
///
/// `open_output` is called only once the input is known to be a readable trace, so a bad input
/// never leaves an empty output file behind.
pub fn convert(
    input: &Path,
    format: Format,
    open_output: impl FnOnce() -> io::Result<Box<dyn Write + Send>>,
) -> Result<ConvertSummary, ConvertError> {
    let file = std::fs::File::open(input).map_err(|e| {
        ConvertError::Read(ReadError {
            offset: None,
            message: format!("cannot open: {e}"),
        })
    })?;
    let mut file = io::BufReader::with_capacity(1 << 16, file);
    let prefix = io::BufRead::fill_buf(&mut file).map_err(|e| {
        ConvertError::Read(ReadError {
            offset: None,
            message: format!("cannot read: {e}"),
        })
    })?;
    match detect(prefix).map_err(ConvertError::Read)? {
        Detected::Binary => {
            let reader = binary::BinaryReader::new(file).map_err(ConvertError::Read)?;
            convert_binary(reader, format, open_output, &mut || {})
        }
        Detected::Json => {
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut file, &mut bytes).map_err(|e| {
                ConvertError::Read(ReadError {
                    offset: None,
                    message: format!("cannot read: {e}"),
                })
            })?;
            let trace = json::read_json(&bytes).map_err(ConvertError::Read)?;
            let mut w = writer(format, open_output()?);
            write_trace(&trace, &mut *w)?;
            Ok(ConvertSummary {
                events: trace.events.len() as u64,
                truncation: trace.truncation.clone(),
            })
        }
    }
}

#[cfg(feature = "readers")]
/// Re-encodes the binary trace `reader` is reading (either layout; a segmented file may be
/// mapped by the caller, [`binary::BinaryReader::segmented`]) as `format`, record by record, as
/// [`convert`] does; `tick` is called once per event (for a progress display).
pub fn convert_binary<R: io::Read>(
    mut reader: binary::BinaryReader<R>,
    format: Format,
    open_output: impl FnOnce() -> io::Result<Box<dyn Write + Send>>,
    tick: &mut dyn FnMut(),
) -> Result<ConvertSummary, ConvertError> {
    let mut w = writer(format, open_output()?);
    w.begin(reader.metadata())?;
    let mut sites = SiteTable::new();
    let mut nesting = Nesting::new();
    let mut events = 0u64;
    let mut lost = 0u64;
    let mut end_ns = 0u64;
    let mut trailer = None;
    let mut source_truncation = None;
    for rec in reader.by_ref() {
        match rec {
            binary::Record::Site(s) => {
                w.site(&s)?;
                sites.insert(s);
            }
            binary::Record::Event(ev) => {
                tick();
                if let Event::Loss { count, .. } = &ev {
                    lost += count;
                }
                end_ns = end_ns.max(ev.ts());
                let ctx = nesting.observe(&ev, &sites);
                w.event(&ev, &ctx)?;
                events += 1;
            }
            binary::Record::Trailer(t) => trailer = Some(t),
            binary::Record::SourceTruncated(s) => source_truncation = Some(s),
        }
    }
    let truncation = reader.truncation().map(str::to_owned).or(source_truncation);
    finish_writer(
        &mut *w,
        trailer.unwrap_or(Trailer {
            events,
            lost,
            end_ns,
        }),
        truncation,
        events,
    )
}

#[cfg(feature = "readers")]
fn finish_writer(
    w: &mut dyn TraceWriter,
    trailer: Trailer,
    truncation: Option<String>,
    events: u64,
) -> Result<ConvertSummary, ConvertError> {
    match &truncation {
        Some(t) => w.finish_incomplete(&trailer, t)?,
        None => w.finish(&trailer)?,
    }
    Ok(ConvertSummary { events, truncation })
}

/// Writes a whole in-memory trace through `w` (all sites first, then the events with contexts
/// from a fresh [`Nesting`], then the trailer, or `finish_incomplete` when the trace is not
/// complete).
pub fn write_trace(trace: &Trace, w: &mut dyn TraceWriter) -> io::Result<()> {
    w.begin(&trace.metadata)?;
    let sites = SiteTable::from_sites(&trace.sites);
    for s in sites.iter() {
        w.site(s)?;
    }
    let mut nesting = Nesting::new();
    for ev in &trace.events {
        let ctx = nesting.observe(ev, &sites);
        w.event(ev, &ctx)?;
    }
    let trailer = trace.trailer.clone().unwrap_or_else(|| Trailer {
        events: trace.events.len() as u64,
        lost: trace
            .events
            .iter()
            .map(|e| match e {
                Event::Loss { count, .. } => *count,
                _ => 0,
            })
            .sum(),
        end_ns: trace.events.iter().map(Event::ts).max().unwrap_or(0),
    });
    match (&trace.truncation, &trace.trailer) {
        (None, Some(_)) => w.finish(&trailer),
        (Some(t), _) => w.finish_incomplete(&trailer, t),
        (None, None) => w.finish_incomplete(&trailer, "the trace has no trailer"),
    }
}

#[cfg(test)]
mod tests;
