//! Process-wide runtime state (settings, site and thread registries, the collector handle) and
//! the per-thread recording state.

use crate::capture::ArgWriter;
use crate::clock;
use crate::config::{Overflow, Settings};
use crate::filter::Filter;
use crate::hooks::{CallSite, SITE_GLOBAL, SITE_OFF, SITE_ON, SITE_SAMPLED, SITE_UNRESOLVED};
use crate::record::{self, kind};
use crate::ring::{Producer, Ring};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU8, Ordering::*};
use std::sync::{Arc, Mutex, OnceLock};
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

/// A thread known to the collector.
pub(crate) struct ThreadEntry {
    pub ring: Arc<Ring>,
    pub tid: u32,
    /// Drained by `testing::capture` instead of the collector while set.
    pub private: Arc<AtomicBool>,
}

/// Process-wide state, created on first use.
pub(crate) struct Runtime {
    pub settings: Settings,
    pub filter: Option<Filter>,
    pub pid: u32,
    pub tsc: bool,
    pub sites: Mutex<Vec<&'static CallSite>>,
    pub threads: Mutex<Vec<ThreadEntry>>,
    pub collector: OnceLock<crate::collector::Handle>,
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

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
            pid: std::process::id(),
            tsc,
            sites: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            collector: OnceLock::new(),
            settings,
        }
    })
}

/// Initialises on first use; returns the settled state.
#[cold]
pub(crate) fn init() -> u8 {
    let rt = runtime();
    let s = STATE.load(Acquire);
    if s != UNINIT {
        return s;
    }
    if rt.settings.enabled {
        start();
    } else {
        let _ = STATE.compare_exchange(UNINIT, OFF, AcqRel, Acquire);
    }
    STATE.load(Acquire)
}

/// Starts the collector (once) and switches recording on.
pub(crate) fn start() {
    let rt = runtime();
    if STATE.load(Acquire) == SHUTDOWN {
        return;
    }
    rt.collector.get_or_init(|| {
        install_panic_hook();
        crate::collector::spawn(rt)
    });
    let on = if rt.tsc { ON_TSC } else { ON_MONO };
    let _ = STATE.fetch_update(AcqRel, Acquire, |s| (s != SHUTDOWN).then_some(on));
}

/// Resolves a site's id and filter/sampling decision, initialising the runtime when needed.
/// Returns the clock mode to record with, or `None` when nothing is to be recorded.
#[cold]
pub(crate) fn resolve(g: u8, site: &'static CallSite) -> Option<u8> {
    let g = if g == UNINIT { init() } else { g };
    if g > ON_MONO {
        return None;
    }
    if site.state.load(Acquire) == SITE_UNRESOLVED {
        let rt = runtime();
        let mut sites = rt.sites.lock().unwrap_or_else(|e| e.into_inner());
        if site.state.load(Acquire) == SITE_UNRESOLVED {
            sites.push(site);
            site.id.store(sites.len() as u32, Relaxed);
            let traced = rt
                .filter
                .as_ref()
                .is_none_or(|f| f.matches(&site.qualified_name()));
            let st = match (traced, site.meta.sample, rt.settings.sample) {
                (false, _, _) => SITE_OFF,
                (true, 0, 0 | 1) | (true, 1, _) => SITE_ON,
                (true, 0, _) => SITE_GLOBAL,
                (true, _, _) => SITE_SAMPLED,
            };
            site.state.store(st, Release);
        }
    }
    Some(g)
}

/// Looks a site up by id (collector side).
pub(crate) fn site_by_id(id: u32) -> Option<&'static CallSite> {
    let sites = runtime().sites.lock().unwrap_or_else(|e| e.into_inner());
    sites.get((id as usize).checked_sub(1)?).copied()
}

/// xorshift64*: a few cycles, enough to jitter sampling positions (not for anything secret).
#[inline]
fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// A per-thread seed for the sampling positions. `RUCHYTRACE_SEED=N` makes it a function of
/// N and the order in which threads first record (reproducible for a single-threaded
/// program); otherwise it mixes the thread id and the clock.
fn seed_for(tid: u32) -> u64 {
    static ORDER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nth = ORDER.fetch_add(1, Relaxed);
    let base = match std::env::var("RUCHYTRACE_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(seed) => seed ^ nth.wrapping_mul(0xD6E8_FEB8_6659_FD93),
        None => clock::monotonic_ns() ^ (u64::from(tid) << 32),
    };
    let mut x = base ^ 0x9E37_79B9_7F4A_7C15;
    if x == 0 {
        x = 1;
    }
    xorshift(&mut x);
    x
}

