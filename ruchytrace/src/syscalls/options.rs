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
    /// Parses strace's set syntax: `NAME,NAME,%class,/REGEX,?NAME,...`, optionally prefixed by
    /// `!` (everything except). `/REGEX` selects every syscall whose name the regular expression
    /// matches (unanchored, as strace); a `?` before an item makes it optional (no error when it
    /// matches nothing on this architecture).
    pub fn parse(expr: &str) -> Result<Self, Error> {
        let (negated, list) = match expr.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, expr),
        };
        let mut numbers = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (optional, item) = match item.strip_prefix('?') {
                Some(rest) => (true, rest),
                None => (false, item),
            };
            let before = numbers.len();
            if item == "all" {
                numbers.extend(table::all().iter().map(|(nr, _)| *nr));
            } else if item == "none" {
                // strace accepts `none`: nothing selected.
            } else if let Some(re) = item.strip_prefix('/') {
                let re = regex::Regex::new(re).map_err(|e| {
                    Error::Filter(format!("invalid regular expression '{re}': {e}"))
                })?;
                numbers.extend(
                    table::all()
                        .iter()
                        .filter(|(_, name)| re.is_match(name))
                        .map(|(nr, _)| *nr),
                );
            } else if item.starts_with('%') {
                match table::parse_class(item) {
                    Some(classes) => numbers.extend(
                        table::all()
                            .iter()
                            .filter(|(_, name)| table::classes(name).0 & classes.0 != 0)
                            .map(|(nr, _)| *nr),
                    ),
                    None if optional => {}
                    None => return Err(Error::Filter(format!("invalid system call '{item}'"))),
                }
            } else if let Some(nr) = table::number(item) {
                numbers.push(nr);
            } else if !optional {
                return Err(Error::Filter(format!("invalid system call '{item}'")));
            }
            if numbers.len() == before && item.starts_with('/') && !optional {
                return Err(Error::Filter(format!(
                    "'{item}' matches no system call (prefix it with ? to allow that)"
                )));
            }
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

/// The set of signals selected by `-e signal=...` (whose `--- SIG... ---` lines are shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignalSet {
    /// Bit `n - 1` set for signal `n` (1 to 64).
    bits: u64,
}

impl SignalSet {
    /// Parses `SIGINT,TERM,9,all,none`, optionally prefixed by `!`.
    pub fn parse(expr: &str) -> Result<Self, Error> {
        let (negated, list) = match expr.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, expr),
        };
        let mut bits = 0u64;
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            bits |= match item {
                "all" => u64::MAX,
                "none" => 0,
                _ => {
                    let n = signal_number(item)
                        .ok_or_else(|| Error::Filter(format!("invalid signal '{item}'")))?;
                    1u64 << (n - 1)
                }
            };
        }
        Ok(SignalSet {
            bits: if negated { !bits } else { bits },
        })
    }

    /// Whether signal `signo` is selected.
    pub fn contains(&self, signo: i32) -> bool {
        (1..=64).contains(&signo) && self.bits & (1u64 << (signo - 1)) != 0
    }
}

/// A signal by number, name (`SIGINT`) or short name (`INT`, `RTMIN`, `RT_3`).
fn signal_number(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    (1..=64).find(|&n| {
        let full = super::decode::signal_name(n);
        full.strip_prefix("SIG") == Some(name)
    })
}

/// `-X`: how named constants (flags, enumerations) are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XlatStyle {
    /// `raw`: numbers only.
    Raw,
    /// `abbrev` (default): names only.
    #[default]
    Abbrev,
    /// `verbose`: the number with the names in a comment.
    Verbose,
}

