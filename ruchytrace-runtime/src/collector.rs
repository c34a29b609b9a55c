//! The collector: a background thread that drains every thread's ring every `RUCHYTRACE_FLUSH_MS`
//! (or at once when a producer waits for space), converts clock ticks to `CLOCK_MONOTONIC`
//! nanoseconds, orders the events by time, keeps the per-function statistics behind
//! [`crate::summary`], and streams the events to the output writer.
//!
//! All draining happens under one lock (`Handle::sink`), so each ring has exactly one consumer at
//! a time whether the drain runs on the collector thread, in [`crate::flush`], or at process exit.

use crate::capture;
use crate::clock::{self, Converter};
use crate::config::{OutputFormat, Overflow};
use crate::format::binary::{self, BinaryWriter};
use crate::format::{self, Format, FxMap, Nesting, SiteTable, TraceWriter};
use crate::model::{
    ArgInfo, ClockInfo, Event, Location, LossReason, Metadata, RecordSettings, Site, Trailer,
    FN_TRACE_FORMAT, SCHEMA_VERSION,
};
use crate::record::{kind, ret, DecodeError, RawEvent};
use crate::state::{self, Runtime};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::*};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Per-site counters kept by the collector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteStats {
    /// Recorded calls that exited.
    pub count: u64,
    /// Sum of durations.
    pub total_ns: u64,
    /// Shortest call.
    pub min_ns: u64,
    /// Longest call.
    pub max_ns: u64,
    /// Calls that returned `Err` or panicked.
    pub errors: u64,
}

/// Counters shared with [`crate::summary`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub events: u64,
    pub lost: u64,
    pub sites: FxMap<u32, SiteStats>,
    /// Instant events per category name.
    pub instants: HashMap<&'static str, u64>,
}

impl Stats {
    /// Counts one returned call.
    #[inline]
    fn count_exit(&mut self, site: u32, duration_ns: Option<u64>, error: bool) {
        let s = self.sites.entry(site).or_default();
        let d = duration_ns.unwrap_or(0);
        if s.count == 0 || d < s.min_ns {
            s.min_ns = d;
        }
        s.max_ns = s.max_ns.max(d);
        s.count += 1;
        s.total_ns += d;
        if error {
            s.errors += 1;
        }
    }
}

/// Where the events go: any format through the event model, or the binary format, which the
/// collector also feeds straight from the thread buffers (see [`Sink::cycle_fast`]).
enum Output {
    Model(Box<dyn TraceWriter>),
    Binary(BinaryWriter<Box<dyn Write + Send>>),
}

impl Output {
    fn tw(&mut self) -> &mut dyn TraceWriter {
        match self {
            Output::Model(w) => w.as_mut(),
            Output::Binary(w) => w,
        }
    }
}

pub(crate) struct Sink {
    writer: Option<Output>,
    write_failed: bool,
    conv: Converter,
    sites: SiteTable,
    nesting: Nesting,
    stats: Stats,
    ring_mode: Option<HashMap<u32, (VecDeque<Event>, u64)>>,
    ring_events: usize,
    finished: bool,
    scratch: Vec<RawEvent>,
    fast: FastBuf,
    /// Bytes drained from the rings by the last cycle.
    drained: usize,
    meta: Metadata,
}

/// A cycle that drained at least this much starts the next one without waiting for the period.
const BUSY_BYTES: usize = 64 << 10;

/// The collector handle kept by the runtime.
pub(crate) struct Handle {
    pub(crate) sink: Arc<Mutex<Sink>>,
    wake: Arc<(Mutex<bool>, Condvar)>,
    alive: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pub(crate) tid: Arc<AtomicU32>,
}

impl Handle {
    /// Asks the collector to drain now.
    pub(crate) fn wake(&self) {
        let (m, c) = &*self.wake;
        *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
        c.notify_one();
    }

    /// Whether the collector thread is running.
    pub(crate) fn alive(&self) -> bool {
        self.alive.load(Relaxed)
    }

    /// Drains every ring now, on the calling thread.
    pub(crate) fn flush(&self) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        sink.cycle(state::runtime());
    }

    /// Drains every ring now unless a drain is already running (safe from a panic hook).
    pub(crate) fn try_flush(&self) {
        if let Ok(mut sink) = self.sink.try_lock() {
            sink.cycle(state::runtime());
        }
    }

    /// Final drain and trailer; later calls do nothing. Stops the collector thread.
    pub(crate) fn finish(&self) {
        self.stop.store(true, Relaxed);
        self.wake();
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        sink.cycle(state::runtime());
        sink.finish();
    }
}

