//! Settings of a traced program: read from `RUCHYTRACE_*` environment variables at first use, or
//! parsed from `--trace-*` command-line flags by a compiler driver that forwards them.
//!
//! A bad environment value never crashes the traced program: it produces one warning and the
//! default is used. A bad command-line flag is an error, because the driver can report it.

use std::fmt;

/// What to do when a thread's buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Wait for the collector (nothing is lost; the wait is recorded as a stall). Default.
    Block,
    /// Discard new events and record how many were lost. Never blocks.
    Drop,
    /// Flight recorder: keep only the last N events of each thread, written at exit. (A thread
    /// whose buffer fills faster than the collector moves events into the ring waits, as with
    /// `Block`.)
    Ring,
}

impl Overflow {
    /// The name used in `RUCHYTRACE_OVERFLOW`.
    pub fn as_str(self) -> &'static str {
        match self {
            Overflow::Block => "block",
            Overflow::Drop => "drop",
            Overflow::Ring => "ring",
        }
    }
}

/// Output encodings of a function trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// strace-like text.
    Text,
    /// The versioned JSON schema (`fn.json`).
    Json,
    /// Compact framed binary (`.rtrace`).
    Binary,
}

impl OutputFormat {
    /// Parses `text`, `json` or `binary` (`rtrace` accepted).
    pub fn from_name(s: &str) -> Option<OutputFormat> {
        match s {
            "text" | "txt" => Some(OutputFormat::Text),
            "json" => Some(OutputFormat::Json),
            "binary" | "rtrace" | "bin" => Some(OutputFormat::Binary),
            _ => None,
        }
    }

    /// Guesses the format from a file name's extension.
    pub fn from_path(path: &str) -> Option<OutputFormat> {
        let ext = path.rsplit_once('.').map(|(_, e)| e)?;
        match ext {
            "json" => Some(OutputFormat::Json),
            "rtrace" | "bin" => Some(OutputFormat::Binary),
            "txt" | "log" | "text" => Some(OutputFormat::Text),
            _ => None,
        }
    }

    /// The name used in `RUCHYTRACE_FORMAT`.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Text => "text",
            OutputFormat::Json => "json",
            OutputFormat::Binary => "binary",
        }
    }
}

/// All runtime settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `RUCHYTRACE=0|1`: record anything at all.
    pub enabled: bool,
    /// `RUCHYTRACE_OUTPUT`: file path (`%p` expands to the pid); `None` = stderr.
    pub output: Option<String>,
    /// `RUCHYTRACE_FORMAT`; `None` = from the output's extension, text otherwise.
    pub format: Option<OutputFormat>,
    /// `RUCHYTRACE_STRSIZE`: bytes kept of each string (default 64).
    pub strsize: usize,
    /// `RUCHYTRACE_MAXITEMS`: elements kept of each sequence (default 16).
    pub max_items: usize,
    /// `RUCHYTRACE_BUFFER`: per-thread buffer size in bytes (default 1 MiB; `K`/`M` suffixes).
    pub buffer: usize,
    /// `RUCHYTRACE_OVERFLOW`.
    pub overflow: Overflow,
    /// `RUCHYTRACE_RING`: events kept per thread with `overflow=ring` (default 10000).
    pub ring_events: usize,
    /// `RUCHYTRACE_SAMPLE`: record one call in N (default 1 = all).
    pub sample: u32,
    /// `RUCHYTRACE_FILTER`: name patterns.
    pub filter: Option<String>,
    /// `RUCHYTRACE_FLUSH_MS`: how often the collector streams events out (default 10 ms).
    pub flush_ms: u64,
    /// `RUCHYTRACE_VALSIZE`: bytes of encoding per captured value, nested parts included
    /// (default 256).
    pub valsize: usize,
    /// `RUCHYTRACE_DEPTH`: levels of nesting captured (default 3).
    pub depth: usize,
    /// `RUCHYTRACE=dormant`: everything compiled in, nothing recorded until `ruchytrace attach`
    /// switches recording on.
    pub dormant: bool,
}

impl Settings {
    /// The capture budgets these settings give.
    pub fn budget(&self) -> crate::capture::Budget {
        crate::capture::Budget {
            strsize: self.strsize as u32,
            max_items: self.max_items as u32,
            valsize: self.valsize as u32,
            depth: self.depth as u32,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            enabled: true,
            output: None,
            format: None,
            strsize: 64,
            max_items: 16,
            buffer: 1 << 20,
            overflow: Overflow::Block,
            ring_events: 10_000,
            sample: 1,
            filter: None,
            flush_ms: 10,
            valsize: 256,
            depth: 3,
            dormant: false,
        }
    }
}

/// A setting that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable or flag (`RUCHYTRACE_SAMPLE`, `--trace-sample`).
    pub key: String,
    /// The value given.
    pub value: String,
    /// What was expected.
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}={:?}: expected {}",
            self.key, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// The environment variables the runtime reads, in the order they are documented.
