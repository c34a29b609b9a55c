//! `ruchytrace syscalls`: a strace-grade system call tracer built on ptrace.
//!
//! [`trace_command`] runs a program under the tracer (with `-D` from a detached grandchild),
//! [`attach`] traces running processes; both write the configured sinks as events happen
//! ([`Options`]: strace-style text on stderr, in a file or one file per thread, the streamed
//! `sys.json`, the `-c` summary) and return an [`Outcome`]. SIGINT, SIGTERM and SIGHUP make the
//! tracer detach (the programs keep running) and end with 128 + the signal. Timestamps are
//! `CLOCK_MONOTONIC` nanoseconds read when each stop is observed, and every event carries the
//! pid and tid, so the trace lines up with the function trace of the runtime. Trace files are
//! created `0600`: they hold argument values.
//!
//! ```no_run
//! use ruchytrace::syscalls::{trace_command, Options};
//! let opts = Options { follow_forks: true, ..Options::default() };
//! let outcome = trace_command(&opts, "ls".as_ref(), &["-la".into()]).unwrap();
//! std::process::exit(outcome.exit_code);
//! ```

mod daemon;
pub mod decode;
pub mod event;
pub mod options;
pub mod output;
mod setup;
mod sys;
pub mod table;
mod tracer;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufWriter};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use nix::sys::signal::Signal;
use ruchytrace_runtime::model::ClockInfo;

pub use event::{read_sys_trace, Event, SysTrace};
pub use options::{
    CpuMode, Format, Options, SignalSet, StatusFilter, SyscallSet, TimeFormat, XlatStyle,
};

