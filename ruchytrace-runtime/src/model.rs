//! The trace data model shared by the runtime, the file formats and the command-line tool.
//!
//! A trace is [`Metadata`], a table of [`Site`]s and a stream of [`Event`]s. Every timestamp is
//! nanoseconds of Linux `CLOCK_MONOTONIC` (see [`ClockInfo`]); every event carries the OS process
//! id and thread id (`gettid`). Values captured from arguments and return values are [`Value`]s.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Version of the function-trace schema written by this crate (JSON `metadata.version`, binary
/// header). Readers accept every version up to this one.
pub const SCHEMA_VERSION: u32 = 1;

/// `metadata.format` of a function trace.
pub const FN_TRACE_FORMAT: &str = "ruchytrace-functions";

/// How a trace's timestamps relate to wall-clock time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsc_hz: Option<f64>,
}

impl ClockInfo {
    /// Converts a `CLOCK_MONOTONIC` timestamp to wall-clock nanoseconds since the Unix epoch.
    pub fn to_realtime_ns(&self, monotonic_ns: u64) -> i128 {
        self.realtime_ns as i128 + (monotonic_ns as i128 - self.monotonic_ns as i128)
    }
}

/// The settings a trace was recorded with (informational; reported by readers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct RecordSettings {
    /// `1` records every call; `N` records one call in `N`.
    pub sample: u32,
    /// The name filter, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector_tid: Option<u32>,
    /// The clock pair and source.
    pub clock: ClockInfo,
    /// Recording settings.
    pub settings: RecordSettings,
}

/// What kind of function a call site is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgInfo {
    /// Argument name (`self`, `n`, or the pattern text such as `(a, b)`).
    pub name: String,
    /// Declared type as written (`i64`, `&str`, `T`, `impl Display`).
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A static call site: one per instrumented function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
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

/// A captured value: an argument, a return value, or a part of one.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `()`.
    Unit,
    /// `bool`.
    Bool(bool),
    /// `char`.
    Char(char),
    /// `i8`.
    I8(i8),
    /// `i16`.
    I16(i16),
    /// `i32`.
    I32(i32),
    /// `i64` and `isize`.
    I64(i64),
    /// `i128`.
    I128(i128),
    /// `u8`.
    U8(u8),
    /// `u16`.
    U16(u16),
    /// `u32`.
    U32(u32),
    /// `u64` and `usize`.
    U64(u64),
    /// `u128`.
    U128(u128),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `&str`, `String` (and other string-like types): the first bytes, cut at a character
    /// boundary; `truncated_from` is the full length in bytes when the text was cut.
    Str {
        /// The kept text.
        text: String,
        /// Full length in bytes, when truncated.
        truncated_from: Option<u64>,
    },
    /// `Option::None`.
    None,
    /// `Option::Some`.
    Some(Box<Value>),
    /// `Result::Ok`.
    Ok(Box<Value>),
    /// `Result::Err` (an exit returning this counts as an error).
    Err(Box<Value>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A slice, `Vec`, array or other sequence: the first elements and the full length.
    Seq {
        /// Number of elements the sequence had.
        len: u64,
        /// The first `min(len, max_items)` elements.
        items: Vec<Value>,
    },
    /// A struct or enum variant captured field by field (the `Traceable` derive).
    Struct {
        /// Type (and variant) name, e.g. `User` or `Shape::Circle`.
        name: String,
        /// Fields in declaration order; tuple fields are named `0`, `1`, ...
        fields: Vec<(String, Value)>,
    },
    /// A value captured through its `Debug` implementation.
    Debug {
        /// The formatted text (cut like [`Value::Str`]).
        text: String,
        /// Full length in bytes, when truncated.
        truncated_from: Option<u64>,
    },
    /// A value of a type that has neither a structural capture nor `Debug`: only its type name.
    Opaque(String),
    /// The rest of a value, cut by the byte budget (`RUCHYTRACE_VALSIZE`) or the depth budget
    /// (`RUCHYTRACE_DEPTH`). In a struct it stands in for the fields not captured (with the
    /// field name `""`); in a sequence, for the items not captured.
    Cut,
}

