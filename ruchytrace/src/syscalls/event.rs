//! The events the tracer records, and the `sys.json` document they are written into.

use ruchytrace_runtime::model::ClockInfo;
use serde::{Deserialize, Serialize};

/// `metadata.format` of a system call trace.
pub const SYS_TRACE_FORMAT: &str = "ruchytrace-syscalls";
/// `metadata.version` written by this version.
pub const SYS_TRACE_VERSION: u32 = 1;

/// One event of a system call trace (the `events` array of `sys.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// A system call, from its entry to its exit.
    Syscall(SyscallEvent),
    /// A signal delivered to a tracee.
    Signal(SignalEvent),
    /// A thread or process exited normally.
    Exit(ExitEvent),
    /// A thread or process was killed by a signal.
    Killed(KilledEvent),
}

impl Event {
    /// Entry timestamp (`CLOCK_MONOTONIC` ns), the sort key of `events`.
    pub fn timestamp_ns(&self) -> u64 {
        match self {
            Event::Syscall(e) => e.timestamp_ns,
            Event::Signal(e) => e.timestamp_ns,
            Event::Exit(e) => e.timestamp_ns,
            Event::Killed(e) => e.timestamp_ns,
        }
    }
}

/// One system call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyscallEvent {
    /// Name (`"openat"`), or `"syscall_NNN"` when unknown.
    pub name: String,
    /// Number on the traced architecture.
    pub nr: u64,
    /// Process id (thread group id).
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// `CLOCK_MONOTONIC` ns when the entry stop was observed.
    pub timestamp_ns: u64,
    /// Exit minus entry timestamp; `null` when the call never returned.
    pub duration_ns: Option<u64>,
    /// Decoded arguments, strace-style.
    pub args: Vec<String>,
    /// Raw argument registers (as many as the syscall takes).
    pub raw_args: Vec<u64>,
    /// Return value (`-1` on failure, like strace); `null` when the call never returned.
    #[serde(rename = "return")]
    pub ret: Option<i64>,
    /// Errno name (`"ENOENT"`) when the call failed.
    pub errno: Option<String>,
    /// With `-k`: the user stack at entry, innermost frame first (inlined calls as their own
    /// entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<Vec<crate::stack::Frame>>,
    /// With `-k`: why the stack stops before the outermost frame (absent when complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_truncated: Option<String>,
}

/// A delivered signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalEvent {
    /// Process id.
    pub pid: i32,
    /// Thread id that received it.
    pub tid: i32,
    /// When the signal-delivery stop was observed.
    pub timestamp_ns: u64,
    /// Name (`"SIGCHLD"`).
    pub signal: String,
    /// Number.
    pub signo: i32,
    /// The siginfo, strace-style.
    pub info: String,
}

/// A normal exit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExitEvent {
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// When the exit was observed.
    pub timestamp_ns: u64,
    /// Exit status.
    pub code: i32,
}

/// Death by a signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KilledEvent {
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// When the death was observed.
    pub timestamp_ns: u64,
    /// Signal name.
    pub signal: String,
    /// Signal number.
    pub signo: i32,
    /// Whether a core dump was written.
    pub core_dumped: bool,
}

/// Image loaded by an exec: where the merge and source correlation find code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Process id.
    pub pid: i32,
    /// Thread id after the exec.
    pub tid: i32,
    /// When the exec was observed.
    pub timestamp_ns: u64,
    /// `/proc/PID/exe` target.
    pub exe: String,
    /// Text of `/proc/PID/maps` right after the exec.
    pub maps: String,
}

/// The options recorded in the metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedOptions {
    /// `-f`.
    pub follow_forks: bool,
    /// The `-e` expressions, or `null`.
    pub filter: Option<String>,
    /// `-s`.
    pub strsize: usize,
}

/// `metadata` of `sys.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Always [`SYS_TRACE_FORMAT`].
    pub format: String,
    /// Schema version ([`SYS_TRACE_VERSION`]).
    pub version: u32,
    /// Version of the writer.
    pub ruchytrace_version: String,
    /// Program run (empty with `-p`).
    pub program: String,
    /// Its argv.
    pub args: Vec<String>,
    /// The first traced process (spawned, or first `-p`).
    pub pid: i32,
    /// Architecture of the syscall numbers (`"x86_64"`, `"aarch64"`).
    pub arch: String,
    /// The (`CLOCK_REALTIME`, `CLOCK_MONOTONIC`) pair, read together, to show wall-clock times.
    pub clock: ClockInfo,
    /// Recording options.
    pub options: RecordedOptions,
    /// Exec'd images, in order.
    pub images: Vec<Image>,
}

/// `end` of `sys.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct End {
    /// `true` when the tracer saw every tracee to its end (or detached cleanly).
    pub complete: bool,
    /// Number of events.
    pub events: usize,
}

/// The whole `sys.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SysTrace {
    /// Description of the run.
    pub metadata: Metadata,
    /// Events sorted by `timestamp_ns`.
    pub events: Vec<Event>,
    /// Completion record.
    pub end: End,
}