use event::{End, JsonWriter, Metadata, RecordedOptions, SYS_TRACE_FORMAT, SYS_TRACE_VERSION};
use output::{LineFormat, PidStyle, TextOut, TextPrinter};
use setup::*;
use tracer::{Mode, RootEnd, Sinks, Tracer};

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
        /// The process does not exist (bad input, exit 2) rather than a refusal (exit 1).
        missing: bool,
    },
    /// A bad `-e` expression or another option the tracer cannot use (`-P` path missing).
    #[error("{0}")]
    Filter(String),
    /// An output file could not be created before tracing started.
    #[error("cannot create {}: {}", path.display(), strip_os_error(source))]
    OutputOpen {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The output could not be written while tracing.
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
    /// The exit status `ruchytrace` should end with for this error: 126/127 when the program
    /// cannot run, 2 for bad input found before tracing (a bad `-e`, a `-P` path or `-p` process
    /// that does not exist, an `-o` that cannot be created), 1 for failures while tracing.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Spawn { exit_code, .. } => *exit_code,
            Error::Filter(_) | Error::OutputOpen { .. } => 2,
            Error::Attach { missing: true, .. } => 2,
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
    /// The signal (SIGINT, SIGTERM, SIGHUP) that made the tracer detach and stop, if any; the
    /// exit code is then 128 + that signal.
    pub interrupted: Option<i32>,
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

/// Runs `program` with `args` (argv[1..]) under the tracer until it and every traced
/// descendant ended, writing the configured sinks as events happen.
pub fn trace_command(opts: &Options, program: &OsStr, args: &[OsString]) -> Result<Outcome, Error> {
    check_options(opts)?;
    let resolved = resolve_program(program)?;
    if opts.daemonize {
        return daemon::trace_as_grandchild(opts, program, &resolved, args);
    }
    let (text, json, created) = open_outputs(opts, false)?;

    // From here on SIGINT/SIGTERM/SIGHUP are noted, not fatal: one arriving while the program is
    // being set up makes the loop detach at once instead of killing the tracer (and, through
    // PTRACE_O_EXITKILL, the program). The child gets default dispositions back at its exec.
    install_handlers();
    let result = spawn_and_trace(opts, program, &resolved, args, text, json, &created);
    uninstall_handlers();
    result
}

fn spawn_and_trace(
    opts: &Options,
    program: &OsStr,
    resolved: &Path,
    args: &[OsString],
    text: Option<TextOut>,
    json: Option<File>,
    created: &[PathBuf],
) -> Result<Outcome, Error> {
    let clock = clock_info();
    let remove_created = || {
        for p in created {
            let _ = std::fs::remove_file(p);
        }
    };
    let seccomp_prog = seccomp_program(opts);
    if opts.pin_cpu {
        if let Some(cpu) = sys::current_cpu() {
            // Inherited by the child: tracer and tracee then wake each other on one CPU.
            let _ = sys::pin_thread_to_cpu(cpu);
        }
    }

    let mut cmd = std::process::Command::new(resolved);
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
    let child = cmd.spawn().map_err(|e| {
        remove_created();
        Error::Spawn {
            program: program.to_string_lossy().into_owned(),
            reason: strip_os_error(&e),
            exit_code: if e.kind() == io::ErrorKind::NotFound {
                127
            } else {
                126
            },
        }
    })?;
    let pid = child.id() as i32;
    let early_end = || {
        remove_created();
        Error::Spawn {
            program: program.to_string_lossy().into_owned(),
            reason: "the program ended before its first instruction".into(),
            exit_code: 127,
        }
    };
    // The child stops with SIGTRAP right after its execve succeeded.
    let status = sys::wait_pid(pid).map_err(Error::Wait)?;
    let exec_ns = sys::monotonic_ns();
    if !libc::WIFSTOPPED(status) {
        return Err(early_end());
    }
    // Re-attach with PTRACE_SEIZE: only seized tracees can be left in a group-stop with
    // PTRACE_LISTEN (so SIGSTOP/SIGCONT behave as without a tracer) or stopped with
    // PTRACE_INTERRUPT (to detach on SIGINT). The child is parked in a SIGSTOP (queued by the
    // detach, taken before it runs a user instruction) while untraced.
    let ptrace_err = |request, source| Error::Ptrace {
        request,
        pid,
        source,
    };
    sys::resume(sys::Resume::Detach, pid, libc::SIGSTOP)
        .map_err(|e| ptrace_err("PTRACE_DETACH", e))?;
    let status = sys::wait_pid_stopped(pid).map_err(Error::Wait)?;
    if !libc::WIFSTOPPED(status) {
        return Err(early_end());
    }
    sys::seize(pid, tracer::ptrace_options(opts, Mode::Spawned, seccomp))
        .map_err(|e| ptrace_err("PTRACE_SEIZE", e))?;
    sys::kill(pid, Signal::SIGCONT).map_err(|e| ptrace_err("kill(SIGCONT)", e))?;

    let argv: Vec<&[u8]> = std::iter::once(program.as_bytes())
        .chain(args.iter().map(|a| a.as_bytes()))
        .collect();
    let meta = metadata(
        opts,
        RunInfo {
            program: resolved.to_string_lossy().into_owned(),
            args: argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            pid,
            clock,
        },
    );
    let mut tr = Tracer::new(
        opts,
        Mode::Spawned,
        seccomp,
        sinks(opts, text, json, &meta)?,
    );
    tr.add_tracee(pid, pid);
    tr.hide_sigcont(pid);
    // strace shows the execve it saw from the start; we only gain control after it, so the call
    // is reported from what we passed to it.
    let envp = envp_bytes();
    let envp: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
    let exec_args = tracer::exec_args(
        resolved.as_os_str().as_bytes(),
        &argv,
        &envp,
        &decode_options(opts),
    );
    tr.record_image(pid, pid, exec_ns);
    tr.synthetic_call(pid, tracer::execve_nr(), exec_args, 0, entry_ns, exec_ns);

    // Ctrl-C also reaches the program (same process group); SIGTERM/SIGHUP sent to the tracer
    // alone detach, and the program keeps running. The seized child reports a
    // PTRACE_EVENT_STOP first; the loop resumes it from there.
    let result = tr.run()?;
    // The Child handle is not waited on: its status was consumed by our waitpid calls.
    drop(child);
    Ok(outcome(result, opts.keep_events.then_some(meta)))
}

/// Seizes every thread of `pids` and registers them with `tr`. On failure, lets go of the ones
/// already seized.
fn seize_all(
    tr: &mut Tracer,
    pids: &[i32],
    options: nix::sys::ptrace::Options,
) -> Result<(), Error> {
    let mut seized = Vec::new();
    for &pid in pids {
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| Error::Attach {
            pid,
            reason: format!("{} (is the process id right?)", strip_os_error(&e)),
            missing: true,
        })?;
        let mut threads = 0;
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
                    tr.add_tracee(tid, pid);
                    seized.push(tid);
                    threads += 1;
                }
                // A thread that exited between listing and seizing.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) && tid != pid => {}
                Err(e) => {
                    for &t in &seized {
                        let _ = sys::resume(sys::Resume::Detach, t, 0);
                    }
                    return Err(Error::Attach {
                        pid,
                        missing: e.raw_os_error() == Some(libc::ESRCH),
                        reason: attach_advice(&e),
                    });
                }
            }
        }
        if tr.quiet() == 0 {
            if threads > 1 {
                eprintln!("ruchytrace: Process {pid} attached with {threads} threads");
            } else {
                eprintln!("ruchytrace: Process {pid} attached");
            }
        }
    }
    Ok(())
}

/// Attaches to running processes (every thread of each), traces them until they end or the
/// tracer gets SIGINT/SIGTERM/SIGHUP, then detaches, leaving them running.
pub fn attach(opts: &Options, pids: &[i32]) -> Result<Outcome, Error> {
    check_options(opts)?;
    for &pid in pids {
        if pid <= 0 || std::fs::metadata(format!("/proc/{pid}")).is_err() {
            return Err(Error::Attach {
                pid,
                reason: "No such process".into(),
                missing: true,
            });
        }
    }
    let clock = clock_info();
    let (text, json, _) = open_outputs(opts, pids.len() > 1)?;
    let meta = metadata(
        opts,
        RunInfo {
            program: String::new(),
            args: Vec::new(),
            pid: pids[0],
            clock,
        },
    );
    install_handlers();
    let mut tr = Tracer::new(opts, Mode::Attached, false, sinks(opts, text, json, &meta)?);
    let options = tracer::ptrace_options(opts, Mode::Attached, false);
    if let Err(e) = seize_all(&mut tr, pids, options) {
        uninstall_handlers();
        return Err(e);
    }
    let result = tr.run();
    uninstall_handlers();
    let mut out = outcome(result?, opts.keep_events.then_some(meta));
    if out.interrupted.is_some() {
        // Detached as asked: the processes keep running; that is a clean end.
        out.complete = true;
    }
    Ok(out)
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
