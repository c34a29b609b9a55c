//! Merging function traces and system call traces into one call tree per thread.
//!
//! The work is split by job:
//!
//! * [`input`]: [`load`] reads one input file (a binary or JSON function trace of the runtime,
//!   the `sys.json` of `ruchytrace syscalls`, or a merged JSON document read back by
//!   [`readback`], told apart by their content);
//! * [`check`]: the inputs must come from one run (pid, clock), and every system call must sit
//!   inside one call (no straddle);
//! * [`build`]: [`merge`] joins the inputs by (pid, tid) and `CLOCK_MONOTONIC` timestamps into
//!   a [`Merged`] forest: every system call sits under the innermost traced call that was open
//!   across it (entered before the system call's entry, not returned before its exit). A system
//!   call that straddles a function boundary, or inputs that cannot come from the same run, are
//!   reported as a [`MergeError`] naming the events — never silently re-parented (unless
//!   [`MergeOptions::force`], which turns them into warnings);
//! * [`tree`]: the types of the forest; [`futures`] groups the polls of `async fn` futures;
//! * [`filter`]: the replay filters (`--min-duration`, `--depth`, `--tid`, `--time-range`,
//!   `--caller`, `--filter`) that narrow a merged forest.
//!
//! The output formats live in [`text`] (and [`stream`], the same timeline without the tree),
//! [`json`], [`chrome`], [`perfetto`] (Perfetto's protobuf trace), [`otlp`] (OpenTelemetry's
//! OTLP/JSON), [`flame`] (collapsed stacks and SVG) and [`dot`]; [`report`] computes
//! the call graph, hotspots, per-function system call tables and the per-file I/O summary;
//! [`diff`] compares two runs; [`progress`] draws progress bars on big inputs; [`live`] inspects a running process for `run --timeout`. The schemas are documented in
//! `docs/merge.md`.

pub mod build;
pub mod by_line;
pub mod caller;
pub mod check;
pub mod chrome;
pub mod diff;
pub mod dot;
pub mod filter;
pub mod flame;
pub mod futures;
pub mod hotspots;
pub mod input;
pub mod json;
mod jsonw;
pub mod live;
pub mod otlp;
pub mod perfetto;
pub mod progress;
pub mod readback;
pub mod report;
pub mod startup;
pub mod stream;
pub mod text;
pub mod tree;

pub(crate) use build::unknown_site;
pub use build::{merge, MergeError, MergeOptions};
pub(crate) use check::check_consistency;
pub(crate) use input::FnItem;
pub use input::{load, trace_kind, FnTrace, Input, InputError};
pub use tree::{
    fmt_return, Call, CallEnd, Merged, Node, NodeId, NodeKind, ProcessInfo, Syscall, ThreadTrack,
};
