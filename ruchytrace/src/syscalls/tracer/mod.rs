//! The ptrace loop: one `waitpid(-1, __WALL)` per stop, the stop classified into [`Stop`], the
//! per-thread state machine in [`Thread`], and as few ptrace requests per stop as possible (one
//! `PTRACE_GET_SYSCALL_INFO` and one resume for a syscall stop).
//!
//! Every event leaves through [`Tracer::emit`], the one place where an event is complete and
//! not yet written: the `-c` table, the text lines and the `sys.json` stream are fed from there,
//! in the order the events complete, so nothing is held back until the end (memory stays flat
//! however long the trace). Sinks are flushed on a 50 ms timer, so a killed tracer leaves a
//! readable prefix. SIGINT, SIGTERM and SIGHUP make the loop detach from every tracee (which
//! keeps running) and finish the files.

mod calls;
mod cpu;
mod deferred;
mod events;
mod exec;
mod memory;
mod stop;

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::ptrace::Options as PtraceOptions;
use rustc_hash::FxHashMap;
use tracing::{debug, trace};

use super::decode::{self, DecodeOptions};
use super::event::{Event, ExitEvent, Image, JsonWriter, KilledEvent, SignalEvent, SyscallEvent};
use super::options::{Options, StatusFilter};
use super::output::{Summary, TextOut};
use super::sys::{self, Resume, SyscallInfo};
use super::Error;
use cpu::CpuPlacement;
use deferred::Deferred;
use memory::Memory;
use stop::{PtraceEvent, Stop};

pub(crate) use exec::{exec_args, execve_nr};
use exec::{exec_args_from_proc, syscall_name, tgid_of};

/// The signal (SIGINT, SIGTERM, SIGHUP) that asked the tracer to stop; 0 while none did.
pub(crate) static INTERRUPTED: AtomicI32 = AtomicI32::new(0);
/// Set by the periodic SIGALRM: flush buffered output so it never lags more than a tick.
pub(crate) static FLUSH_DUE: AtomicBool = AtomicBool::new(false);

/// Where a traced thread is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Auto-attached, its initial stop (SIGSTOP or PTRACE_EVENT_STOP) not seen yet.
    Starting,
    Running,
    /// `PTRACE_INTERRUPT` sent; detach at the next stop.
    Detaching,
}

/// A call between its entry and exit stops.
struct PendingCall {
    nr: u64,
    args: [u64; 6],
    timestamp_ns: u64,
    /// `None` when the call is filtered out (its stops are still observed).
    decoded: Option<(decode::Pending, String)>,
    /// `-k`: the user stack at entry.
    stack: Option<crate::stack::Taken>,
}

struct Thread {
    /// Thread group id.
    pid: i32,
    /// Attached automatically (clone/fork/vfork), not spawned or given with `-p`.
    auto: bool,
    phase: Phase,
    call: Option<PendingCall>,
    /// Filtered (seccomp) mode: resume with PTRACE_SYSCALL to see the exit of the current call.
    want_exit_stop: bool,
}

/// How tracees came under our control: it decides how stops are interpreted and how we leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Spawned by us (then seized): tracees die with us if we are killed.
    Spawned,
    /// `PTRACE_SEIZE`d with `-p` (or by the `-D` grandchild): we detach when done.
    Attached,
}

/// The sinks the loop writes to as events complete.
pub(crate) struct Sinks {
    /// Text lines (stderr, `-o FILE`, or `-ff` files).
    pub text: Option<TextOut>,
    /// The `sys.json` stream.
    pub json: Option<JsonWriter<File>>,
    /// Keep every event in memory for [`super::Outcome::trace`].
    pub keep: bool,
}