/// Jittered systematic sampling: the calls of a thread are cut into blocks of `n`, and exactly
/// one call per block is recorded, at a random position. Every call is recorded with
/// probability exactly 1/n (so `count × n` estimates the true count without bias), far less
/// variance than independent coin flips, and no aliasing with periodic call patterns (a loop
/// calling four functions with n = 1000 would otherwise only ever record one of them).
/// `offset` is the position of the last recorded call in its block; returns the gap to the
/// next recorded call.
#[cold]
#[inline(never)]
fn next_gap(rng: &mut u64, offset: &mut u32, n: u32) -> u32 {
    let next = (xorshift(rng) % u64::from(n)) as u32;
    let gap = n - *offset + next;
    *offset = next;
    gap
}

/// Per-thread recording state. Only its own thread touches it.
pub(crate) struct ThreadState {
    producer: Producer,
    busy: bool,
    sample: u32,
    /// Calls until the next recorded one (global rate); 1 = record the next call.
    countdown: u32,
    /// Position of the last recorded call inside its block of `sample` calls.
    offset: u32,
    rng: u64,
    /// Per-site countdowns and offsets (index = site id) for sites with their own rate.
    site_countdown: Vec<(u32, u32)>,
    next_call: u64,
    tid: u32,
    pending_loss: u64,
    strsize: u32,
    max_items: u32,
    overflow: Overflow,
    scratch: Vec<u8>,
    pub(crate) private: Arc<AtomicBool>,
}

thread_local! {
    static THREAD: Cell<*mut ThreadState> = const { Cell::new(std::ptr::null_mut()) };
    static DEAD: Cell<bool> = const { Cell::new(false) };
    static OWNER: Owner = const { Owner(Cell::new(std::ptr::null_mut())) };
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Frees the thread state when the thread exits and tells the collector the ring is final.
struct Owner(Cell<*mut ThreadState>);

impl Drop for Owner {
    fn drop(&mut self) {
        let p = self.0.get();
        if p.is_null() {
            return;
        }
        let _ = DEAD.try_with(|d| d.set(true));
        let _ = THREAD.try_with(|t| t.set(std::ptr::null_mut()));
        // SAFETY: `p` came from Box::into_raw in `create_thread_state`, and THREAD no longer
        // hands it out, so this is the last use.
        let mut state = unsafe { Box::from_raw(p) };
        if state.pending_loss != 0 && !state.emit_loss(clock_mode()) {
            state
                .producer
                .ring()
                .lost_at_exit
                .store(state.pending_loss, Release);
        }
        state.producer.ring().closed.store(true, Release);
        if let Some(c) = runtime().collector.get() {
            c.wake();
        }
    }
}

pub(crate) fn gettid() -> u32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// Global-rate sampling decision, inline at the call site: `Some(false)` = skip this call,
/// `Some(true)` = record it, `None` = this thread has no state yet (the caller's slow path
/// creates it and decides there). A skipped call costs a thread-local load and a decrement.
#[inline(always)]
pub(crate) fn sample_global() -> Option<bool> {
    let p = THREAD.try_with(|t| t.get()).ok()?;
    if p.is_null() {
        return None;
    }
    // SAFETY: as in `with_thread`: `p` is this thread's live state. The countdown is only
    // touched when `busy` is clear, i.e. when no other reference to the state is in use.
    let t = unsafe { &mut *p };
    if t.busy {
        return Some(false);
    }
    Some(t.sampled_global())
}

/// Runs `f` with this thread's state; `None` when the thread cannot record (exiting, or a
/// traced function called from inside the recorder itself, e.g. by a `Debug` impl).
#[inline(always)]
pub(crate) fn with_thread<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    let p = THREAD.try_with(|t| t.get()).ok()?;
    let p = if p.is_null() {
        create_thread_state()?
    } else {
        p
    };
    // SAFETY: `p` is this thread's live state (freed only by `Owner::drop`, which clears THREAD
    // first); `busy` rules out a second `&mut` from a re-entrant call on the same thread.
    let t = unsafe { &mut *p };
    if t.busy {
        return None;
    }
    t.busy = true;
    let r = f(t);
    t.busy = false;
    Some(r)
}

