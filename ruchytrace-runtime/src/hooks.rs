//! The public hook API: what `#[ruchytrace::trace]` expands to, and what a code generator may emit
//! directly (see `docs/codegen-hooks.md`).
//!
//! The hot path is [`enter`] and [`CallGuard::exit_with`]: one relaxed load of the global state,
//! one of the site's cached decision, a thread-local pointer, a clock read, and stores into the
//! thread's own buffer. Everything else (first use, new threads, full buffers, panics) is on
//! `#[cold]` paths.

use crate::capture::ArgWriter;
use crate::global::{self, ON_MONO, STATE, UNINIT};
use crate::lifecycle;
use crate::record::{kind, ret};
use crate::recorder::{self, ThreadState};
use crate::site::{self, SITE_GLOBAL, SITE_OFF, SITE_ON, SITE_SAMPLED, SITE_UNRESOLVED};
use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll};

pub use crate::capture::probe as capture;
pub use crate::capture::{ArgWriter as Writer, Capture};
pub use crate::model::SiteKind;
pub use crate::site::{ArgMeta, CallSite, SiteMeta};

/// Resolves a site's id and filter/sampling decision, initialising the runtime when needed.
/// Returns the clock mode to record with, or `None` when nothing is to be recorded.
#[cold]
fn resolve(g: u8, site: &'static CallSite) -> Option<u8> {
    let g = lifecycle::settle(g);
    if g > ON_MONO {
        return None;
    }
    let rt = global::runtime();
    if site::resolve(site, rt.filter.as_ref(), rt.settings.sample) {
        // The site's description goes into the trace file before any event that uses it.
        if let Some(out) = crate::output::current() {
            out.sync_sites();
        }
    }
    Some(g)
}

/// Pins a closure's return type so `?` and `return` in a moved function body infer as in the
/// original function.
#[inline(always)]
pub fn call<R, F: FnOnce() -> R>(f: F) -> R {
    f()
}

/// An open sync call; records the exit when [`CallGuard::exit_with`] is called or when dropped
/// (unwinding: as a panic; otherwise as "returned, value not captured").
#[must_use = "the guard records the call's exit"]
pub struct CallGuard {
    site: &'static CallSite,
    active: bool,
}

impl CallGuard {
    /// Whether this call is being recorded (false when disabled, filtered out or not sampled).
    pub fn is_recording(&self) -> bool {
        self.active
    }

    /// Records the exit with the return value (`ret` writes exactly one value).
    #[inline(always)]
    pub fn exit_with(self, ret: impl Fn(&mut ArgWriter)) {
        let me = ManuallyDrop::new(self);
        if me.active {
            exit_on(me.site, ret);
        }
    }
}

/// The recording part of [`CallGuard::exit_with`], out of line for the same reason as
/// `enter_on`.
#[inline(never)]
fn exit_on<F: Fn(&mut ArgWriter)>(site: &'static CallSite, ret: F) {
    record_exit(site, None, |w: &mut ArgWriter| {
        w.put([ret::VALUE]);
        ret(w)
    });
}

impl Drop for CallGuard {
    #[inline]
    fn drop(&mut self) {
        if self.active {
            exit_without_value(self.site, None);
        }
    }
}

#[cold]
#[inline(never)]
fn exit_without_value(site: &'static CallSite, call_id: Option<u64>) {
    if std::thread::panicking() {
        let msg = lifecycle::take_panic_message();
        record_exit(site, call_id, |w: &mut ArgWriter| {
            w.put([ret::PANIC]);
            match &msg {
                Some(m) => w.str(m),
                None => w.unit(),
            }
        });
    } else if call_id.is_some() {
        record_exit(site, call_id, |w: &mut ArgWriter| w.put([ret::CANCELLED]));
    } else {
        record_exit(site, call_id, |w: &mut ArgWriter| {
            w.put([ret::NOT_CAPTURED])
        });
    }
}

#[inline(always)]
fn record_exit(site: &'static CallSite, call_id: Option<u64>, payload: impl Fn(&mut ArgWriter)) {
    let mut g = STATE.load(Relaxed);
    if g > ON_MONO {
        // Disabled since the call began: still close it, so recorded pairs stay balanced.
        g = global::clock_mode();
    }
    let id = site.id.load(Relaxed);
    recorder::with_thread(|t: &mut ThreadState| match call_id {
        None => t.record(g, kind::EXIT, id, &payload),
        Some(c) => t.record(g, kind::EXIT_ASYNC, id, |w: &mut ArgWriter| {
            w.put(c.to_le_bytes());
            payload(w)
        }),
    });
}