/// The result of the loop.
pub(crate) struct LoopResult {
    /// The events, when [`Sinks::keep`] asked for them (in completion order).
    pub events: Vec<Event>,
    /// The exec images, when kept.
    pub images: Vec<Image>,
    /// Number of events emitted.
    pub count: usize,
    /// How the root process ended, if it ended while traced.
    pub root_status: Option<RootEnd>,
    pub complete: bool,
    /// The signal that interrupted the tracer, if one did.
    pub interrupted: Option<i32>,
}

/// How the root process ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RootEnd {
    Exited(i32),
    Killed(i32),
}

/// The text of an event, when it has one.
enum Text {
    /// A call: its exit line (or its entry completed), printed at `ts`.
    Call {
        ts: u64,
        entry_text: String,
        ret_text: String,
    },
    /// A line of its own (`--- SIGCHLD ... ---`, `+++ exited with 0 +++`).
    Line(String),
    /// Not printed (e.g. `-e signal=` filtered the line but not the event).
    None,
}

pub(crate) struct Tracer<'a> {
    opts: &'a Options,
    mode: Mode,
    seccomp: bool,
    /// Looked up on every stop: FxHash (tids are small integers; no untrusted keys).
    threads: FxHashMap<i32, Thread>,
    root: i32,
    text: Option<TextOut>,
    json: Option<JsonWriter<File>>,
    keep: bool,
    kept: Vec<Event>,
    kept_images: Vec<Image>,
    count: usize,
    summary: Option<Summary>,
    decode_opts: DecodeOptions,
    /// `-P` paths as the bytes to compare (as given, and resolved).
    paths: Vec<Vec<u8>>,
    root_status: Option<RootEnd>,
    /// The tid that gets our own start-up SIGCONT, not shown.
    hidden_sigcont: Option<i32>,
    /// Interrupted: every tracee, including ones that appear now, is let go.
    detaching: bool,
    cpu: CpuPlacement,
    /// `-D`: the thread whose calls are not shown until its exec, and that exec's arguments.
    pre_exec: Option<(i32, Vec<String>)>,
    /// Whether an output error was seen (reported once, at the end).
    output_error: Option<io::Error>,
    /// `-k`: user-stack unwinding.
    stacks: Option<crate::stack::SyscallStacks>,
    /// Writes held back behind a stack being symbolized, oldest first.
    deferred: std::collections::VecDeque<Deferred>,
}

/// The ptrace options for our tracees.
pub(crate) fn ptrace_options(opts: &Options, mode: Mode, seccomp: bool) -> PtraceOptions {
    let mut o = PtraceOptions::PTRACE_O_TRACESYSGOOD
        | PtraceOptions::PTRACE_O_TRACECLONE
        | PtraceOptions::PTRACE_O_TRACEEXEC;
    if opts.follow_forks {
        o |= PtraceOptions::PTRACE_O_TRACEFORK | PtraceOptions::PTRACE_O_TRACEVFORK;
    }
    if seccomp {
        o |= PtraceOptions::PTRACE_O_TRACESECCOMP;
    }
    if mode == Mode::Spawned {
        // If the tracer is killed, its tracees die too instead of staying traced and stopped.
        // (SIGINT/SIGTERM/SIGHUP detach first, so the program then keeps running.)
        o |= PtraceOptions::PTRACE_O_EXITKILL;
    }
    o
}

fn ptrace_req(req: Resume, tid: i32, sig: i32) -> io::Result<()> {
    let r = sys::resume(req, tid, sig);
    trace!(
        request = req.name(),
        pid = tid,
        sig,
        ok = r.is_ok(),
        "ptrace"
    );
    r
}