#[cold]
#[inline(never)]
fn create_thread_state() -> Option<*mut ThreadState> {
    if DEAD.try_with(|d| d.get()).unwrap_or(true) {
        return None;
    }
    let rt = runtime();
    let ring = Arc::new(Ring::new(rt.settings.buffer));
    let tid = gettid();
    let private = Arc::new(AtomicBool::new(false));
    let state = Box::new(ThreadState {
        producer: Producer::new(ring.clone()),
        busy: false,
        sample: rt.settings.sample,
        countdown: 0,
        offset: 0,
        rng: seed_for(tid),
        site_countdown: Vec::new(),
        next_call: 0,
        tid,
        pending_loss: 0,
        strsize: rt.settings.strsize as u32,
        max_items: rt.settings.max_items as u32,
        overflow: rt.settings.overflow,
        scratch: Vec::new(),
        private: private.clone(),
    });
    let mut state = state;
    // Record the call at a random position of the first block of `sample` calls.
    let n = state.sample.max(1);
    state.offset = (xorshift(&mut state.rng) % u64::from(n)) as u32;
    state.countdown = state.offset + 1;
    let p = Box::into_raw(state);
    if OWNER.try_with(|o| o.0.set(p)).is_err() {
        // SAFETY: `p` was just created and never shared.
        drop(unsafe { Box::from_raw(p) });
        return None;
    }
    THREAD.with(|t| t.set(p));
    rt.threads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(ThreadEntry { ring, tid, private });
    let name = std::thread::current().name().map(str::to_owned);
    // SAFETY: as in `with_thread`; nothing else holds a reference yet.
    let t = unsafe { &mut *p };
    let g = clock_mode();
    t.record(g, kind::THREAD, 0, |w: &mut ArgWriter| {
        if let Some(n) = &name {
            w.str(n)
        }
    });
    Some(p)
}

/// The private flag of the current thread's ring (creating its state when needed).
pub(crate) fn current_private_flag() -> Option<(Arc<AtomicBool>, Arc<Ring>, u32)> {
    with_thread(|t| (t.private.clone(), t.producer.ring().clone(), t.tid))
}

impl ThreadState {
    /// Sampling decision for one call under the global rate (`RUCHYTRACE_SAMPLE`): one
    /// decrement and a predictable branch; the next gap is drawn only when a call is taken.
    #[inline(always)]
    pub(crate) fn sampled_global(&mut self) -> bool {
        if self.countdown > 1 {
            self.countdown -= 1;
            return false;
        }
        if self.sample > 1 {
            self.countdown = next_gap(&mut self.rng, &mut self.offset, self.sample);
        }
        true
    }

    /// Sampling decision for one call (`site_sample` 0 = the global rate, 1 = every call, N = one
    /// call of this site in N on this thread).
    #[inline(always)]
    pub(crate) fn sampled(&mut self, site: &'static CallSite, site_sample: u32) -> bool {
        match site_sample {
            0 => self.sampled_global(),
            // A site declared `sample = 1` records every call whatever the global rate.
            1 => true,
            n => self.sampled_site(site, n),
        }
    }

    /// Per-site sampling: every (thread, site) pair has its own countdown, so sites with their
    /// own rate neither share a counter nor alias with each other's call patterns.
    #[inline(never)]
    fn sampled_site(&mut self, site: &'static CallSite, n: u32) -> bool {
        let i = site.id.load(Relaxed) as usize;
        if self.site_countdown.len() <= i {
            self.site_countdown.resize(i + 1, (0, 0));
        }
        let (countdown, mut offset) = self.site_countdown[i];
        let countdown = if countdown == 0 {
            // First call of this site on this thread: a random position in the first block.
            offset = (xorshift(&mut self.rng) % u64::from(n)) as u32;
            offset + 1
        } else {
            countdown
        };
        if countdown > 1 {
            self.site_countdown[i] = (countdown - 1, offset);
            return false;
        }
        let gap = next_gap(&mut self.rng, &mut offset, n);
        self.site_countdown[i] = (gap, offset);
        true
    }

    /// A fresh id for an async call (unique in the process: tid in the high bits).
    pub(crate) fn next_call_id(&mut self) -> u64 {
        self.next_call += 1;
        ((self.tid as u64) << 40) | self.next_call
    }

    /// Appends one record; false when it was dropped (and counted).
    #[inline(always)]
    pub(crate) fn record(
        &mut self,
        g: u8,
        k: u8,
        aux: u32,
        payload: impl Fn(&mut ArgWriter),
    ) -> bool {
        // Generic, not `&dyn Fn`: the capture code of each call site is inlined into its hook
        // (an indirect call per record measured ~10 ns more per call).
        let t = ticks(g);
        if self.pending_loss != 0 && !self.emit_loss(g) {
            self.pending_loss += 1;
            return false;
        }
        let (ptr, avail) = self.producer.region_with_slack();
        if avail == 0 {
            return self.record_slow(k, aux, t, &payload);
        }
        // SAFETY: `region_with_slack` returns a pointer valid for `avail + SLACK` bytes that
        // only this producer writes until it commits, as `ArgWriter::new` requires.
        let mut w = unsafe { ArgWriter::new(ptr, avail, self.strsize, self.max_items) };
        w.put([k]);
        w.put([0u8; 4]);
        w.put(aux.to_le_bytes());
        w.put(t.to_le_bytes());
        payload(&mut w);
        if !w.overflowed() {
            let n = w.written();
            w.patch_u32(1, n as u32);
            self.producer.commit(n);
            return true;
        }
        self.record_slow(k, aux, t, &payload)
    }

