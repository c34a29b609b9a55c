//! The thread recorder: the hot path from "this call is to be recorded" to bytes in the trace
//! file. Read it top to bottom:
//!
//! 1. **Where the state lives.** Each thread owns one [`ThreadState`] behind a thread-local
//!    pointer, created on the thread's first recorded call ([`with_thread`] →
//!    `create_thread_state`) and freed when the thread exits (`Owner::drop`, which also seals
//!    its segment). While a thread's state is in use the pointer is swapped for a marker, so a
//!    traced function called from inside the recorder (by a `Debug` impl, say) records nothing
//!    and never sees a second `&mut` to the state.
//! 2. **Sampling.** [`sample_global`] and [`ThreadState::sampled`] decide whether a call is
//!    recorded: jittered systematic sampling with a countdown per thread (global rate) or per
//!    (thread, site) (a site's own rate).
//! 3. **The write.** [`ThreadState::record`] reads the clock and writes the record — header
//!    byte, `aux`, time delta, payload (see `record`) — straight into the thread's segment of
//!    the trace file, then the terminating 0, then publishes the header byte. A record that does
//!    not fit, or the first record of a thread, goes to `record_slow`, which maps the thread's
//!    next segment (in ring mode: reuses its oldest one) and writes it there.
//!
//! No locks, shared read-modify-write atomics, allocation or system calls on the fast path;
//! everything else is `#[cold]`.

use crate::capture::{ArgWriter, Budget, SLACK};
use crate::global::{self, runtime, ThreadShared};
use crate::output::{self, Output, NEXT_ANCHOR, RING_SEGMENTS};
use crate::record::{self, kind};
use crate::segment::{seg_off, Mapping, SEG_HEADER};
use crate::site::CallSite;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex};

/// The segment a thread writes into.
pub(crate) struct Seg {
    map: Arc<Mapping>,
    base: *mut u8,
    /// Offset of the next record's header byte (always holds 0).
    pos: usize,
    /// Records may use bytes up to here (the rest is slack for branch-free stores).
    end: usize,
    /// Ticks of the previous record (deltas are relative to it).
    prev: u64,
    seq: u32,
    records: u64,
    /// Whether a collector tails this segment (text/JSON output) and so needs to know after
    /// each record how far the thread has written.
    tailed: bool,
}

/// Per-thread recording state. Only its own thread touches it; aligned to two cache lines so
/// that two threads' states never share one (the hot fields are written on every record).
#[repr(align(128))]
pub(crate) struct ThreadState {
    seg: Option<Seg>,
    /// Ring mode: the thread's segments (mapping, records in it), oldest reused first.
    ring: Vec<(Arc<Mapping>, u64)>,
    /// Records overwritten so far (ring mode).
    evicted: u64,
    out: Option<Arc<Output>>,
    shared: Arc<ThreadShared>,
    budget: Budget,
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
    /// The record path's one check for rare work: from this tick on, `record` looks at the
    /// anchor deadline and pending losses (0 while losses wait to be reported).
    check_at: u64,
}

/// At most this many ticks between two looks at the shared anchor deadline (about 20 ms of TSC
/// ticks, 67 ms of nanoseconds), so a deadline set after a thread last looked is still seen.
const CHECK_GAP: u64 = 1 << 26;

/// Marks the thread-local pointer while the state is in use.
const BUSY: *mut ThreadState = std::ptr::dangling_mut();

thread_local! {
    static THREAD: Cell<*mut ThreadState> = const { Cell::new(std::ptr::null_mut()) };
    static DEAD: Cell<bool> = const { Cell::new(false) };
    static OWNER: Owner = const { Owner(Cell::new(std::ptr::null_mut())) };
}

// ---------------------------------------------------------------------------------------------
// 1. Where the state lives.

/// Puts the state pointer back when the closure returns or unwinds (a `Debug` impl may panic).
struct Lend(*mut ThreadState);

impl Drop for Lend {
    #[inline(always)]
    fn drop(&mut self) {
        let _ = THREAD.try_with(|t| t.set(self.0));
    }
}