/// The loss record for drops a thread could not report before it exited (after all its
/// records: stamped now).
fn lost_at_exit(pid: u32, t: &state::ThreadEntry) -> Option<Event> {
    let count = t.ring.lost_at_exit.swap(0, AcqRel);
    (count > 0).then(|| Event::Loss {
        ts: clock::monotonic_ns(),
        pid,
        tid: t.tid,
        count,
        reason: LossReason::BufferFull,
    })
}

fn expand_pid(path: &str, pid: u32) -> String {
    path.replace("%p", &pid.to_string())
}

fn open_output(rt: &Runtime) -> (Box<dyn Write + Send>, Format) {
    let fmt = match rt.settings.effective_format() {
        OutputFormat::Text => Format::Text,
        OutputFormat::Json => Format::Json,
        OutputFormat::Binary => Format::Binary,
    };
    if let Some(path) = &rt.settings.output {
        let path = expand_pid(path, rt.pid);
        match std::fs::File::create(&path) {
            Ok(f) => return (Box::new(io::BufWriter::with_capacity(1 << 16, f)), fmt),
            Err(e) => eprintln!(
                "ruchytrace: warning: cannot create trace output {path:?}: {e}; writing text to stderr"
            ),
        }
        return (Box::new(io::BufWriter::new(io::stderr())), Format::Text);
    }
    (Box::new(io::BufWriter::new(io::stderr())), fmt)
}