pub const ENV_VARS: &[&str] = &[
    "RUCHYTRACE",
    "RUCHYTRACE_OUTPUT",
    "RUCHYTRACE_FORMAT",
    "RUCHYTRACE_STRSIZE",
    "RUCHYTRACE_MAXITEMS",
    "RUCHYTRACE_BUFFER",
    "RUCHYTRACE_OVERFLOW",
    "RUCHYTRACE_RING",
    "RUCHYTRACE_SAMPLE",
    "RUCHYTRACE_FILTER",
    "RUCHYTRACE_FLUSH_MS",
    "RUCHYTRACE_VALSIZE",
    "RUCHYTRACE_DEPTH",
    "RUCHYTRACE_SEED",
    "RUCHYTRACE_CLOCK",
];

fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1usize << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>().ok()?.checked_mul(mult)
}

impl Settings {
    /// Applies one `RUCHYTRACE_*` variable.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let err = |expected: &str| ConfigError {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        };
        match key {
            "RUCHYTRACE" => {
                (self.enabled, self.dormant) = match value {
                    "1" | "on" | "true" | "yes" => (true, false),
                    "0" | "off" | "false" | "no" => (false, false),
                    "dormant" => (true, true),
                    _ => return Err(err("0, 1 or dormant")),
                }
            }
            "RUCHYTRACE_OUTPUT" => {
                self.output = if value.is_empty() || value == "-" || value == "stderr" {
                    None
                } else {
                    Some(value.to_string())
                }
            }
            "RUCHYTRACE_FORMAT" => {
                self.format = Some(
                    OutputFormat::from_name(value).ok_or_else(|| err("text, json or binary"))?,
                )
            }
            "RUCHYTRACE_STRSIZE" => {
                self.strsize = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= 1 << 16)
                    .ok_or_else(|| err("a number of bytes between 0 and 65536"))?
            }
            "RUCHYTRACE_MAXITEMS" => {
                self.max_items = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n <= 4096)
                    .ok_or_else(|| err("a number of elements between 0 and 4096"))?
            }
            "RUCHYTRACE_BUFFER" => {
                self.buffer = parse_size(value)
                    .filter(|n| (4096..=1 << 30).contains(n))
                    .ok_or_else(|| err("a size between 4K and 1G (e.g. 1M)"))?
            }
            "RUCHYTRACE_OVERFLOW" => {
                self.overflow = match value {
                    "block" => Overflow::Block,
                    "drop" => Overflow::Drop,
                    "ring" => Overflow::Ring,
                    _ => return Err(err("block, drop or ring")),
                }
            }
            "RUCHYTRACE_RING" => {
                self.ring_events = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| err("a number of events >= 1"))?
            }
            "RUCHYTRACE_SAMPLE" => {
                self.sample = value
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| err("a number >= 1 (record one call in N)"))?
            }
            "RUCHYTRACE_FILTER" => {
                if value.is_empty() {
                    self.filter = None;
                } else {
                    crate::filter::Filter::parse(value).map_err(|e| err(&e))?;
                    self.filter = Some(value.to_string());
                }
            }
            "RUCHYTRACE_VALSIZE" => {
                self.valsize = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (16..=1 << 20).contains(n))
                    .ok_or_else(|| err("a number of bytes between 16 and 1048576"))?
            }
            "RUCHYTRACE_DEPTH" => {
                self.depth = value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=32).contains(n))
                    .ok_or_else(|| err("a depth between 1 and 32"))?
            }
            // Read where they are used (sampling, clock choice); checked here so a bad value
            // gets its warning like every other setting.
            "RUCHYTRACE_SEED" => {
                value
                    .parse::<u64>()
                    .map_err(|_| err("a number (the seed of the sampling positions)"))?;
            }
            "RUCHYTRACE_CLOCK" => {
                if !matches!(value, "monotonic" | "tsc") {
                    return Err(err("monotonic or tsc"));
                }
            }
            "RUCHYTRACE_FLUSH_MS" => {
                self.flush_ms = value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=60_000).contains(n))
                    .ok_or_else(|| err("milliseconds between 1 and 60000"))?
            }
            _ => return Err(err("a known RUCHYTRACE_* variable")),
        }
        Ok(())
    }

    /// Reads the settings from an environment lookup; returns the settings and one warning per
    /// bad value (which is ignored: its default stays in force).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> (Settings, Vec<String>) {
        let mut s = Settings::default();
        let mut warnings = Vec::new();
        for key in ENV_VARS {
            if let Some(v) = lookup(key) {
                if let Err(e) = s.apply(key, &v) {
                    warnings.push(format!("ruchytrace: warning: {e}; using the default"));
                }
            }
        }
        (s, warnings)
    }

    /// Reads the settings from the process environment.
    pub fn from_env() -> (Settings, Vec<String>) {
        Settings::from_lookup(|k| std::env::var(k).ok())
    }

    /// The output format actually used: explicit, else from the extension, else text.
    pub fn effective_format(&self) -> OutputFormat {
        self.format
            .or_else(|| self.output.as_deref().and_then(OutputFormat::from_path))
            .unwrap_or(OutputFormat::Text)
    }
}

