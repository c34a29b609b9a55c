//! `ruchytrace run [--syscalls] [--trace-*] [-o DIR] -- PROGRAM ARGS`: runs an instrumented
//! program with tracing on (and, with `--syscalls`, under the ptrace companion), then merges and
//! shows the result. The program's stdin, stdout and stderr are its own; `ruchytrace` exits with
//! the program's status (124 after `--timeout`, 2 for a usage error such as a non-empty `-o DIR`
//! without `--force`).
//!
//! With `-o DIR` the raw traces and the merged one stay in DIR; files already there are never
//! deleted, and only the traces this run wrote are merged. `cargo`'s default directory
//! (`target/…/NAME.ruchytrace`) holds the last run only: the previous run's traces there are
//! removed first. Without `-o` (and no default directory) the run works in a temporary
//! directory removed before returning.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context;
use ruchytrace_runtime::duration::fmt_duration;

use super::merge::{emit, load_and_merge, InputArgs, MergedFormat};
use super::report::{render, ReportArgs};
use crate::merge::{live, MergeOptions};

/// Exit status after `--timeout` killed the program (as `timeout(1)`).
pub const EXIT_TIMEOUT: i32 = 124;

/// What `--report` prints instead of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportKind {
    /// Call-path tree with times and counts.
    Callgraph,
    /// Top functions by self time.
    Hotspots,
    /// Per-function system call table.
    Syscalls,
    /// Per-file I/O summary.
    Io,
}

/// Options shared by `run` and `cargo`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOpts {
    /// Also trace system calls (ptrace companion) and place each under the function that made it.
    #[arg(long)]
    pub syscalls: bool,
    /// With --syscalls: record each system call's user stack (as `syscalls -k` does), so the merge
    /// can show calling lines and inferred callers.
    #[arg(short = 'k', long = "stacks")]
    pub stacks: bool,
    /// With --stacks: list the dynamic loader's system calls instead of one summary line.
    #[arg(long)]
    pub show_startup: bool,
    /// Accepted for symmetry with compiler drivers: tracing is always on under `run`.
    #[arg(long)]
    pub trace: bool,
    /// Record one call in N (RUCHYTRACE_SAMPLE).
    #[arg(long = "trace-sample", value_name = "N")]
    pub trace_sample: Option<String>,
    /// Name globs to record, `!` excludes (RUCHYTRACE_FILTER).
    #[arg(long = "trace-filter", value_name = "PATTERN")]
    pub trace_filter: Option<String>,
    /// Function trace file (RUCHYTRACE_OUTPUT, `%p` = pid); default DIR/fn-%p.rtrace.
    #[arg(long = "trace-output", value_name = "FILE")]
    pub trace_output: Option<PathBuf>,
    /// Function trace format: binary (default) or json (RUCHYTRACE_FORMAT).
    #[arg(long = "trace-format", value_name = "FMT")]
    pub trace_format: Option<String>,
    /// Keep the raw traces and write the merged one in DIR (not printed then).
    #[arg(short = 'o', long = "output-dir", value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Format of the merged output.
    #[arg(long, value_enum)]
    pub format: Option<MergedFormat>,
    /// Print a report instead of the timeline.
    #[arg(long, value_enum)]
    pub report: Option<ReportKind>,
    /// Stop the program after DURATION (`500ms`, `2s`, `1m`) and show where each thread hangs.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// Include the runtime collector thread (tracer traffic).
    #[arg(long)]
    pub show_tracer: bool,
    /// Turn straddling syscalls and mismatches into warnings, and write into a non-empty `-o`
    /// DIR (files already there are kept and not read; run's own outputs there — sys.json,
    /// merged.*, report.txt — are replaced).
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `ruchytrace run`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ruchytrace run --syscalls -- target/debug/examples/fibonacci_io\n  ruchytrace run --syscalls -o out -- ./server --port 8080\n  ruchytrace run --timeout=2s -- ./hangs"
)]
pub struct RunArgs {
    /// Shared options.
    #[command(flatten)]
    pub opts: RunOpts,
    /// The program and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub command: Vec<OsString>,
}

