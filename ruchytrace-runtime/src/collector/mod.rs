//! The collector: turns what the threads recorded into a text or JSON output and into the
//! statistics behind [`crate::summary`]. It never sits between a thread and its record: threads
//! write straight into the trace file (`recorder`, `output`), and the collector *reads*.
//!
//! * Text and JSON outputs (not in ring mode): a background thread tails every thread's
//!   segments every `RUCHYTRACE_FLUSH_MS`, converts ticks to `CLOCK_MONOTONIC` nanoseconds,
//!   orders the events by time and writes them (`tail`, `sink`). Consumed segments are
//!   released (the memory file's pages with them).
//! * Ring mode with a text or JSON output: nothing runs during recording; at exit the memory
//!   file is read whole (`format::segmented`) and its surviving events are written.
//! * Binary output: no thread at all. [`crate::summary`] reads the trace file back.
//!
//! * this file: the [`Handle`], the one way the rest of the runtime reaches the collector;
//! * `tail`: reading the segments threads are still writing;
//! * `sink`: counting and writing events;
//! * `stats`: the per-function counters.

mod sink;
mod stats;
mod tail;

use crate::config::OutputFormat;
use crate::format::segmented::SegmentedReader;
use crate::format::{Format, Record, SiteTable};
use crate::global::{self, Runtime};
use crate::output::{self, Output};
use sink::Sink;
pub use stats::SiteStats;
pub(crate) use stats::Stats;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What a drain works with.
struct Drain {
    sink: Sink,
    tail: tail::Tail,
    out: Arc<Output>,
    /// Statistics are computed by reading the file back (binary output and ring mode).
    from_file: bool,
}

impl Drain {
    fn cycle(&mut self, rt: &Runtime) {
        if self.sink.is_finished() || self.from_file {
            return;
        }
        self.tail.cycle(rt, &mut self.sink);
        self.sink.flush_output();
    }

    /// Statistics recomputed from the trace file (binary output, ring mode).
    fn stats_from_file(&mut self) -> (Stats, SiteTable) {
        let mut sink = Sink::new(None, self.sink.meta.clone());
        if let Some(bytes) = read_back(&self.out) {
            if let Ok(reader) = SegmentedReader::new(bytes) {
                for rec in reader {
                    match rec {
                        Record::Site(s) => sink.add_site(s),
                        Record::Event(e) if e.ts() >= self.tail.reset_ns => sink.emit(&e),
                        _ => {}
                    }
                }
            }
        }
        (sink.stats(), sink.site_table().clone())
    }
}

/// The whole trace file, read back.
fn read_back(out: &Output) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut f = out.file.try_clone_file().ok()?;
    io::Seek::seek(&mut f, io::SeekFrom::Start(0)).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// The running collector: what the rest of the runtime may ask of it.
pub(crate) struct Handle {
    drain: Arc<Mutex<Drain>>,
    stop: Arc<AtomicBool>,
}

static HANDLE: Mutex<Option<Arc<Handle>>> = Mutex::new(None);

/// The collector, once started.
pub(crate) fn handle() -> Option<Arc<Handle>> {
    HANDLE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Forgets the collector (in a forked child, whose collector thread does not exist).
pub(crate) fn forget() {
    if let Ok(mut h) = HANDLE.try_lock() {
        if let Some(h) = h.take() {
            // Its thread is the parent's; its output writer would write the parent's stream.
            std::mem::forget(h);
        }
    }
}

/// Opens the trace file and starts the collector unless they exist already; `before` runs
/// first, once. Returns whether this call started them, or the error that stopped it.
pub(crate) fn start_once(rt: &'static Runtime, before: impl FnOnce()) -> io::Result<bool> {
    let mut h = HANDLE.lock().unwrap_or_else(|e| e.into_inner());
    if h.is_some() {
        return Ok(false);
    }
    before();
    *h = Some(Arc::new(spawn(rt)?));
    Ok(true)
}

impl Handle {
    fn lock(&self) -> MutexGuard<'_, Drain> {
        self.drain.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads and writes out everything recorded so far, on the calling thread.
    pub(crate) fn flush(&self) {
        self.lock().cycle(global::runtime());
    }

    /// As [`Handle::flush`], unless a drain is already running (safe from a panic hook).
    pub(crate) fn try_flush(&self) {
        if let Ok(mut d) = self.drain.try_lock() {
            d.cycle(global::runtime());
        }
    }

    /// Final drain and trailer; later calls do nothing. Stops the collector thread and marks
    /// the trace file finished.
    pub(crate) fn finish(&self) {
        self.stop.store(true, Relaxed);
        global::runtime().collector.wake();
        let mut d = self.lock();
        if d.sink.is_finished() {
            return;
        }
        d.out.finish();
        if d.from_file {
            // Ring mode with a text or JSON output: the surviving events, from the file.
            if d.sink.has_writer() {
                if let Some(bytes) = read_back(&d.out) {
                    if let Ok(reader) = SegmentedReader::new(bytes) {
                        for rec in reader {
                            match rec {
                                Record::Site(s) => d.sink.add_site(s),
                                Record::Event(e) => d.sink.emit(&e),
                                _ => {}
                            }
                        }
                    }
                }
            }
        } else {
            d.cycle(global::runtime());
        }
        d.sink.finish();
    }

    /// Reads everything recorded so far, then returns the statistics and the sites seen.
    pub(crate) fn snapshot(&self) -> (Stats, SiteTable) {
        let mut d = self.lock();
        if d.from_file {
            return d.stats_from_file();
        }
        d.cycle(global::runtime());
        (d.sink.stats(), d.sink.site_table().clone())
    }

    /// Forgets the statistics (events already written stay written).
    pub(crate) fn reset_stats(&self) {
        let mut d = self.lock();
        d.cycle(global::runtime());
        d.sink.reset_stats();
        d.tail.reset_ns = crate::clock::monotonic_ns();
    }
}

/// Where text and JSON go.
fn open_text_output(rt: &Runtime) -> (Box<dyn Write + Send>, Format) {
    let fmt = match rt.settings.effective_format() {
        OutputFormat::Json => Format::Json,
        _ => Format::Text,
    };
    if let Some(path) = &rt.settings.output {
        let path = path.replace("%p", &rt.pid().to_string());
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return (Box::new(io::BufWriter::with_capacity(1 << 16, f)), fmt),
            Err(e) => eprintln!(
                "ruchytrace: warning: cannot create trace output {path:?}: {e}; writing text to stderr"
            ),
        }
        return (Box::new(io::BufWriter::new(io::stderr())), Format::Text);
    }
    (Box::new(io::BufWriter::new(io::stderr())), fmt)
}

