//! The control API's types when tracing is compiled out.
//!
//! With the `trace` feature off the facade depends on the macros crate only — the runtime is
//! not even in the user's dependency graph — yet code that calls `ruchytrace::summary()` or
//! `ruchytrace::event(Category::Custom, ..)` must compile the same either way. So these few
//! plain types are repeated here with the runtime's exact shape (variant and field names);
//! nothing records, and `summary()` returns an empty, disabled summary.

use std::fmt;
use std::time::Duration;

/// Categories of instant events (the runtime's `model::Category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Function-related markers.
    Function,
    /// System-call related markers.
    Syscall,
    /// Process lifecycle.
    Process,
    /// Memory.
    Memory,
    /// Timers.
    Timer,
    /// Signals.
    Signal,
    /// Scheduling.
    Scheduler,
    /// File I/O.
    File,
    /// Inter-process communication.
    Ipc,
    /// Anything else.
    Custom,
}

/// Per-function counters of a [`TraceSummary`] (never produced with tracing compiled out).
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSummary {
    /// Display name.
    pub name: String,
    /// Fully qualified name.
    pub qualified_name: String,
    /// Recorded calls that returned.
    pub count: u64,
    /// Estimated calls (count × sample rate).
    pub estimated_count: u64,
    /// Whether `estimated_count` is an extrapolation from a sample.
    pub estimated: bool,
    /// Total time in the function (inclusive).
    pub total: Duration,
    /// Shortest call.
    pub min: Duration,
    /// Longest call.
    pub max: Duration,
    /// Mean call.
    pub avg: Duration,
    /// Calls that returned `Err` or panicked.
    pub errors: u64,
    /// Share of calls without error, 0.0..=1.0.
    pub success_rate: f64,
}

/// What the runtime recorded: always empty and disabled with tracing compiled out.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    /// Time since the runtime started.
    pub uptime: Duration,
    /// Whether recording is on.
    pub enabled: bool,
    /// Events recorded.
    pub events_recorded: u64,
    /// Events lost.
    pub events_dropped: u64,
    /// Instant events per category.
    pub instants: Vec<(Category, u64)>,
    /// Per-function counters.
    pub functions: Vec<FunctionSummary>,
}

impl fmt::Display for TraceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ruchytrace summary: tracing compiled out (build with the `trace` feature)"
        )
    }
}

/// Records instant events only of these categories (no-op with tracing compiled out).
pub fn set_category_filter(categories: &[Category]) {
    let _ = categories;
}
