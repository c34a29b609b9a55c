//! ruchytrace: trace every call of the functions you mark — with typed arguments and return
//! values — and every system call your program makes, merged into one timeline.
//!
//! # Getting started
//!
//! The crates are not on crates.io yet: depend on this one by path (or git) from a clone.
//!
//! ```toml
//! [dependencies]
//! ruchytrace = { path = "../ruchytrace/ruchytrace", default-features = false }
//! [features]
//! trace = ["ruchytrace/trace"]
//! ```
//!
//! ```
//! #[ruchytrace::trace]
//! fn fibonacci(n: i64) -> i64 {
//!     if n < 2 { n } else { fibonacci(n - 1) + fibonacci(n - 2) }
//! }
//! assert_eq!(fibonacci(5), 5);
//! ```
//!
//! Build with `--features trace` and run: every call and return is written to stderr (or to
//! `RUCHYTRACE_OUTPUT`), strace-style:
//!
//! ```text
//! [1761761183.405413] -> fibonacci(n=5) <src/main.rs:2:1>
//! [1761761183.405439] <- fibonacci() = 5 [0.026ms]
//! ```
//!
//! Without the `trace` feature the attribute returns the function untouched and no runtime code
//! is linked; the control functions below become no-ops.
//!
//! # Concepts
//!
//! * **Sites**: each instrumented function has one static call site (name, location, argument
//!   names and types); events refer to it by id.
//! * **Events**: enter (with argument values), exit (return value, or panic), instant events,
//!   thread records and explicit loss records — see [`runtime::model`].
//! * **Clock**: every timestamp is `CLOCK_MONOTONIC` nanoseconds, the clock the `ruchytrace
//!   syscalls` companion stamps system calls with, so the two merge exactly.
//!
//! # Performance
//!
//! Runtime-disabled tracing costs one relaxed load and a predictable branch per call; recording
//! writes into a per-thread buffer without locks, shared atomics, allocation or system calls.
//! See `docs/performance.md` for measured numbers.
#![deny(missing_docs)]

pub use ruchytrace_macros::trace;
/// `#[derive(Traceable)]`: capture a struct or enum field by field (see `docs/codegen-hooks.md`).
pub use ruchytrace_macros::Traceable;
#[cfg(any(feature = "trace", feature = "cli"))]
pub use ruchytrace_runtime as runtime;
/// The hook API the `#[trace]` expansion calls (see `docs/codegen-hooks.md`).
#[cfg(any(feature = "trace", feature = "cli"))]
pub use ruchytrace_runtime::hooks;
#[cfg(any(feature = "trace", feature = "cli"))]
pub use ruchytrace_runtime::model::Category;
#[cfg(any(feature = "trace", feature = "cli"))]
pub use ruchytrace_runtime::{set_category_filter, FunctionSummary, TraceSummary};

#[cfg(not(any(feature = "trace", feature = "cli")))]
mod off;
#[cfg(not(any(feature = "trace", feature = "cli")))]
pub use off::{set_category_filter, Category, FunctionSummary, TraceSummary};

#[cfg(feature = "cli")]
pub mod cli;
/// Rewriting generated Rust source to add tracing (`ruchytrace instrument`).
#[cfg(feature = "cli")]
pub mod instrument;
/// Merging function and system call traces: attribution, output formats, reports.
#[cfg(feature = "cli")]
pub mod merge;
/// User-stack unwinding and symbolization of stopped tracees (`syscalls -k`).
#[cfg(feature = "cli")]
pub mod stack;
/// The system call tracer behind `ruchytrace syscalls` (ptrace companion).
#[cfg(feature = "cli")]
pub mod syscalls;

/// Turns recording on (no-op without the `trace` feature).
#[inline]
pub fn enable() {
    #[cfg(feature = "trace")]
    ruchytrace_runtime::enable();
}

/// Turns recording off; open calls still record their exits (no-op without `trace`).
#[inline]
pub fn disable() {
    #[cfg(feature = "trace")]
    ruchytrace_runtime::disable();
}

/// Whether calls are being recorded (always false without `trace`).
#[inline]
pub fn is_enabled() -> bool {
    #[cfg(feature = "trace")]
    return ruchytrace_runtime::is_enabled();
    #[cfg(not(feature = "trace"))]
    false
}

/// Forgets the statistics behind [`summary`] (no-op without `trace`).
#[inline]
pub fn reset() {
    #[cfg(feature = "trace")]
    ruchytrace_runtime::reset();
}

/// Records an instant event (no-op without `trace`).
#[inline]
pub fn event(category: Category, name: &str, detail: &str) {
    #[cfg(feature = "trace")]
    ruchytrace_runtime::event(category, name, detail);
    #[cfg(not(feature = "trace"))]
    let _ = (category, name, detail);
}

/// Writes every event recorded so far to the output (no-op without `trace`).
#[inline]
pub fn flush() {
    #[cfg(feature = "trace")]
    ruchytrace_runtime::flush();
}

/// Statistics of what was recorded (an empty, disabled summary without `trace`).
pub fn summary() -> TraceSummary {
    #[cfg(feature = "trace")]
    return ruchytrace_runtime::summary();
    #[cfg(not(feature = "trace"))]
    TraceSummary {
        uptime: std::time::Duration::ZERO,
        enabled: false,
        events_recorded: 0,
        events_dropped: 0,
        instants: Vec::new(),
        functions: Vec::new(),
    }
}
