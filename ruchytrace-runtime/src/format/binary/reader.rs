//! [`BinaryReader`]: reads a binary trace frame by frame, checking every checksum, and keeps
//! what is intact of a cut or damaged file; [`read_all`] reads a whole trace.

use super::value::{decode_value, Bad, Cursor};
use super::{crc32, tag, unzigzag, FRAME_HEADER_LEN, HEADER_LEN, MAGIC, MAX_FRAME};
use crate::format::ReadError;
use crate::model::{Category, Event, LossReason, Metadata, Return, Trace, Trailer, SCHEMA_VERSION};
use std::io::{self, Read};

pub use crate::format::Record;

struct ThreadIn {
    pid: u32,
    tid: u32,
    last_ts: u64,
}

/// Streams the records of a binary trace with bounded memory (one frame at a time).
///
/// Iteration stops at the trailer, at the end of the input, or at the first damage; then
/// [`FramedReader::truncation`] tells whether (and where) the input was cut or damaged, and
/// [`FramedReader::is_complete`] whether the trailer was seen.
pub struct FramedReader<R: Read> {
    input: R,
    metadata: Metadata,
    /// Byte offset in the file of `payload[0]`.
    payload_start: u64,
    payload: Vec<u8>,
    pos: usize,
    /// The current payload was cut by the end of the file (its checksum could not be checked).
    partial: Option<String>,
    threads: Vec<ThreadIn>,
    done: bool,
    complete: bool,
    truncation: Option<String>,
    /// The reason part of `truncation`.
    stop_what: String,
    events: u64,
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> FramedReader<R> {
    /// Reads the header and the metadata record. Errors when the input is not a binary trace, is
    /// of an unsupported version, or ends (or is damaged) before its metadata is complete.
    pub fn new(mut input: R) -> Result<Self, ReadError> {
        let io_err = |e: io::Error| ReadError {
            offset: None,
            message: format!("cannot read: {e}"),
        };
        let mut head = [0u8; HEADER_LEN];
        let n = read_full(&mut input, &mut head).map_err(io_err)?;
        let m = n.min(MAGIC.len());
        if head[..m] != MAGIC[..m] || n == 0 {
            return Err(ReadError::at(
                0,
                "not a binary ruchytrace trace (bad magic)",
            ));
        }
        if n < HEADER_LEN {
            return Err(ReadError::at(
                n as u64,
                "truncated inside the file header (no metadata)",
            ));
        }
        let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if version == 0 || version > SCHEMA_VERSION {
            return Err(ReadError::at(
                8,
                format!("unsupported binary trace version {version} (this reader supports 1 to {SCHEMA_VERSION})"),
            ));
        }
        let mut r = FramedReader {
            input,
            metadata: placeholder_metadata(),
            payload_start: HEADER_LEN as u64,
            payload: Vec::new(),
            pos: 0,
            partial: None,
            threads: Vec::new(),
            done: false,
            complete: false,
            truncation: None,
            stop_what: String::new(),
            events: 0,
        };
        r.next_frame().map_err(io_err)?;
        let at = r.payload_start;
        let first = r
            .decode_record()
            .map_err(|b| ReadError::at(at, format!("no readable metadata: {}", b.0)))?;
        match first {
            Some(Decoded::Metadata(meta)) => {
                crate::format::json::check_metadata(&meta).map_err(|m| ReadError::at(at, m))?;
                r.metadata = meta;
                Ok(r)
            }
            None => Err(ReadError::at(
                at,
                format!("no readable metadata: {}", r.stop_what),
            )),
            Some(_) => Err(ReadError::at(at, "the first record is not the metadata")),
        }
    }

    /// The trace's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// When iteration stopped early: `truncated at byte N: <what>`.
    pub fn truncation(&self) -> Option<&str> {
        self.truncation.as_deref()
    }

    /// True once the trailer has been read.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Events yielded so far.
    pub fn events_read(&self) -> u64 {
        self.events
    }

    fn stop(&mut self, at: u64, what: &str) {
        self.done = true;
        self.stop_what = what.to_owned();
        self.truncation = Some(format!("truncated at byte {at}: {what}"));
    }

    /// Loads the next frame into `payload`. On damage or end of input it sets `done` (and
    /// `truncation` unless the end is clean after a trailer).
    fn next_frame(&mut self) -> io::Result<()> {
        let frame_at = self.payload_start + self.payload.len() as u64;
        self.payload.clear();
        self.pos = 0;
        let mut head = [0u8; FRAME_HEADER_LEN];
        let n = read_full(&mut self.input, &mut head)?;
        if n == 0 {
            self.payload_start = frame_at;
            self.stop(frame_at, "the file ends without a trailer");
            return Ok(());
        }
        if n < FRAME_HEADER_LEN {
            self.payload_start = frame_at;
            self.stop(frame_at, "incomplete frame header");
            return Ok(());
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        self.payload_start = frame_at + FRAME_HEADER_LEN as u64;
        if len == 0 || len > MAX_FRAME {
            self.payload_start = frame_at;
            self.stop(frame_at, &format!("invalid frame length {len}"));
            return Ok(());
        }
        self.payload.resize(len, 0);
        let got = read_full(&mut self.input, &mut self.payload)?;
        if got < len {
            self.payload.truncate(got);
            self.partial = Some(format!("incomplete frame ({got} of {len} bytes)"));
        } else if crc32(&self.payload) != crc {
            self.payload.clear();
            self.payload_start = frame_at;
            self.stop(frame_at, "frame checksum mismatch");
        }
        Ok(())
    }

    /// Decodes the record at `pos`. `Ok(None)` when the input is exhausted or damaged (see
    /// `done`/`truncation`).
    fn decode_record(&mut self) -> Result<Option<Decoded>, Bad> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.pos < self.payload.len() {
                break;
            }
            if let Some(p) = self.partial.take() {
                let at = self.payload_start + self.payload.len() as u64;
                self.stop(at, &p);
                return Ok(None);
            }
            if let Err(e) = self.next_frame() {
                let at = self.payload_start;
                self.stop(at, &format!("read error: {e}"));
                return Ok(None);
            }
        }
        let start = self.pos;
        let mut c = Cursor {
            data: &self.payload,
            pos: start,
        };
        match decode_one(&mut c, &mut self.threads) {
            // The placeholder metadata has version 0: a real one was already read.
            Ok(Decoded::Metadata(_)) if self.metadata.version != 0 => {
                let at = self.payload_start + start as u64;
                self.stop(at, "malformed record (a second metadata record)");
                Ok(None)
            }
            Ok(rec) => {
                self.pos = c.pos;
                Ok(Some(rec))
            }
            Err(b) => {
                let at = self.payload_start + start as u64;
                match self.partial.take() {
                    Some(p) => self.stop(at, &p),
                    None => self.stop(at, &format!("malformed record ({})", b.0)),
                }
                Err(b)
            }
        }
    }
}

