//! The trace data model shared by the runtime, the file formats and the command-line tool.
//!
//! A trace is [`Metadata`], a table of [`Site`]s and a stream of [`Event`]s. Every timestamp is
//! nanoseconds of Linux `CLOCK_MONOTONIC` (see [`ClockInfo`]); every event carries the OS process
//! id and thread id (`gettid`). Values captured from arguments and return values are [`Value`]s.

mod value;

pub use value::{write_quoted, Value};

#[cfg(feature = "readers")]
use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the function-trace schema written by this crate (JSON `metadata.version`, binary
/// header). Readers accept every version up to this one.
pub const SCHEMA_VERSION: u32 = 1;

/// `metadata.format` of a function trace.
pub const FN_TRACE_FORMAT: &str = "ruchytrace-functions";

/// How a trace's timestamps relate to wall-clock time.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
pub struct ClockInfo {
    /// Always `"CLOCK_MONOTONIC"`: the clock every `timestamp_ns` is expressed in.
    pub domain: String,
    /// What the producer read on its hot path: `"CLOCK_MONOTONIC"` or `"TSC"` (converted to
    /// `CLOCK_MONOTONIC` nanoseconds before anything is written).
    pub source: String,
    /// `CLOCK_REALTIME` in nanoseconds since the Unix epoch, read together with `monotonic_ns`.
    pub realtime_ns: u64,
    /// `CLOCK_MONOTONIC` in nanoseconds, read together with `realtime_ns`.
    pub monotonic_ns: u64,
    /// TSC ticks per second, when `source` is `"TSC"` (informational: timestamps are already
    /// converted).
    #[cfg_attr(
        feature = "readers",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub tsc_hz: Option<f64>,
}

impl ClockInfo {
    /// Converts a `CLOCK_MONOTONIC` timestamp to wall-clock nanoseconds since the Unix epoch.
    pub fn to_realtime_ns(&self, monotonic_ns: u64) -> i128 {
        self.realtime_ns as i128 + (monotonic_ns as i128 - self.monotonic_ns as i128)
    }
}

/// The settings a trace was recorded with (informational; reported by readers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
pub struct RecordSettings {
    /// `1` records every call; `N` records one call in `N`.
    pub sample: u32,
    /// The name filter, if any.
    #[cfg_attr(
        feature = "readers",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub filter: Option<String>,
    /// `block`, `drop` or `ring`.
    pub overflow: String,
    /// Per-thread buffer size in bytes.
    pub buffer_bytes: u64,
    /// Strings longer than this many bytes are truncated.
    pub strsize: u32,
    /// Sequences longer than this many elements are truncated.
    pub max_items: u32,
}

/// Describes the traced process and how the trace was recorded.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
pub struct Metadata {
    /// Always [`FN_TRACE_FORMAT`] for function traces.
    pub format: String,
    /// Schema version ([`SCHEMA_VERSION`]).
    pub version: u32,
    /// Version of the ruchytrace runtime that wrote the trace.
    pub ruchytrace_version: String,
    /// Path of the traced executable (`/proc/self/exe`), or `argv[0]`.
    pub program: String,
    /// The command line (`argv`).
    pub args: Vec<String>,
    /// Process id.
    pub pid: u32,
    /// Thread id of the runtime's collector thread: its system calls are tracer traffic.
    #[cfg_attr(
        feature = "readers",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub collector_tid: Option<u32>,
    /// The clock pair and source.
    pub clock: ClockInfo,
    /// Recording settings.
    pub settings: RecordSettings,
}

/// What kind of function a call site is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "readers", serde(rename_all = "snake_case"))]
pub enum SiteKind {
    /// A free function or an associated function without `self`.
    Fn,
    /// A method (takes `self` in some form).
    Method,
    /// An `async fn` (one call record from first poll to completion).
    Async,
}

impl SiteKind {
    /// The lowercase name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::Fn => "fn",
            SiteKind::Method => "method",
            SiteKind::Async => "async",
        }
    }
}

