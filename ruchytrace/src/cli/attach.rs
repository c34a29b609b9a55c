//! `ruchytrace attach PID [--syscalls] [--for 5s] [-o DIR]`: records a running program that was
//! started with `RUCHYTRACE=dormant`, for a while, without restarting it.
//!
//! 1. Asks the process (through the runtime's control socket, see
//!    `ruchytrace_runtime::control`) to switch recording on into `DIR/raw-PID.rtrace`.
//! 2. Optionally traces its system calls meanwhile (`--syscalls`: the `syscalls` tracer's
//!    attach mode, `-p PID`), into `DIR/sys.json`.
//! 3. After `--for` (or Ctrl-C), switches recording off again; the program runs on.
//! 4. Writes the function calls of this session as `DIR/fn-PID.json` and the merged timeline
//!    as `DIR/merged.txt`.
//!
//! Exit status: 0 on success; 2 when the process does not listen for attach (not started with
//! `RUCHYTRACE=dormant`, or gone) or refuses.

use super::merge::{emit, load_and_merge, MergedFormat};
use crate::merge::MergeOptions;
use anyhow::{anyhow, bail, Context};
use ruchytrace_runtime::format::{self, Format};
use ruchytrace_runtime::model::{Event, Trace};
use std::io::{BufRead, BufReader, Write};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Arguments of `ruchytrace attach`.
#[derive(Debug, clap::Args)]
pub struct AttachArgs {
    /// The process to record (started with `RUCHYTRACE=dormant`).
    pub pid: u32,
    /// Also trace its system calls (ptrace, as `ruchytrace syscalls -p PID`).
    #[arg(long)]
    pub syscalls: bool,
    /// How long to record (e.g. 500ms, 5s, 2m).
    #[arg(long = "for", value_name = "DURATION", default_value = "5s",
          value_parser = super::run::parse_duration)]
    pub duration: Duration,
    /// Directory for the traces (default: ./ruchytrace-attach-PID).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}