impl<R: Read> Iterator for FramedReader<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let rec = match self.decode_record().ok().flatten()? {
            Decoded::Record(rec) => rec,
            // `decode_record` stops at a second metadata record.
            Decoded::Metadata(_) => return None,
        };
        match &rec {
            Record::Trailer(_) => {
                self.complete = true;
                // Nothing after the trailer is part of the trace.
                self.done = true;
            }
            Record::Event(_) => self.events += 1,
            _ => {}
        }
        Some(rec)
    }
}

fn placeholder_metadata() -> Metadata {
    Metadata {
        format: String::new(),
        version: 0,
        ruchytrace_version: String::new(),
        program: String::new(),
        args: Vec::new(),
        pid: 0,
        collector_tid: None,
        clock: crate::model::ClockInfo {
            domain: String::new(),
            source: String::new(),
            realtime_ns: 0,
            monotonic_ns: 0,
            tsc_hz: None,
        },
        settings: Default::default(),
    }
}

/// What a record decodes to: the metadata (only valid first) or a record for the iterator.
enum Decoded {
    Metadata(Metadata),
    Record(Record),
}

/// Decodes one record; `THREAD_DEF` records are consumed internally (they yield the next one).
fn decode_one(c: &mut Cursor<'_>, threads: &mut Vec<ThreadIn>) -> Result<Decoded, Bad> {
    loop {
        let t = c.u8()?;
        let rec = match t {
            tag::METADATA => {
                let s = c.str()?;
                return Ok(Decoded::Metadata(
                    serde_json::from_str(&s).map_err(|_| Bad("invalid metadata"))?,
                ));
            }
            tag::SITE => {
                let s = c.str()?;
                Record::Site(serde_json::from_str(&s).map_err(|_| Bad("invalid site"))?)
            }
            tag::THREAD_DEF => {
                let index = c.u64()?;
                let pid = c.u32()?;
                let tid = c.u32()?;
                if index != threads.len() as u64 {
                    return Err(Bad("thread index out of sequence"));
                }
                threads.push(ThreadIn {
                    pid,
                    tid,
                    last_ts: 0,
                });
                continue;
            }
            tag::SOURCE_TRUNCATED => Record::SourceTruncated(c.str()?),
            tag::TRAILER => Record::Trailer(Trailer {
                events: c.u64()?,
                lost: c.u64()?,
                end_ns: c.u64()?,
            }),
            _ => Record::Event(decode_event(t, c, threads)?),
        };
        return Ok(Decoded::Record(rec));
    }
}

