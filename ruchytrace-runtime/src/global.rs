//! Process-wide state: the one state word the hot path reads ([`STATE`] and its values), the
//! instant-event category mask, and the [`Runtime`] created on first use (settings, name filter,
//! pid, clock choice, the registry of thread buffers, and the signal that wakes the collector).
//!
//! Nothing here starts threads or writes output; that is `lifecycle` and `collector`.

use crate::clock;
use crate::config::Settings;
use crate::filter::Filter;
use crate::segment::Mapping;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Tracing on, hot path reads the TSC.
pub(crate) const ON_TSC: u8 = 0;
/// Tracing on, hot path reads `CLOCK_MONOTONIC`.
pub(crate) const ON_MONO: u8 = 1;
/// Tracing disabled at run time.
pub(crate) const OFF: u8 = 2;
/// Not initialised yet (first call reads the environment).
pub(crate) const UNINIT: u8 = 3;
/// The process is exiting: the trace has been finalised.
pub(crate) const SHUTDOWN: u8 = 4;

/// The one word the hot path reads.
pub(crate) static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static CLOCK_TSC: AtomicBool = AtomicBool::new(false);
/// Bit per [`crate::model::Category`] of instant events that are recorded.
pub(crate) static CATEGORIES: AtomicU16 = AtomicU16::new(u16::MAX);

/// The clock mode (ON_TSC / ON_MONO) regardless of whether tracing is on.
pub(crate) fn clock_mode() -> u8 {
    if CLOCK_TSC.load(Relaxed) {
        ON_TSC
    } else {
        ON_MONO
    }
}

/// Reads the hot-path clock for mode `g`.
#[inline(always)]
pub(crate) fn ticks(g: u8) -> u64 {
    if g == ON_TSC {
        clock::rdtsc()
    } else {
        clock::monotonic_ns()
    }
}

/// The calling thread's kernel id.
pub(crate) fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// What the collector (and `summary`) can see of one recording thread: its segments, in
/// order, while the collector still has to read them, and how far the thread has written.
pub(crate) struct ThreadShared {
    pub tid: u32,
    /// The thread's name, if it has one.
    pub name: Option<String>,
    /// (sequence number, mapping) of each segment not yet consumed by the collector (only
    /// kept when a collector tails the segments: text and JSON outputs).
    pub segs: Mutex<Vec<(u32, Arc<Mapping>)>>,
    /// `seq << 32 | offset`: the end of the last complete record (`Release`-stored after each
    /// record).
    pub published: AtomicU64,
    /// The thread has exited: nothing more will be written.
    pub closed: AtomicBool,
}

impl ThreadShared {
    /// Publishes the end of the last complete record.
    #[inline(always)]
    pub(crate) fn publish(&self, seq: u32, pos: usize) {
        self.published
            .store((u64::from(seq) << 32) | pos as u64, Release);
    }
}

/// How producers reach the collector: a wake-up flag with its condition variable, and whether a
/// collector thread is running to drain buffers.
pub(crate) struct CollectorSignal {
    woken: Mutex<bool>,
    cond: Condvar,
    alive: AtomicBool,
}

impl CollectorSignal {
    /// Asks the collector to drain now.
    pub(crate) fn wake(&self) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_one();
    }

    /// Waits until woken or until `period` has passed, and clears the wake-up flag.
    pub(crate) fn wait(&self, period: Duration) {
        let mut woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        if !*woken {
            woken = self
                .cond
                .wait_timeout(woken, period)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *woken = false;
    }

    /// Whether a collector thread is running.
    pub(crate) fn alive(&self) -> bool {
        self.alive.load(Relaxed)
    }

    /// Marks the collector thread as running or gone.
    pub(crate) fn set_alive(&self, alive: bool) {
        self.alive.store(alive, Relaxed);
    }
}

/// Process-wide state, created on first use.
pub(crate) struct Runtime {
    pub settings: Settings,
    pub filter: Option<Filter>,
    /// The process id (changes in a forked child).
    pub pid: AtomicU32,
    pub tsc: bool,
    pub threads: Mutex<Vec<Arc<ThreadShared>>>,
    pub collector: CollectorSignal,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The process-wide state (reads the environment on first use).
pub(crate) fn runtime() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let (settings, warnings) = Settings::from_env();
        for w in &warnings {
            eprintln!("{w}");
        }
        let filter = settings
            .filter
            .as_deref()
            .and_then(|f| Filter::parse(f).ok());
        let tsc = clock::tsc_usable();
        CLOCK_TSC.store(tsc, Relaxed);
        Runtime {
            filter,
            pid: AtomicU32::new(std::process::id()),
            tsc,
            threads: Mutex::new(Vec::new()),
            collector: CollectorSignal {
                woken: Mutex::new(false),
                cond: Condvar::new(),
                alive: AtomicBool::new(false),
            },
            settings,
        }
    })
}

impl Runtime {
    /// The current process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid.load(Relaxed)
    }

    /// Adds a thread to the ones the collector reads.
    pub(crate) fn register_thread(&self, entry: Arc<ThreadShared>) {
        self.threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(entry);
    }
}
