//! Reading the trace files the runtime writes (`RUCHYTR2`: a header page and per-thread
//! segments, laid out in `segment`), and the metadata block of their header.
//!
//! The reader needs the whole file at hand (in memory or memory-mapped): it first reads the
//! metadata segments (call sites, thread names, clock anchors), then merges the threads' record
//! streams by time. Memory is bounded by the number of threads plus the sites, not by the trace
//! length. A file whose process did not exit normally (killed, crashed, still running) reads
//! as truncated, with every record completed before that moment.

use super::ReadError;
use super::Record;
use crate::clock::{Anchor, Converter};
use crate::model::{
    ArgInfo, ClockInfo, Event, Location, LossReason, Metadata, RecordSettings, Site, SiteKind,
    Trailer, FN_TRACE_FORMAT, SCHEMA_VERSION,
};
use crate::record::{self, Decoded};
use crate::segment::{self, file_off, seg_off, FILE_HEADER, SEG_HEADER};
use std::collections::{BinaryHeap, HashMap};

/// Encodes the metadata block of the file header.
pub fn encode_metadata(m: &Metadata) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = |v: &str| {
        let b = &v.as_bytes()[..v.len().min(u16::MAX as usize)];
        out.extend_from_slice(&(b.len() as u16).to_le_bytes());
        out.extend_from_slice(b);
    };
    s(&m.ruchytrace_version);
    s(&m.program);
    s(&m.args.join("\0"));
    s(m.settings.filter.as_deref().unwrap_or(""));
    s(&m.settings.overflow);
    let mut out2 = out;
    for v in [
        m.settings.sample,
        m.settings.strsize,
        m.settings.max_items,
        m.collector_tid.unwrap_or(0),
    ] {
        out2.extend_from_slice(&v.to_le_bytes());
    }
    out2.extend_from_slice(&m.settings.buffer_bytes.to_le_bytes());
    out2
}

