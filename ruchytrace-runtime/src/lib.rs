//! The runtime of ruchytrace: what runs inside a traced program.
//!
//! Instrumented functions (by `#[ruchytrace::trace]` or a code generator, through [`hooks`])
//! append compact records to a lock-free buffer owned by their thread; a collector thread drains
//! the buffers, converts timestamps to `CLOCK_MONOTONIC` nanoseconds and streams the events to the
//! output in one of the [`format`]s. Settings come from `RUCHYTRACE_*` environment variables
//! ([`config`]).
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

// Leaves: no imports of the layers below.
pub mod capture;
pub mod clock;
pub mod config;
pub mod duration;
pub mod filter;
pub mod format;
pub mod model;
pub mod record;
mod ring;
// The layers, lowest first.
mod collector;
mod global;
mod lifecycle;
mod recorder;
mod site;
// On top.
mod api;
pub mod hooks;
#[cfg(feature = "testing")]
pub mod testing;

pub use api::{
    disable, enable, event, flush, is_enabled, reset, set_category_filter, summary,
    FunctionSummary, TraceSummary,
};
pub use lifecycle::flush_for_exit;
pub use model::Category;