pub(crate) fn metadata(rt: &Runtime, collector_tid: Option<u32>) -> Metadata {
    let program = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| std::env::args().next().unwrap_or_default());
    let mono = clock::monotonic_ns();
    let real = clock::realtime_ns();
    let s = &rt.settings;
    Metadata {
        format: FN_TRACE_FORMAT.to_string(),
        version: SCHEMA_VERSION,
        ruchytrace_version: env!("CARGO_PKG_VERSION").to_string(),
        program,
        args: std::env::args().collect(),
        pid: rt.pid,
        collector_tid,
        clock: ClockInfo {
            domain: "CLOCK_MONOTONIC".into(),
            source: if rt.tsc { "TSC" } else { "CLOCK_MONOTONIC" }.into(),
            realtime_ns: real,
            monotonic_ns: mono,
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

/// Builds the file-model site for a registered call site.
pub(crate) fn site_model(id: u32) -> Option<Site> {
    let cs = state::site_by_id(id)?;
    let m = cs.meta();
    Some(Site {
        id,
        name: m.name.to_string(),
        qualified_name: cs.qualified_name(),
        location: Location {
            file: m.file.to_string(),
            line: m.line,
            column: m.column,
        },
        args: m
            .args
            .iter()
            .map(|a| ArgInfo {
                name: a.name.to_string(),
                type_name: a.type_name.to_string(),
            })
            .collect(),
        return_type: m.return_type.to_string(),
        kind: m.kind,
    })
}

pub(crate) fn spawn(rt: &'static Runtime) -> Handle {
    let (out, fmt) = open_output(rt);
    let conv = Converter::new(rt.tsc);
    let sink = Sink {
        writer: Some(match fmt {
            Format::Binary => Output::Binary(BinaryWriter::new(out)),
            _ => Output::Model(format::writer(fmt, out)),
        }),
        write_failed: false,
        conv,
        sites: SiteTable::new(),
        nesting: Nesting::new(),
        stats: Stats::default(),
        ring_mode: (rt.settings.overflow == Overflow::Ring).then(HashMap::new),
        ring_events: rt.settings.ring_events,
        finished: false,
        scratch: Vec::new(),
        fast: FastBuf::default(),
        drained: 0,
        meta: metadata(rt, None),
    };
    let handle = Handle {
        sink: Arc::new(Mutex::new(sink)),
        wake: Arc::new((Mutex::new(false), Condvar::new())),
        alive: Arc::new(AtomicBool::new(true)),
        stop: Arc::new(AtomicBool::new(false)),
        tid: Arc::new(AtomicU32::new(0)),
    };
    let (sink, wake, alive, stop, tid) = (
        handle.sink.clone(),
        handle.wake.clone(),
        handle.alive.clone(),
        handle.stop.clone(),
        handle.tid.clone(),
    );
    let period = Duration::from_millis(rt.settings.flush_ms);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("ruchytrace-collector".into())
        .spawn(move || {
            let me = state::gettid();
            tid.store(me, Relaxed);
            let _ = tid_tx.send(me);
            let mut busy = false;
            while !stop.load(Relaxed) {
                // While threads produce faster than one buffer per period, drain again at
                // once: the collector then runs alongside the producers instead of in turns
                // with them (a producer that waits for space would otherwise wait for this
                // thread's whole cycle and then its own sleep).
                if !busy {
                    let (m, c) = &*wake;
                    let mut woken = m.lock().unwrap_or_else(|e| e.into_inner());
                    if !*woken {
                        woken = c
                            .wait_timeout(woken, period)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    *woken = false;
                }
                if stop.load(Relaxed) {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.cycle(rt);
                busy = s.drained >= BUSY_BYTES;
                drop(s);
                if busy {
                    // Let records accumulate a little: per-cycle costs (locks, anchor, flush)
                    // are then spread over many events.
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            alive.store(false, Relaxed);
        });
    // The header goes out before any event, whoever drains first; it names the collector's
    // thread so its own system calls can be told apart from the program's.
    let collector_tid = match spawned {
        Ok(_) => tid_rx.recv_timeout(Duration::from_secs(5)).ok(),
        Err(e) => {
            eprintln!("ruchytrace: warning: cannot start the collector thread: {e}; events are written at exit");
            handle.alive.store(false, Relaxed);
            None
        }
    };
    {
        let mut s = handle.sink.lock().unwrap_or_else(|e| e.into_inner());
        s.meta.collector_tid = collector_tid;
        s.begin();
    }
    // SAFETY: `on_exit` is an `extern "C" fn()` that never unwinds (it catches panics).
    unsafe { libc::atexit(on_exit) };
    handle
}

extern "C" fn on_exit() {
    let _ = std::panic::catch_unwind(crate::api::flush_for_exit);
}

impl Sink {
    fn begin(&mut self) {
        if let Some(w) = &mut self.writer {
            let r = w.tw().begin(&self.meta);
            self.check(r);
        }
    }

    fn check(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            if !self.write_failed {
                eprintln!("ruchytrace: warning: writing the trace failed: {e}; further events are counted as lost");
            }
            self.write_failed = true;
        }
    }

    /// Drains every ring once.
    pub(crate) fn cycle(&mut self, rt: &Runtime) {
        if self.finished {
            return;
        }
        self.conv.anchor();
        if self.ring_mode.is_none() && matches!(self.writer, Some(Output::Binary(_))) {
            self.cycle_fast(rt);
            if let Some(w) = &mut self.writer {
                let r = w.tw().flush();
                self.check(r);
            }
            return;
        }
        let mut batch: Vec<Event> = Vec::new();
        let mut drained = 0;
        {
            let mut threads = rt.threads.lock().unwrap_or_else(|e| e.into_inner());
            threads.retain(|t| {
                if t.private.load(Acquire) {
                    return true;
                }
                let closed = t.ring.closed.load(Acquire);
                self.scratch.clear();
                drained += t.ring.pending() as usize;
                if let Err(e) = state::drain_ring(&t.ring, &mut self.scratch) {
                    eprintln!(
                        "ruchytrace: warning: thread {}: damaged buffer record: {}",
                        t.tid, e.0
                    );
                }
                for raw in self.scratch.drain(..) {
                    let ts = self.conv.to_ns(raw.ticks);
                    batch.push(raw.finish(ts, rt.pid, t.tid));
                }
                let done = closed && t.ring.pending() == 0;
                let lost = if done {
                    t.ring.lost_at_exit.swap(0, AcqRel)
                } else {
                    0
                };
                if lost > 0 {
                    // Losses the thread could not record itself before it exited.
                    batch.push(Event::Loss {
                        ts: batch.last().map_or_else(clock::monotonic_ns, |e| e.ts()),
                        pid: rt.pid,
                        tid: t.tid,
                        count: lost,
                        reason: LossReason::BufferFull,
                    });
                }
                !done
            });
        }
        self.drained = drained;
        // Per-thread order is already by time; a stable sort interleaves threads by time.
        batch.sort_by_key(|e| e.ts());
        if let Some(rings) = &mut self.ring_mode {
            for ev in batch {
                let (_, tid) = ev.pid_tid();
                let (q, evicted) = rings.entry(tid).or_default();
                if q.len() == self.ring_events {
                    q.pop_front();
                    *evicted += 1;
                }
                q.push_back(ev);
            }
            return;
        }
        for ev in &batch {
            self.emit(ev);
        }
        if let Some(w) = &mut self.writer {
            let r = w.tw().flush();
            self.check(r);
        }
    }

    /// Writes the site record the first time a site is seen.
    #[inline]
    fn ensure_site(&mut self, id: u32) {
        if !self.sites.contains(id) {
            self.new_site(id);
        }
    }

    #[cold]
    fn new_site(&mut self, id: u32) {
        if let Some(site) = site_model(id) {
            if let Some(w) = &mut self.writer {
                let r = w.tw().site(&site);
                self.check(r);
            }
            self.sites.insert(site);
        }
    }

    fn emit(&mut self, ev: &Event) {
        let site_id = match ev {
            Event::Enter { site, .. }
            | Event::Exit { site, .. }
            | Event::Suspend { site, .. }
            | Event::Resume { site, .. } => Some(*site),
            _ => None,
        };
        if let Some(id) = site_id {
            self.ensure_site(id);
        }
        let ctx = self.nesting.observe(ev, &self.sites);
        self.stats.events += 1;
        match ev {
            Event::Exit { site, ret, .. } => {
                self.stats
                    .count_exit(*site, ctx.duration_ns, ret.is_error());
            }
            Event::Loss { count, .. } => self.stats.lost += count,
            Event::Instant { category, .. } => {
                *self.stats.instants.entry(category.as_str()).or_default() += 1
            }
            _ => {}
        }
        if self.write_failed {
            self.stats.lost += 1;
            return;
        }
        if let Some(w) = &mut self.writer {
            let r = w.tw().event(ev, &ctx);
            self.check(r);
        }
    }

    /// The binary fast path: copies each thread's pending records out of its ring (releasing
    /// the space at once), orders them by time across threads, and transcodes the sync
    /// enter/exit records — nearly all of them — straight into the binary encoding: no
    /// [`Event`], no allocation per event, statistics from the collector's own per-thread call
    /// stacks. Every other record kind goes through the event model ([`Sink::emit`]); async
    /// frames live in [`Nesting`], sync frames in `FastBuf::stacks`, and the binary writer does
    /// not use the nesting context, so the two never need each other.
    fn cycle_fast(&mut self, rt: &Runtime) {
        let mut fb = std::mem::take(&mut self.fast);
        fb.bytes.clear();
        fb.recs.clear();
        let mut sources = 0;
        let mut retired = Vec::new();
        let mut retired_slots = Vec::new();
        {
            let mut threads = rt.threads.lock().unwrap_or_else(|e| e.into_inner());
            threads.retain(|t| {
                if t.private.load(Acquire) {
                    return true;
                }
                let closed = t.ring.closed.load(Acquire);
                let slot = fb.slot(t.tid);
                let before = fb.recs.len();
                let mut err = None;
                t.ring.consume(|s| {
                    if err.is_none() {
                        err = fb.split(s, slot).err();
                    }
                });
                if let Some(e) = err {
                    eprintln!(
                        "ruchytrace: warning: thread {}: damaged buffer record: {}",
                        t.tid, e.0
                    );
                }
                if fb.recs.len() > before {
                    sources += 1;
                }
                let retire = closed && t.ring.pending() == 0;
                if retire {
                    retired_slots.push(slot);
                    if let Some(ev) = lost_at_exit(rt.pid, t) {
                        retired.push(ev);
                    }
                }
                !retire
            });
        }
        self.drained = fb.bytes.len();
        if sources > 1 {
            // Each thread's records are in time order; a stable sort interleaves threads.
            fb.recs.sort_by_key(|r| r.ticks);
        }
        for i in 0..fb.recs.len() {
            let r = fb.recs[i];
            let ts = self.conv.to_ns(r.ticks);
            if let Err(e) = self.fast_one(&mut fb, r, ts) {
                eprintln!(
                    "ruchytrace: warning: thread {}: damaged buffer record: {}",
                    fb.stacks[r.slot as usize].0, e.0
                );
            }
        }
        // An exited thread's calls that never returned are forgotten, so that a new thread that
        // gets the same id (the kernel reuses them) starts with an empty stack.
        for slot in retired_slots {
            fb.stacks[slot as usize].1.clear();
        }
        self.fast = fb;
        for ev in &retired {
            self.emit(ev);
        }
    }

    fn fast_one(&mut self, fb: &mut FastBuf, r: Rec, ts: u64) -> Result<(), DecodeError> {
        let rec = &fb.bytes[r.off as usize..(r.off + r.len) as usize];
        let k = rec[0];
        let site = u32::from_le_bytes([rec[5], rec[6], rec[7], rec[8]]);
        let (pid, tid) = (self.meta.pid, fb.stacks[r.slot as usize].0);
        let mut pos = crate::record::HEADER;
        let tag;
        match k {
            kind::ENTER => {
                fb.vals.clear();
                let mut n = 0u64;
                while pos < rec.len() {
                    transcode_value(rec, &mut pos, &mut fb.vals, 0)?;
                    n += 1;
                }
                self.ensure_site(site);
                fb.stacks[r.slot as usize].1.push((site, ts));
                tag = binary::tag::ENTER;
                fb.head.clear();
                binary::put_u(&mut fb.head, u64::from(site));
                binary::put_u(&mut fb.head, n);
            }
            kind::EXIT => {
                fb.vals.clear();
                let ret = *rec.get(pos).ok_or_else(|| short("return"))?;
                pos += 1;
                let error;
                (tag, error) = match ret {
                    ret::VALUE => (
                        binary::tag::EXIT_VALUE,
                        transcode_value(rec, &mut pos, &mut fb.vals, 0)?,
                    ),
                    ret::NOT_CAPTURED => (binary::tag::EXIT_NOT_CAPTURED, false),
                    ret::CANCELLED => (binary::tag::EXIT_CANCELLED, false),
                    ret::PANIC => match rec.get(pos) {
                        Some(&capture::tag::STR) => {
                            pos += 1;
                            let (text, _) = take_text(rec, &mut pos)?;
                            binary::put_str(&mut fb.vals, &String::from_utf8_lossy(text));
                            (binary::tag::EXIT_PANIC_MSG, true)
                        }
                        _ => {
                            pos += 1;
                            (binary::tag::EXIT_PANIC, true)
                        }
                    },
                    other => return Err(DecodeError(format!("unknown return encoding {other}"))),
                };
                if pos != rec.len() {
                    return Err(DecodeError(format!(
                        "trailing bytes in exit of site {site}"
                    )));
                }
                self.ensure_site(site);
                let stack = &mut fb.stacks[r.slot as usize].1;
                // The innermost open call of this site; calls above it lost their exits.
                let duration = match stack.iter().rposition(|f| f.0 == site) {
                    Some(i) => {
                        let enter = stack[i].1;
                        stack.truncate(i);
                        Some(ts.saturating_sub(enter))
                    }
                    None => None,
                };
                self.stats.count_exit(site, duration, error);
                fb.head.clear();
                binary::put_u(&mut fb.head, u64::from(site));
            }
            _ => {
                // Rare kinds (async, instants, thread names, losses, stalls): the event model.
                let ev = crate::record::decode(rec)?.finish(ts, pid, tid);
                self.emit(&ev);
                return Ok(());
            }
        }
        self.stats.events += 1;
        if self.write_failed {
            self.stats.lost += 1;
            return Ok(());
        }
        if let Some(Output::Binary(w)) = &mut self.writer {
            let buf = w.raw_event(tag, pid, tid, ts);
            buf.extend_from_slice(&fb.head);
            buf.extend_from_slice(&fb.vals);
            let r = w.end_raw_event();
            self.check(r);
        }
        Ok(())
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        if let Some(rings) = self.ring_mode.take() {
            let mut all = Vec::new();
            for (tid, (q, evicted)) in rings {
                if evicted > 0 {
                    let first = q.front().map(|e| e.ts()).unwrap_or(0);
                    all.push(Event::Loss {
                        ts: first,
                        pid: self.meta.pid,
                        tid,
                        count: evicted,
                        reason: LossReason::Evicted,
                    });
                }
                all.extend(q);
            }
            all.sort_by_key(|e| (e.ts(), !matches!(e, Event::Loss { .. })));
            for ev in &all {
                self.emit(ev);
            }
        }
        self.finished = true;
        let trailer = Trailer {
            events: self.stats.events,
            lost: self.stats.lost,
            end_ns: clock::monotonic_ns(),
        };
        if let Some(w) = &mut self.writer {
            let r = w.tw().finish(&trailer);
            self.check(r);
        }
    }

    /// A snapshot of the statistics.
    pub(crate) fn stats(&self) -> Stats {
        self.stats.clone()
    }

    /// Sites seen so far.
    pub(crate) fn site_table(&self) -> &SiteTable {
        &self.sites
    }

    /// Forgets statistics (for `reset()`).
    pub(crate) fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }
}

/// Converts raw events drained outside the collector (testing) with a fresh converter anchor.
pub(crate) fn convert_private(raw: Vec<RawEvent>, pid: u32, tid: u32) -> Vec<Event> {
    let rt = state::runtime();
    let sink = rt.collector.get().map(|h| h.sink.clone());
    let mut conv_guard = sink
        .as_ref()
        .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()));
    let mut local;
    let conv: &mut Converter = match conv_guard.as_deref_mut() {
        Some(s) => &mut s.conv,
        None => {
            local = Converter::new(rt.tsc);
            &mut local
        }
    };
    conv.anchor();
    raw.into_iter()
        .map(|r| {
            let ts = conv.to_ns(r.ticks);
            r.finish(ts, pid, tid)
        })
        .collect()
}

/// One record copied out of a ring by the fast path.
#[derive(Debug, Clone, Copy)]
struct Rec {
    ticks: u64,
    off: u32,
    len: u32,
    slot: u32,
}

/// The fast path's buffers, reused from cycle to cycle (no allocation in the steady state).
#[derive(Default)]
struct FastBuf {
    /// This cycle's records, copied out of the rings.
    bytes: Vec<u8>,
    recs: Vec<Rec>,
    /// Per thread (tid): the open sync calls (site, enter timestamp).
    stacks: Vec<(u32, Vec<(u32, u64)>)>,
    /// Payload being built: site, argument count / transcoded values.
    head: Vec<u8>,
    vals: Vec<u8>,
}

impl FastBuf {
    fn slot(&mut self, tid: u32) -> u32 {
        match self.stacks.iter().position(|s| s.0 == tid) {
            Some(i) => i as u32,
            None => {
                self.stacks.push((tid, Vec::new()));
                (self.stacks.len() - 1) as u32
            }
        }
    }

    /// Splits one contiguous ring slice into records (stopping at lap padding) and copies them.
    fn split(&mut self, s: &[u8], slot: u32) -> Result<(), DecodeError> {
        let base = self.bytes.len();
        let mut at = 0usize;
        let mut result = Ok(());
        while let Some(&k) = s.get(at) {
            if k == crate::ring::PAD {
                break;
            }
            let rest = &s[at..];
            if rest.len() < crate::record::HEADER {
                result = Err(DecodeError("record header cut at end of slice".into()));
                break;
            }
            let len = u32::from_le_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            if len < crate::record::HEADER || len > rest.len() {
                result = Err(DecodeError(format!("record length {len} out of range")));
                break;
            }
            let ticks = u64::from_le_bytes(rest[9..17].try_into().expect("8 bytes"));
            self.recs.push(Rec {
                ticks,
                off: (base + at) as u32,
                len: len as u32,
                slot,
            });
            at += len;
        }
        self.bytes.extend_from_slice(&s[..at]);
        result
    }
}

fn short(what: &str) -> DecodeError {
    DecodeError(format!("{what} runs past its record"))
}

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], DecodeError> {
    let s = b.get(*pos..*pos + n).ok_or_else(|| short("value"))?;
    *pos += n;
    Ok(s)
}

fn take_arr<const N: usize>(b: &[u8], pos: &mut usize) -> Result<[u8; N], DecodeError> {
    Ok(take(b, pos, N)?.try_into().expect("length checked"))
}

/// A captured text: (kept bytes, full length).
fn take_text<'a>(b: &'a [u8], pos: &mut usize) -> Result<(&'a [u8], u64), DecodeError> {
    let full = u32::from_le_bytes(take_arr(b, pos)?) as u64;
    let kept = u32::from_le_bytes(take_arr(b, pos)?) as usize;
    Ok((take(b, pos, kept)?, full))
}

