//! The process's trace file while it records: created when recording starts, extended one
//! segment at a time as threads need room, finished at exit, replaced in a forked child.
//!
//! Besides handing out thread segments it owns the *metadata* segments, written under a lock on
//! cold paths only: call sites (as they are first resolved), thread names, and clock anchors
//! (a `TSC`/`CLOCK_MONOTONIC` pair at least every [`ANCHOR_EVERY_NS`] while threads record,
//! so readers convert ticks exactly without any thread of ours running).
//!
//! With a binary `RUCHYTRACE_OUTPUT` the file *is* the output. Text and JSON outputs record into
//! an anonymous memory file (`memfd`) the collector thread reads and formats; see `collector`.

use crate::capture::{ArgWriter, Budget, SLACK};
use crate::clock::{self, Anchor};
use crate::config::{OutputFormat, Overflow};
use crate::format::segmented::encode_metadata;
use crate::global::Runtime;
use crate::model::{
    ClockInfo, Metadata, RecordSettings, SiteKind, FN_TRACE_FORMAT, SCHEMA_VERSION,
};
use crate::record::{self, kind};
use crate::segment::{
    self, FileInfo, Mapping, SegmentInfo, TraceFile, FLAG_RING, FLAG_TSC, SEG_HEADER, SEG_META,
    SEG_THREAD,
};
use crate::site;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};

/// Spare segments the prefault thread keeps mapped ahead of need (binary and ring outputs).
const SPARES: usize = 4;

/// At most this long between two clock anchors while anything records.
pub(crate) const ANCHOR_EVERY_NS: u64 = 50_000_000;

/// Segments each thread cycles through in ring mode.
pub(crate) const RING_SEGMENTS: usize = 4;

/// Ticks after which the next recorded event takes a clock anchor first (`u64::MAX`: none due).
pub(crate) static NEXT_ANCHOR: AtomicU64 = AtomicU64::new(u64::MAX);

/// The trace file of this process, while recording.
pub(crate) struct Output {
    pub(crate) file: TraceFile,
    pub(crate) pid: u32,
    pub(crate) tsc: bool,
    pub(crate) ring: bool,
    /// Whether a collector thread tails the segments (text and JSON outputs).
    pub(crate) tailed: bool,
    meta: Mutex<Meta>,
    /// Set once growing the file failed: recording has stopped.
    failed: AtomicBool,
    /// Ticks per nanosecond, estimated from the anchors so far (for anchor deadlines).
    ticks_per_ns: Mutex<(Anchor, f64)>,
    /// Segments mapped and prefaulted ahead of need by the prefault thread (see
    /// [`Output::prefault`]), taken by threads that move to a new segment.
    spares: Mutex<Spares>,
    /// Wakes the prefault thread when a spare was taken (or the trace is finished).
    spare_taken: Condvar,
}

/// The prefault thread's ready segments.
#[derive(Default)]
struct Spares {
    ready: Vec<Mapping>,
    /// The trace is finished: no more spares are made, and those left were given back.
    closed: bool,
}

/// The metadata segment being written.
struct Meta {
    map: Option<Mapping>,
    pos: usize,
    prev: u64,
    seq: u32,
    sites_written: u32,
    scratch: Vec<u8>,
}

static CURRENT: Mutex<Option<Arc<Output>>> = Mutex::new(None);