impl<'a> Tracer<'a> {
    pub(crate) fn new(opts: &'a Options, mode: Mode, seccomp: bool, sinks: Sinks) -> Self {
        decode::set_xlat_style(opts.xlat);
        let mut paths = Vec::new();
        for p in &opts.paths {
            paths.push(p.as_os_str().as_encoded_bytes().to_vec());
            if let Ok(real) = std::fs::canonicalize(p) {
                let real = real.into_os_string().into_encoded_bytes();
                if !paths.contains(&real) {
                    paths.push(real);
                }
            }
        }
        Tracer {
            opts,
            mode,
            seccomp,
            threads: FxHashMap::default(),
            root: 0,
            text: sinks.text,
            json: sinks.json,
            keep: sinks.keep,
            kept: Vec::new(),
            kept_images: Vec::new(),
            count: 0,
            summary: opts.summary.then(Summary::default),
            decode_opts: DecodeOptions {
                strsize: opts.strsize,
                show_fd_paths: opts.show_fd_paths || opts.show_sockets,
                show_sockets: opts.show_sockets,
                strings_hex: opts.strings_hex,
                verbose: opts.verbose,
            },
            paths,
            root_status: None,
            hidden_sigcont: None,
            detaching: false,
            // -c prints no stacks: none are taken.
            stacks: opts
                .stack_depth
                .filter(|_| !opts.summary || opts.summary_with_trace)
                .map(crate::stack::SyscallStacks::new),
            cpu: CpuPlacement::new(opts.cpu),
            pre_exec: None,
            output_error: None,
            deferred: std::collections::VecDeque::new(),
        }
    }

    /// `-D`: hides the calls of `tid` until it execs (they are ruchytrace's own).
    pub(crate) fn skip_until_exec(&mut self, tid: i32) {
        self.pre_exec = Some((tid, Vec::new()));
    }

    /// `-D`: the arguments the execve ending [`Self::skip_until_exec`] is reported with.
    pub(crate) fn set_exec_args(&mut self, args: Vec<String>) {
        if let Some((_, a)) = &mut self.pre_exec {
            *a = args;
        }
    }

    /// `-q` level.
    pub(crate) fn quiet(&self) -> u8 {
        self.opts.quiet
    }

    /// Hides the SIGCONT the tracer itself sends to `tid` when taking it over.
    pub(crate) fn hide_sigcont(&mut self, tid: i32) {
        self.hidden_sigcont = Some(tid);
    }

    /// Registers an already-stopped (spawned) or seized tracee whose initial stop is to come.
    pub(crate) fn add_tracee(&mut self, tid: i32, pid: i32) {
        if self.root == 0 {
            self.root = pid;
        }
        self.threads.insert(
            tid,
            Thread {
                pid,
                auto: false,
                phase: Phase::Starting,
                call: None,
                want_exit_stop: false,
            },
        );
    }

