//! Switching recording on and off from outside the process (`ruchytrace attach`): with
//! `RUCHYTRACE=dormant` the runtime records nothing — the hot path sees the same state word as
//! when tracing is disabled — and one thread waits on a Unix socket for commands.
//!
//! Why a socket, not a polled control file: the waiting thread sleeps in `accept` and makes no
//! system call until someone connects (nothing periodic shows up in a syscall trace of the
//! program, no timer wakes the machine); a command is acted on at once and answered (with the
//! trace file's actual path, or the error); a process that does not listen refuses the
//! connection at once instead of timing out; the socket lives in the abstract namespace, so a
//! killed process leaves no file behind; and the peer's credentials are checked (same user or
//! root), which a file in a shared temporary directory cannot guarantee.
//!
//! Protocol: one command per connection, one line each way.
//!
//! | request | reply |
//! | --- | --- |
//! | `on PATH` (`%p` in `PATH` expands to the pid) | `ok FILE`: recording into the binary trace file `FILE`; or `error MESSAGE` |
//! | `off` | `ok`: recording is off (the file stays; it is finished at exit) |
//! | `status` | `on FILE`, or `dormant` |
//!
//! The first `on` opens the trace file; later sessions record into the same file (readers tell
//! the sessions apart by time). A forked child goes back to dormant with its own socket.

use crate::global::{runtime, OFF, SHUTDOWN, STATE};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering::*};
use std::sync::Mutex;
use std::time::Duration;

/// The abstract socket name a dormant process with this pid listens on.
pub fn socket_name(pid: u32) -> String {
    format!("ruchytrace-control-{pid}")
}

/// The pid whose socket this process listens on (0: none).
static LISTENING: AtomicU32 = AtomicU32::new(0);
/// The listening socket's descriptor (-1: none), closed in a forked child.
static LISTENER_FD: AtomicI32 = AtomicI32::new(-1);
/// The trace file recording goes to once a session switched it on.
static FILE: Mutex<Option<String>> = Mutex::new(None);

/// Starts the thread that waits for `ruchytrace attach` (once per process). A socket that
/// cannot be created costs one warning; the program runs on, dormant.
pub(crate) fn start_watcher() {
    let pid = runtime().pid();
    if LISTENING.swap(pid, AcqRel) == pid {
        return;
    }
    let addr = match SocketAddr::from_abstract_name(socket_name(pid).as_bytes()) {
        Ok(a) => a,
        Err(e) => return warn(&e),
    };
    let listener = match UnixListener::bind_addr(&addr) {
        Ok(l) => l,
        Err(e) => return warn(&e),
    };
    LISTENER_FD.store(listener.as_raw_fd(), Release);
    let spawned = std::thread::Builder::new()
        .name("ruchytrace-control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => serve(stream),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        });
    if let Err(e) = spawned {
        LISTENER_FD.store(-1, Release);
        warn(&e);
    }
}

fn warn(e: &io::Error) {
    eprintln!(
        "ruchytrace: warning: cannot listen for `ruchytrace attach` ({e}); the program stays dormant"
    );
}

/// In a forked child: the parent's socket and session are not the child's. The child listens
/// on its own socket when it next initialises (it goes back to dormant).
pub(crate) fn after_fork_in_child() {
    let fd = LISTENER_FD.swap(-1, AcqRel);
    if fd >= 0 {
        // SAFETY: the descriptor is the inherited copy of the parent's listening socket; the
        // child has no thread using it (only the forking thread survives a fork).
        unsafe { libc::close(fd) };
    }
    LISTENING.store(0, Release);
    if let Ok(mut f) = FILE.try_lock() {
        *f = None;
    }
    crate::output::set_attach_path(None);
}

/// The uid of the peer of a connected Unix socket.
fn peer_uid(s: &UnixStream) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` is a writable `ucred` of `len` bytes; the descriptor is a connected Unix
    // socket owned by `s`.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred.uid)
}

/// Answers one connection.
fn serve(stream: UnixStream) {
    // SAFETY: geteuid has no memory effects and cannot fail.
    let me = unsafe { libc::geteuid() };
    let allowed = matches!(peer_uid(&stream), Some(uid) if uid == me || uid == 0);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let mut reader = BufReader::new(io::Read::take(&stream, 4096));
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let reply = if allowed {
        // The runtime's own system calls on a program's thread: marked as tracer traffic.
        crate::output::mark(true);
        let r = command(line.trim_end_matches(['\n', '\r']));
        crate::output::mark(false);
        r
    } else {
        "error permission denied: not the process's user".to_string()
    };
    let mut w = &stream;
    let _ = w.write_all(format!("{reply}\n").as_bytes());
}

/// Carries out one command and returns the reply line.
fn command(line: &str) -> String {
    let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
    match verb {
        "on" if !arg.is_empty() => match switch_on(arg) {
            Ok(file) => format!("ok {file}"),
            Err(e) => format!("error {e}"),
        },
        "off" => {
            switch_off();
            "ok".to_string()
        }
        "status" => match (crate::global::STATE.load(Acquire), current_file()) {
            (s, Some(f)) if s <= crate::global::ON_MONO => format!("on {f}"),
            _ => "dormant".to_string(),
        },
        _ => format!("error unknown command {line:?} (expected `on PATH`, `off` or `status`)"),
    }
}

fn current_file() -> Option<String> {
    FILE.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Opens the trace file at `path` (first session) and switches recording on.
fn switch_on(path: &str) -> io::Result<String> {
    let mut file = FILE.lock().unwrap_or_else(|e| e.into_inner());
    if file.is_none() {
        if crate::collector::handle().is_some() {
            return Err(io::Error::other(
                "the program switched recording on itself (ruchytrace::enable), into its own output",
            ));
        }
        crate::output::set_attach_path(Some(path.to_string()));
    }
    crate::lifecycle::try_start()?;
    let f = file.get_or_insert_with(|| path.replace("%p", &runtime().pid().to_string()));
    Ok(f.clone())
}

/// Switches recording off; calls already open still record their exits. A clock anchor is
/// written so that readers convert every tick up to now exactly.
fn switch_off() {
    let _ = STATE.fetch_update(AcqRel, Acquire, |s| (s != SHUTDOWN).then_some(OFF));
    if let Some(out) = crate::output::current() {
        out.anchor();
    }
}

/// Runs before `main` in every program that links the runtime: a process started with
/// `RUCHYTRACE=dormant` listens for `ruchytrace attach` from the start, not only from its first
/// traced call. Anything else costs one environment lookup.
extern "C" fn early_init() {
    let dormant = std::env::var_os("RUCHYTRACE").is_some_and(|v| v == "dormant");
    if dormant {
        let _ = std::panic::catch_unwind(crate::lifecycle::init);
    }
}

#[used]
#[link_section = ".init_array"]
static EARLY_INIT: extern "C" fn() = early_init;