fn decode_event(t: u8, c: &mut Cursor<'_>, threads: &mut [ThreadIn]) -> Result<Event, Bad> {
    let index = usize::try_from(c.u64()?).map_err(|_| Bad("unknown thread index"))?;
    let delta = unzigzag(c.varint()?);
    let th = threads.get_mut(index).ok_or(Bad("unknown thread index"))?;
    let ts =
        u64::try_from(i128::from(th.last_ts) + delta).map_err(|_| Bad("timestamp out of range"))?;
    let (pid, tid) = (th.pid, th.tid);
    let ev = match t {
        tag::ENTER | tag::ENTER_ASYNC => {
            let site = c.u32()?;
            let n = c.count()?;
            let args = (0..n)
                .map(|_| decode_value(c, 0))
                .collect::<Result<_, _>>()?;
            let call_id = if t == tag::ENTER_ASYNC {
                Some(c.u64()?)
            } else {
                None
            };
            Event::Enter {
                site,
                ts,
                pid,
                tid,
                args,
                call_id,
            }
        }
        0x20..=0x24 | 0x28..=0x2C => {
            let site = c.u32()?;
            let ret = match t & !tag::EXIT_ASYNC_BIT {
                tag::EXIT_VALUE => Return::Value(decode_value(c, 0)?),
                tag::EXIT_NOT_CAPTURED => Return::NotCaptured,
                tag::EXIT_PANIC => Return::Panic { message: None },
                tag::EXIT_PANIC_MSG => Return::Panic {
                    message: Some(c.str()?),
                },
                _ => Return::Cancelled,
            };
            let call_id = if t & tag::EXIT_ASYNC_BIT != 0 {
                Some(c.u64()?)
            } else {
                None
            };
            Event::Exit {
                site,
                ts,
                pid,
                tid,
                ret,
                call_id,
            }
        }
        tag::SUSPEND | tag::RESUME => {
            let site = c.u32()?;
            let call_id = c.u64()?;
            if t == tag::SUSPEND {
                Event::Suspend {
                    site,
                    ts,
                    pid,
                    tid,
                    call_id,
                }
            } else {
                Event::Resume {
                    site,
                    ts,
                    pid,
                    tid,
                    call_id,
                }
            }
        }
        tag::INSTANT => {
            let category = *Category::ALL
                .get(usize::from(c.u8()?))
                .ok_or(Bad("unknown category"))?;
            Event::Instant {
                ts,
                pid,
                tid,
                category,
                name: c.str()?,
                detail: c.str()?,
            }
        }
        tag::THREAD => Event::Thread {
            ts,
            pid,
            tid,
            name: None,
        },
        tag::THREAD_NAMED => Event::Thread {
            ts,
            pid,
            tid,
            name: Some(c.str()?),
        },
        tag::LOSS => Event::Loss {
            ts,
            pid,
            tid,
            count: c.u64()?,
            reason: match c.u8()? {
                0 => LossReason::BufferFull,
                1 => LossReason::Evicted,
                2 => LossReason::Unflushed,
                _ => return Err(Bad("unknown loss reason")),
            },
        },
        tag::STALL => Event::Stall {
            ts,
            pid,
            tid,
            waited_ns: c.u64()?,
        },
        _ => return Err(Bad("unknown record tag")),
    };
    // Only a fully decoded event moves the thread's clock (a failed decode leaves no trace).
    th_commit(threads, index, ts);
    Ok(ev)
}