/// Parses `1s`, `500ms`, `2m`, `1.5s`, `100us` or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (expected e.g. 500ms, 2s, 1m)"))?;
    let secs = match unit {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" => v / 1e6,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => {
            return Err(format!(
            "invalid duration unit '{unit}' in '{s}' (ns is not supported; use us, ms, s, m, h)"
        ))
        }
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("the duration '{s}' must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Files matching a `RUCHYTRACE_OUTPUT` pattern (`%p` = any pid).
fn matching_files(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((pre, suf)) = name.split_once("%p") else {
        return if pattern.exists() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    };
    let dir = match pattern.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.len() > pre.len() + suf.len()
                        && n.starts_with(pre)
                        && n.ends_with(suf)
                        && n[pre.len()..n.len() - suf.len()]
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether `dir` exists and holds anything.
fn dir_has_entries(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

/// Children of this process (the program, or under `--syscalls` the tracee).
fn our_children() -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

/// Runs the subcommand.
pub fn run(args: RunArgs) -> anyhow::Result<i32> {
    let mut command = args.command.into_iter();
    let program = command.next().context("no program given")?;
    run_program(&args.opts, program, command.collect(), None)
}

/// Runs `program` traced, merges and shows the result (shared by `run` and `cargo`).
/// `default_dir` keeps the raw traces when `-o` is not given (else a temporary directory).
pub fn run_program(
    opts: &RunOpts,
    program: OsString,
    args: Vec<OsString>,
    default_dir: Option<PathBuf>,
) -> anyhow::Result<i32> {
    // Validate the --trace-* values with the runtime's own rules.
    let mut flags = vec!["--trace".to_string()];
    if let Some(v) = &opts.trace_sample {
        flags.push(format!("--trace-sample={v}"));
    }
    if let Some(v) = &opts.trace_filter {
        flags.push(format!("--trace-filter={v}"));
    }
    if let Some(v) = &opts.trace_format {
        flags.push(format!("--trace-format={v}"));
    }
    let parsed =
        ruchytrace_runtime::config::parse_trace_flags(flags).map_err(|e| anyhow::anyhow!("{e}"))?;
    let fn_format = opts.trace_format.as_deref().unwrap_or("binary");
    if fn_format.eq_ignore_ascii_case("text") || fn_format.eq_ignore_ascii_case("txt") {
        anyhow::bail!("--trace-format=text cannot be merged; use binary (default) or json");
    }

    // Without -o (and no default), the traces live in a temporary directory removed when this
    // function returns: nothing of the run outlives it but what it printed.
    let mut temp: Option<tempfile::TempDir> = None;
    let (dir, explicit) = match (&opts.output, default_dir) {
        (Some(d), _) => (d.clone(), true),
        (None, Some(d)) => (d, false),
        (None, None) => {
            let t = tempfile::Builder::new()
                .prefix("ruchytrace-run-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            let d = t.path().to_path_buf();
            temp = Some(t);
            (d, false)
        }
    };
    if explicit && !opts.force && dir_has_entries(&dir) {
        eprintln!(
            "ruchytrace: {} is not empty; choose an empty or new directory, or pass --force to write into it (its files are kept)",
            dir.display()
        );
        return Ok(super::EXIT_USAGE);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let owned_default = !explicit && temp.is_none();
    let ext = if fn_format.eq_ignore_ascii_case("json") {
        "json"
    } else {
        "rtrace"
    };
    let fn_pattern = opts
        .trace_output
        .clone()
        .unwrap_or_else(|| dir.join(format!("fn-%p.{ext}")));
    let sys_path = dir.join("sys.json");
    if owned_default && opts.trace_output.is_none() {
        // The default directory (`cargo`'s `target/…/NAME.ruchytrace`) is the tool's own, like
        // cargo's build outputs: it holds the last run only, so `report DIR` reads one run. An
        // `-o DIR` is the user's and is never cleared.
        for stale in matching_files(&fn_pattern) {
            let _ = std::fs::remove_file(stale);
        }
        let _ = std::fs::remove_file(&sys_path);
    }
    // Traces already there (an earlier run, with --force) are neither deleted nor merged: only
    // files this run creates or rewrites are read back.
    let started = std::time::SystemTime::now();
    let before: Vec<(PathBuf, Option<std::time::SystemTime>)> = matching_files(&fn_pattern)
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
            (p, m)
        })
        .collect();
    let written_now = |p: &Path| -> bool {
        match before.iter().find(|(q, _)| q == p) {
            None => true,
            Some((_, old)) => {
                let now = std::fs::metadata(p).and_then(|m| m.modified()).ok();
                now != *old && now.is_some_and(|t| t >= started)
            }
        }
    };

    let mut env: Vec<(String, String)> = parsed.env;
    env.retain(|(k, _)| k != "RUCHYTRACE_OUTPUT" && k != "RUCHYTRACE_FORMAT");
    env.push((
        "RUCHYTRACE_OUTPUT".into(),
        fn_pattern.to_string_lossy().into_owned(),
    ));
    env.push(("RUCHYTRACE_FORMAT".into(), fn_format.to_string()));

    let (done_tx, done_rx) = mpsc::channel::<()>();
    let spawn_watchdog = |pid: Option<u32>| {
        let timeout = opts.timeout?;
        let pattern = fn_pattern.clone();
        let rx = done_rx;
        Some(std::thread::spawn(move || {
            if rx.recv_timeout(timeout) != Err(mpsc::RecvTimeoutError::Timeout) {
                return false;
            }
            let Some(pid) = pid.or_else(|| our_children().into_iter().next()) else {
                return false;
            };
            let files = matching_files(&pattern);
            for line in live::timeout_report(pid, &fmt_duration(timeout.as_nanos() as u64), &files)
            {
                eprintln!("{line}");
            }
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
            true
        }))
    };

    let status = if opts.syscalls {
        // The companion spawns the program from this process: give it the environment here,
        // before any other thread exists.
        for (k, v) in &env {
            std::env::set_var(k, v);
        }
        let sys_opts = crate::syscalls::Options {
            follow_forks: true,
            output: Some(sys_path.clone()),
            format: crate::syscalls::Format::Json,
            stack_depth: opts.stacks.then_some(crate::stack::DEFAULT_DEPTH),
            ..crate::syscalls::Options::default()
        };
        let watchdog = spawn_watchdog(None);
        let outcome = crate::syscalls::trace_command(&sys_opts, &program, &args);
        let _ = done_tx.send(());
        let timed_out = watchdog.is_some_and(|w| w.join().unwrap_or(false));
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                // 127/126 when the program cannot be started, like a shell.
                eprintln!("ruchytrace: {e}");
                return Ok(e.exit_code());
            }
        };
        if timed_out {
            EXIT_TIMEOUT
        } else {
            outcome.exit_code
        }
    } else {
        let spawned = std::process::Command::new(&program)
            .args(&args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "ruchytrace: cannot run '{}': {e}",
                    program.to_string_lossy()
                );
                // Like a shell: 127 when not found, 126 when not executable.
                return Ok(if e.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                });
            }
        };
        let watchdog = spawn_watchdog(Some(child.id()));
        // Ctrl-C and Ctrl-\ reach the program (same process group); we stay to merge what it
        // recorded. Set after the spawn: ignored dispositions would be inherited across exec.
        // SAFETY: installing SIG_IGN has no handler code to be async-signal-safe.
        let old = unsafe {
            (
                libc::signal(libc::SIGINT, libc::SIG_IGN),
                libc::signal(libc::SIGQUIT, libc::SIG_IGN),
            )
        };
        let st = child.wait();
        // SAFETY: restores the dispositions saved above.
        unsafe {
            libc::signal(libc::SIGINT, old.0);
            libc::signal(libc::SIGQUIT, old.1);
        }
        let st = st.context("waiting for the program")?;
        let _ = done_tx.send(());
        let timed_out = watchdog.is_some_and(|w| w.join().unwrap_or(false));
        if timed_out {
            EXIT_TIMEOUT
        } else {
            use std::os::unix::process::ExitStatusExt;
            st.code()
                .or_else(|| st.signal().map(|s| 128 + s))
                .unwrap_or(1)
        }
    };

    let mut inputs: Vec<PathBuf> = matching_files(&fn_pattern)
        .into_iter()
        .filter(|p| written_now(p))
        .collect();
    if inputs.is_empty() {
        eprintln!(
            "ruchytrace: warning: no function trace was written to {} (was the program built with tracing, e.g. `--features trace`?)",
            fn_pattern.display()
        );
    }
    if opts.syscalls && sys_path.exists() {
        inputs.push(sys_path.clone());
    }
    if inputs.is_empty() {
        return Ok(status);
    }
    let merged = match load_and_merge(
        &inputs,
        true,
        &MergeOptions {
            force: opts.force,
            show_startup: opts.show_startup,
        },
    ) {
        Ok(m) => m,
        Err(f) => {
            eprintln!("ruchytrace: {}", f.message);
            return Ok(status);
        }
    };
    let format = opts.format.unwrap_or(MergedFormat::Text);
    if let Some(kind) = opts.report {
        let rargs = ReportArgs {
            callgraph: kind == ReportKind::Callgraph,
            hotspots: (kind == ReportKind::Hotspots).then_some(10),
            syscalls: kind == ReportKind::Syscalls,
            io: kind == ReportKind::Io,
            ..ReportArgs::from_input(InputArgs {
                show_tracer: opts.show_tracer,
                force: opts.force,
                partial: true,
                ..InputArgs::default()
            })
        };
        let text = render(&merged, &rargs);
        if explicit {
            let p = dir.join("report.txt");
            std::fs::write(&p, text).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("ruchytrace: report in {}", p.display());
        } else {
            eprint!("{text}");
        }
    }
    if !explicit && opts.report.is_none() {
        let mut err = std::io::stderr().lock();
        super::merge::write_merged(&merged, format, opts.show_tracer, &mut err)
            .context("cannot write the merged trace to stderr")?;
    }
    // The merged trace is written next to the raw ones when they are kept.
    if temp.is_none() {
        let p = dir.join(format!("merged.{}", format.extension()));
        emit(&merged, format, opts.show_tracer, Some(&p))?;
        eprintln!(
            "ruchytrace: merged trace in {} (raw traces next to it)",
            p.display()
        );
    }
    drop(temp);
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn output_patterns() {
        let dir = tempfile::tempdir().unwrap();
        for n in [
            "fn-12.rtrace",
            "fn-7.rtrace",
            "fn-x.rtrace",
            "fn-.rtrace",
            "sys.json",
        ] {
            std::fs::write(dir.path().join(n), b"").unwrap();
        }
        let found = matching_files(&dir.path().join("fn-%p.rtrace"));
        let names: Vec<_> = found
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["fn-12.rtrace", "fn-7.rtrace"]);
        assert_eq!(matching_files(&dir.path().join("sys.json")).len(), 1);
        assert!(matching_files(&dir.path().join("none.json")).is_empty());
    }
}