/// Runs `f` with this thread's state; `None` when the thread cannot record (exiting, or a
/// traced function called from inside the recorder itself, e.g. by a `Debug` impl).
#[inline(always)]
pub(crate) fn with_thread<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    // The pointer is taken out of the thread-local (BUSY left in its place) before any
    // reference to the state exists, so a re-entrant call finds BUSY and never forms a second
    // reference.
    let p = THREAD.try_with(|t| t.replace(BUSY)).ok()?;
    if p == BUSY {
        return None;
    }
    let p = if p.is_null() {
        match create_thread_state() {
            Some(p) => p,
            None => {
                let _ = THREAD.try_with(|t| t.set(std::ptr::null_mut()));
                return None;
            }
        }
    } else {
        p
    };
    let lend = Lend(p);
    // SAFETY: `p` is this thread's live state (freed only by `Owner::drop`, which first takes
    // it out of THREAD); THREAD holds BUSY until `lend` puts `p` back, so no other reference
    // to the state exists while this one lives.
    let r = f(unsafe { &mut *p });
    drop(lend);
    Some(r)
}

#[cold]
#[inline(never)]
fn create_thread_state() -> Option<*mut ThreadState> {
    if DEAD.try_with(|d| d.get()).unwrap_or(true) {
        return None;
    }
    let rt = runtime();
    let tid = global::gettid();
    let name = std::thread::current().name().map(str::to_owned);
    let shared = Arc::new(ThreadShared {
        tid,
        name: name.clone(),
        segs: Mutex::new(Vec::new()),
        published: AtomicU64::new(0),
        closed: Default::default(),
    });
    let mut state = Box::new(ThreadState {
        seg: None,
        ring: Vec::new(),
        evicted: 0,
        out: None,
        shared: shared.clone(),
        budget: rt.settings.budget(),
        sample: rt.settings.sample,
        countdown: 0,
        offset: 0,
        rng: seed_for(tid),
        site_countdown: Vec::new(),
        next_call: 0,
        tid,
        pending_loss: 0,
        check_at: 0,
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
    rt.register_thread(shared);
    if let Some(out) = output::current() {
        out.thread_name(tid, name.as_deref(), global::ticks(global::clock_mode()));
    }
    Some(p)
}

/// Frees the thread state when the thread exits and seals its segment.
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
        if state.pending_loss != 0 {
            state.emit_loss(global::clock_mode());
        }
        state.seal();
        state.shared.closed.store(true, Release);
        let collector = &runtime().collector;
        if collector.alive() {
            collector.wake();
        }
    }
}

/// In a forked child: the current thread's state forgets the parent's trace file (its
/// mappings are the parent's) and takes the child's thread id.
pub(crate) fn after_fork_in_child() {
    let _ = THREAD.try_with(|t| {
        let p = t.get();
        if p.is_null() || p == BUSY {
            return;
        }
        // SAFETY: the only thread of the child is this one and it is not inside the recorder
        // (THREAD does not hold BUSY), so no other reference to the state exists.
        let s = unsafe { &mut *p };
        s.seg = None;
        s.ring.clear();
        s.evicted = 0;
        s.out = None;
        s.tid = global::gettid();
        s.next_call = 0;
        s.pending_loss = 0;
        s.check_at = 0;
        s.shared = Arc::new(ThreadShared {
            tid: s.tid,
            name: s.shared.name.clone(),
            segs: Mutex::new(Vec::new()),
            published: AtomicU64::new(0),
            closed: Default::default(),
        });
        runtime().register_thread(s.shared.clone());
    });
}

/// Swaps the current thread's segment for `seg` (testing: record into private memory).
#[cfg(feature = "testing")]
pub(crate) fn swap_segment(seg: Option<Seg>) -> Option<Option<Seg>> {
    with_thread(|t| std::mem::replace(&mut t.seg, seg))
}

#[cfg(feature = "testing")]
impl Seg {
    /// A segment over private memory (not part of any file).
    pub(crate) fn private(map: Arc<Mapping>, base_ticks: u64) -> Seg {
        let len = map.len();
        Seg {
            base: map.ptr(),
            map,
            pos: SEG_HEADER,
            end: len - SLACK - 1,
            prev: base_ticks,
            seq: PRIVATE_SEQ,
            records: 0,
            tailed: false,
        }
    }

    /// The mapping and how far it was written.
    pub(crate) fn into_parts(self) -> (Arc<Mapping>, usize) {
        (self.map, self.pos)
    }
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
    if p == BUSY {
        // Called from inside the recorder: not recorded.
        return Some(false);
    }
    // SAFETY: as in `with_thread`: `p` is this thread's live state, and THREAD holds it (not
    // BUSY), so no reference to the state is in use; this one ends before we return.
    let t = unsafe { &mut *p };
    Some(t.sampled_global())
}