fn th_commit(threads: &mut [ThreadIn], index: usize, ts: u64) {
    threads[index].last_ts = ts;
}

/// Reads a whole binary trace (from memory, a file, a pipe...).
pub fn read_all(input: impl Read) -> Result<Trace, ReadError> {
    let mut reader = BinaryReader::new(input)?;
    let mut sites = crate::format::SiteTable::new();
    let mut events = Vec::new();
    let mut trailer = None;
    let mut source_truncated = None;
    for rec in reader.by_ref() {
        match rec {
            Record::Site(s) => sites.insert(s),
            Record::Event(e) => events.push(e),
            Record::Trailer(t) => trailer = Some(t),
            Record::SourceTruncated(s) => source_truncated = Some(s),
        }
    }
    let truncation = reader.truncation().map(str::to_owned).or(source_truncated);
    Ok(Trace {
        metadata: reader.metadata().clone(),
        sites: sites.iter().cloned().collect(),
        events,
        trailer,
        truncation,
    })
}

/// The source of a [`BinaryReader`] reading the framed format: what was read to tell the
/// formats apart, then the rest of the input.
type Rest<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// The bytes of a whole segmented trace file, wherever they are: read into memory, or mapped
/// by the caller (`memmap2::Mmap` is one), so the reader borrows them instead of copying.
pub struct FileBytes(Box<dyn AsRef<[u8]> + Send>);

impl FileBytes {
    /// Holds `bytes` (a `Vec<u8>`, a memory map...).
    pub fn new(bytes: impl AsRef<[u8]> + Send + 'static) -> Self {
        FileBytes(Box::new(bytes))
    }
}

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

/// True when `prefix` (the first bytes of a file) starts the runtime's segmented trace file
/// (`RUCHYTR2`), which [`BinaryReader::segmented`] reads from bytes at hand.
pub fn is_segmented(prefix: &[u8]) -> bool {
    prefix.starts_with(&crate::segment::FILE_MAGIC)
}

enum Inner<R: Read> {
    /// The framed format (`RUCHYTR\0`, written by `convert`).
    Framed(Box<FramedReader<Rest<R>>>),
    /// The runtime's segmented trace file (`RUCHYTR2`), whole at hand.
    Segmented(Box<crate::format::segmented::SegmentedReader<FileBytes>>),
}

/// Streams the records of a binary trace, whichever of the two binary layouts it has: the
/// segmented file the runtime writes while recording, or the framed stream `convert` writes.
pub struct BinaryReader<R: Read> {
    inner: Inner<R>,
    /// The threads whose events are yielded (all when `None`), sorted.
    only: Option<Vec<(u32, u32)>>,
}