/// Starts the collector thread (text and JSON outputs) and opens the trace file.
fn spawn(rt: &'static Runtime) -> io::Result<Handle> {
    let binary = output::binary_output(rt);
    let ring = rt.settings.overflow == crate::config::Overflow::Ring;
    let stop = Arc::new(AtomicBool::new(false));
    let slot: Arc<Mutex<Option<Arc<Mutex<Drain>>>>> = Arc::new(Mutex::new(None));
    let mut collector_tid = None;
    if !binary && !ring {
        // The thread first, so the file's header can name it (its system calls are tracer
        // traffic); it waits until the drain exists.
        let (stop2, slot2) = (stop.clone(), slot.clone());
        let period = Duration::from_millis(rt.settings.flush_ms);
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("ruchytrace-collector".into())
            .spawn(move || {
                let _ = tid_tx.send(global::gettid());
                let signal = &rt.collector;
                signal.set_alive(true);
                while !stop2.load(Relaxed) {
                    signal.wait(period);
                    if stop2.load(Relaxed) {
                        break;
                    }
                    let drain = slot2.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    if let Some(d) = drain {
                        d.lock().unwrap_or_else(|e| e.into_inner()).cycle(rt);
                    }
                }
                signal.set_alive(false);
            });
        collector_tid = match spawned {
            Ok(_) => tid_rx.recv_timeout(Duration::from_secs(5)).ok(),
            Err(e) => {
                eprintln!("ruchytrace: warning: cannot start the collector thread: {e}; events are written at exit");
                None
            }
        };
    }
    // Binary and ring outputs have no collector; a prefault thread maps segments ahead of
    // need instead (see `Output::prefault`). Started first, as the collector, so the header
    // names it (its system calls are tracer traffic); it waits for the file.
    let mut prefault_tx = None;
    if binary || ring {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (out_tx, out_rx) = std::sync::mpsc::channel::<Arc<output::Output>>();
        // Between the runtime's markers: the clone and the wait are the tracer's, not the
        // program's, in a system call trace of this thread.
        output::mark(true);
        let spawned = std::thread::Builder::new()
            .name("ruchytrace-prefault".into())
            .spawn(move || {
                let _ = tid_tx.send(global::gettid());
                if let Ok(out) = out_rx.recv() {
                    out.prefault();
                }
            });
        if spawned.is_ok() {
            collector_tid = tid_rx.recv_timeout(Duration::from_secs(5)).ok();
            prefault_tx = Some(out_tx);
        }
        output::mark(false);
    }
    let out = output::open(rt, collector_tid)?;
    if let Some(tx) = prefault_tx {
        let _ = tx.send(out.clone());
    }
    let text = (!binary).then(|| open_text_output(rt));
    let mut sink = Sink::new(text, output::metadata(rt, collector_tid));
    sink.begin(collector_tid);
    let drain = Arc::new(Mutex::new(Drain {
        sink,
        tail: tail::Tail::new(rt.tsc),
        out,
        from_file: binary || ring,
    }));
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(drain.clone());
    Ok(Handle { drain, stop })
}