/// The trace file, if recording has started (and not failed).
pub(crate) fn current() -> Option<Arc<Output>> {
    CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Forgets the trace file (in a forked child: the parent's file is not ours).
pub(crate) fn forget() {
    if let Ok(mut c) = CURRENT.try_lock() {
        if let Some(o) = c.take() {
            // The mappings belong to the parent's file: unmapping them here changes nothing
            // for the parent.
            drop(o);
        }
    }
    NEXT_ANCHOR.store(u64::MAX, Relaxed);
}

/// Where `ruchytrace attach` asked a dormant process to record (see `control`): a binary trace
/// file that replaces `RUCHYTRACE_OUTPUT` and `RUCHYTRACE_FORMAT`.
static ATTACH_PATH: Mutex<Option<String>> = Mutex::new(None);

/// Sets (or clears) the path `ruchytrace attach` asked for.
pub(crate) fn set_attach_path(path: Option<String>) {
    *ATTACH_PATH.lock().unwrap_or_else(|e| e.into_inner()) = path;
}

fn attach_path() -> Option<String> {
    ATTACH_PATH
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Whether the trace file is the output itself (binary output, or recording for `attach`), as
/// opposed to a memory file a collector formats.
pub(crate) fn binary_output(rt: &Runtime) -> bool {
    attach_path().is_some() || rt.settings.effective_format() == OutputFormat::Binary
}

/// Set once a trace file was opened in this process or an ancestor it was forked from.
static OPENED: AtomicBool = AtomicBool::new(false);

/// `%p` becomes the pid; in a forked child, a path without `%p` gets `.PID` appended so the
/// child never writes over its parent's file.
fn expand_pid(path: &str, pid: u32) -> String {
    if path.contains("%p") {
        path.replace("%p", &pid.to_string())
    } else if OPENED.load(Relaxed) {
        format!("{path}.{pid}")
    } else {
        path.to_string()
    }
}

/// The trace header: program, settings, clock pair.
pub(crate) fn metadata(rt: &Runtime, collector_tid: Option<u32>) -> Metadata {
    let program = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| std::env::args().next().unwrap_or_default());
    let s = &rt.settings;
    Metadata {
        format: FN_TRACE_FORMAT.to_string(),
        version: SCHEMA_VERSION,
        ruchytrace_version: env!("CARGO_PKG_VERSION").to_string(),
        program,
        args: std::env::args().collect(),
        pid: rt.pid(),
        collector_tid,
        clock: ClockInfo {
            domain: "CLOCK_MONOTONIC".into(),
            source: if rt.tsc { "TSC" } else { "CLOCK_MONOTONIC" }.into(),
            realtime_ns: clock::realtime_ns(),
            monotonic_ns: clock::monotonic_ns(),
            tsc_hz: None,
        },
        settings: RecordSettings {
            sample: s.sample,
            filter: s.filter.clone(),
            overflow: s.overflow.as_str().into(),
            buffer_bytes: s.buffer as u64,
            strsize: s.strsize as u32,
            max_items: s.max_items as u32,
        },
    }
}

/// Segment size: `RUCHYTRACE_BUFFER`, or in ring mode a quarter of the bytes that hold
/// `RUCHYTRACE_RING` events (at up to 16 bytes per event).
fn segment_size(rt: &Runtime) -> usize {
    let s = &rt.settings;
    if s.overflow == Overflow::Ring {
        (s.ring_events * 16 / (RING_SEGMENTS - 1)).max(4 << 10)
    } else {
        s.buffer.max(16 << 10)
    }
}

/// The text of the markers around the runtime's own system calls on a program's threads.
pub const MARK_BEGIN: &str = "ruchytrace:runtime:begin";
/// See [`MARK_BEGIN`].
pub const MARK_END: &str = "ruchytrace:runtime:end";

/// Marks the start (or end) of system calls the runtime makes on a program's thread (creating
/// the trace file, mapping a segment), so a syscall trace can tell them from the program's:
/// `write(-1, "ruchytrace:runtime:begin", 24)`, which fails at once with `EBADF`.
pub(crate) fn mark(begin: bool) {
    let m = if begin { MARK_BEGIN } else { MARK_END };
    // SAFETY: writing to an invalid descriptor reads nothing and fails with EBADF.
    unsafe { libc::write(-1, m.as_ptr().cast(), m.len()) };
}

/// An anonymous memory file (text and JSON outputs record into one).
fn memfd() -> io::Result<std::fs::File> {
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create takes a NUL-terminated name and flags; on success the descriptor is
    // new and owned by nobody else.
    let fd = unsafe { libc::memfd_create(c"ruchytrace".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// Creates the trace file and makes it current. `collector_tid` names the collector thread
/// (text and JSON outputs) in the header.
pub(crate) fn open(rt: &Runtime, collector_tid: Option<u32>) -> io::Result<Arc<Output>> {
    mark(true);
    let r = open_marked(rt, collector_tid);
    mark(false);
    r
}

fn open_marked(rt: &Runtime, collector_tid: Option<u32>) -> io::Result<Arc<Output>> {
    let binary = binary_output(rt);
    let pid = rt.pid();
    let ring = rt.settings.overflow == Overflow::Ring;
    let anchor = Anchor::take();
    let meta = metadata(rt, collector_tid);
    let info = FileInfo {
        seg_size: segment_size(rt),
        flags: if rt.tsc { FLAG_TSC } else { 0 } | if ring { FLAG_RING } else { 0 },
        pid,
        anchor: (anchor.tsc, anchor.ns),
        clock_pair: (meta.clock.realtime_ns, meta.clock.monotonic_ns),
        meta: encode_metadata(&meta),
    };
    let file = match (
        &attach_path().or_else(|| rt.settings.output.clone()),
        binary,
    ) {
        (Some(p), true) => {
            let path = PathBuf::from(expand_pid(p, pid));
            let f = TraceFile::create(&path, info).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
            })?;
            f
        }
        _ => {
            let mut info = info;
            TraceFile::from_file(memfd()?, &mut info)?
        }
    };
    let out = Arc::new(Output {
        file,
        pid,
        tsc: rt.tsc,
        ring,
        tailed: !binary && !ring,
        meta: Mutex::new(Meta {
            map: None,
            pos: 0,
            prev: 0,
            seq: 0,
            sites_written: 0,
            scratch: Vec::new(),
        }),
        failed: AtomicBool::new(false),
        ticks_per_ns: Mutex::new((anchor, 0.0)),
        spares: Mutex::new(Spares::default()),
        spare_taken: Condvar::new(),
    });
    // The first anchor comes soon, to learn the tick rate; later ones every ANCHOR_EVERY_NS.
    NEXT_ANCHOR.store(
        hot_ticks(rt.tsc, &anchor).saturating_add(if rt.tsc { 2_000_000 } else { 1_000_000 }),
        Relaxed,
    );
    OPENED.store(true, Relaxed);
    out.sync_sites();
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some(out.clone());
    Ok(out)
}

impl Output {
    /// Whether growing the file failed (recording has stopped).
    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Relaxed)
    }

    fn fail(&self, e: &io::Error) {
        if !self.failed.swap(true, Relaxed) {
            eprintln!(
                "ruchytrace: warning: the trace file cannot grow ({e}); recording stopped, \
                 everything recorded so far is kept"
            );
            crate::global::STATE.store(crate::global::OFF, Release);
        }
    }

    /// A new segment for thread `tid`.
    pub(crate) fn thread_segment(&self, tid: u32, seq: u32, evicted: u64) -> Option<Mapping> {
        if self.failed() {
            return None;
        }
        let info = |a: Anchor| SegmentInfo {
            kind: SEG_THREAD,
            pid: self.pid,
            tid,
            seq,
            anchor: (hot_ticks(self.tsc, &a), a.ns),
            evicted,
        };
        let spare = self
            .spares
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ready
            .pop();
        if let Some(m) = spare {
            // Mapped and prefaulted by the prefault thread: only the header is left to write.
            self.spare_taken.notify_one();
            segment::init_segment(&m, 0, &info(Anchor::take()));
            return Some(m);
        }
        mark(true);
        let r = self.file.new_segment(&info(Anchor::take()));
        mark(false);
        match r {
            Ok(m) => Some(m),
            Err(e) => {
                self.fail(&e);
                None
            }
        }
    }

    /// The prefault thread's loop (binary and ring outputs): keeps [`SPARES`] segments mapped
    /// ahead of need, so a recording thread that fills its segment takes a ready one instead of
    /// growing the file and faulting in a megabyte of pages itself (page faults cost a few
    /// microseconds each on virtual machines: most of a sustained run's time when the
    /// recording thread pays them). Returns when growing the file fails (the recording thread
    /// then meets the error itself and reports it).
    pub(crate) fn prefault(&self) {
        loop {
            let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
            while spares.ready.len() >= SPARES && !spares.closed {
                spares = self
                    .spare_taken
                    .wait(spares)
                    .unwrap_or_else(|e| e.into_inner());
            }
            if spares.closed {
                return;
            }
            drop(spares);
            if self.failed() {
                return;
            }
            mark(true);
            let r = self.file.spare_segment();
            mark(false);
            let Ok(m) = r else { return };
            let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
            if spares.closed {
                // Finished while this one was being made.
                drop(spares);
                self.file.give_back(vec![m]);
                return;
            }
            spares.ready.push(m);
        }
    }

    /// Gives the unused spares' disk space back (the trace is finished): a trace file holds
    /// what was recorded, not the few megabytes mapped ahead of need.
    fn give_back_spares(&self) {
        let ready = {
            let mut spares = self.spares.lock().unwrap_or_else(|e| e.into_inner());
            spares.closed = true;
            std::mem::take(&mut spares.ready)
        };
        self.spare_taken.notify_all();
        if !ready.is_empty() {
            mark(true);
            self.file.give_back(ready);
            mark(false);
        }
    }

    /// Starts over in an already used segment of a thread (ring mode).
    pub(crate) fn reuse_segment(&self, m: &Mapping, tid: u32, seq: u32, evicted: u64) {
        let a = Anchor::take();
        segment::init_segment(
            m,
            0,
            &SegmentInfo {
                kind: SEG_THREAD,
                pid: self.pid,
                tid,
                seq,
                anchor: (hot_ticks(self.tsc, &a), a.ns),
                evicted,
            },
        );
    }

    /// Appends one record to the metadata segments.
    fn meta_record(&self, k: u8, aux: u32, ticks: u64, payload: impl Fn(&mut ArgWriter)) {
        let mut m = self.meta.lock().unwrap_or_else(|e| e.into_inner());
        self.meta_record_locked(&mut m, k, aux, ticks, payload);
    }

    fn meta_record_locked(
        &self,
        m: &mut Meta,
        k: u8,
        aux: u32,
        ticks: u64,
        payload: impl Fn(&mut ArgWriter),
    ) {
        let dt = ticks.saturating_sub(m.prev);
        let bytes = encode(&mut m.scratch, k, aux, dt, &payload);
        let need = bytes + 1 + SLACK;
        let seg = self.file.seg_size();
        if m.map.is_none() || m.pos + need > seg {
            if need + SEG_HEADER > seg || self.failed() {
                return;
            }
            let a = Anchor::take();
            mark(true);
            let r = self.file.new_segment(&SegmentInfo {
                kind: SEG_META,
                pid: self.pid,
                tid: 0,
                seq: m.seq,
                anchor: (hot_ticks(self.tsc, &a), a.ns),
                evicted: 0,
            });
            mark(false);
            match r {
                Ok(map) => {
                    m.map = Some(map);
                    m.pos = SEG_HEADER;
                    m.prev = hot_ticks(self.tsc, &a);
                    m.seq += 1;
                }
                Err(e) => {
                    self.fail(&e);
                    return;
                }
            }
            // The delta is relative to the new segment's base.
            let dt = ticks.saturating_sub(m.prev);
            encode(&mut m.scratch, k, aux, dt, &payload);
        }
        let map = m.map.as_ref().expect("segment just ensured");
        let n = m.scratch.len() - SLACK;
        map.write(m.pos + 1, &m.scratch[1..n]);
        map.write(m.pos + n, &[0]);
        map.store_u8(m.pos, m.scratch[0]);
        m.pos += n;
        m.prev = m.prev.max(ticks);
    }

    /// Writes the records of the sites resolved since the last call.
    pub(crate) fn sync_sites(&self) {
        let mut m = self.meta.lock().unwrap_or_else(|e| e.into_inner());
        let now = crate::global::ticks(crate::global::clock_mode());
        loop {
            let id = m.sites_written + 1;
            let Some(cs) = site::site_by_id(id) else {
                break;
            };
            let meta = cs.meta();
            self.meta_record_locked(&mut m, kind::SITE, id, now, |w: &mut ArgWriter| {
                w.str(meta.name);
                w.str(meta.module_path);
                w.str(meta.file);
                w.put(meta.line.to_le_bytes());
                w.put(meta.column.to_le_bytes());
                w.put([match meta.kind {
                    SiteKind::Fn => 0,
                    SiteKind::Method => 1,
                    SiteKind::Async => 2,
                }]);
                w.put(meta.sample.to_le_bytes());
                w.str(meta.return_type);
                w.put([meta.args.len() as u8]);
                for a in meta.args {
                    w.str(a.name);
                    w.str(a.type_name);
                }
            });
            m.sites_written = id;
        }
    }

    /// Records a thread's name.
    pub(crate) fn thread_name(&self, tid: u32, name: Option<&str>, ticks: u64) {
        self.meta_record(kind::THREAD, tid, ticks, |w: &mut ArgWriter| match name {
            Some(n) => w.str(n),
            None => w.unit(),
        });
    }

    /// Takes a clock anchor now, records it and sets the next deadline.
    pub(crate) fn anchor(&self) {
        let a = Anchor::take();
        let mut m = self.meta.lock().unwrap_or_else(|e| e.into_inner());
        self.meta_record_locked(
            &mut m,
            kind::ANCHOR,
            0,
            hot_ticks(self.tsc, &a),
            |w: &mut ArgWriter| {
                w.put(a.tsc.to_le_bytes());
                w.put(a.ns.to_le_bytes());
            },
        );
        drop(m);
        let mut rate = self.ticks_per_ns.lock().unwrap_or_else(|e| e.into_inner());
        let (first, _) = *rate;
        if a.ns > first.ns + 100_000 && a.tsc > first.tsc {
            rate.1 = (a.tsc - first.tsc) as f64 / (a.ns - first.ns) as f64;
        }
        let per_ns = if self.tsc { rate.1.max(0.1) } else { 1.0 };
        let gap = (ANCHOR_EVERY_NS as f64 * per_ns) as u64;
        NEXT_ANCHOR.store(hot_ticks(self.tsc, &a).saturating_add(gap), Relaxed);
    }

    /// Marks the trace finished: a last anchor, then the header's state word.
    pub(crate) fn finish(&self) {
        self.anchor();
        NEXT_ANCHOR.store(u64::MAX, Relaxed);
        self.give_back_spares();
        self.file.finish();
    }
}

/// An anchor's time in the unit of the hot path's ticks: TSC readings, or with
/// `RUCHYTRACE_CLOCK=monotonic` nanoseconds (segment bases and record deltas must use the unit
/// the records are stamped in).
fn hot_ticks(tsc: bool, a: &Anchor) -> u64 {
    if tsc {
        a.tsc
    } else {
        a.ns
    }
}

/// Encodes one record into `buf` (header byte first, `SLACK` spare bytes at the end); returns
/// its length without the slack.
pub(crate) fn encode(
    buf: &mut Vec<u8>,
    k: u8,
    aux: u32,
    dt: u64,
    payload: &dyn Fn(&mut ArgWriter),
) -> usize {
    let mut size = 256;
    loop {
        buf.clear();
        buf.resize(size + SLACK, 0);
        // SAFETY: `buf` has `size + SLACK` initialised bytes, and lives as long as `w`.
        let mut w = unsafe {
            ArgWriter::new(
                buf.as_mut_ptr(),
                size,
                Budget {
                    strsize: 4096,
                    max_items: 16,
                    valsize: 1 << 16,
                    depth: 3,
                },
            )
        };
        w.put([0u8]);
        let head = record::put_aux_dt(&mut w, k, aux, dt, false);
        payload(&mut w);
        w.patch_u8(0, head);
        if !w.overflowed() {
            let n = w.written();
            buf.truncate(n + SLACK);
            return n;
        }
        size *= 4;
    }
}
