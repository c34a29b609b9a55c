//! A recording program for the crash, fork, attach and snapshot tests: `crash_target MODE [N]`.
//!
//! * `count N` — calls a traced `step(i)` N times (0 = forever), writing `done i` on stdout,
//!   flushed, after each call has returned: what the program has seen completed.
//! * `abort N`, `segv N`, `exit N` — N calls, then `std::process::abort()`, `raise(SIGSEGV)` or
//!   `std::process::exit(7)`.
//! * `fork N` — N calls, then `fork()` without exec: parent and child each make N more calls
//!   (the child's with `i + 1000`); the parent waits for the child and prints its pid.
//! * `sleepy N` — an untraced 300 µs sleep, then N calls of a traced `nap()` that sleeps
//!   300 µs.
//! * `idle N` — sleeps N ms before its first traced call, then calls `step` forever, one call
//!   per millisecond, printing `done i` (a process to attach to).
//! * `status N` — N calls, then exits with status 3.
//! * `forkidle N` — N calls, then `fork()` without exec and prints `forked PID`; parent and
//!   child then call `step` forever, one call per millisecond (the child's with `i + 1000000`).

use std::io::Write;

#[ruchytrace::trace]
#[inline(never)]
fn step(i: u64) -> u64 {
    std::hint::black_box(i.wrapping_mul(3))
}

#[ruchytrace::trace]
#[inline(never)]
fn nap(i: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_micros(300));
    i
}

fn calls(from: u64, n: u64, out: &mut impl Write) {
    let mut i = from;
    while n == 0 || i < from + n {
        step(i);
        let _ = writeln!(out, "done {i}");
        let _ = out.flush();
        i += 1;
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "count".into());
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match mode.as_str() {
        "count" => calls(0, n, &mut out),
        "abort" => {
            calls(0, n, &mut out);
            std::process::abort();
        }
        "segv" => {
            calls(0, n, &mut out);
            // The default action, as for a real fault (std's stack-overflow handler would
            // otherwise return from a raised SIGSEGV).
            // SAFETY: setting a signal's default action and raising it have no memory effects.
            unsafe {
                libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                libc::raise(libc::SIGSEGV);
            }
        }
        "exit" => {
            calls(0, n, &mut out);
            std::process::exit(7);
        }
        "status" => {
            calls(0, n, &mut out);
            drop(out);
            std::process::exit(3);
        }
        "fork" => {
            calls(0, n, &mut out);
            let _ = out.flush();
            // SAFETY: the child only calls traced functions and exits; the runtime's fork
            // handler gives it its own trace file.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                calls(1000, n, &mut out);
                let _ = out.flush();
                drop(out);
                std::process::exit(0);
            }
            calls(n, n, &mut out);
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            let _ = writeln!(out, "child {pid} status {status}");
        }
        "forkidle" => {
            calls(0, n, &mut out);
            let _ = out.flush();
            // SAFETY: the child only calls traced functions in a loop; the runtime's fork
            // handler gives it a state of its own.
            let pid = unsafe { libc::fork() };
            let from = if pid == 0 {
                1_000_000
            } else {
                let _ = writeln!(out, "forked {pid}");
                n
            };
            let mut i = from;
            loop {
                step(i);
                if pid != 0 {
                    let _ = writeln!(out, "done {i}");
                    let _ = out.flush();
                }
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        "sleepy" => {
            // One untraced sleep first: the first sleep of a process that has just run its
            // start-up is often woken late on a loaded machine, which is not the runtime's
            // doing (the runtime starts in the first traced call, after this).
            std::thread::sleep(std::time::Duration::from_micros(300));
            for i in 0..n {
                nap(i);
            }
        }
        "idle" => {
            std::thread::sleep(std::time::Duration::from_millis(n));
            let mut i = 0;
            loop {
                step(i);
                let _ = writeln!(out, "done {i}");
                let _ = out.flush();
                i += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
}