/// Sends one command to the control socket of process `pid` and returns its reply line.
pub fn request(pid: u32, command: &str) -> anyhow::Result<String> {
    let name = ruchytrace_runtime::control::socket_name(pid);
    let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
    let stream = UnixStream::connect_addr(&addr).map_err(|e| {
        anyhow!(
            "process {pid} does not listen for attach ({e}): start it with RUCHYTRACE=dormant \
             (and a build with tracing compiled in)"
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    (&stream).write_all(format!("{command}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(&stream)
        .read_line(&mut line)
        .with_context(|| format!("no answer from process {pid}"))?;
    let line = line.trim_end().to_string();
    if line.is_empty() {
        bail!("process {pid} closed the connection without answering");
    }
    Ok(line)
}

fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Waits `d`, or until SIGINT/SIGTERM.
fn wait_or_interrupt(d: Duration) {
    STOP.store(false, Ordering::Relaxed);
    let handler = on_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    let old = unsafe {
        (
            libc::signal(libc::SIGINT, handler),
            libc::signal(libc::SIGTERM, handler),
        )
    };
    let end = Instant::now() + d;
    while !STOP.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(20)));
    }
    // SAFETY: restores the previous dispositions.
    unsafe {
        libc::signal(libc::SIGINT, old.0);
        libc::signal(libc::SIGTERM, old.1);
    }
}

/// Runs the syscall tracer on `pid` for `d` (or until Ctrl-C), writing `sys`.
fn trace_syscalls(pid: u32, d: Duration, sys: &Path) -> anyhow::Result<()> {
    let opts = crate::syscalls::Options {
        output: Some(sys.to_path_buf()),
        format: crate::syscalls::Format::Json,
        follow_forks: true,
        ..crate::syscalls::Options::default()
    };
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let done2 = done.clone();
    // The tracer stops on SIGTERM; the timer sends it to this process when the time is up. It
    // blocks every signal, so the signal interrupts the tracer's wait on the main thread.
    let timer = std::thread::spawn(move || {
        // SAFETY: a zeroed sigset filled by sigfillset, applied to this thread only.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        }
        let end = Instant::now() + d;
        while Instant::now() < end {
            if done2.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if !done2.load(Ordering::Relaxed) {
            // SAFETY: sending a signal to our own process.
            unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
        }
    });
    let r = crate::syscalls::attach(&opts, &[pid as i32]);
    done.store(true, Ordering::Relaxed);
    let _ = timer.join();
    r.map(|_| ()).map_err(|e| anyhow!("{e}"))
}

/// The events of `trace` from `since` on (a session of a file that may hold earlier ones);
/// thread names are kept whatever their time.
fn session(mut trace: Trace, since: u64) -> Trace {
    trace
        .events
        .retain(|e| matches!(e, Event::Thread { .. }) || e.ts() >= since);
    trace.trailer = None;
    trace.truncation = Some(
        "recorded by `ruchytrace attach`: calls open when recording was switched on or off are \
         cut"
        .into(),
    );
    trace
}

/// Entry point of `ruchytrace attach`.
pub fn run(args: AttachArgs) -> anyhow::Result<i32> {
    let pid = args.pid;
    let dir = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("ruchytrace-attach-{pid}")));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir.canonicalize()?;
    let raw = dir.join("raw-%p.rtrace");
    let since = monotonic_ns();
    let reply = match request(pid, &format!("on {}", raw.display())) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ruchytrace: {e:#}");
            return Ok(super::EXIT_USAGE);
        }
    };
    let Some(file) = reply.strip_prefix("ok ") else {
        eprintln!(
            "ruchytrace: process {pid} refused: {}",
            reply.strip_prefix("error ").unwrap_or(&reply)
        );
        return Ok(super::EXIT_USAGE);
    };
    let file = PathBuf::from(file);
    eprintln!(
        "ruchytrace: recording process {pid} for {:?} into {}",
        args.duration,
        file.display()
    );
    let sys = dir.join("sys.json");
    let sys_result = if args.syscalls {
        trace_syscalls(pid, args.duration, &sys)
    } else {
        wait_or_interrupt(args.duration);
        Ok(())
    };
    // Off whatever happened, so the program does not record forever.
    let off = request(pid, "off");
    sys_result?;
    match off {
        Ok(r) if r == "ok" => {}
        Ok(r) => eprintln!("ruchytrace: warning: switching recording off: {r}"),
        Err(e) => eprintln!("ruchytrace: warning: switching recording off: {e:#}"),
    }
    let trace = format::read_trace(&file).map_err(|e| anyhow!("{}: {e}", file.display()))?;
    let trace = session(trace, since);
    let calls = trace
        .events
        .iter()
        .filter(|e| matches!(e, Event::Exit { .. }))
        .count();
    let fn_path = dir.join(format!("fn-{pid}.json"));
    let out = std::fs::File::create(&fn_path)
        .with_context(|| format!("cannot create {}", fn_path.display()))?;
    let mut w = format::writer(Format::Json, Box::new(out));
    format::write_trace(&trace, &mut *w)
        .with_context(|| format!("cannot write {}", fn_path.display()))?;
    drop(w);
    let mut inputs = vec![fn_path.clone()];
    if sys.exists() {
        inputs.push(sys);
    }
    let merged_path = dir.join("merged.txt");
    match load_and_merge(
        &inputs,
        true,
        &MergeOptions {
            force: true,
            ..MergeOptions::default()
        },
    ) {
        Ok(m) => emit(&m, MergedFormat::Text, false, Some(&merged_path))?,
        Err(f) => eprintln!("ruchytrace: warning: cannot merge: {}", f.message),
    }
    eprintln!(
        "ruchytrace: {calls} calls recorded; traces in {} (merged: {})",
        dir.display(),
        merged_path.display()
    );
    Ok(0)
}
