//! Visible skips for the integration tests, and the direct ptrace probe they depend on.
//!
//! A test that cannot run its checks here (no ptrace, no `strace`, no `ruchy`) calls [`skip`]
//! and returns. The test harness would report it as `ok` and hide anything printed through
//! `eprintln!` (it captures the output of passing tests), so [`skip`] writes
//! `SKIPPED <test>: <reason>` straight to the process's standard error, which `cargo test`
//! shows in its output whatever `--nocapture` says. When the `CI` environment variable is set
//! (to anything but an empty string, `0` or `false`) the skip is a failure instead: CI installs
//! what the tests need, so a test that cannot run there is a defect.
//!
//! Include it with `#[path = "support/skip.rs"] mod skip;` (the shared `support/sys.rs`
//! re-exports it).

#![allow(dead_code)]

use std::io::Write;
use std::sync::OnceLock;

/// Whether the `CI` environment variable asks for skips to fail.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Reports the calling test as skipped with `reason`: one `SKIPPED <test>: <reason>` line on
/// the real standard error; under CI (see [`in_ci`]) it panics, failing the test. The caller
/// returns right after.
#[track_caller]
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    // The test harness runs each test on a thread named after it.
    let test = thread.name().unwrap_or("<unnamed test>");
    if in_ci() {
        panic!("SKIPPED {test}: {reason} (a skip is a failure when CI is set)");
    }
    // `std::io::stderr()` writes to file descriptor 2 directly; only the `eprint!` family
    // goes through the harness's capture.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "SKIPPED {test}: {reason}");
}

/// Whether this process may trace its children: a forked child asks to be traced
/// (`PTRACE_TRACEME`) and stops itself; ptrace works when the stop reaches us as a tracer.
/// This does not use our own tracer, so a broken tracer fails its tests instead of skipping
/// them. The result is computed once per test binary; `Err` carries the reason.
pub fn ptrace_permitted() -> Result<(), String> {
    static RESULT: OnceLock<Result<(), String>> = OnceLock::new();
    RESULT.get_or_init(probe_ptrace).clone()
}

/// [`ptrace_permitted`], reporting a skip when it is not: `if !ptrace_or_skip() { return; }`.
#[track_caller]
pub fn ptrace_or_skip() -> bool {
    match ptrace_permitted() {
        Ok(()) => true,
        Err(why) => {
            skip(&why);
            false
        }
    }
}

fn probe_ptrace() -> Result<(), String> {
    // SAFETY: between fork and _exit the child calls only async-signal-safe functions
    // (ptrace, raise, _exit) and touches no memory shared with other threads.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork failed: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: async-signal-safe calls only (see above); the null pointers are the ignored
        // `addr` and `data` arguments of PTRACE_TRACEME.
        unsafe {
            let traced = libc::ptrace(
                libc::PTRACE_TRACEME,
                0,
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_void>(),
            ) == 0;
            if !traced {
                // errno as the exit status (EPERM = 1, ...), read back by the parent.
                libc::_exit(*libc::__errno_location() & 0x7f);
            }
            // Stops the child; the stop is reported to us, its tracer.
            libc::raise(libc::SIGSTOP);
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: `status` is a live local; `pid` is our child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    if r != pid {
        return Err(format!(
            "waitpid on the probe child failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    if libc::WIFSTOPPED(status) {
        // Traced and stopped: ptrace works. Kill and reap the child.
        // SAFETY: `pid` is our stopped child, not reaped yet.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
        return Ok(());
    }
    let why = if libc::WIFEXITED(status) {
        std::io::Error::from_raw_os_error(libc::WEXITSTATUS(status)).to_string()
    } else {
        format!("probe child ended with wait status {status:#x}")
    };
    Err(format!(
        "ptrace is not permitted here (PTRACE_TRACEME in a child: {why}; see \
         docs/troubleshooting.md)"
    ))
}
