//! The thread recorder: the hot path from "this call is to be recorded" to bytes in the
//! thread's own buffer. Read it top to bottom:
//!
//! 1. **Where the state lives.** Each thread owns one [`ThreadState`] behind a thread-local
//!    pointer, created on the thread's first recorded call ([`with_thread`] →
//!    `create_thread_state`) and freed when the thread exits (`Owner::drop`, which also tells
//!    the collector the buffer is final).
//! 2. **Sampling.** [`sample_global`] and [`ThreadState::sampled`] decide whether a call is
//!    recorded: jittered systematic sampling with a countdown per thread (global rate) or per
//!    (thread, site) (a site's own rate).
//! 3. **The write.** [`ThreadState::record`] reads the clock, writes the record header
//!    ([`Header`]) and the payload straight into the ring, and commits. A record that does not
//!    fit goes to `record_slow` (build in a scratch buffer, then wait for space or count a
//!    loss); pending losses are written first as a loss record (`emit_loss`).
//!
//! No locks, shared atomics, allocation or system calls on the fast path; everything else is
//! `#[cold]`.

use crate::capture::{ArgWriter, SLACK};
use crate::config::Overflow;
use crate::global::{self, runtime, ThreadEntry, SHUTDOWN, STATE};
use crate::record::{kind, Header};
use crate::ring::{Producer, Ring};
use crate::site::CallSite;
use std::cell::Cell;
#[cfg(feature = "testing")]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::Arc;
use std::time::Duration;

/// Per-thread recording state. Only its own thread touches it.
pub(crate) struct ThreadState {
    producer: Producer,
    /// Set while a reference to the state is in use (re-entrant calls record nothing).
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
    /// Records dropped and not yet reported by a loss record.
    pending_loss: u64,
    strsize: u32,
    max_items: u32,
    overflow: Overflow,
    /// Where a record too large for the ring's free space is built.
    scratch: Vec<u8>,
    /// Set while `testing::capture` drains this thread's buffer itself.
    #[cfg(feature = "testing")]
    private: Arc<AtomicBool>,
}

thread_local! {
    static THREAD: Cell<*mut ThreadState> = const { Cell::new(std::ptr::null_mut()) };
    static DEAD: Cell<bool> = const { Cell::new(false) };
    static OWNER: Owner = const { Owner(Cell::new(std::ptr::null_mut())) };
}

// ---------------------------------------------------------------------------------------------
// 1. Where the state lives.

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
    let tid = global::gettid();
    #[cfg(feature = "testing")]
    let private = Arc::new(AtomicBool::new(false));
    let mut state = Box::new(ThreadState {
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
        #[cfg(feature = "testing")]
        private: private.clone(),
    });
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
    rt.register_thread(ThreadEntry {
        ring,
        tid,
        #[cfg(feature = "testing")]
        private,
    });
    let name = std::thread::current().name().map(str::to_owned);
    // SAFETY: as in `with_thread`; nothing else holds a reference yet.
    let t = unsafe { &mut *p };
    let g = global::clock_mode();
    t.record(g, kind::THREAD, 0, |w: &mut ArgWriter| {
        if let Some(n) = &name {
            w.str(n)
        }
    });
    Some(p)
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
        if state.pending_loss != 0 && !state.emit_loss(global::clock_mode()) {
            state
                .producer
                .ring()
                .lost_at_exit
                .store(state.pending_loss, Release);
        }
        state.producer.ring().closed.store(true, Release);
        let collector = &runtime().collector;
        if collector.alive() {
            collector.wake();
        }
    }
}

/// The current thread's buffer, its private flag and its tid (creating its state when
/// needed), for `testing::capture`.
#[cfg(feature = "testing")]
pub(crate) fn current_private_flag() -> Option<(Arc<AtomicBool>, Arc<Ring>, u32)> {
    with_thread(|t| (t.private.clone(), t.producer.ring().clone(), t.tid))
}

// ---------------------------------------------------------------------------------------------
// 2. Sampling.

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
    static ORDER: AtomicU64 = AtomicU64::new(0);
    let nth = ORDER.fetch_add(1, Relaxed);
    let base = match std::env::var("RUCHYTRACE_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(seed) => seed ^ nth.wrapping_mul(0xD6E8_FEB8_6659_FD93),
        None => crate::clock::monotonic_ns() ^ (u64::from(tid) << 32),
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
        let i = site.id() as usize;
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

    // -----------------------------------------------------------------------------------------
    // 3. The write.

    /// Appends one record (header, then what `payload` writes); false when it was dropped (and
    /// counted).
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
        let t = global::ticks(g);
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
        if write_record(&mut w, k, aux, t, &payload) {
            let n = w.written();
            self.producer.commit(n);
            return true;
        }
        self.record_slow(k, aux, t, &payload)
    }

    /// Writes the records dropped so far as one loss record.
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

    /// A record that does not fit in the ring's contiguous free space: build it in the scratch
    /// buffer (growing up to half the ring), then wait for space (`overflow=block`, while a
    /// collector drains) or count it as lost.
    #[cold]
    #[inline(never)]
    fn record_slow(&mut self, k: u8, aux: u32, t: u64, payload: &dyn Fn(&mut ArgWriter)) -> bool {
        let max = self.producer.ring().capacity() / 2;
        let mut size = 4096.min(max);
        let n = loop {
            self.scratch.resize(size + SLACK, 0);
            // SAFETY: the scratch vector has `size + SLACK` initialised bytes.
            let mut w = unsafe {
                ArgWriter::new(
                    self.scratch.as_mut_ptr(),
                    size,
                    self.strsize,
                    self.max_items,
                )
            };
            if write_record(&mut w, k, aux, t, payload) {
                break w.written();
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
        let rt = runtime();
        loop {
            let req = need(&self.producer);
            if self.producer.free() >= req {
                break;
            }
            let collector_alive =
                STATE.load(Relaxed) != SHUTDOWN && rt.collector.alive() && !self.is_private();
            if self.overflow == Overflow::Drop || !collector_alive {
                self.pending_loss += 1;
                return false;
            }
            let ring = self.producer.ring().clone();
            ring.waiting.store(true, Relaxed);
            waited.get_or_insert_with(std::time::Instant::now);
            rt.collector.wake();
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
            let g = global::clock_mode();
            let _ = self.record(g, kind::STALL, 0, |w: &mut ArgWriter| {
                w.put(ns.to_le_bytes())
            });
        }
        true
    }

    /// Whether `testing::capture` drains this thread's buffer (then nobody else will).
    #[inline]
    fn is_private(&self) -> bool {
        #[cfg(feature = "testing")]
        return self.private.load(Relaxed);
        #[cfg(not(feature = "testing"))]
        false
    }
}

/// Writes one whole record through `w`: the header (its length patched in at the end), then the
/// payload. False when it did not fit.
#[inline(always)]
fn write_record<F: Fn(&mut ArgWriter) + ?Sized>(
    w: &mut ArgWriter,
    k: u8,
    aux: u32,
    ticks: u64,
    payload: &F,
) -> bool {
    w.put(Header::bytes(k, aux, ticks));
    payload(w);
    if w.overflowed() {
        return false;
    }
    let n = w.written();
    w.patch_u32(Header::LEN_AT, n as u32);
    true
}
