//! What to trace and how to report it: [`Options`], the `-e` expressions and output settings.

use std::path::PathBuf;

use super::{table, Error};

/// Which output format a sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// strace-style lines.
    Text,
    /// The `sys.json` document (see `docs/syscalls.md`).
    Json,
}

/// `-t`, `-tt`, `-ttt`: the time prefix of text lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeFormat {
    /// No prefix.
    #[default]
    None,
    /// `-t`: wall-clock `HH:MM:SS`.
    Seconds,
    /// `-tt`: `HH:MM:SS.uuuuuu`.
    Micros,
    /// `-ttt`: seconds since the epoch with microseconds.
    Epoch,
}

/// `-e status=...`: which calls to show by outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatusFilter {
    /// Every call.
    #[default]
    All,
    /// Only calls that returned an error.
    Failed,
    /// Only calls that succeeded.
    Successful,
}

/// The set of syscalls selected by `-e trace=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallSet {
    /// Sorted syscall numbers listed (after expanding classes).
    pub numbers: Vec<u64>,
    /// `!`: trace everything except `numbers`.
    pub negated: bool,
    /// The expression as given, for metadata.
    pub expr: String,
}

impl SyscallSet {
    /// Parses `NAME,NAME,%class,...`, optionally prefixed by `!`.
    pub fn parse(expr: &str) -> Result<Self, Error> {
        let (negated, list) = match expr.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, expr),
        };
        let mut numbers = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if item == "all" {
                numbers.extend(table::all().iter().map(|(nr, _)| *nr));
            } else if item.starts_with('%') {
                let classes = table::parse_class(item)
                    .ok_or_else(|| Error::Filter(format!("unknown syscall class '{item}'")))?;
                numbers.extend(
                    table::all()
                        .iter()
                        .filter(|(_, name)| table::classes(name).0 & classes.0 != 0)
                        .map(|(nr, _)| *nr),
                );
            } else if let Some(nr) = table::number(item) {
                numbers.push(nr);
            } else {
                return Err(Error::Filter(format!("unknown syscall '{item}'")));
            }
        }
        if numbers.is_empty() && !negated {
            return Err(Error::Filter(format!(
                "'-e trace={expr}' selects no system call"
            )));
        }
        numbers.sort_unstable();
        numbers.dedup();
        Ok(SyscallSet {
            numbers,
            negated,
            expr: expr.to_string(),
        })
    }

    /// Whether syscall `nr` is selected.
    pub fn contains(&self, nr: u64) -> bool {
        self.numbers.binary_search(&nr).is_ok() != self.negated
    }
}

/// Everything `ruchytrace syscalls` can be asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// `-f`: follow forked child processes (threads are always followed).
    pub follow_forks: bool,
    /// `-e trace=...`; `None` traces everything.
    pub trace: Option<SyscallSet>,
    /// `-e status=...`.
    pub status: StatusFilter,
    /// `-o FILE`; `None` writes text to stderr.
    pub output: Option<PathBuf>,
    /// Format of `output` (stderr is always text).
    pub format: Format,
    /// `-T`: show the time spent in each call.
    pub show_durations: bool,
    /// `-t`/`-tt`/`-ttt`.
    pub time: TimeFormat,
    /// `-c`: print a summary table instead of the trace.
    pub summary: bool,
    /// `-s N`: maximum string length shown.
    pub strsize: usize,
    /// `-y`: show the paths behind file descriptors.
    pub show_fd_paths: bool,
    /// Run the tracer and the tracee on the same CPU (much cheaper wake-ups on most machines).
    pub pin_cpu: bool,
    /// Use a seccomp-bpf filter in the spawned child when `trace` is set.
    pub seccomp: bool,
    /// Keep the events in memory and return them in [`super::Outcome::trace`] (for library
    /// callers such as `ruchytrace run --syscalls`).
    pub keep_events: bool,
    /// `-k`: unwind and record the user stack of every kept call, at most this many frames.
    pub stack_depth: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            follow_forks: false,
            trace: None,
            status: StatusFilter::All,
            output: None,
            format: Format::Text,
            show_durations: false,
            time: TimeFormat::None,
            summary: false,
            strsize: 32,
            show_fd_paths: false,
            pin_cpu: false,
            seccomp: true,
            keep_events: false,
            stack_depth: None,
        }
    }
}

impl Options {
    /// Applies one `-e` expression (`trace=...`, `status=...`).
    pub fn apply_expr(&mut self, expr: &str) -> Result<(), Error> {
        let (key, value) = match expr.split_once('=') {
            Some(kv) => kv,
            None => ("trace", expr),
        };
        match key {
            "trace" | "t" => self.trace = Some(SyscallSet::parse(value)?),
            "status" => {
                self.status = match value {
                    "failed" => StatusFilter::Failed,
                    "successful" => StatusFilter::Successful,
                    "all" => StatusFilter::All,
                    other => {
                        return Err(Error::Filter(format!(
                            "unsupported status '{other}' (expected failed, successful or all)"
                        )))
                    }
                }
            }
            other => return Err(Error::Filter(format!("unsupported -e qualifier '{other}'"))),
        }
        Ok(())
    }

    /// Whether a call with syscall number `nr` is shown at all.
    pub fn traced(&self, nr: u64) -> bool {
        self.trace.as_ref().is_none_or(|s| s.contains(nr))
    }

    /// Whether a call that returned `ret` passes `-e status=`.
    pub fn status_ok(&self, ret: Option<i64>) -> bool {
        let failed = matches!(ret, Some(r) if (-4095..0).contains(&r));
        match self.status {
            StatusFilter::All => true,
            StatusFilter::Failed => failed,
            StatusFilter::Successful => ret.is_some() && !failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_classes_and_negation() {
        let s = SyscallSet::parse("openat,close").unwrap();
        assert!(s.contains(table::number("openat").unwrap()));
        assert!(!s.contains(table::number("read").unwrap()));
        let n = SyscallSet::parse("!openat").unwrap();
        assert!(!n.contains(table::number("openat").unwrap()));
        assert!(n.contains(table::number("read").unwrap()));
        let f = SyscallSet::parse("%file").unwrap();
        assert!(f.contains(table::number("openat").unwrap()));
        assert!(!f.contains(table::number("read").unwrap()));
    }

    #[test]
    fn bad_expressions_are_errors() {
        assert!(SyscallSet::parse("nosuchcall").is_err());
        assert!(SyscallSet::parse("%nosuchclass").is_err());
        let mut o = Options::default();
        assert!(o.apply_expr("status=sometimes").is_err());
        assert!(o.apply_expr("verbose=all").is_err());
        o.apply_expr("status=failed").unwrap();
        assert_eq!(o.status, StatusFilter::Failed);
        assert!(o.status_ok(Some(-2)) && !o.status_ok(Some(3)) && !o.status_ok(None));
    }
}
