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
pub use options::{Format, Options, SignalSet, StatusFilter, SyscallSet, TimeFormat, XlatStyle};

use event::{End, JsonWriter, Metadata, RecordedOptions, SYS_TRACE_FORMAT, SYS_TRACE_VERSION};
use output::{LineFormat, PidStyle, TextOut, TextPrinter};
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

extern "C" fn on_interrupt(sig: libc::c_int) {
    tracer::INTERRUPTED.store(sig, Ordering::Relaxed);
}

extern "C" fn on_alarm(_: libc::c_int) {
    tracer::FLUSH_DUE.store(true, Ordering::Relaxed);
}

/// The signals that make the tracer detach and stop, as strace.
const STOP_SIGNALS: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// Handlers for the loop: stop signals and the flush tick. Undone by [`uninstall_handlers`].
fn install_handlers() {
    tracer::INTERRUPTED.store(0, Ordering::Relaxed);
    for s in STOP_SIGNALS {
        sys::set_flag_handler(s, on_interrupt);
    }
    sys::set_flag_handler(Signal::SIGALRM, on_alarm);
    sys::set_interval_timer(50);
}

fn uninstall_handlers() {
    sys::set_interval_timer(0);
    for s in STOP_SIGNALS {
        sys::set_default_handler(s);
    }
}

/// How lines of `-o FILE` (or stderr) name their thread.
fn pid_style(opts: &Options, to_file: bool, several_roots: bool) -> PidStyle {
    if opts.output_separately && to_file {
        PidStyle::None
    } else if to_file && (opts.follow_forks || several_roots) {
        PidStyle::Bare
    } else {
        PidStyle::Bracketed
    }
}

/// Creates the output files before anything runs, so a bad path fails first (and exit 2).
/// Returns the text sink, the JSON file, and the files created (removed again if the program
/// cannot be started).
/// What [`open_outputs`] opened: the text sink, the JSON file, the files it created.
type Outputs = (Option<TextOut>, Option<File>, Vec<PathBuf>);

fn open_outputs(opts: &Options, several_roots: bool) -> Result<Outputs, Error> {
    let open = |path: &Path| {
        output::create_private(path).map_err(|source| Error::OutputOpen {
            path: path.to_path_buf(),
            source,
        })
    };
    let format = |to_file| LineFormat {
        time: opts.time,
        relative: opts.relative_time,
        durations: opts.show_durations,
        pids: pid_style(opts, to_file, several_roots),
        clock: clock_info(),
    };
    let stderr = || {
        TextOut::One(TextPrinter::new(
            Box::new(BufWriter::with_capacity(64 * 1024, io::stderr())),
            format(false),
        ))
    };
    match (&opts.output, opts.format) {
        (Some(path), Format::Json) => {
            let file = open(path)?;
            let text = (opts.summary).then(stderr);
            Ok((text, Some(file), vec![path.clone()]))
        }
        (Some(path), Format::Text) if opts.output_separately => {
            // Check the directory is writable now: the per-thread files appear later.
            let mut probe = path.clone().into_os_string();
            probe.push(format!(".{}", std::process::id()));
            let probe = PathBuf::from(probe);
            open(&probe)?;
            let _ = std::fs::remove_file(&probe);
            let text = TextOut::PerThread {
                base: path.clone(),
                format: format(true),
                files: Default::default(),
            };
            Ok((Some(text), None, Vec::new()))
        }
        (Some(path), Format::Text) => {
            let file = open(path)?;
            let text = TextOut::One(TextPrinter::new(
                Box::new(BufWriter::with_capacity(64 * 1024, file)),
                format(true),
            ));
            Ok((Some(text), None, vec![path.clone()]))
        }
        (None, _) => Ok((Some(stderr()), None, Vec::new())),
    }
}

/// Checks what can be checked before tracing: `-P` paths exist.
fn check_options(opts: &Options) -> Result<(), Error> {
    for p in &opts.paths {
        if std::fs::symlink_metadata(p).is_err() {
            return Err(Error::Filter(format!(
                "-P {}: no such file or directory",
                p.display()
            )));
        }
    }
    Ok(())
}

struct RunInfo {
    program: String,
    args: Vec<String>,
    pid: i32,
    clock: ClockInfo,
}

fn metadata(opts: &Options, info: RunInfo) -> Metadata {
    Metadata {
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
        images: Vec::new(),
    }
}

fn sinks(
    opts: &Options,
    text: Option<TextOut>,
    json: Option<File>,
    meta: &Metadata,
) -> Result<Sinks, Error> {
    let json = match json {
        Some(f) => Some(JsonWriter::new(f, meta).map_err(Error::Output)?),
        None => None,
    };
    Ok(Sinks {
        text,
        json,
        keep: opts.keep_events,
    })
}

/// The outcome of a finished loop.
fn outcome(result: tracer::LoopResult, meta: Option<Metadata>) -> Outcome {
    let exit_code = match (result.interrupted, result.root_status) {
        (Some(sig), _) => 128 + sig,
        (None, Some(RootEnd::Exited(c))) => c,
        (None, Some(RootEnd::Killed(s))) => 128 + s,
        (None, None) => 0,
    };
    let trace = meta.map(|mut metadata| {
        metadata.images = result.images;
        let mut events = result.events;
        events.sort_by_key(Event::timestamp_ns);
        SysTrace {
            metadata,
            end: End {
                complete: result.complete,
                events: events.len(),
            },
            events,
        }
    });
    Outcome {
        exit_code,
        events: result.count,
        complete: result.complete,
        trace,
        interrupted: result.interrupted,
    }
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

/// The seccomp filter for `-e trace=` (execve always runs without a stop: see
/// [`sys::SeccompProgram::new`]).
fn seccomp_program(opts: &Options) -> Option<sys::SeccompProgram> {
    let never: Vec<u64> = ["execve", "execveat"]
        .iter()
        .filter_map(|n| table::number(n))
        .collect();
    match (&opts.trace, opts.seccomp) {
        // An exec is never a seccomp stop (the first one cannot be), so a set that selects one
        // stops at every call instead: strace shows the path as the program passed it.
        (Some(set), true) if never.iter().any(|&nr| set.contains(nr)) => None,
        (Some(set), true) => Some(sys::SeccompProgram::new(&set.numbers, set.negated, &never)),
        _ => None,
    }
}

fn envp_bytes() -> Vec<Vec<u8>> {
    std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend_from_slice(v.as_encoded_bytes());
            kv
        })
        .collect()
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

/// The decoder settings of `opts` (for the lines the tracer builds itself).
fn decode_options(opts: &Options) -> decode::DecodeOptions {
    decode::DecodeOptions {
        strsize: opts.strsize,
        show_fd_paths: opts.show_fd_paths || opts.show_sockets,
        show_sockets: opts.show_sockets,
        strings_hex: opts.strings_hex,
        verbose: opts.verbose,
    }
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