impl<R: Read> BinaryReader<R> {
    /// Reads a segmented trace file (`RUCHYTR2`, see [`is_segmented`]) from its bytes, in place:
    /// the threads' records are merged by time straight from `bytes` (a memory map keeps the
    /// file out of the heap). Errors as [`BinaryReader::new`].
    pub fn segmented(bytes: FileBytes) -> Result<Self, ReadError> {
        let r = crate::format::segmented::SegmentedReader::new(bytes)?;
        Ok(BinaryReader {
            inner: Inner::Segmented(Box::new(r)),
            only: None,
        })
    }

    /// Reads the header and the metadata. Errors when the input is not a binary trace, is of
    /// an unsupported version, or ends (or is damaged) before its metadata is complete. A
    /// segmented file (`RUCHYTR2`) is read whole into memory first: a caller that can map the
    /// file uses [`BinaryReader::segmented`] instead.
    pub fn new(mut input: R) -> Result<Self, ReadError> {
        let io_err = |e: io::Error| ReadError {
            offset: None,
            message: format!("cannot read: {e}"),
        };
        let mut head = vec![0u8; 8];
        let n = read_full(&mut input, &mut head).map_err(io_err)?;
        head.truncate(n);
        if head[..] == crate::segment::FILE_MAGIC {
            let mut all = head;
            input.read_to_end(&mut all).map_err(io_err)?;
            return Self::segmented(FileBytes::new(all));
        }
        let r = FramedReader::new(io::Cursor::new(head).chain(input))?;
        Ok(BinaryReader {
            inner: Inner::Framed(Box::new(r)),
            only: None,
        })
    }

    /// The trace's metadata.
    pub fn metadata(&self) -> &Metadata {
        match &self.inner {
            Inner::Framed(r) => r.metadata(),
            Inner::Segmented(r) => r.metadata(),
        }
    }

    /// When iteration stopped early (or the process did not finish the trace): why.
    pub fn truncation(&self) -> Option<&str> {
        match &self.inner {
            Inner::Framed(r) => r.truncation(),
            Inner::Segmented(r) => r.truncation(),
        }
    }

    /// True once the trace is known complete.
    pub fn is_complete(&self) -> bool {
        match &self.inner {
            Inner::Framed(r) => r.is_complete(),
            Inner::Segmented(r) => r.is_complete(),
        }
    }

    /// The byte ranges `(offset, len)` of a segmented file that were read to their end since
    /// the last call ([`SegmentedReader::take_finished`](crate::format::segmented::SegmentedReader::take_finished));
    /// always empty for the framed stream.
    pub fn take_finished(&mut self) -> Vec<(usize, usize)> {
        match &mut self.inner {
            Inner::Framed(_) => Vec::new(),
            Inner::Segmented(r) => r.take_finished(),
        }
    }

    /// Events yielded so far.
    pub fn events_read(&self) -> u64 {
        match &self.inner {
            Inner::Framed(r) => r.events_read(),
            Inner::Segmented(r) => r.events_read(),
        }
    }

    /// Yields from now on only the events of the threads `(pid, tid)` in `keep` (sites and
    /// other records still all). A segmented file then decodes only those threads' records
    /// ([`SegmentedReader::retain_threads`](crate::format::segmented::SegmentedReader::retain_threads),
    /// with its caveats: for a file already read whole once); the framed stream, one sequence
    /// of every thread's records, still reads them all and skips the others.
    pub fn retain_threads(&mut self, keep: &[(u32, u32)]) {
        let mut keep = keep.to_vec();
        keep.sort_unstable();
        keep.dedup();
        if let Inner::Segmented(r) = &mut self.inner {
            r.retain_threads(|pid, tid| keep.binary_search(&(pid, tid)).is_ok());
        }
        self.only = Some(keep);
    }
}

impl<R: Read> Iterator for BinaryReader<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            let rec = match &mut self.inner {
                Inner::Framed(r) => r.next(),
                Inner::Segmented(r) => r.next(),
            };
            if let (Some(only), Some(Record::Event(ev))) = (&self.only, &rec) {
                if only.binary_search(&ev.pid_tid()).is_err() {
                    continue;
                }
            }
            return rec;
        }
    }
}