impl Value {
    /// The kind name used in JSON `type_info.kind` / node `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Unit => "unit",
            Value::Bool(_) => "bool",
            Value::Char(_) => "char",
            Value::I8(_) => "i8",
            Value::I16(_) => "i16",
            Value::I32(_) => "i32",
            Value::I64(_) => "i64",
            Value::I128(_) => "i128",
            Value::U8(_) => "u8",
            Value::U16(_) => "u16",
            Value::U32(_) => "u32",
            Value::U64(_) => "u64",
            Value::U128(_) => "u128",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Str { .. } => "str",
            Value::None | Value::Some(_) => "option",
            Value::Ok(_) | Value::Err(_) => "result",
            Value::Tuple(_) => "tuple",
            Value::Seq { .. } => "seq",
            Value::Struct { .. } => "struct",
            Value::Debug { .. } => "debug",
            Value::Opaque(_) => "opaque",
            Value::Cut => "cut",
        }
    }

    /// True for `Result::Err`.
    pub fn is_err(&self) -> bool {
        matches!(self, Value::Err(_))
    }
}

/// Writes `s` as a double-quoted string with C-style escapes (as strace does).
pub fn write_quoted(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Value {
    /// Renders the value the way the text format shows it: `42`, `"abc"...`, `Some(1)`,
    /// `[1, 2, 3, ...(10)]`, `User { id: 42, name: "Alice" }`, `<TypeName>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Unit => f.write_str("()"),
            Value::Bool(v) => write!(f, "{v}"),
            Value::Char(c) => write!(f, "{c:?}"),
            Value::I8(v) => write!(f, "{v}"),
            Value::I16(v) => write!(f, "{v}"),
            Value::I32(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::I128(v) => write!(f, "{v}"),
            Value::U8(v) => write!(f, "{v}"),
            Value::U16(v) => write!(f, "{v}"),
            Value::U32(v) => write!(f, "{v}"),
            Value::U64(v) => write!(f, "{v}"),
            Value::U128(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v:?}"),
            Value::F64(v) => write!(f, "{v:?}"),
            Value::Str {
                text,
                truncated_from,
            } => {
                write_quoted(f, text)?;
                if truncated_from.is_some() {
                    f.write_str("...")?;
                }
                Ok(())
            }
            Value::None => f.write_str("None"),
            Value::Some(v) => write!(f, "Some({v})"),
            Value::Ok(v) => write!(f, "Ok({v})"),
            Value::Err(v) => write!(f, "Err({v})"),
            Value::Tuple(items) => {
                f.write_str("(")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            Value::Seq { len, items } => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                if (items.len() as u64) < *len {
                    if !items.is_empty() {
                        f.write_str(", ")?;
                    }
                    write!(f, "...({len})")?;
                }
                f.write_str("]")
            }
            Value::Struct { name, fields } => {
                f.write_str(name)?;
                if fields.is_empty() {
                    return Ok(());
                }
                let tuple_like = fields.first().is_some_and(|(n, _)| n == "0");
                if tuple_like {
                    f.write_str("(")?;
                    for (i, (_, v)) in fields.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        write!(f, "{v}")?;
                    }
                    f.write_str(")")
                } else {
                    f.write_str(" { ")?;
                    for (i, (n, v)) in fields.iter().enumerate() {
                        if i > 0 {
                            f.write_str(", ")?;
                        }
                        if n.is_empty() {
                            write!(f, "{v}")?;
                        } else {
                            write!(f, "{n}: {v}")?;
                        }
                    }
                    f.write_str(" }")
                }
            }
            Value::Debug {
                text,
                truncated_from,
            } => {
                f.write_str(text)?;
                if truncated_from.is_some() {
                    f.write_str("...")?;
                }
                Ok(())
            }
            Value::Opaque(name) => write!(f, "<{name}>"),
            Value::Cut => f.write_str("…"),
        }
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