struct Bytes<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn str(&mut self) -> Option<String> {
        let n = u16::from_le_bytes(self.take(2)?.try_into().ok()?) as usize;
        Some(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The file header, decoded.
#[derive(Debug, Clone)]
pub struct Header {
    /// Segment size.
    pub seg_size: usize,
    /// Ticks are TSC readings.
    pub tsc: bool,
    /// Ring mode.
    pub ring: bool,
    /// The process exited normally.
    pub finished: bool,
    /// The metadata.
    pub metadata: Metadata,
    /// (ticks, ns) at start.
    pub anchor: (u64, u64),
}

/// Decodes the file header (`bytes` holds at least the header page).
pub fn read_header(bytes: &[u8]) -> Result<Header, ReadError> {
    if bytes.len() < FILE_HEADER {
        return Err(ReadError::at(
            bytes.len() as u64,
            "truncated inside the file header (no metadata)",
        ));
    }
    if bytes[..8] != segment::FILE_MAGIC {
        return Err(ReadError::at(0, "not a ruchytrace trace file (bad magic)"));
    }
    let version = le32(bytes, 8);
    if version != segment::FILE_VERSION {
        return Err(ReadError::at(
            8,
            format!("unsupported trace file version {version} (this reader supports 2)"),
        ));
    }
    let seg_size = le32(bytes, file_off::SEG_SIZE) as usize;
    if seg_size < 4096 || seg_size % 4096 != 0 {
        return Err(ReadError::at(
            file_off::SEG_SIZE as u64,
            format!("bad segment size {seg_size}"),
        ));
    }
    let flags = le32(bytes, file_off::FLAGS);
    let pid = le32(bytes, file_off::PID);
    let meta_len = (le32(bytes, file_off::META_LEN) as usize).min(FILE_HEADER - file_off::META);
    let bad = || ReadError::at(file_off::META as u64, "damaged metadata block");
    let mut m = Bytes {
        b: &bytes[file_off::META..file_off::META + meta_len],
        pos: 0,
    };
    let version_s = m.str().ok_or_else(bad)?;
    let program = m.str().ok_or_else(bad)?;
    let args = m.str().ok_or_else(bad)?;
    let filter = m.str().ok_or_else(bad)?;
    let overflow = m.str().ok_or_else(bad)?;
    let sample = m.u32().ok_or_else(bad)?;
    let strsize = m.u32().ok_or_else(bad)?;
    let max_items = m.u32().ok_or_else(bad)?;
    let collector_tid = m.u32().ok_or_else(bad)?;
    let buffer_bytes = m.u64().ok_or_else(bad)?;
    let tsc = flags & segment::FLAG_TSC != 0;
    let metadata = Metadata {
        format: FN_TRACE_FORMAT.to_string(),
        version: SCHEMA_VERSION,
        ruchytrace_version: version_s,
        program,
        args: if args.is_empty() {
            Vec::new()
        } else {
            args.split('\0').map(str::to_owned).collect()
        },
        pid,
        collector_tid: (collector_tid != 0).then_some(collector_tid),
        clock: ClockInfo {
            domain: "CLOCK_MONOTONIC".into(),
            source: if tsc { "TSC" } else { "CLOCK_MONOTONIC" }.into(),
            realtime_ns: le64(bytes, file_off::CLOCK_PAIR),
            monotonic_ns: le64(bytes, file_off::CLOCK_PAIR + 8),
            tsc_hz: None,
        },
        settings: RecordSettings {
            sample,
            filter: (!filter.is_empty()).then_some(filter),
            overflow,
            buffer_bytes,
            strsize,
            max_items,
        },
    };
    Ok(Header {
        seg_size,
        tsc,
        ring: flags & segment::FLAG_RING != 0,
        finished: le32(bytes, file_off::STATE) == 1,
        metadata,
        anchor: (
            le64(bytes, file_off::ANCHOR),
            le64(bytes, file_off::ANCHOR + 8),
        ),
    })
}

/// One segment's header.
#[derive(Debug, Clone, Copy)]
struct SegHead {
    offset: usize,
    kind: u32,
    pid: u32,
    tid: u32,
    seq: u32,
    base: u64,
    anchor: (u64, u64),
    evicted: u64,
}

fn segments(bytes: &[u8], seg_size: usize) -> Vec<SegHead> {
    let mut out = Vec::new();
    let mut off = FILE_HEADER;
    while off + SEG_HEADER < bytes.len() {
        let h = &bytes[off..];
        if le32(h, seg_off::MAGIC) == segment::SEG_MAGIC {
            out.push(SegHead {
                offset: off,
                kind: le32(h, seg_off::KIND),
                pid: le32(h, seg_off::PID),
                tid: le32(h, seg_off::TID),
                seq: le32(h, seg_off::SEQ),
                base: le64(h, seg_off::BASE),
                anchor: (le64(h, seg_off::ANCHOR), le64(h, seg_off::ANCHOR + 8)),
                evicted: le64(h, seg_off::EVICTED),
            });
        }
        off += seg_size;
    }
    out
}

/// One thread's segments, read in order.
struct Stream {
    pid: u32,
    tid: u32,
    segs: Vec<SegHead>,
    /// Index into `segs` of the segment being read.
    seg: usize,
    /// Offset (in the file) of the next record.
    pos: usize,
    ticks: u64,
    /// End (exclusive, in the file) of the current segment.
    end: usize,
    /// Events waiting to be yielded before the next record (thread name, ring loss).
    pending: Vec<Event>,
}

/// Streams the events of a `RUCHYTR2` file in time order (see the module docs).
pub struct SegmentedReader<B: AsRef<[u8]>> {
    bytes: B,
    header: Header,
    sites: Vec<Site>,
    conv: Converter,
    /// `conv` with the anchor segment of the last conversion remembered.
    ticks: TickCache,
    streams: Vec<Stream>,
    /// (next event's ts, stream index), smallest first.
    heap: BinaryHeap<std::cmp::Reverse<(u64, usize)>>,
    /// The next decoded event of each stream.
    next_ev: Vec<Option<Event>>,
    sites_out: usize,
    events: u64,
    lost: u64,
    last_ts: u64,
    truncation: Option<String>,
    done: bool,
    /// Segments read to their end since [`SegmentedReader::take_finished`] was last called.
    finished: Vec<(usize, usize)>,
}

impl<B: AsRef<[u8]>> SegmentedReader<B> {
    /// Reads the header and the metadata segments.
    pub fn new(bytes: B) -> Result<Self, ReadError> {
        let b = bytes.as_ref();
        let header = read_header(b)?;
        let segs = segments(b, header.seg_size);
        let mut anchors = vec![Anchor {
            tsc: header.anchor.0,
            ns: header.anchor.1,
        }];
        let mut sites = Vec::new();
        let mut names: HashMap<u32, (u64, Option<String>)> = HashMap::new();
        let mut truncation = None;
        let mut metas: Vec<&SegHead> = segs
            .iter()
            .filter(|s| s.kind == segment::SEG_META)
            .collect();
        metas.sort_by_key(|s| s.seq);
        for s in metas {
            let end = s.offset + header.seg_size.min(b.len() - s.offset);
            let seg = &b[..end];
            let mut pos = s.offset + SEG_HEADER;
            let mut ticks = s.base;
            loop {
                match record::decode_at(seg, pos) {
                    Ok(None) => break,
                    Ok(Some(r)) => {
                        ticks = ticks.wrapping_add(r.dt);
                        match r.decoded {
                            Decoded::Site(sr) => sites.push(site_of(sr)),
                            Decoded::Thread { tid, name } => {
                                names.insert(tid, (ticks, name));
                            }
                            Decoded::Anchor { tsc, ns } => anchors.push(Anchor { tsc, ns }),
                            Decoded::Event(_) => {}
                        }
                        pos = r.next;
                    }
                    Err(e) => {
                        truncation.get_or_insert(format!(
                            "truncated at byte {pos}: damaged metadata record: {}",
                            e.0
                        ));
                        break;
                    }
                }
            }
        }
        let mut by_thread: HashMap<(u32, u32), Vec<SegHead>> = HashMap::new();
        for s in segs.iter().filter(|s| s.kind == segment::SEG_THREAD) {
            by_thread.entry((s.pid, s.tid)).or_default().push(*s);
            anchors.push(Anchor {
                tsc: s.anchor.0,
                ns: s.anchor.1,
            });
        }
        anchors.sort_by_key(|a| a.tsc);
        anchors.dedup_by_key(|a| a.tsc);
        let ticks = TickCache::default();
        let conv = Converter::from_anchors(header.tsc, anchors);
        let mut streams: Vec<Stream> = by_thread
            .into_iter()
            .map(|((pid, tid), mut segs)| {
                segs.sort_by_key(|s| s.seq);
                let first = segs[0];
                let mut pending = Vec::new();
                if let Some((t, name)) = names.get(&tid) {
                    pending.push(Event::Thread {
                        ts: conv.to_ns(*t),
                        pid,
                        tid,
                        name: name.clone(),
                    });
                }
                // Each segment's header counts the records overwritten before it was started;
                // the newest one's count covers every segment that is gone.
                let evicted = segs.iter().map(|s| s.evicted).max().unwrap_or(0);
                if evicted > 0 {
                    pending.push(Event::Loss {
                        ts: conv.to_ns(first.base),
                        pid,
                        tid,
                        count: evicted,
                        reason: LossReason::Evicted,
                    });
                }
                pending.reverse();
                Stream {
                    pid,
                    tid,
                    seg: 0,
                    pos: first.offset + SEG_HEADER,
                    ticks: first.base,
                    end: first.offset + header.seg_size.min(b.len() - first.offset),
                    segs,
                    pending,
                }
            })
            .collect();
        streams.sort_by_key(|s| (s.pid, s.tid));
        // Segments are reserved whole, so a file that ends inside one was cut after the fact
        // (its header may still say the process finished).
        if (b.len() - FILE_HEADER) % header.seg_size != 0 && truncation.is_none() {
            truncation = Some(format!(
                "truncated at byte {}: the file ends inside a segment",
                b.len()
            ));
        }
        if !header.finished && truncation.is_none() {
            truncation = Some(
                "the process did not finish the trace (killed, crashed or still running): \
                 every record completed before then is kept"
                    .to_string(),
            );
        }
        let n = streams.len();
        let mut r = SegmentedReader {
            bytes,
            header,
            sites,
            conv,
            ticks,
            streams,
            heap: BinaryHeap::with_capacity(n),
            next_ev: vec![None; n],
            sites_out: 0,
            events: 0,
            lost: 0,
            last_ts: 0,
            truncation,
            done: false,
            finished: Vec::new(),
        };
        for i in 0..n {
            r.advance(i);
        }
        Ok(r)
    }

    /// The trace's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.header.metadata
    }

    /// Why the trace is incomplete, if it is.
    pub fn truncation(&self) -> Option<&str> {
        self.truncation.as_deref()
    }

    /// True when the process finished the trace and nothing was damaged.
    pub fn is_complete(&self) -> bool {
        self.header.finished && self.truncation.is_none()
    }

    /// Events yielded so far.
    pub fn events_read(&self) -> u64 {
        self.events
    }

    /// Reads on only the threads `keep` accepts (by pid and tid): the other threads' segments
    /// are never decoded again, so a pass over one thread of a long trace reads that thread's
    /// records only. Sites are still all yielded. Without the other threads' records, the
    /// counts of the trailer cover the kept threads only, and damage in the other threads goes
    /// unnoticed: for a file already read whole once.
    pub fn retain_threads(&mut self, keep: impl Fn(u32, u32) -> bool) {
        let kept: Vec<bool> = self.streams.iter().map(|s| keep(s.pid, s.tid)).collect();
        self.heap.retain(|std::cmp::Reverse((_, i))| kept[*i]);
        for (i, k) in kept.into_iter().enumerate() {
            if !k {
                self.next_ev[i] = None;
            }
        }
    }

    /// The byte ranges `(offset, len)` of the thread segments read to their end since the last
    /// call: the reader never reads them again, so a caller that mapped the file may drop their
    /// pages (a long trace then never holds more than the segments being merged).
    pub fn take_finished(&mut self) -> Vec<(usize, usize)> {
        std::mem::take(&mut self.finished)
    }

    /// Decodes stream `i`'s next event into `next_ev[i]` and queues it.
    fn advance(&mut self, i: usize) {
        let ev = self.decode_next(i);
        if let Some(e) = &ev {
            self.heap.push(std::cmp::Reverse((e.ts(), i)));
        }
        self.next_ev[i] = ev;
    }

    fn decode_next(&mut self, i: usize) -> Option<Event> {
        let seg_size = self.header.seg_size;
        let b = self.bytes.as_ref();
        let s = &mut self.streams[i];
        if let Some(e) = s.pending.pop() {
            return Some(e);
        }
        loop {
            match record::decode_at(&b[..s.end], s.pos) {
                Ok(Some(r)) => {
                    s.ticks = s.ticks.wrapping_add(r.dt);
                    s.pos = r.next;
                    if let Decoded::Event(mut e) = r.decoded {
                        let ts = self.ticks.ns_of(&self.conv, s.ticks);
                        e.set_identity(ts, s.pid, s.tid);
                        return Some(e);
                    }
                }
                Ok(None) => {
                    // End of this segment: on to the thread's next one.
                    let done = s.segs[s.seg].offset;
                    self.finished.push((done, seg_size.min(b.len() - done)));
                    s.seg += 1;
                    let next = *s.segs.get(s.seg)?;
                    if next.seq != s.segs[s.seg - 1].seq + 1 {
                        // A segment in the middle is missing (being reused when the process
                        // stopped): its records are gone; how many is not known.
                        let lost = 0;
                        s.pos = next.offset + SEG_HEADER;
                        s.ticks = next.base;
                        s.end = next.offset + seg_size.min(b.len() - next.offset);
                        return Some(Event::Loss {
                            ts: self.conv.to_ns(next.base),
                            pid: s.pid,
                            tid: s.tid,
                            count: lost,
                            reason: LossReason::Evicted,
                        });
                    }
                    s.pos = next.offset + SEG_HEADER;
                    s.ticks = next.base;
                    s.end = next.offset + seg_size.min(b.len() - next.offset);
                }
                Err(e) => {
                    let what = format!(
                        "truncated at byte {}: thread {} record damaged: {}",
                        s.pos, s.tid, e.0
                    );
                    self.truncation = Some(what);
                    return None;
                }
            }
        }
    }
}

/// [`Converter::to_ns`] for a reader: the same nanoseconds, with the anchor segment of the last
/// conversion remembered, so the events of a long trace (nearly all between the same two
/// anchors as the one before) skip the search for their segment and its rate.
#[derive(Default)]
struct TickCache {
    /// The segment of the last conversion ([`Converter::segment`]).
    seg: Option<(u64, u64, Anchor, f64)>,
}

impl TickCache {
    fn ns_of(&mut self, conv: &Converter, ticks: u64) -> u64 {
        let (_, _, a, rate) = match self.seg {
            Some(seg @ (lo, hi, _, _)) if lo <= ticks && ticks <= hi => seg,
            _ => match conv.segment(ticks) {
                Some(seg) => *self.seg.insert(seg),
                None => return conv.to_ns(ticks),
            },
        };
        let off = ticks as i64 - a.tsc as i64;
        let ns = (a.ns as i64 + (off as f64 * rate) as i64).max(0) as u64;
        debug_assert_eq!(ns, conv.to_ns(ticks), "ticks {ticks}");
        ns
    }
}

fn site_of(r: record::SiteRecord) -> Site {
    Site {
        id: r.id,
        qualified_name: if r.module_path.is_empty() {
            r.name.clone()
        } else {
            format!("{}::{}", r.module_path, r.name)
        },
        name: r.name,
        location: Location {
            file: r.file,
            line: r.line,
            column: r.column,
        },
        args: r
            .args
            .into_iter()
            .map(|(name, type_name)| ArgInfo { name, type_name })
            .collect(),
        return_type: r.return_type,
        kind: match r.kind {
            1 => SiteKind::Method,
            2 => SiteKind::Async,
            _ => SiteKind::Fn,
        },
    }
}

impl<B: AsRef<[u8]>> Iterator for SegmentedReader<B> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        if self.done {
            return None;
        }
        if self.sites_out < self.sites.len() {
            self.sites_out += 1;
            return Some(Record::Site(self.sites[self.sites_out - 1].clone()));
        }
        match self.heap.pop() {
            Some(std::cmp::Reverse((_, i))) => {
                let ev = self.next_ev[i].take().expect("queued stream has an event");
                self.advance(i);
                self.events += 1;
                self.last_ts = self.last_ts.max(ev.ts());
                if let Event::Loss { count, .. } = &ev {
                    self.lost += count;
                }
                Some(Record::Event(ev))
            }
            None => {
                self.done = true;
                if self.header.finished && self.truncation.is_none() {
                    Some(Record::Trailer(Trailer {
                        events: self.events,
                        lost: self.lost,
                        end_ns: self.last_ts,
                    }))
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