/// A source location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
pub struct Location {
    /// Source file as the compiler saw it (or the original source of generated code).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One declared argument of a call site.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
pub struct ArgInfo {
    /// Argument name (`self`, `n`, or the pattern text such as `(a, b)`).
    pub name: String,
    /// Declared type as written (`i64`, `&str`, `T`, `impl Display`).
    #[cfg_attr(feature = "readers", serde(rename = "type"))]
    pub type_name: String,
}

/// A static call site: one per instrumented function.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
pub struct Site {
    /// Compact id used by events; unique within one trace.
    pub id: u32,
    /// Display name (`fibonacci`, `Point::norm`, or the `name = "..."` override).
    pub name: String,
    /// Fully qualified name (`mycrate::geometry::Point::norm`), used by filters.
    pub qualified_name: String,
    /// Where the function is defined.
    pub location: Location,
    /// Captured arguments, in order (skipped arguments are absent).
    pub args: Vec<ArgInfo>,
    /// Declared return type (`()` when none).
    pub return_type: String,
    /// fn / method / async.
    pub kind: SiteKind,
}

/// Categories of instant events ([`Event::Instant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "readers", serde(rename_all = "snake_case"))]
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

impl Category {
    /// All categories, in declaration order (bit `i` of a category mask is `ALL[i]`).
    pub const ALL: [Category; 10] = [
        Category::Function,
        Category::Syscall,
        Category::Process,
        Category::Memory,
        Category::Timer,
        Category::Signal,
        Category::Scheduler,
        Category::File,
        Category::Ipc,
        Category::Custom,
    ];

    /// Lowercase name as used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Function => "function",
            Category::Syscall => "syscall",
            Category::Process => "process",
            Category::Memory => "memory",
            Category::Timer => "timer",
            Category::Signal => "signal",
            Category::Scheduler => "scheduler",
            Category::File => "file",
            Category::Ipc => "ipc",
            Category::Custom => "custom",
        }
    }

    /// Parses a lowercase name.
    pub fn from_name(name: &str) -> Option<Category> {
        Category::ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// The bit of this category in a category mask.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Return {
    /// Returned this value.
    Value(Value),
    /// Returned, but the value was not captured (`skip_return`, or a `return` path the hooks
    /// could not see).
    NotCaptured,
    /// Unwound by a panic; the message when the payload was a string.
    Panic {
        /// The panic message, when the payload was a `&str` or `String`.
        message: Option<String>,
    },
    /// An `async fn` future dropped before it completed.
    Cancelled,
}

impl Return {
    /// True when the call counts as an error: it panicked or returned `Err`.
    pub fn is_error(&self) -> bool {
        match self {
            Return::Value(v) => v.is_err(),
            Return::Panic { .. } => true,
            Return::NotCaptured | Return::Cancelled => false,
        }
    }
}

/// Why events are missing from a thread's stream ([`Event::Loss`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "readers", serde(rename_all = "snake_case"))]
pub enum LossReason {
    /// `overflow=drop`: the buffer was full and new events were discarded.
    BufferFull,
    /// `overflow=ring`: the oldest events were evicted to keep the last N.
    Evicted,
    /// The process ended (or tracing was flushed) while events were still unreadable.
    Unflushed,
}

