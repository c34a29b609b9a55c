//! The collector: a background thread that drains every thread's ring every `RUCHYTRACE_FLUSH_MS`
//! (or at once when a producer waits for space), converts clock ticks to `CLOCK_MONOTONIC`
//! nanoseconds, orders the events by time, keeps the per-function statistics behind
//! [`crate::summary`], and streams the events to the output writer.
//!
//! All draining happens under one lock (`Handle::sink`), so each ring has exactly one consumer at
//! a time whether the drain runs on the collector thread, in [`crate::flush`], or at process exit.

use crate::clock::{self, Converter};
use crate::config::{OutputFormat, Overflow};
use crate::format::{self, Format, Nesting, SiteTable, TraceWriter};
use crate::model::{
    ArgInfo, ClockInfo, Event, Location, LossReason, Metadata, RecordSettings, Site, Trailer,
    FN_TRACE_FORMAT, SCHEMA_VERSION,
};
use crate::record::RawEvent;
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
    pub sites: HashMap<u32, SiteStats>,
    /// Instant events per category name.
    pub instants: HashMap<&'static str, u64>,
}

pub(crate) struct Sink {
    writer: Option<Box<dyn TraceWriter>>,
    write_failed: bool,
    conv: Converter,
    sites: SiteTable,
    nesting: Nesting,
    stats: Stats,
    ring_mode: Option<HashMap<u32, (VecDeque<Event>, u64)>>,
    ring_events: usize,
    finished: bool,
    scratch: Vec<RawEvent>,
    meta: Metadata,
}

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
        writer: Some(format::writer(fmt, out)),
        write_failed: false,
        conv,
        sites: SiteTable::new(),
        nesting: Nesting::new(),
        stats: Stats::default(),
        ring_mode: (rt.settings.overflow == Overflow::Ring).then(HashMap::new),
        ring_events: rt.settings.ring_events,
        finished: false,
        scratch: Vec::new(),
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
            while !stop.load(Relaxed) {
                {
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
            let r = w.begin(&self.meta);
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
        let mut batch: Vec<Event> = Vec::new();
        {
            let mut threads = rt.threads.lock().unwrap_or_else(|e| e.into_inner());
            threads.retain(|t| {
                if t.private.load(Acquire) {
                    return true;
                }
                let closed = t.ring.closed.load(Acquire);
                self.scratch.clear();
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
            let r = w.flush();
            self.check(r);
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
            if !self.sites.contains(id) {
                if let Some(site) = site_model(id) {
                    if let Some(w) = &mut self.writer {
                        let r = w.site(&site);
                        self.check(r);
                    }
                    self.sites.insert(site);
                }
            }
        }
        let ctx = self.nesting.observe(ev, &self.sites);
        self.stats.events += 1;
        match ev {
            Event::Exit { site, ret, .. } => {
                let s = self.stats.sites.entry(*site).or_default();
                let d = ctx.duration_ns.unwrap_or(0);
                if s.count == 0 || d < s.min_ns {
                    s.min_ns = d;
                }
                s.max_ns = s.max_ns.max(d);
                s.count += 1;
                s.total_ns += d;
                if ret.is_error() {
                    s.errors += 1;
                }
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
            let r = w.event(ev, &ctx);
            self.check(r);
        }
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
            let r = w.finish(&trailer);
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