/// Records the entry of a sync call. `args` writes, in order, exactly the arguments listed in
/// the site's `args`; it runs only when the call is recorded.
#[inline(always)]
pub fn enter(site: &'static CallSite, args: impl Fn(&mut ArgWriter)) -> CallGuard {
    let g = STATE.load(Relaxed);
    if g > ON_MONO {
        if g == UNINIT {
            return enter_cold(g, site, &args);
        }
        return CallGuard {
            site,
            active: false,
        };
    }
    let st = site.state.load(Relaxed);
    if st == SITE_OFF {
        // Filtered out: decided once, at the site's first call.
        return CallGuard {
            site,
            active: false,
        };
    }
    if st == SITE_GLOBAL {
        match recorder::sample_global() {
            Some(false) => {
                return CallGuard {
                    site,
                    active: false,
                }
            }
            // Sampled in: record it like any traced call.
            Some(true) => return enter_on(g, SITE_ON, site, args),
            None => {}
        }
    }
    enter_on(g, st, site, args)
}

/// The recording part of [`enter`], out of line: the caller's inline part stays a load, a
/// compare and a branch (no stack frame to set up for the disabled and filtered cases), and
/// the capture closure is still monomorphized into this function, not called through a
/// pointer.
#[inline(never)]
fn enter_on<F: Fn(&mut ArgWriter)>(g: u8, st: u8, site: &'static CallSite, args: F) -> CallGuard {
    let active = if st == SITE_ON {
        recorder::with_thread(|t| t.record(g, kind::ENTER, site.id.load(Relaxed), &args))
    } else if st == SITE_GLOBAL {
        // The countdown comes before anything else, so that a call sampled out costs a
        // thread-local load and a decrement.
        recorder::with_thread(|t| {
            t.sampled_global() && t.record(g, kind::ENTER, site.id.load(Relaxed), &args)
        })
    } else if st == SITE_SAMPLED {
        recorder::with_thread(|t| {
            t.sampled(site, site.meta.sample)
                && t.record(g, kind::ENTER, site.id.load(Relaxed), &args)
        })
    } else {
        return enter_cold(g, site, &args);
    };
    CallGuard {
        site,
        active: active.unwrap_or(false),
    }
}

#[cold]
#[inline(never)]
fn enter_cold(g: u8, site: &'static CallSite, args: &dyn Fn(&mut ArgWriter)) -> CallGuard {
    let inactive = CallGuard {
        site,
        active: false,
    };
    let Some(g) = resolve(g, site) else {
        return inactive;
    };
    let id = site.id.load(Relaxed);
    let Some(sample) = site.sample_rate() else {
        return inactive;
    };
    let active =
        recorder::with_thread(|t| t.sampled(site, sample) && t.record(g, kind::ENTER, id, args))
            .unwrap_or(false);
    CallGuard { site, active }
}

/// An open `async fn` call: one record from its first poll to its completion.
#[must_use = "the call records its exit"]
pub struct AsyncCall {
    site: &'static CallSite,
    call_id: u64,
    active: bool,
}

/// Records the first poll of an `async fn` call (place it at the start of the async body).
#[inline(always)]
pub fn enter_async(site: &'static CallSite, args: impl Fn(&mut ArgWriter)) -> AsyncCall {
    enter_async_inner(site, &args)
}

#[inline(never)]
fn enter_async_inner(site: &'static CallSite, args: &dyn Fn(&mut ArgWriter)) -> AsyncCall {
    let inactive = AsyncCall {
        site,
        call_id: 0,
        active: false,
    };
    let g = STATE.load(Relaxed);
    let Some(g) = resolve(g, site) else {
        return inactive;
    };
    let Some(sample) = site.sample_rate() else {
        return inactive;
    };
    let id = site.id.load(Relaxed);
    recorder::with_thread(|t| {
        if !t.sampled(site, sample) {
            return inactive;
        }
        let call_id = t.next_call_id();
        let ok = t.record(g, kind::ENTER_ASYNC, id, |w: &mut ArgWriter| {
            w.put(call_id.to_le_bytes());
            args(w)
        });
        AsyncCall {
            site,
            call_id,
            active: ok,
        }
    })
    .unwrap_or(AsyncCall {
        site,
        call_id: 0,
        active: false,
    })
}

impl AsyncCall {
    /// Records completion with the output value.
    #[inline]
    pub fn exit_with(self, ret: impl Fn(&mut ArgWriter)) {
        let me = ManuallyDrop::new(self);
        if me.active {
            record_exit(me.site, Some(me.call_id), |w: &mut ArgWriter| {
                w.put([ret::VALUE]);
                ret(w)
            });
        }
    }

    /// Records completion without capturing the output (`skip_return`).
    #[inline]
    pub fn exit(self) {
        let me = ManuallyDrop::new(self);
        if me.active {
            record_exit(me.site, Some(me.call_id), |w: &mut ArgWriter| {
                w.put([ret::NOT_CAPTURED])
            });
        }
    }