/// Where the tracer's own thread runs relative to the traced program (never the program's
/// affinity: that is `--pin-cpu`'s job).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuMode {
    /// `auto` (default): keep the tracer on the traced thread's CPU by making the tracer's
    /// thread `SCHED_IDLE` while the machine has idle CPUs (so the program is woken on the
    /// tracer's CPU and the tracer runs whenever the program stops); only where the tracer may
    /// leave `SCHED_IDLE` again (root, `CAP_SYS_NICE` or `RLIMIT_NICE` >= 20), otherwise `off`.
    #[default]
    Auto,
    /// `follow`: pin the tracer's thread to the CPU the traced thread last ran on.
    Follow,
    /// `off`: the scheduler alone places the tracer.
    Off,
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
    /// `-C`: print the summary table after the trace (implies `summary`).
    pub summary_with_trace: bool,
    /// `-ff` with `-o NAME`: one text file per thread, `NAME.TID`.
    pub output_separately: bool,
    /// `-r`: prefix lines with the time since the previous line.
    pub relative_time: bool,
    /// `-s N`: maximum string length shown.
    pub strsize: usize,
    /// `-y`: show the paths behind file descriptors.
    pub show_fd_paths: bool,
    /// `-yy`: also show socket endpoints (`TCP:[127.0.0.1:80->127.0.0.1:5000]`).
    pub show_sockets: bool,
    /// `-x` (1): strings with non-printable bytes in hex; `-xx` (2): every string in hex.
    pub strings_hex: u8,
    /// `-X`: how named constants are printed.
    pub xlat: XlatStyle,
    /// `-v`: unabbreviated structures and environments.
    pub verbose: bool,
    /// `-P PATH`: only syscalls that touch one of these paths (empty: no restriction).
    pub paths: Vec<PathBuf>,
    /// `-q` (1): no attach/detach messages; `-qq` (2): no exit lines either.
    pub quiet: u8,
    /// `-e signal=...`; `None` shows every signal.
    pub signals: Option<SignalSet>,
    /// Run the tracer and the tracee on the same CPU (much cheaper wake-ups on most machines),
    /// by pinning the program too: it then sees a one-CPU affinity mask.
    pub pin_cpu: bool,
    /// How the tracer's own thread is placed next to the traced thread, so stops and resumes do
    /// not cross CPUs; the program's affinity is left alone.
    pub cpu: CpuMode,
    /// `-D`: run the tracer as a detached grandchild; the program keeps this process's pid.
    pub daemonize: bool,
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
            summary_with_trace: false,
            output_separately: false,
            relative_time: false,
            strsize: 32,
            show_fd_paths: false,
            show_sockets: false,
            strings_hex: 0,
            xlat: XlatStyle::Abbrev,
            verbose: false,
            paths: Vec::new(),
            quiet: 0,
            signals: None,
            pin_cpu: false,
            cpu: CpuMode::Auto,
            daemonize: false,
            seccomp: true,
            keep_events: false,
            stack_depth: None,
        }
    }
}

impl Options {
    /// Applies one `-e` expression (`trace=...`, `signal=...`, `status=...`).
    pub fn apply_expr(&mut self, expr: &str) -> Result<(), Error> {
        let (key, value) = match expr.split_once('=') {
            Some(kv) => kv,
            None => ("trace", expr),
        };
        match key {
            "trace" | "t" => self.trace = Some(SyscallSet::parse(value)?),
            "signal" | "signals" | "s" => self.signals = Some(SignalSet::parse(value)?),
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

    /// Whether the trace lines are printed (not with `-c` alone).
    pub fn prints_trace(&self) -> bool {
        !self.summary || self.summary_with_trace
    }

    /// Whether a `--- SIG... ---` line for `signo` is shown.
    pub fn signal_shown(&self, signo: i32) -> bool {
        self.signals.is_none_or(|s| s.contains(signo))
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
    fn regex_and_optional_names() {
        let s = SyscallSet::parse("/^getp,?nosuchcall,close").unwrap();
        let names: Vec<&str> = s.numbers.iter().filter_map(|&n| table::name(n)).collect();
        assert!(
            names.contains(&"getpid") && names.contains(&"getppid"),
            "{names:?}"
        );
        assert!(names.contains(&"close"));
        assert!(!names.contains(&"getuid"));
        assert!(names.iter().all(|n| n.starts_with("getp") || *n == "close"));
    }

    #[test]
    fn signal_sets() {
        let s = SignalSet::parse("SIGINT,TERM,9").unwrap();
        assert!(s.contains(2) && s.contains(15) && s.contains(9));
        assert!(!s.contains(17));
        let n = SignalSet::parse("!SIGCHLD").unwrap();
        assert!(!n.contains(17) && n.contains(2));
        assert!(SignalSet::parse("none").unwrap() == SignalSet { bits: 0 });
        assert!(SignalSet::parse("SIGNOPE").is_err());
        let rt = SignalSet::parse("RTMIN").unwrap();
        assert!(rt.contains(32) && !rt.contains(34));
    }

    #[test]
    fn bad_expressions_are_errors() {
        assert!(SyscallSet::parse("nosuchcall").is_err());
        assert!(SyscallSet::parse("?nosuchcall").unwrap().numbers.is_empty());
        assert!(SyscallSet::parse("/^nosuch").is_err());
        assert!(SyscallSet::parse("/(").is_err());
        assert!(SyscallSet::parse("%nosuchclass").is_err());
        let mut o = Options::default();
        assert!(o.apply_expr("status=sometimes").is_err());
        assert!(o.apply_expr("verbose=all").is_err());
        o.apply_expr("status=failed").unwrap();
        assert_eq!(o.status, StatusFilter::Failed);
        assert!(o.status_ok(Some(-2)) && !o.status_ok(Some(3)) && !o.status_ok(None));
    }
}
