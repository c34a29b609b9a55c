//! The collector: a background thread that drains every thread's ring every `RUCHYTRACE_FLUSH_MS`
//! (or at once when a producer waits for space), converts clock ticks to `CLOCK_MONOTONIC`
//! nanoseconds, orders the events by time, keeps the per-function statistics behind
//! [`crate::summary`], and streams the events to the output writer.
//!
//! * this file: the collector thread and its [`Handle`], the one way the rest of the runtime
//!   reaches the collector (flush, finish, statistics);
//! * `sink`: the output side and the event-model path (decode, order, count, write);
//! * `fast`: the binary fast path (records transcoded straight into the binary format);
//! * `stats`: the per-function counters.
//!
//! All draining happens under one lock (the handle's sink), so each ring has exactly one
//! consumer at a time whether the drain runs on the collector thread, in [`crate::flush`], or
//! at process exit.

mod fast;
mod sink;
mod stats;

use crate::clock::{self, Converter};
use crate::config::OutputFormat;
use crate::format::{Format, SiteTable};
use crate::global::{self, Runtime};
#[cfg(feature = "testing")]
use crate::model::Event;
use crate::model::{ClockInfo, Metadata, RecordSettings, FN_TRACE_FORMAT, SCHEMA_VERSION};
#[cfg(feature = "testing")]
use crate::record::RawEvent;
use fast::FastBuf;
use sink::Sink;
pub use stats::SiteStats;
pub(crate) use stats::Stats;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// A cycle that drained at least this much starts the next one without waiting for the period.
const BUSY_BYTES: usize = 64 << 10;

/// What a drain cycle works with: the output side and the fast path's reusable buffers.
struct Drain {
    sink: Sink,
    fast: FastBuf,
}

impl Drain {
    /// Drains every ring once: straight into the binary encoding when the output allows it,
    /// else through the event model.
    fn cycle(&mut self, rt: &Runtime) {
        if !self.sink.begin_cycle() {
            return;
        }
        if self.sink.wants_fast_path() {
            fast::cycle(&mut self.sink, &mut self.fast, rt);
            self.sink.flush_output();
        } else {
            self.sink.cycle_model(rt);
        }
    }
}

/// The running collector: what the rest of the runtime may ask of it.
pub(crate) struct Handle {
    drain: Arc<Mutex<Drain>>,
    stop: Arc<AtomicBool>,
}

static HANDLE: OnceLock<Handle> = OnceLock::new();

/// The collector, once started.
pub(crate) fn handle() -> Option<&'static Handle> {
    HANDLE.get()
}

/// Starts the collector unless it runs already; `before` runs first, once. Returns whether this
/// call started it.
pub(crate) fn start_once(rt: &'static Runtime, before: impl FnOnce()) -> bool {
    let mut started = false;
    HANDLE.get_or_init(|| {
        before();
        started = true;
        spawn(rt)
    });
    started
}

impl Handle {
    fn lock(&self) -> MutexGuard<'_, Drain> {
        self.drain.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drains every ring now, on the calling thread.
    pub(crate) fn flush(&self) {
        self.lock().cycle(global::runtime());
    }

    /// Drains every ring now unless a drain is already running (safe from a panic hook).
    pub(crate) fn try_flush(&self) {
        if let Ok(mut sink) = self.drain.try_lock() {
            sink.cycle(global::runtime());
        }
    }

    /// Final drain and trailer; later calls do nothing. Stops the collector thread.
    pub(crate) fn finish(&self) {
        self.stop.store(true, Relaxed);
        global::runtime().collector.wake();
        let mut sink = self.lock();
        sink.cycle(global::runtime());
        sink.sink.finish();
    }

    /// Drains every ring, then returns the statistics and the sites seen so far.
    pub(crate) fn snapshot(&self) -> (Stats, SiteTable) {
        let mut sink = self.lock();
        sink.cycle(global::runtime());
        (sink.sink.stats(), sink.sink.site_table().clone())
    }

    /// Drains every ring, then forgets the statistics (events already written stay written).
    pub(crate) fn reset_stats(&self) {
        let mut sink = self.lock();
        sink.cycle(global::runtime());
        sink.sink.reset_stats();
    }

    /// Drains every ring, then runs `f` while no other drain can start.
    #[cfg(feature = "testing")]
    pub(crate) fn drain_then<R>(&self, f: impl FnOnce() -> R) -> R {
        let mut sink = self.lock();
        sink.cycle(global::runtime());
        f()
    }

    /// Runs `f` while no drain runs (so `f` may consume a ring itself).
    #[cfg(feature = "testing")]
    pub(crate) fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
        let _sink = self.lock();
        f()
    }

    /// Converts raw events drained outside the collector (testing), with a fresh anchor of the
    /// collector's clock converter.
    #[cfg(feature = "testing")]
    pub(crate) fn convert(&self, raw: Vec<RawEvent>, pid: u32, tid: u32) -> Vec<Event> {
        let mut sink = self.lock();
        let conv = sink.sink.converter();
        conv.anchor();
        raw.into_iter()
            .map(|r| {
                let ts = conv.to_ns(r.ticks);
                r.finish(ts, pid, tid)
            })
            .collect()
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

/// The trace header: program, settings, clock anchor.
fn metadata(rt: &Runtime, collector_tid: Option<u32>) -> Metadata {
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

/// Opens the output, starts the collector thread and writes the trace header.
fn spawn(rt: &'static Runtime) -> Handle {
    let (out, fmt) = open_output(rt);
    let sink = Drain {
        sink: Sink::new(rt, out, fmt, Converter::new(rt.tsc), metadata(rt, None)),
        fast: FastBuf::default(),
    };
    let handle = Handle {
        drain: Arc::new(Mutex::new(sink)),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let signal = &rt.collector;
    signal.set_alive(true);
    let (sink, stop) = (handle.drain.clone(), handle.stop.clone());
    let period = Duration::from_millis(rt.settings.flush_ms);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("ruchytrace-collector".into())
        .spawn(move || {
            let _ = tid_tx.send(global::gettid());
            let signal = &rt.collector;
            let mut busy = false;
            while !stop.load(Relaxed) {
                // While threads produce faster than one buffer per period, drain again at
                // once: the collector then runs alongside the producers instead of in turns
                // with them (a producer that waits for space would otherwise wait for this
                // thread's whole cycle and then its own sleep).
                if !busy {
                    signal.wait(period);
                }
                if stop.load(Relaxed) {
                    break;
                }
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.cycle(rt);
                busy = s.sink.drained() >= BUSY_BYTES;
                drop(s);
                if busy {
                    // Let records accumulate a little: per-cycle costs (locks, anchor, flush)
                    // are then spread over many events.
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            signal.set_alive(false);
        });
    // The header goes out before any event, whoever drains first; it names the collector's
    // thread so its own system calls can be told apart from the program's.
    let collector_tid = match spawned {
        Ok(_) => tid_rx.recv_timeout(Duration::from_secs(5)).ok(),
        Err(e) => {
            eprintln!("ruchytrace: warning: cannot start the collector thread: {e}; events are written at exit");
            signal.set_alive(false);
            None
        }
    };
    handle.lock().sink.begin(collector_tid);
    handle
}