    /// Records the program image of `tid` (after an exec): streamed as an `image` record.
    pub(crate) fn record_image(&mut self, pid: i32, tid: i32, ts: u64) {
        if self.json.is_none() && !self.keep {
            return;
        }
        let exe = std::fs::read_link(format!("/proc/{tid}/exe"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let maps = std::fs::read_to_string(format!("/proc/{tid}/maps")).unwrap_or_default();
        let image = Image {
            pid,
            tid,
            timestamp_ns: ts,
            exe,
            maps,
        };
        if !self.deferred.is_empty() {
            self.defer(Deferred::Image(image));
            return;
        }
        self.write_image(image);
    }

    fn write_image(&mut self, image: Image) {
        if let Some(j) = &mut self.json {
            if let Err(e) = j.image(&image) {
                self.output_error.get_or_insert(e);
            }
        }
        if self.keep {
            self.kept_images.push(image);
        }
    }

    /// Emits a complete syscall the tracer did not observe stop by stop (the initial execve).
    pub(crate) fn synthetic_call(
        &mut self,
        tid: i32,
        nr: u64,
        args: Vec<String>,
        ret: i64,
        entry_ns: u64,
        exit_ns: u64,
    ) {
        if !self.opts.traced(nr) || !self.opts.status_ok(Some(ret)) || !self.paths.is_empty() {
            return;
        }
        let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
        let (ret_text, errno) = decode::format_return(nr, ret);
        let ev = SyscallEvent {
            name: syscall_name(nr),
            nr,
            pid,
            tid,
            timestamp_ns: entry_ns,
            duration_ns: Some(exit_ns.saturating_sub(entry_ns)),
            raw_args: Vec::new(),
            args,
            ret: Some(if errno.is_some() { -1 } else { ret }),
            errno: errno.map(str::to_string),
            stack: None,
            stack_truncated: None,
        };
        let text = Text::Call {
            ts: exit_ns,
            entry_text: String::new(),
            ret_text,
        };
        self.emit(Event::Syscall(ev), text);
    }

    /// The one place an event is complete: every sink is fed from here (now, or in order after
    /// the writes held back before it).
    fn emit(&mut self, ev: Event, text: Text) {
        if !self.deferred.is_empty() {
            self.defer(Deferred::Emit(ev, text, None));
            return;
        }
        self.write_event(ev, text);
    }

    fn write_event(&mut self, ev: Event, text: Text) {
        let tid = match &ev {
            Event::Syscall(e) => e.tid,
            Event::Signal(e) => e.tid,
            Event::Exit(e) => e.tid,
            Event::Killed(e) => e.tid,
        };
        // -c counts calls that returned, as strace (exit_group never does).
        if let (Some(s), Event::Syscall(e)) = (&mut self.summary, &ev) {
            if e.ret.is_some() {
                s.add(&e.name, e.duration_ns, e.errno.is_some());
            }
        }
        if self.opts.prints_trace() {
            if let Some(out) = &mut self.text {
                let r = out.printer(tid).and_then(|p| match (&text, &ev) {
                    (
                        Text::Call {
                            ts,
                            entry_text,
                            ret_text,
                        },
                        Event::Syscall(e),
                    ) => p
                        .exit(
                            tid,
                            *ts,
                            &e.name,
                            entry_text,
                            &e.args,
                            ret_text,
                            e.duration_ns,
                        )
                        .and_then(|()| match (&e.stack, &mut self.stacks) {
                            (Some(frames), Some(st)) => {
                                p.raw(&st.text(frames, e.stack_truncated.as_deref()))
                            }
                            _ => Ok(()),
                        }),
                    (Text::Line(line), _) => p.line(tid, ev.timestamp_ns(), line),
                    _ => Ok(()),
                });
                if let Err(e) = r {
                    self.output_error.get_or_insert(e);
                }
            }
        }
        self.count += 1;
        if let Some(j) = &mut self.json {
            if let Err(e) = j.event(&ev) {
                self.output_error.get_or_insert(e);
            }
        }
        if self.keep {
            self.kept.push(ev);
        }
    }

    /// A line that is not an event (`+++ superseded ... +++`, `--- stopped by ... ---`).
    fn text_line(&mut self, tid: i32, ts: u64, text: &str) {
        if !self.opts.prints_trace() {
            return;
        }
        if !self.deferred.is_empty() {
            self.defer(Deferred::Line {
                tid,
                ts,
                text: text.to_string(),
            });
            return;
        }
        self.write_line(tid, ts, text);
    }

    fn write_line(&mut self, tid: i32, ts: u64, text: &str) {
        if let Some(t) = &mut self.text {
            if let Err(e) = t.printer(tid).and_then(|p| p.line(tid, ts, text)) {
                self.output_error.get_or_insert(e);
            }
        }
    }

    /// Resumes `tid` with `sig`, stopping at the next syscall when we need to see it.
    fn resume(&mut self, tid: i32, sig: i32) {
        let step = match self.threads.get(&tid) {
            Some(t) => !self.seccomp || t.want_exit_stop,
            None => !self.seccomp,
        };
        let r = if step {
            ptrace_req(Resume::Syscall, tid, sig)
        } else {
            ptrace_req(Resume::Cont, tid, sig)
        };
        // ESRCH: killed (e.g. SIGKILL) since its stop; waitpid will report its death.
        if let Err(e) = r {
            debug!(pid = tid, error = %e, "resume failed");
        }
    }

    fn flush(&mut self) {
        if let Some(t) = &mut self.text {
            if let Err(e) = t.flush() {
                self.output_error.get_or_insert(e);
            }
        }
        if let Some(j) = &mut self.json {
            if let Err(e) = j.flush() {
                self.output_error.get_or_insert(e);
            }
        }
    }

    /// Runs until every tracee is gone, or detached after SIGINT/SIGTERM/SIGHUP.
    pub(crate) fn run(mut self) -> Result<LoopResult, Error> {
        let mut complete = true;
        self.cpu.start(sys::monotonic_ns());
        while !self.threads.is_empty() {
            if INTERRUPTED.load(Ordering::Relaxed) != 0 && !self.detaching {
                self.detaching = true;
                self.start_detach();
                if self.threads.is_empty() {
                    break;
                }
            }
            if !self.deferred.is_empty() {
                self.drain_deferred(false);
            }
            if FLUSH_DUE.swap(false, Ordering::Relaxed) {
                self.flush();
            }
            trace!("waitpid(-1, __WALL)");
            let (tid, status) = match sys::wait_any(false) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
                    // Tracees we never saw end (e.g. replaced by an exec): nothing left to wait for.
                    debug!(left = self.threads.len(), "waitpid: no more children");
                    complete = self.threads.values().all(|t| t.call.is_none());
                    break;
                }
                Err(e) => return Err(Error::Wait(e)),
            };
            let ts = sys::monotonic_ns();
            let stop = Stop::from_status(status);
            debug!(
                pid = tid,
                status = format_args!("{status:#x}"),
                ?stop,
                "waitpid returned"
            );
            self.handle(tid, stop, ts);
            self.cpu.on_stop(tid, ts);
        }
        self.cpu.restore();
        // Calls still open when everything ended (e.g. tracer interrupted) are recorded unfinished.
        let open: Vec<i32> = self.threads.keys().copied().collect();
        for tid in open {
            self.end_call_unfinished(tid, sys::monotonic_ns());
        }
        self.drain_deferred(true);
        let interrupted = match INTERRUPTED.load(Ordering::Relaxed) {
            0 => None,
            s => Some(s),
        };
        if interrupted.is_some() && self.mode == Mode::Spawned {
            // Detached from a program that keeps running: not followed to its end.
            complete = false;
        }
        if let Some(s) = self.summary.take() {
            if let Some(t) = &mut self.text {
                t.raw(&s.render()).map_err(Error::Output)?;
            }
        }
        if let Some(t) = &mut self.text {
            t.finish().map_err(Error::Output)?;
        }
        if let Some(j) = self.json.take() {
            j.finish(complete, self.count).map_err(Error::Output)?;
        }
        if let Some(e) = self.output_error.take() {
            return Err(Error::Output(e));
        }
        Ok(LoopResult {
            events: std::mem::take(&mut self.kept),
            images: std::mem::take(&mut self.kept_images),
            count: self.count,
            root_status: self.root_status,
            complete,
            interrupted,
        })
    }

