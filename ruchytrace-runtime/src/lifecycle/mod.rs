//! The runtime's life: initialisation on first use ([`init`]; with `RUCHYTRACE=dormant` it
//! only starts the `control` thread that waits for `ruchytrace attach`), starting the collector
//! and switching recording on ([`start`], [`try_start`]), the panic hook (remembers the message for the exit
//! record; flushes before an abort) and the final flush at process exit ([`flush_for_exit`],
//! registered with `atexit`).

pub mod control;

use crate::collector;
use crate::global::{runtime, OFF, ON_MONO, ON_TSC, SHUTDOWN, STATE, UNINIT};
use std::cell::RefCell;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::Ordering::*;

thread_local! {
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Initialises on first use; returns the settled state.
#[cold]
pub(crate) fn init() -> u8 {
    let rt = runtime();
    let s = STATE.load(Acquire);
    if s != UNINIT {
        return s;
    }
    if rt.settings.dormant {
        // Nothing is recorded until `ruchytrace attach` says so (see `control`). The fork hook
        // is needed now: a forked child must listen on a socket of its own.
        install_hooks();
        control::start_watcher();
        let _ = STATE.compare_exchange(UNINIT, OFF, AcqRel, Acquire);
    } else if rt.settings.enabled {
        start();
    } else {
        let _ = STATE.compare_exchange(UNINIT, OFF, AcqRel, Acquire);
    }
    STATE.load(Acquire)
}

/// The settled state: [`init`] when the runtime has not read its settings yet, else `g`.
#[inline]
pub(crate) fn settle(g: u8) -> u8 {
    if g == UNINIT {
        init()
    } else {
        g
    }
}

/// Opens the trace file and starts the collector (once), then switches recording on. When
/// the file cannot be created, says so once and leaves recording off: the program runs on.
pub(crate) fn start() {
    if STATE.load(Acquire) == SHUTDOWN {
        return;
    }
    if let Err(e) = try_start() {
        eprintln!("ruchytrace: warning: {e}; nothing is recorded");
        let _ = STATE.compare_exchange(UNINIT, OFF, AcqRel, Acquire);
    }
}

/// As [`start`], but the error is the caller's to report (`control` answers it to
/// `ruchytrace attach`).
pub(crate) fn try_start() -> std::io::Result<()> {
    let rt = runtime();
    if STATE.load(Acquire) == SHUTDOWN {
        return Err(std::io::Error::other("the process is exiting"));
    }
    #[cfg(not(miri))]
    collector::start_once(rt, install_hooks)?;
    // Under Miri (no memfd, no file-backed mappings) there is no trace file: its tests record
    // into private memory through `testing::capture`.
    #[cfg(miri)]
    install_hooks();
    let on = if rt.tsc { ON_TSC } else { ON_MONO };
    let _ = STATE.fetch_update(AcqRel, Acquire, |s| (s != SHUTDOWN).then_some(on));
    Ok(())
}

/// Once per process: the panic hook, the exit hook and the fork hook.
fn install_hooks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        install_panic_hook();
        // Miri (which runs the recorder's tests, see `scripts/miri.sh`) has neither; its tests
        // never fork and read what they record without exiting.
        #[cfg(not(miri))]
        {
            // SAFETY: `on_exit` is an `extern "C" fn()` that never unwinds (it catches panics).
            unsafe { libc::atexit(on_exit) };
            // SAFETY: `in_child` is an `extern "C" fn()` that never unwinds.
            unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        }
    });
}

/// After `fork()`, in the child: the parent's trace file, collector and threads are not the
/// child's. Recording starts over on the next traced call, into the child's own file (`%p`
/// expands to the child's pid; a path without `%p` gets `.PID` appended).
extern "C" fn in_child() {
    let _ = std::panic::catch_unwind(|| {
        let rt = runtime();
        let was = STATE.load(Acquire);
        rt.pid.store(std::process::id(), Relaxed);
        crate::output::forget();
        collector::forget();
        if let Ok(mut t) = rt.threads.try_lock() {
            t.clear();
        }
        crate::recorder::after_fork_in_child();
        control::after_fork_in_child();
        if rt.settings.dormant && was != SHUTDOWN {
            // Back to dormant, listening on the child's own socket from its next traced call.
            STATE.store(UNINIT, Release);
        } else if was <= ON_MONO {
            STATE.store(UNINIT, Release);
        }
    });
}

/// Final flush: called at process exit (`atexit`, which covers returning from `main` and
/// `std::process::exit`) and before a `panic = "abort"` abort. Recording stops; the output gets
/// its trailer.
pub fn flush_for_exit() {
    STATE.store(SHUTDOWN, Release);
    if let Some(c) = collector::handle() {
        c.finish();
    }
}

extern "C" fn on_exit() {
    let _ = std::panic::catch_unwind(flush_for_exit);
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
            flush_for_exit();
        } else if let Some(c) = collector::handle() {
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