/// One event of a function trace. Timestamps are `CLOCK_MONOTONIC` nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A call began (for `async fn`: its first poll).
    Enter {
        /// Site id (see [`Site`]).
        site: u32,
        /// Entry time.
        ts: u64,
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// Captured arguments, in the order of the site's `args`.
        args: Vec<Value>,
        /// For `async fn` calls: an id shared by the enter, suspend, resume and exit of the
        /// same future.
        call_id: Option<u64>,
    },
    /// A call ended.
    Exit {
        /// Site id.
        site: u32,
        /// Exit time.
        ts: u64,
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// How it ended.
        ret: Return,
        /// For `async fn` calls: see [`Event::Enter::call_id`].
        call_id: Option<u64>,
    },
    /// An `async fn` future returned `Pending`: its frame leaves this thread's stack.
    Suspend {
        /// Site id.
        site: u32,
        /// Time of the `Pending` return.
        ts: u64,
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// The future's call id.
        call_id: u64,
    },
    /// An `async fn` future is polled again: its frame re-enters this thread's stack.
    Resume {
        /// Site id.
        site: u32,
        /// Time the poll began.
        ts: u64,
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// The future's call id.
        call_id: u64,
    },
    /// A point event from [`crate::event`].
    Instant {
        /// Time.
        ts: u64,
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// Category.
        category: Category,
        /// Short name.
        name: String,
        /// Free-form detail.
        detail: String,
    },
    /// A thread was first seen (or named).
    Thread {
        /// Time it was first seen.
        ts: u64,
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// `std::thread` name, if any.
        name: Option<String>,
    },
    /// Events of this thread are missing here.
    Loss {
        /// Time the loss was recorded (events lost lie between the previous event of the
        /// thread and this one).
        ts: u64,
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// Number of events lost.
        count: u64,
        /// Why.
        reason: LossReason,
    },
    /// `overflow=block`: the thread waited for buffer space (the collector fell behind).
    Stall {
        /// Time the wait ended.
        ts: u64,
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
        /// How long the thread waited.
        waited_ns: u64,
    },
}

impl Event {
    /// Sets the timestamp and the thread identity (decoders fill them in after decoding).
    pub fn set_identity(&mut self, ts_ns: u64, pid_: u32, tid_: u32) {
        match self {
            Event::Enter { ts, pid, tid, .. }
            | Event::Exit { ts, pid, tid, .. }
            | Event::Suspend { ts, pid, tid, .. }
            | Event::Resume { ts, pid, tid, .. }
            | Event::Instant { ts, pid, tid, .. }
            | Event::Thread { ts, pid, tid, .. }
            | Event::Loss { ts, pid, tid, .. }
            | Event::Stall { ts, pid, tid, .. } => {
                *ts = ts_ns;
                *pid = pid_;
                *tid = tid_;
            }
        }
    }

    /// The event's timestamp.
    pub fn ts(&self) -> u64 {
        match self {
            Event::Enter { ts, .. }
            | Event::Exit { ts, .. }
            | Event::Suspend { ts, .. }
            | Event::Resume { ts, .. }
            | Event::Instant { ts, .. }
            | Event::Thread { ts, .. }
            | Event::Loss { ts, .. }
            | Event::Stall { ts, .. } => *ts,
        }
    }

    /// The event's (pid, tid).
    pub fn pid_tid(&self) -> (u32, u32) {
        match self {
            Event::Enter { pid, tid, .. }
            | Event::Exit { pid, tid, .. }
            | Event::Suspend { pid, tid, .. }
            | Event::Resume { pid, tid, .. }
            | Event::Instant { pid, tid, .. }
            | Event::Thread { pid, tid, .. }
            | Event::Loss { pid, tid, .. }
            | Event::Stall { pid, tid, .. } => (*pid, *tid),
        }
    }
}

/// How a trace file ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "readers", derive(Serialize, Deserialize))]
pub struct Trailer {
    /// Number of events written.
    pub events: u64,
    /// Number of events lost (sum of loss records).
    pub lost: u64,
    /// Time the trace was closed.
    pub end_ns: u64,
}

/// A whole function trace in memory (what readers return).
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Process and recording description.
    pub metadata: Metadata,
    /// Call sites, indexed by their `id` (use [`Trace::site`]).
    pub sites: Vec<Site>,
    /// Events in file order (per thread in time order).
    pub events: Vec<Event>,
    /// Present when the file was closed properly; `None` for a truncated trace.
    pub trailer: Option<Trailer>,
    /// When the input ended early or was damaged: what went wrong and where. Every event before
    /// that point is in `events`.
    pub truncation: Option<String>,
}

impl Trace {
    /// Looks a site up by id.
    pub fn site(&self, id: u32) -> Option<&Site> {
        self.sites.iter().find(|s| s.id == id)
    }

    /// True when the trace was closed properly and nothing is known to be missing.
    pub fn is_complete(&self) -> bool {
        self.trailer.is_some() && self.truncation.is_none()
    }
}
