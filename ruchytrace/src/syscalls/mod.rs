//! `ruchytrace syscalls`: a strace-grade system call tracer built on ptrace.
//!
//! [`trace_command`] runs a program under the tracer, [`attach`] traces running processes; both
//! write the configured sinks ([`Options`]: strace-style text on stderr or in a file, the
//! `sys.json` document, the `-c` summary) and return an [`Outcome`]. Timestamps are
//! `CLOCK_MONOTONIC` nanoseconds read when each stop is observed, and every event carries the
//! pid and tid, so the trace lines up with the function trace of the runtime.
//!
//! ```no_run
//! use ruchytrace::syscalls::{trace_command, Options};
//! let opts = Options { follow_forks: true, ..Options::default() };
//! let outcome = trace_command(&opts, "ls".as_ref(), &["-la".into()]).unwrap();
//! std::process::exit(outcome.exit_code);
//! ```

pub mod decode;
pub mod event;
pub mod options;
pub mod output;
mod sys;
pub mod table;
mod tracer;

use std::ffi::{OsStr, OsString};
use std::io::{self, BufWriter, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use nix::sys::signal::Signal;
use ruchytrace_runtime::model::ClockInfo;

pub use event::{Event, SysTrace};
pub use options::{Format, Options, StatusFilter, SyscallSet, TimeFormat};

use event::{End, Metadata, RecordedOptions, SYS_TRACE_FORMAT, SYS_TRACE_VERSION};
use output::TextPrinter;
use tracer::{Mode, Phase0, RootEnd, Tracer};

/// Everything that can go wrong while tracing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The program could not be started; `exit_code` is 127 (not found) or 126 (not executable).
    #[error("cannot run '{program}': {reason}")]
    Spawn {
        /// The program as given.
        program: String,
        /// Why (strerror text).
        reason: String,
        /// 127 or 126, like a shell.
        exit_code: i32,
    },
    /// `-p PID` could not be attached.
    #[error("cannot attach to process {pid}: {reason}")]
    Attach {
        /// The process.
        pid: i32,
        /// Why, and what to do about it.
        reason: String,
    },
    /// A bad `-e` expression.
    #[error("{0}")]
    Filter(String),
    /// The output file could not be created or written.
    #[error("cannot write trace output: {0}")]
    Output(#[source] io::Error),
    /// `waitpid` failed unexpectedly.
    #[error("waitpid failed: {0}")]
    Wait(#[source] io::Error),
    /// A ptrace request on the initial tracee failed.
    #[error("ptrace({request}) on {pid} failed: {source}")]
    Ptrace {
        /// The request name.
        request: &'static str,
        /// The tracee.
        pid: i32,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The exit status `ruchytrace` should end with for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Spawn { exit_code, .. } => *exit_code,
            _ => 1,
        }
    }
}

/// What a traced run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The status to exit with: the program's exit code, or 128+N when killed by signal N
    /// (0 after detaching from `-p` processes).
    pub exit_code: i32,
    /// Number of events recorded (syscalls, signals, exits).
    pub events: usize,
    /// Whether every tracee was followed to its end or detached cleanly.
    pub complete: bool,
    /// The whole trace, when [`Options::keep_events`] asked for it.
    pub trace: Option<SysTrace>,
}

/// The (`CLOCK_REALTIME`, `CLOCK_MONOTONIC`) pair, read back to back.
fn clock_info() -> ClockInfo {
    let realtime_ns = sys::realtime_ns();
    let monotonic_ns = sys::monotonic_ns();
    ClockInfo {
        domain: "CLOCK_MONOTONIC".into(),
        source: "CLOCK_MONOTONIC".into(),
        realtime_ns,
        monotonic_ns,
        tsc_hz: None,
    }
}