/// The common case of global-rate sampling alone: true when this call is sampled out (the
/// countdown was above 1 and is now one less). False means "ask [`sample_global`]": the call
/// is the one to record, or the thread has no state yet, or it is inside the recorder.
#[inline(always)]
pub(crate) fn skip_sampled_out() -> bool {
    let Ok(p) = THREAD.try_with(|t| t.get()) else {
        return false;
    };
    if p.is_null() || p == BUSY {
        return false;
    }
    // SAFETY: as in `sample_global`: `p` is this thread's live state and THREAD holds it (not
    // BUSY), so no other reference to the state is in use; this one ends before we return.
    let t = unsafe { &mut *p };
    if t.countdown > 1 {
        t.countdown -= 1;
        true
    } else {
        false
    }
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

    /// Appends one record (header, then what `payload` writes; for call entries the number of
    /// values first); false when it was dropped (and counted).
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
        if t >= self.check_at {
            self.rare_checks(g, t);
        }
        if let Some(seg) = &mut self.seg {
            if write_into(seg, self.budget, k, aux, t, &payload) {
                publish(&self.shared, seg);
                return true;
            }
        }
        self.record_slow(g, k, aux, t, &payload)
    }

    /// What `record` does only now and then: takes the clock anchor when it is due and reports
    /// dropped records; then sets when to look again.
    #[cold]
    #[inline(never)]
    fn rare_checks(&mut self, g: u8, t: u64) {
        if t >= NEXT_ANCHOR.load(Relaxed) {
            take_anchor();
        }
        if self.pending_loss != 0 {
            self.emit_loss(g);
        }
        self.check_at = if self.pending_loss != 0 {
            0
        } else {
            NEXT_ANCHOR.load(Relaxed).min(t.saturating_add(CHECK_GAP))
        };
    }

    /// Counts a record that could not be stored (reported by the next record that can be).
    fn lose(&mut self) {
        self.pending_loss += 1;
        self.check_at = 0;
    }

    /// Writes the records dropped so far as one loss record.
    #[cold]
    #[inline(never)]
    fn emit_loss(&mut self, g: u8) {
        let n = std::mem::take(&mut self.pending_loss);
        let t = global::ticks(g);
        let payload = |w: &mut ArgWriter| w.put(n.to_le_bytes());
        let ok = match &mut self.seg {
            Some(seg) => write_into(seg, self.budget, kind::LOSS, 0, t, &payload),
            None => false,
        };
        if !ok {
            self.pending_loss = n;
        }
    }

    /// The first record of the thread, or one that does not fit in the rest of the segment:
    /// on to the next segment (mapping a new one, or in ring mode reusing the oldest), then
    /// write it there.
    #[cold]
    #[inline(never)]
    fn record_slow(
        &mut self,
        g: u8,
        k: u8,
        aux: u32,
        t: u64,
        payload: &dyn Fn(&mut ArgWriter),
    ) -> bool {
        if !self.next_segment() {
            self.lose();
            return false;
        }
        // A call's entry is stamped after the segment switch: mapping a segment (and starting
        // the runtime, on a thread's first call) is the tracer's time, not the call's.
        let t = if matches!(k, kind::ENTER | kind::ENTER_ASYNC) {
            global::ticks(g)
        } else {
            t
        };
        if self.pending_loss != 0 {
            self.emit_loss(g);
        }
        let seg = self.seg.as_mut().expect("next_segment set it");
        if write_into(seg, self.budget, k, aux, t, payload) {
            publish(&self.shared, seg);
            true
        } else {
            // Larger than a whole segment: cannot be stored; count it.
            self.lose();
            false
        }
    }

    /// Seals the current segment (the collector may read it to its end).
    fn seal(&mut self) {
        if let Some(seg) = &self.seg {
            seg.map.store_u32(seg_off::SEALED, 1);
            publish(&self.shared, seg);
        }
    }

    /// Moves to a fresh segment; false when there is no trace file (or it cannot grow).
    fn next_segment(&mut self) -> bool {
        let Some(out) = self.out.clone().or_else(output::current) else {
            return false;
        };
        if self.out.is_none() {
            self.out = Some(out.clone());
        }
        self.seal();
        let seq = self.seg.as_ref().map_or(0, |s| s.seq.wrapping_add(1));
        let t0;
        let map = if out.ring && self.ring.len() >= RING_SEGMENTS {
            // Flight recorder: start over in the oldest segment; its records are lost.
            if let Some(seg) = &self.seg {
                if let Some(e) = self.ring.iter_mut().find(|(m, _)| Arc::ptr_eq(m, &seg.map)) {
                    e.1 = seg.records;
                }
            }
            let slot = seq as usize % RING_SEGMENTS;
            self.evicted += self.ring[slot].1;
            self.ring[slot].1 = 0;
            let m = self.ring[slot].0.clone();
            out.reuse_segment(&m, self.tid, seq, self.evicted);
            t0 = segment_base(&m);
            m
        } else {
            if let Some(seg) = &self.seg {
                if let Some(e) = self.ring.iter_mut().find(|(m, _)| Arc::ptr_eq(m, &seg.map)) {
                    e.1 = seg.records;
                }
            }
            let Some(m) = out.thread_segment(self.tid, seq, self.evicted) else {
                self.seg = None;
                return false;
            };
            let m = Arc::new(m);
            t0 = segment_base(&m);
            if out.ring {
                self.ring.push((m.clone(), 0));
            }
            if out.tailed {
                self.shared
                    .segs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((seq, m.clone()));
            }
            m
        };
        let len = map.len();
        self.seg = Some(Seg {
            base: map.ptr(),
            map,
            pos: SEG_HEADER,
            end: len - SLACK - 1,
            prev: t0,
            seq,
            records: 0,
            tailed: out.tailed,
        });
        true
    }
}

