//! The runtime of ruchytrace: what runs inside a traced program.
//!
//! Instrumented functions (by `#[ruchytrace::trace]` or a code generator, through [`hooks`])
//! write compact records straight into their thread's segment of the memory-mapped trace file
//! (`docs/runtime.md`); nothing inside the program decodes or copies them. Text and JSON outputs
//! are produced by a collector thread that reads the segments. Settings come from
//! `RUCHYTRACE_*` environment variables ([`config`]).
//!
//! # Layers
//!
//! Each module imports only modules listed before it (lowest first; no import cycles outside
//! tests):
//!
//! 1. Leaves: `clock`, `config`, `filter`, `duration`, `model`, `capture` (value encoding),
//!    `record` (record encoding and decoder), [`segment`] (the file layout and every `mmap`),
//!    [`format`](mod@format) (writers, the trace-file reader; readers of the other formats with
//!    the `readers` feature). Among themselves: `record` uses `capture` and `model`; `config`
//!    uses `capture` and `filter`; `format` uses `capture`, `clock`, `model`, `record` and
//!    `segment`.
//! 2. `site`: call sites ([`hooks::CallSite`]), their cached decisions and the site registry.
//! 3. `global`: the process-wide state word the hot path reads, settings, name filter, pid,
//!    the registry of recording threads and the signal that wakes the collector.
//! 4. `output`: the process's trace file while it records (segments, metadata records,
//!    clock anchors).
//! 5. `recorder`: the per-thread recorder, the hot path down to the write into the segment.
//! 6. `collector`: reading the segments for text/JSON output and `summary()`; reached only
//!    through its handle's methods.
//! 7. `lifecycle`: initialisation, start, panic hook, exit, fork, and [`control`]
//!    (`RUCHYTRACE=dormant`, switched on and off by `ruchytrace attach`).
//! 8. On top, calling only downward: `api` (the control functions re-exported here),
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
pub use lifecycle::control;
pub mod hooks;
#[cfg(feature = "testing")]
pub mod testing;

pub use api::{
    disable, enable, event, flush, is_enabled, reset, set_category_filter, summary,
    FunctionSummary, TraceSummary,
};
pub use lifecycle::flush_for_exit;
pub use model::Category;