/// Finds `program` like `execvp` does, so spawn errors are reported like a shell reports them.
fn resolve_program(program: &OsStr) -> Result<PathBuf, Error> {
    let fail = |reason: io::Error, exit_code| Error::Spawn {
        program: program.to_string_lossy().into_owned(),
        reason: strip_os_error(&reason),
        exit_code,
    };
    let check = |p: &Path| -> Result<(), (io::Error, i32)> {
        let meta = std::fs::metadata(p).map_err(|e| (e, 127))?;
        if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
            return Err((io::Error::from_raw_os_error(libc::EACCES), 126));
        }
        Ok(())
    };
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        return check(&p).map(|_| p).map_err(|(e, c)| fail(e, c));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let mut denied = None;
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        match check(&candidate) {
            Ok(()) => return Ok(candidate),
            Err((e, 126)) => denied = denied.or(Some(e)),
            Err(_) => {}
        }
    }
    Err(match denied {
        Some(e) => fail(e, 126),
        None => fail(io::Error::from_raw_os_error(libc::ENOENT), 127),
    })
}

/// `"No such file or directory (os error 2)"` -> `"No such file or directory"`.
fn strip_os_error(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

extern "C" fn on_interrupt(_: libc::c_int) {
    tracer::INTERRUPTED.store(true, Ordering::Relaxed);
}

extern "C" fn on_alarm(_: libc::c_int) {
    tracer::FLUSH_DUE.store(true, Ordering::Relaxed);
}

/// The text sink: stderr, or `-o FILE` in text format.
fn text_sink(opts: &Options) -> Result<Option<TextPrinter>, Error> {
    let out: Box<dyn Write> = match (&opts.output, opts.format) {
        (Some(_), Format::Json) if !opts.summary => return Ok(None),
        (Some(path), Format::Text) => Box::new(BufWriter::with_capacity(
            64 * 1024,
            std::fs::File::create(path).map_err(Error::Output)?,
        )),
        _ => Box::new(BufWriter::with_capacity(64 * 1024, io::stderr())),
    };
    Ok(Some(TextPrinter::new(
        out,
        opts.time,
        opts.show_durations,
        clock_info(),
    )))
}

struct RunInfo {
    program: String,
    args: Vec<String>,
    pid: i32,
    clock: ClockInfo,
}

/// Creates the `-o FILE.json` file up front, so a bad path fails before the program runs.
fn json_file(opts: &Options) -> Result<Option<std::fs::File>, Error> {
    match (&opts.output, opts.format) {
        (Some(path), Format::Json) => std::fs::File::create(path).map(Some).map_err(Error::Output),
        _ => Ok(None),
    }
}

/// Assembles the `sys.json` document, writes it to `file` if any, and returns it when the
/// caller asked to keep it.
fn finish_trace(
    opts: &Options,
    info: RunInfo,
    mut result: tracer::LoopResult,
    file: Option<std::fs::File>,
) -> Result<(usize, Option<SysTrace>), Error> {
    let mut events = std::mem::take(&mut result.events);
    // Stable sort: events observed at the same nanosecond keep their observation order.
    events.sort_by_key(Event::timestamp_ns);
    let doc = SysTrace {
        metadata: Metadata {
            format: SYS_TRACE_FORMAT.into(),
            version: SYS_TRACE_VERSION,
            ruchytrace_version: env!("CARGO_PKG_VERSION").into(),
            program: info.program,
            args: info.args,
            pid: info.pid,
            arch: std::env::consts::ARCH.into(),
            clock: info.clock,
            options: RecordedOptions {
                follow_forks: opts.follow_forks,
                filter: filter_text(opts),
                strsize: opts.strsize,
            },
            images: std::mem::take(&mut result.images),
        },
        end: End {
            complete: result.complete,
            events: events.len(),
        },
        events,
    };
    if let Some(file) = file {
        let mut w = BufWriter::new(file);
        serde_json::to_writer(&mut w, &doc).map_err(|e| Error::Output(e.into()))?;
        w.write_all(b"\n").map_err(Error::Output)?;
        w.flush().map_err(Error::Output)?;
    }
    Ok((doc.events.len(), opts.keep_events.then_some(doc)))
}

fn filter_text(opts: &Options) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(t) = &opts.trace {
        parts.push(format!("trace={}", t.expr));
    }
    match opts.status {
        StatusFilter::All => {}
        StatusFilter::Failed => parts.push("status=failed".into()),
        StatusFilter::Successful => parts.push("status=successful".into()),
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// Runs `program` with `args` (argv[1..]) under the tracer until it and every traced
/// descendant ended, writing the configured sinks.
pub fn trace_command(opts: &Options, program: &OsStr, args: &[OsString]) -> Result<Outcome, Error> {
    let resolved = resolve_program(program)?;
    let clock = clock_info();
    let mut text = text_sink(opts)?;
    let json = json_file(opts)?;
    let collect_json = json.is_some() || opts.keep_events;

    let seccomp_prog = match (&opts.trace, opts.seccomp) {
        (Some(set), true) => {
            let never: Vec<u64> = ["execve", "execveat"]
                .iter()
                .filter_map(|n| table::number(n))
                .collect();
            Some(sys::SeccompProgram::new(&set.numbers, set.negated, &never))
        }
        _ => None,
    };
    if opts.pin_cpu {
        if let Some(cpu) = sys::current_cpu() {
            // Inherited by the child: tracer and tracee then wake each other on one CPU.
            let _ = sys::pin_thread_to_cpu(cpu);
        }
    }

    let mut cmd = std::process::Command::new(&resolved);
    cmd.arg0(program).args(args);
    let seccomp = seccomp_prog.is_some();
    let filter = std::sync::Arc::new(seccomp_prog);
    let filter_ref = std::sync::Arc::clone(&filter);
    // SAFETY: the closure runs between fork and exec; it only calls ptrace, prctl and seccomp
    // (async-signal-safe system calls) on data built before the fork, and does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            sys::traceme()?;
            if let Some(f) = filter_ref.as_ref() {
                f.install()?;
            }
            Ok(())
        });
    }
    let entry_ns = sys::monotonic_ns();
    let child = cmd.spawn().map_err(|e| Error::Spawn {
        program: program.to_string_lossy().into_owned(),
        reason: strip_os_error(&e),
        exit_code: if e.kind() == io::ErrorKind::NotFound {
            127
        } else {
            126
        },
    })?;
    let pid = child.id() as i32;
    // The child stops with SIGTRAP right after its execve succeeded.
    let status = sys::wait_pid(pid).map_err(Error::Wait)?;
    let exec_ns = sys::monotonic_ns();
    if !libc::WIFSTOPPED(status) {
        return Err(Error::Spawn {
            program: program.to_string_lossy().into_owned(),
            reason: "the program ended before its first instruction".into(),
            exit_code: 127,
        });
    }
    // Re-attach with PTRACE_SEIZE: only seized tracees can be left in a group-stop with
    // PTRACE_LISTEN, so SIGSTOP/SIGCONT behave as without a tracer. The child is parked in a
    // SIGSTOP (queued by the detach, taken before it runs a user instruction) while untraced.
    let ptrace_err = |request, source| Error::Ptrace {
        request,
        pid,
        source,
    };
    sys::resume(sys::Resume::Detach, pid, libc::SIGSTOP)
        .map_err(|e| ptrace_err("PTRACE_DETACH", e))?;
    let status = sys::wait_pid_stopped(pid).map_err(Error::Wait)?;
    if !libc::WIFSTOPPED(status) {
        return Err(Error::Spawn {
            program: program.to_string_lossy().into_owned(),
            reason: "the program ended before its first instruction".into(),
            exit_code: 127,
        });
    }
    sys::seize(pid, tracer::ptrace_options(opts, Mode::Spawned, seccomp))
        .map_err(|e| ptrace_err("PTRACE_SEIZE", e))?;
    sys::kill(pid, Signal::SIGCONT).map_err(|e| ptrace_err("kill(SIGCONT)", e))?;
    if let Some(t) = &mut text {
        t.set_root(pid);
    }

    let mut tr = Tracer::new(opts, Mode::Spawned, seccomp, text, collect_json);
    tr.add_tracee(pid, pid, Phase0::Starting);
    tr.hide_sigcont(pid);
    // strace shows the execve it saw from the start; we only gain control after it, so the call
    // is reported from what we passed to it.
    let argv: Vec<&[u8]> = std::iter::once(program.as_bytes())
        .chain(args.iter().map(|a| a.as_bytes()))
        .collect();
    let exec_args = tracer::exec_args(resolved.as_os_str().as_bytes(), &argv, opts.strsize);
    tr.synthetic_call(pid, tracer::execve_nr(), exec_args, 0, entry_ns, exec_ns);
    tr.record_image(pid, pid, exec_ns);

    // Ctrl-C goes to the program (same process group): the tracer keeps tracing until it ends.
    sys::set_flag_handler(Signal::SIGINT, on_interrupt);
    sys::set_flag_handler(Signal::SIGALRM, on_alarm);
    sys::set_interval_timer(50);
    // The seized child reports a PTRACE_EVENT_STOP first; the loop resumes it from there.
    let result = tr.run();
    sys::set_interval_timer(0);
    sys::set_default_handler(Signal::SIGINT);
    let result = result?;
    // The Child handle is not waited on: its status was consumed by our waitpid calls.
    drop(child);

    let exit_code = match result.root_status {
        Some(RootEnd::Exited(c)) => c,
        Some(RootEnd::Killed(s)) => 128 + s,
        None => 0,
    };
    let info = RunInfo {
        program: resolved.to_string_lossy().into_owned(),
        args: argv
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
        pid,
        clock,
    };
    let complete = result.complete;
    let (events, trace) = finish_trace(opts, info, result, json)?;
    Ok(Outcome {
        exit_code,
        events,
        complete,
        trace,
    })
}