    fn start_detach(&mut self) {
        debug!(tracees = self.threads.len(), "interrupted: detaching");
        let tids: Vec<i32> = self.threads.keys().copied().collect();
        for tid in tids {
            if sys::interrupt(tid).is_err() {
                // Gone already: nothing to detach.
                self.threads.remove(&tid);
            } else if let Some(t) = self.threads.get_mut(&tid) {
                t.phase = Phase::Detaching;
            }
        }
    }

    fn detach(&mut self, tid: i32, sig: i32) {
        let _ = ptrace_req(Resume::Detach, tid, sig);
        self.end_call_unfinished(tid, sys::monotonic_ns());
        if let Some(t) = self.threads.remove(&tid) {
            if self.mode == Mode::Attached && self.opts.quiet == 0 && !t.auto && t.pid == tid {
                eprintln!("ruchytrace: Process {tid} detached");
            }
        }
        self.close_thread(tid);
    }

    fn close_thread(&mut self, tid: i32) {
        if !self.deferred.is_empty() {
            self.defer(Deferred::Close(tid));
            return;
        }
        self.write_close_thread(tid);
    }

    fn write_close_thread(&mut self, tid: i32) {
        if let Some(t) = &mut self.text {
            if let Err(e) = t.close_thread(tid) {
                self.output_error.get_or_insert(e);
            }
        }
    }