/// The result of [`parse_trace_flags`]: settings plus the environment to give the traced program.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceFlags {
    /// `--trace` was given (or another `--trace-*` flag, which implies it).
    pub trace: bool,
    /// `RUCHYTRACE_*` variables to set in the compiled program's environment.
    pub env: Vec<(String, String)>,
    /// Arguments that were not `--trace*` flags, in order.
    pub rest: Vec<String>,
}

/// Parses the `--trace`, `--trace-sample=N`, `--trace-filter=P`, `--trace-output=F`,
/// `--trace-format=FMT` flags (also the forms with the value as the next argument) out of `args`,
/// validating each value with the same rules as the environment variables.
///
/// ```
/// use ruchytrace_runtime::config::parse_trace_flags;
/// let f = parse_trace_flags(["--trace", "--trace-sample", "1000", "prog.ruchy"]).unwrap();
/// assert!(f.trace);
/// assert_eq!(f.env, vec![("RUCHYTRACE".into(), "1".into()), ("RUCHYTRACE_SAMPLE".into(), "1000".into())]);
/// assert_eq!(f.rest, vec!["prog.ruchy".to_string()]);
/// assert!(parse_trace_flags(["--trace-smaple=3"]).is_err());
/// ```
pub fn parse_trace_flags<I, S>(args: I) -> Result<TraceFlags, ConfigError>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    const FLAGS: &[(&str, &str)] = &[
        ("--trace-sample", "RUCHYTRACE_SAMPLE"),
        ("--trace-filter", "RUCHYTRACE_FILTER"),
        ("--trace-output", "RUCHYTRACE_OUTPUT"),
        ("--trace-format", "RUCHYTRACE_FORMAT"),
    ];
    let mut out = TraceFlags::default();
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut it = args.into_iter().map(Into::into);
    while let Some(arg) = it.next() {
        if arg == "--" {
            out.rest.push(arg);
            out.rest.extend(it.by_ref());
            break;
        }
        if arg == "--trace" {
            out.trace = true;
            continue;
        }
        if !arg.starts_with("--trace-") {
            out.rest.push(arg);
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let Some((_, var)) = FLAGS.iter().find(|(f, _)| *f == flag) else {
            return Err(ConfigError {
                key: flag,
                value: inline.unwrap_or_default(),
                expected:
                    "one of --trace, --trace-sample, --trace-filter, --trace-output, --trace-format"
                        .into(),
            });
        };
        let value = match inline {
            Some(v) => v,
            None => it.next().ok_or_else(|| ConfigError {
                key: flag.clone(),
                value: String::new(),
                expected: "a value".into(),
            })?,
        };
        let mut probe = Settings::default();
        probe.apply(var, &value).map_err(|mut e| {
            e.key = flag.clone();
            e
        })?;
        out.trace = true;
        vars.retain(|(k, _)| k != var);
        vars.push((var.to_string(), value));
    }
    if out.trace {
        out.env.push(("RUCHYTRACE".into(), "1".into()));
        out.env.extend(vars);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_defaults_and_warnings() {
        let env = [
            ("RUCHYTRACE_SAMPLE", "0"),
            ("RUCHYTRACE_OVERFLOW", "ring"),
            ("RUCHYTRACE_BUFFER", "64K"),
            ("RUCHYTRACE_FORMAT", "xml"),
        ];
        let (s, w) = Settings::from_lookup(|k| {
            env.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        });
        assert_eq!(s.sample, 1);
        assert_eq!(s.overflow, Overflow::Ring);
        assert_eq!(s.buffer, 64 * 1024);
        assert_eq!(s.format, None);
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("RUCHYTRACE_FORMAT=\"xml\""), "{w:?}");
        assert!(w[1].contains("RUCHYTRACE_SAMPLE=\"0\""), "{w:?}");
    }

    #[test]
    fn flags_both_forms() {
        let f = parse_trace_flags([
            "--trace-sample=10",
            "--trace-filter",
            "net::*",
            "--trace-output=t.json",
            "--trace-format",
            "json",
            "x",
        ])
        .unwrap();
        assert!(f.trace);
        assert_eq!(
            f.env,
            vec![
                ("RUCHYTRACE".to_string(), "1".to_string()),
                ("RUCHYTRACE_SAMPLE".into(), "10".into()),
                ("RUCHYTRACE_FILTER".into(), "net::*".into()),
                ("RUCHYTRACE_OUTPUT".into(), "t.json".into()),
                ("RUCHYTRACE_FORMAT".into(), "json".into()),
            ]
        );
        assert_eq!(f.rest, vec!["x"]);
        let e = parse_trace_flags(["--trace-sample=abc"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid --trace-sample=\"abc\": expected a number >= 1 (record one call in N)"
        );
        assert!(parse_trace_flags(["--trace-format"]).is_err());
        let none = parse_trace_flags(["a", "b"]).unwrap();
        assert!(!none.trace && none.env.is_empty());
    }
}