/// Attaches to running processes (every thread of each), traces them until they end or the
/// tracer gets SIGINT/SIGTERM, then detaches, leaving them running.
pub fn attach(opts: &Options, pids: &[i32]) -> Result<Outcome, Error> {
    let clock = clock_info();
    let text = text_sink(opts)?;
    let json = json_file(opts)?;
    let collect_json = json.is_some() || opts.keep_events;
    tracer::INTERRUPTED.store(false, Ordering::Relaxed);
    sys::set_flag_handler(Signal::SIGINT, on_interrupt);
    sys::set_flag_handler(Signal::SIGTERM, on_interrupt);
    let mut tr = Tracer::new(opts, Mode::Attached, false, text, collect_json);
    let options = tracer::ptrace_options(opts, Mode::Attached, false);
    let mut seized = Vec::new();
    for &pid in pids {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| Error::Attach {
            pid,
            reason: format!("{} (is the process id right?)", strip_os_error(&e)),
        })?;
        for task in tasks.flatten() {
            let Some(tid) = task
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            match sys::seize(tid, options) {
                Ok(()) => {
                    let _ = sys::interrupt(tid);
                    tr.add_tracee(tid, pid, Phase0::Starting);
                    seized.push(tid);
                }
                // A thread that exited between listing and seizing.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) && tid != pid => {}
                Err(e) => {
                    for &t in &seized {
                        let _ = sys::resume(sys::Resume::Detach, t, 0);
                    }
                    return Err(Error::Attach {
                        pid,
                        reason: attach_advice(&e),
                    });
                }
            }
        }
    }
    sys::set_flag_handler(Signal::SIGALRM, on_alarm);
    sys::set_interval_timer(50);
    let result = tr.run();
    sys::set_interval_timer(0);
    sys::set_default_handler(Signal::SIGINT);
    sys::set_default_handler(Signal::SIGTERM);
    let result = result?;
    let exit_code = match result.root_status {
        Some(RootEnd::Exited(c)) => c,
        Some(RootEnd::Killed(s)) => 128 + s,
        None => 0,
    };
    let info = RunInfo {
        program: String::new(),
        args: Vec::new(),
        pid: pids[0],
        clock,
    };
    let complete = result.complete;
    let (events, trace) = finish_trace(opts, info, result, json)?;
    Ok(Outcome {
        exit_code,
        events,
        complete,
        trace,
    })
}

fn attach_advice(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM) => {
            let yama = std::fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            let mut s = String::from("Operation not permitted: ptrace needs the same user and CAP_SYS_PTRACE for other users' processes");
            if !yama.is_empty() && yama != "0" {
                s.push_str(&format!(
                    "; Yama ptrace_scope is {yama} (run as root, or `sysctl kernel.yama.ptrace_scope=0`)"
                ));
            }
            s
        }
        Some(libc::ESRCH) => "No such process".into(),
        _ => strip_os_error(e),
    }
}