    fn handle(&mut self, tid: i32, stop: Stop, ts: u64) {
        self.threads.entry(tid).or_insert_with(|| {
            // A new tracee whose first stop arrived before its parent's clone/fork event.
            let pid = tgid_of(tid).unwrap_or(tid);
            debug!(
                pid = tid,
                tgid = pid,
                "new tracee seen before its creation event"
            );
            Thread {
                pid,
                auto: true,
                phase: Phase::Starting,
                call: None,
                want_exit_stop: false,
            }
        });
        // strace's rule: `[pid N]` prefixes while more than one tracee is alive.
        let multi = self.threads.len() > 1;
        if !self.deferred.is_empty() {
            if self.text.is_some() {
                self.defer(Deferred::Multi(multi));
            }
        } else if let Some(t) = &mut self.text {
            t.set_multi(multi);
        }
        let phase = self.threads[&tid].phase;
        match stop {
            Stop::Exited(code) => {
                debug!(pid = tid, code, "tracee exited");
                self.end_call_unfinished(tid, ts);
                let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
                if tid == self.root {
                    self.root_status = Some(RootEnd::Exited(code));
                }
                let text = if self.opts.quiet < 2 {
                    Text::Line(format!("+++ exited with {code} +++"))
                } else {
                    Text::None
                };
                let ev = Event::Exit(ExitEvent {
                    pid,
                    tid,
                    timestamp_ns: ts,
                    code,
                });
                self.emit(ev, text);
                self.threads.remove(&tid);
                self.close_thread(tid);
                // The next stops come from another thread (e.g. a parent woken from wait4).
                self.cpu.rearm_next();
            }
            Stop::Killed { signo, core } => {
                debug!(pid = tid, signo, "tracee killed");
                self.end_call_unfinished(tid, ts);
                let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
                if tid == self.root {
                    self.root_status = Some(RootEnd::Killed(signo));
                }
                let name = decode::signal_name(signo);
                let core_text = if core { " (core dumped)" } else { "" };
                // strace's -e signal= also hides the death by a hidden signal.
                // -qq hides exit statuses, not deaths (as strace).
                let text = if self.opts.signal_shown(signo) {
                    Text::Line(format!("+++ killed by {name}{core_text} +++"))
                } else {
                    Text::None
                };
                let ev = Event::Killed(KilledEvent {
                    pid,
                    tid,
                    timestamp_ns: ts,
                    signal: name,
                    signo,
                    core_dumped: core,
                });
                self.emit(ev, text);
                self.threads.remove(&tid);
                self.close_thread(tid);
                // The next stops come from another thread (e.g. a parent woken from wait4).
                self.cpu.rearm_next();
            }
            _ if phase == Phase::Detaching || self.detaching => {
                let sig = match stop {
                    Stop::Signal(s) if s != libc::SIGSTOP => s,
                    _ => 0,
                };
                self.detach(tid, sig);
            }
            Stop::Syscall => {
                self.syscall_stop(tid, ts);
                self.resume(tid, 0);
            }
            Stop::Event { event, signo } => self.event_stop(tid, event, signo, ts),
            Stop::Signal(signo) => {
                if phase == Phase::Starting && signo == libc::SIGSTOP {
                    self.initial_stop(tid);
                } else {
                    self.signal_stop(tid, signo, ts);
                }
            }
        }
    }
}