/// The sequence number of a private (testing) segment, which is never published.
#[cfg(feature = "testing")]
const PRIVATE_SEQ: u32 = u32::MAX;

/// Tells a collector that tails the segment (text/JSON output) how far the thread has
/// written; binary and ring outputs are read from the file, so nothing is stored for them.
#[inline(always)]
fn publish(shared: &ThreadShared, seg: &Seg) {
    if seg.tailed {
        shared.publish(seg.seq, seg.pos);
    }
}

/// The base ticks stored in a segment's header.
fn segment_base(m: &Mapping) -> u64 {
    let mut b = [0u8; 8];
    m.read(seg_off::BASE, &mut b);
    u64::from_le_bytes(b)
}

#[cold]
#[inline(never)]
fn take_anchor() {
    // One thread takes it; the others carry on (the deadline moves as soon as it is taken).
    NEXT_ANCHOR.store(u64::MAX, Relaxed);
    if let Some(out) = output::current() {
        out.anchor();
    }
}

/// Writes one whole record at `seg.pos`: header byte (last, with `Release`), `aux`, time
/// delta, for call entries the number of values, then the payload, then the terminating 0.
/// False when it does not fit in the rest of the segment.
#[inline(always)]
fn write_into<F: Fn(&mut ArgWriter) + ?Sized>(
    seg: &mut Seg,
    budget: Budget,
    k: u8,
    aux: u32,
    t: u64,
    payload: &F,
) -> bool {
    let start = seg.pos;
    let room = seg.end.saturating_sub(start + 1);
    // SAFETY: the segment's mapping is valid for `end + SLACK + 1` bytes from `base` and only
    // this thread writes past `pos`; `start + 1 + room + SLACK <= end + SLACK`.
    let mut w = unsafe { ArgWriter::new(seg.base.add(start + 1), room, budget) };
    // Deltas never go back (clocks read on different CPUs may, by a few ticks).
    let t = t.max(seg.prev);
    let dt = t - seg.prev;
    let entry = matches!(k, kind::ENTER | kind::ENTER_ASYNC);
    let head = record::put_aux_dt(&mut w, k, aux, dt, entry);
    let count_at = entry.then(|| w.mark() - 1);
    payload(&mut w);
    if w.overflowed() {
        return false;
    }
    if let Some(at) = count_at {
        let n = w.values() as u8;
        w.patch_u8(at, n);
    }
    let end = start + 1 + w.written();
    // SAFETY: `end <= seg.end < ` the mapping's length (the writer did not overflow `room`),
    // and only this thread writes at or past `seg.pos`.
    unsafe { *seg.base.add(end) = 0 };
    // SAFETY: `start < end`, in the mapping; readers of this byte load it atomically (the
    // `Release` store publishes the record's bytes written before it).
    let head_byte = unsafe { &*(seg.base.add(start) as *const std::sync::atomic::AtomicU8) };
    head_byte.store(head, Release);
    seg.pos = end;
    seg.prev = t;
    seg.records += 1;
    true
}