    fn mark(&self, k: u8) {
        if !self.active {
            return;
        }
        let mut g = STATE.load(Relaxed);
        if g > ON_MONO {
            g = global::clock_mode();
        }
        let id = self.site.id.load(Relaxed);
        let c = self.call_id;
        recorder::with_thread(|t| t.record(g, k, id, |w: &mut ArgWriter| w.put(c.to_le_bytes())));
    }
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        if self.active {
            exit_without_value(self.site, Some(self.call_id));
        }
    }
}

pin_project_lite::pin_project! {
    /// The body future of an instrumented `async fn` (see [`instrument`]).
    pub struct Instrumented<'a, F> {
        call: &'a AsyncCall,
        #[pin]
        fut: F,
        polled: bool,
    }
}

/// Wraps an `async fn` body: records a resume at the start of every poll after the first and a
/// suspend whenever it returns `Pending`, so the call is never left open on a thread's stack
/// across an `.await`.
#[inline]
pub fn instrument<R, F: Future<Output = R>>(call: &AsyncCall, fut: F) -> Instrumented<'_, F> {
    Instrumented {
        call,
        fut,
        polled: false,
    }
}

impl<F: Future> Future for Instrumented<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if *this.polled {
            this.call.mark(kind::RESUME);
        }
        *this.polled = true;
        let out = this.fut.poll(cx);
        if out.is_pending() {
            this.call.mark(kind::SUSPEND);
        }
        out
    }
}

// Gated entry and nested structures, used by `#[trace]` and `#[derive(Traceable)]`. Kept together
// and self-contained at the end of the file so the runtime restructuring can re-home them.

/// The argument-free half of a sync call's entry, taken before anything is built for the
/// arguments: the expansion tests [`Gate::is_open`] and only then creates the capture closure
/// (which takes the arguments' addresses), so a disabled, filtered-out or sampled-out call costs
/// the loads and branches of this function and nothing else.
#[derive(Clone, Copy, Debug)]
pub struct Gate {
    g: u8,
    st: u8,
}

impl Gate {
    /// Whether the call goes on to [`enter_gated`]; false when tracing is off, the site is
    /// filtered out, or the global sampler skipped this call.
    #[inline(always)]
    pub fn is_open(self) -> bool {
        self.st != SITE_OFF
    }
}

/// Decides whether a call of `site` is recorded, without touching its arguments. A call the
/// global sampler lets through is counted here, so [`enter_gated`] does not count it again.
#[inline(always)]
pub fn gate(site: &'static CallSite) -> Gate {
    let g = STATE.load(Relaxed);
    if g > ON_MONO {
        // Not initialised yet: open, so the slow path reads the environment and resolves the site.
        let st = if g == UNINIT {
            SITE_UNRESOLVED
        } else {
            SITE_OFF
        };
        return Gate { g, st };
    }
    let st = site.state.load(Relaxed);
    if st == SITE_GLOBAL {
        return gate_sampled(g);
    }
    Gate { g, st }
}

/// The global sampler's countdown, out of line: the caller's inline part then holds no value
/// across a call, which lets the compiler keep the disabled path free of a stack frame. A
/// skipped call is a thread-local load, a decrement and a return; everything else (drawing
/// the next gap, a thread without state) is a tail call, so this needs no frame either.
#[inline(never)]
fn gate_sampled(g: u8) -> Gate {
    if recorder::skip_sampled_out() {
        return Gate { g, st: SITE_OFF };
    }
    gate_sampled_slow(g)
}

#[cold]
#[inline(never)]
fn gate_sampled_slow(g: u8) -> Gate {
    match recorder::sample_global() {
        Some(false) => Gate { g, st: SITE_OFF },
        Some(true) => Gate { g, st: SITE_ON },
        None => Gate { g, st: SITE_GLOBAL },
    }
}

/// The recording half of a gated entry: call it only when [`Gate::is_open`]. `args` writes, in
/// order, exactly the arguments listed in the site's `args`.
#[inline(always)]
pub fn enter_gated(
    gate: Gate,
    site: &'static CallSite,
    args: impl Fn(&mut ArgWriter),
) -> CallGuard {
    if gate.g > ON_MONO {
        return enter_cold(gate.g, site, &args);
    }
    enter_on(gate.g, gate.st, site, args)
}

impl CallGuard {
    /// The guard of a call whose [`Gate`] was closed: records nothing.
    #[inline(always)]
    pub fn closed(site: &'static CallSite) -> CallGuard {
        CallGuard {
            site,
            active: false,
        }
    }
}

/// Writes a struct (or enum variant) named `name` with `fields` fields; `body` writes them (one
/// [`Writer::field`] and one value each). The `Traceable` derive calls this for every nested
/// value so the runtime decides how deep capture goes: past the depth budget
/// (`RUCHYTRACE_DEPTH`) a cut marker is written instead and `body` never runs.
#[inline]
pub fn structure(w: &mut ArgWriter, name: &str, fields: u8, body: impl FnOnce(&mut ArgWriter)) {
    if w.struct_begin(name, fields) {
        body(w);
        w.struct_end();
    }
}