/// Appends a captured text as the binary format's string (UTF-8 as the capture guarantees;
/// anything else is replaced like the model's decoder does).
fn put_text(dst: &mut Vec<u8>, text: &[u8]) {
    match std::str::from_utf8(text) {
        Ok(t) => binary::put_str(dst, t),
        Err(_) => binary::put_str(dst, &String::from_utf8_lossy(text)),
    }
}

/// Transcodes one captured value (`capture` encoding, at `b[*pos..]`) into the binary format's
/// value encoding — the bytes `binary::encode_value` writes for the decoded value. Returns
/// whether the value is an `Err`.
fn transcode_value(
    b: &[u8],
    pos: &mut usize,
    dst: &mut Vec<u8>,
    depth: u32,
) -> Result<bool, DecodeError> {
    use binary::vtag as v;
    use capture::tag as c;
    if depth > 64 {
        return Err(DecodeError("value nested deeper than 64 levels".into()));
    }
    let t = take_arr::<1>(b, pos)?[0];
    match t {
        c::UNIT => dst.push(v::UNIT),
        c::BOOL => dst.push(if take_arr::<1>(b, pos)?[0] != 0 {
            v::TRUE
        } else {
            v::FALSE
        }),
        c::CHAR => {
            let ch = char::from_u32(u32::from_le_bytes(take_arr(b, pos)?))
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            dst.push(v::CHAR);
            binary::put_u(dst, u64::from(ch as u32));
        }
        c::I8 => {
            dst.push(v::I8);
            binary::put_i64(dst, i64::from(i8::from_le_bytes(take_arr(b, pos)?)));
        }
        c::I16 => {
            dst.push(v::I16);
            binary::put_i64(dst, i64::from(i16::from_le_bytes(take_arr(b, pos)?)));
        }
        c::I32 => {
            dst.push(v::I32);
            binary::put_i64(dst, i64::from(i32::from_le_bytes(take_arr(b, pos)?)));
        }
        c::I64 => {
            dst.push(v::I64);
            binary::put_i64(dst, i64::from_le_bytes(take_arr(b, pos)?));
        }
        c::I128 => {
            dst.push(v::I128);
            binary::put_i(dst, i128::from_le_bytes(take_arr(b, pos)?));
        }
        c::U8 => {
            dst.push(v::U8);
            binary::put_u(dst, u64::from(take_arr::<1>(b, pos)?[0]));
        }
        c::U16 => {
            dst.push(v::U16);
            binary::put_u(dst, u64::from(u16::from_le_bytes(take_arr(b, pos)?)));
        }
        c::U32 => {
            dst.push(v::U32);
            binary::put_u(dst, u64::from(u32::from_le_bytes(take_arr(b, pos)?)));
        }
        c::U64 => {
            dst.push(v::U64);
            binary::put_u(dst, u64::from_le_bytes(take_arr(b, pos)?));
        }
        c::U128 => {
            dst.push(v::U128);
            binary::put_varint(dst, u128::from_le_bytes(take_arr(b, pos)?));
        }
        c::F32 => {
            dst.push(v::F32);
            dst.extend_from_slice(&take_arr::<4>(b, pos)?);
        }
        c::F64 => {
            dst.push(v::F64);
            dst.extend_from_slice(&take_arr::<8>(b, pos)?);
        }
        c::STR | c::DEBUG => {
            let (text, full) = take_text(b, pos)?;
            let cut = (text.len() as u64) < full;
            dst.push(match (t == c::STR, cut) {
                (true, false) => v::STR,
                (true, true) => v::STR_CUT,
                (false, false) => v::DEBUG,
                (false, true) => v::DEBUG_CUT,
            });
            put_text(dst, text);
            if cut {
                binary::put_u(dst, full);
            }
        }
        c::OPAQUE => {
            let (text, _) = take_text(b, pos)?;
            dst.push(v::OPAQUE);
            put_text(dst, text);
        }
        c::NONE => dst.push(v::NONE),
        c::SOME | c::OK | c::ERR => {
            dst.push(match t {
                c::SOME => v::SOME,
                c::OK => v::OK,
                _ => v::ERR,
            });
            transcode_value(b, pos, dst, depth + 1)?;
            return Ok(t == c::ERR);
        }
        c::TUPLE => {
            let n = take_arr::<1>(b, pos)?[0];
            dst.push(v::TUPLE);
            binary::put_u(dst, u64::from(n));
            for _ in 0..n {
                transcode_value(b, pos, dst, depth + 1)?;
            }
        }
        c::SEQ => {
            let len = u64::from_le_bytes(take_arr(b, pos)?);
            let kept = u32::from_le_bytes(take_arr(b, pos)?);
            dst.push(v::SEQ);
            binary::put_u(dst, len);
            binary::put_u(dst, u64::from(kept));
            for _ in 0..kept {
                transcode_value(b, pos, dst, depth + 1)?;
            }
        }
        c::STRUCT => {
            let (name, _) = take_text(b, pos)?;
            let n = take_arr::<1>(b, pos)?[0];
            dst.push(v::STRUCT);
            put_text(dst, name);
            binary::put_u(dst, u64::from(n));
            for _ in 0..n {
                if take_arr::<1>(b, pos)?[0] != c::FIELD {
                    return Err(DecodeError("struct: field name expected".into()));
                }
                let (fname, _) = take_text(b, pos)?;
                put_text(dst, fname);
                transcode_value(b, pos, dst, depth + 1)?;
            }
        }
        other => return Err(DecodeError(format!("unknown value tag {other}"))),
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{ArgWriter, Capture};
    use crate::model::Value;

    /// An ENTER record holding the values `write` captures.
    fn record_with(strsize: u32, write: impl Fn(&mut ArgWriter)) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        // SAFETY: `buf` has cap + SLACK writable bytes and outlives the writer.
        let cap = buf.len() - crate::capture::SLACK;
        let mut w = unsafe { ArgWriter::new(buf.as_mut_ptr(), cap, strsize, 4) };
        w.put([kind::ENTER]);
        w.put([0u8; 4]);
        w.put(7u32.to_le_bytes());
        w.put(99u64.to_le_bytes());
        write(&mut w);
        assert!(!w.overflowed());
        let n = w.written();
        w.patch_u32(1, n as u32);
        buf.truncate(n);
        buf
    }

    /// The fast path's bytes equal what the event model's encoder writes for the decoded
    /// values, for every value kind.
    #[test]
    fn transcoding_matches_the_model_encoder() {
        let rec = record_with(5, |w| {
            ().capture(w);
            true.capture(w);
            'λ'.capture(w);
            (-3i8).capture(w);
            (-300i16).capture(w);
            i32::MIN.capture(w);
            i64::MAX.capture(w);
            (-(1i128 << 100)).capture(w);
            200u8.capture(w);
            60_000u16.capture(w);
            u32::MAX.capture(w);
            u64::MAX.capture(w);
            (u128::MAX - 1).capture(w);
            1.5f32.capture(w);
            (-2.25f64).capture(w);
            "short".capture(w);
            "truncated text".capture(w);
            "héé".capture(w);
            Some(Ok::<u8, String>(1)).capture(w);
            None::<u8>.capture(w);
            Err::<u8, &str>("bad").capture(w);
            (1u8, "x", (2i64,)).capture(w);
            vec![1u16, 2, 3, 4, 5, 6].capture(w);
            w.structure("Point", 2);
            w.field("x");
            w.i32(3);
            w.field("y");
            w.debug(&vec!["debugged"; 3]);
            w.opaque("my::Opaque");
        });
        let decoded = crate::record::decode(&rec).expect("decode");
        let Event::Enter { args, .. } = decoded.event else {
            panic!("not an enter")
        };
        let mut want = Vec::new();
        for a in &args {
            binary::encode_value(&mut want, a);
        }
        let mut got = Vec::new();
        let mut pos = crate::record::HEADER;
        let mut n = 0;
        let mut errs = Vec::new();
        while pos < rec.len() {
            errs.push(transcode_value(&rec, &mut pos, &mut got, 0).expect("transcode"));
            n += 1;
        }
        assert_eq!(n, args.len());
        assert_eq!(got, want);
        let model_errs: Vec<bool> = args.iter().map(Value::is_err).collect();
        assert_eq!(errs, model_errs);
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let rec = record_with(64, |w| "abc".capture(w));
        for cut in crate::record::HEADER..rec.len() {
            let mut pos = crate::record::HEADER;
            let r = transcode_value(&rec[..cut], &mut pos, &mut Vec::new(), 0);
            assert!(r.is_err(), "cut at {cut}");
        }
        let mut bad = rec.clone();
        bad[crate::record::HEADER] = 200;
        let mut pos = crate::record::HEADER;
        assert!(transcode_value(&bad, &mut pos, &mut Vec::new(), 0).is_err());
    }

    /// The slicing-by-8 checksum the binary writer uses equals the bytewise definition.
    #[test]
    fn crc32_matches_the_reference() {
        assert_eq!(binary::crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(binary::crc32(b""), 0);
        let data: Vec<u8> = (0..1000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in [1, 7, 8, 9, 15, 16, 17, 63, 64, 999, 1000] {
            let mut c = !0u32;
            for &b in &data[..len] {
                c ^= u32::from(b);
                for _ in 0..8 {
                    c = if c & 1 != 0 {
                        0xEDB8_8320 ^ (c >> 1)
                    } else {
                        c >> 1
                    };
                }
            }
            assert_eq!(binary::crc32(&data[..len]), !c, "length {len}");
        }
    }
}