    #[cold]
    #[inline(never)]
    fn emit_loss(&mut self, g: u8) -> bool {
        let n = self.pending_loss;
        self.pending_loss = 0;
        let ok = self.record(g, kind::LOSS, 0, |w: &mut ArgWriter| w.put(n.to_le_bytes()));
        if !ok {
            // `record` counted one more loss for the loss record itself; restore the real count.
            self.pending_loss = n;
        }
        ok
    }

    #[cold]
    #[inline(never)]
    fn record_slow(&mut self, k: u8, aux: u32, t: u64, payload: &dyn Fn(&mut ArgWriter)) -> bool {
        let max = self.producer.ring().capacity() / 2;
        let mut size = 4096.min(max);
        let n = loop {
            self.scratch.resize(size + crate::capture::SLACK, 0);
            // SAFETY: the scratch vector has `size + SLACK` initialised bytes.
            let mut w = unsafe {
                ArgWriter::new(
                    self.scratch.as_mut_ptr(),
                    size,
                    self.strsize,
                    self.max_items,
                )
            };
            w.put([k]);
            w.put([0u8; 4]);
            w.put(aux.to_le_bytes());
            w.put(t.to_le_bytes());
            payload(&mut w);
            if !w.overflowed() {
                let n = w.written();
                w.patch_u32(1, n as u32);
                break n;
            }
            if size >= max {
                // Larger than half the buffer: cannot be stored; count it.
                self.pending_loss += 1;
                return false;
            }
            size = (size * 2).min(max);
        };
        let need = |p: &Producer| {
            if n > p.to_lap_end() {
                p.to_lap_end() + n
            } else {
                n
            }
        };
        let mut waited: Option<std::time::Instant> = None;
        let mut spins = 0u32;
        loop {
            let req = need(&self.producer);
            if self.producer.free() >= req {
                break;
            }
            let collector_alive = STATE.load(Relaxed) != SHUTDOWN
                && runtime().collector.get().is_some_and(|c| c.alive())
                && !self.private.load(Relaxed);
            if self.overflow == Overflow::Drop || !collector_alive {
                self.pending_loss += 1;
                return false;
            }
            let ring = self.producer.ring().clone();
            ring.waiting.store(true, Relaxed);
            waited.get_or_insert_with(std::time::Instant::now);
            if let Some(c) = runtime().collector.get() {
                c.wake();
            }
            spins += 1;
            if spins < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        self.producer.write_record(&self.scratch[..n]);
        if let Some(start) = waited {
            self.producer.ring().waiting.store(false, Relaxed);
            let ns = start.elapsed().as_nanos() as u64;
            let g = clock_mode();
            let _ = self.record(g, kind::STALL, 0, |w: &mut ArgWriter| {
                w.put(ns.to_le_bytes())
            });
        }
        true
    }
}

fn install_panic_hook() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        let _ = PANIC_MESSAGE.try_with(|m| *m.borrow_mut() = msg);
        prev(info);
        if cfg!(panic = "abort") {
            // The process is about to abort: no unwinding will close the open calls, so
            // write out what we have and close the trace.
            crate::api::flush_for_exit();
        } else if let Some(c) = runtime().collector.get() {
            // The panic may still turn into an abort (a non-unwinding frame, a panic while
            // panicking): make everything recorded so far durable. `try_flush` because this
            // thread may be the collector itself, holding the sink.
            c.try_flush();
        }
    }));
}

/// The message of the panic this thread is unwinding from, if it was a string.
pub(crate) fn take_panic_message() -> Option<String> {
    PANIC_MESSAGE
        .try_with(|m| m.borrow().clone())
        .ok()
        .flatten()
}

/// Decodes everything pending in `ring` (used by the collector and by `testing`).
pub(crate) fn drain_ring(
    ring: &Ring,
    out: &mut Vec<record::RawEvent>,
) -> Result<(), record::DecodeError> {
    let mut err = None;
    ring.consume(|s| {
        if err.is_none() {
            if let Err(e) = record::decode_slice(s, out) {
                err = Some(e);
            }
        }
    });
    err.map_or(Ok(()), Err)
}
