//! The runtime of ruchytrace: what runs inside a traced program.
//!
//! Instrumented functions (by `#[ruchytrace::trace]` or a code generator, through [`hooks`])
//! append compact records to a lock-free buffer owned by their thread; a collector thread drains
//! the buffers, converts timestamps to `CLOCK_MONOTONIC` nanoseconds and streams the events to the
//! output in one of the [`format`](mod@format)s. Settings come from `RUCHYTRACE_*` environment variables
//! ([`config`]).
//!
//! # Layers
//!
//! Each module imports only modules listed before it (lowest first; no import cycles):
//!
//! 1. Leaves: `clock`, `config`, `filter`, `duration`, `model`, `capture`, `ring`, `record`
//!    (record layout and decoder), `format` (file formats). Among themselves: `record` uses
//!    `capture`, `model` and `ring`; `ring` uses `capture`; `config` uses `filter`; `format`
//!    uses `model`.
//! 2. `site`: call sites ([`hooks::CallSite`]), their cached decisions and the site registry.
//! 3. `global`: the process-wide state word the hot path reads, settings, name filter, pid,
//!    the registry of thread buffers and the signal that wakes the collector.
//! 4. `recorder`: the per-thread recorder, the hot path down to the write into the buffer.
//! 5. `collector`: the thread that drains the buffers and writes the output (`sink`, the binary
//!    fast path `fast`, `stats`); reached only through its handle's methods.
//! 6. `lifecycle`: initialisation, start, panic hook, final flush at exit.
//! 7. On top, calling only downward: `api` (the control functions re-exported here),
//!    [`control`] (`RUCHYTRACE=dormant`: switched on and off by `ruchytrace attach`),
//!    [`hooks`] (what instrumented code calls), and `testing` (with the `testing` feature).
//!
//! ```
//! use ruchytrace_runtime::{enable, event, model::Category, summary};
//! enable();
//! event(Category::Custom, "checkpoint", "phase 1 done");
//! let s = summary();
//! assert!(s.enabled);
//! println!("{s}");
//! ```
#![deny(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

// Leaves: no imports of the layers below.
pub mod capture;
pub mod clock;
pub mod config;
pub mod duration;
pub mod filter;
pub mod format;
pub mod model;
pub mod record;
pub mod segment;
// The layers, lowest first.
mod collector;
mod global;
mod lifecycle;
mod output;
mod recorder;
mod site;
// On top.
mod api;
pub mod control;
pub mod hooks;
#[cfg(feature = "testing")]
pub mod testing;

pub use api::{
    disable, enable, event, flush, is_enabled, reset, set_category_filter, summary,
    FunctionSummary, TraceSummary,
};
pub use lifecycle::flush_for_exit;
pub use model::Category;
