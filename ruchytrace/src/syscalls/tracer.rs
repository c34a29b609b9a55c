//! The ptrace loop: one `waitpid(-1, __WALL)` per stop, the stop classified into [`Stop`], the
//! per-thread state machine in [`Thread`], and as few ptrace requests per stop as possible (one
//! `PTRACE_GET_SYSCALL_INFO` and one resume for a syscall stop).

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::{debug, trace};

use super::decode::{self, DecodeOptions, TraceeMemory};
use super::event::{Event, ExitEvent, Image, KilledEvent, SignalEvent, SyscallEvent};
use super::options::{Options, StatusFilter};
use super::output::{Summary, TextPrinter};
use super::sys::{self, Resume, SyscallInfo};
use super::{table, Error};
use nix::sys::ptrace::Options as PtraceOptions;

/// Set by the SIGINT/SIGTERM handler in attach mode: detach everything and stop.
pub(crate) static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// Set by the periodic SIGALRM: flush buffered text so lines never lag more than a tick.
pub(crate) static FLUSH_DUE: AtomicBool = AtomicBool::new(false);

/// `PTRACE_EVENT_*` stops, by name instead of magic numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PtraceEvent {
    Fork,
    Vfork,
    Clone,
    Exec,
    VforkDone,
    Exit,
    Seccomp,
    /// `PTRACE_EVENT_STOP`: group-stop or `PTRACE_INTERRUPT` of a seized tracee.
    Stop,
    Other(i32),
}

impl PtraceEvent {
    fn from_raw(e: i32) -> Self {
        match e {
            libc::PTRACE_EVENT_FORK => Self::Fork,
            libc::PTRACE_EVENT_VFORK => Self::Vfork,
            libc::PTRACE_EVENT_CLONE => Self::Clone,
            libc::PTRACE_EVENT_EXEC => Self::Exec,
            libc::PTRACE_EVENT_VFORK_DONE => Self::VforkDone,
            libc::PTRACE_EVENT_EXIT => Self::Exit,
            libc::PTRACE_EVENT_SECCOMP => Self::Seccomp,
            libc::PTRACE_EVENT_STOP => Self::Stop,
            other => Self::Other(other),
        }
    }
}

/// What `waitpid` reported about one tracee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Exited(i32),
    Killed {
        signo: i32,
        core: bool,
    },
    /// Syscall-entry or -exit stop (`SIGTRAP | 0x80`, thanks to `PTRACE_O_TRACESYSGOOD`).
    Syscall,
    Event {
        event: PtraceEvent,
        signo: i32,
    },
    /// Signal-delivery stop, or group-stop of a non-seized tracee.
    Signal(i32),
}

impl Stop {
    fn from_status(status: i32) -> Self {
        if libc::WIFEXITED(status) {
            Stop::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            Stop::Killed {
                signo: libc::WTERMSIG(status),
                core: libc::WCOREDUMP(status),
            }
        } else {
            let signo = libc::WSTOPSIG(status);
            let event = status >> 16;
            if signo == libc::SIGTRAP | 0x80 {
                Stop::Syscall
            } else if event != 0 {
                Stop::Event {
                    event: PtraceEvent::from_raw(event),
                    signo,
                }
            } else {
                Stop::Signal(signo)
            }
        }
    }
}

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
    stack: Option<crate::stack::Stack>,
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

/// Reads tracee memory for the decoders.
struct Memory {
    tid: i32,
}

impl TraceeMemory for Memory {
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        sys::read_memory(self.tid, addr, len)
    }

    fn read_cstr(&self, addr: u64, max: usize) -> Option<(Vec<u8>, bool)> {
        // Read page by page so a string ending just before an unmapped page is still found.
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let to_page_end = 4096 - (at % 4096) as usize;
            let want = to_page_end.min(max + 1 - out.len());
            let chunk = sys::read_memory(self.tid, at, want)?;
            if chunk.is_empty() {
                return if out.is_empty() {
                    None
                } else {
                    Some((out, true))
                };
            }
            if let Some(nul) = chunk.iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..nul]);
                let truncated = out.len() > max;
                out.truncate(max);
                return Some((out, truncated));
            }
            out.extend_from_slice(&chunk);
            if out.len() > max {
                out.truncate(max);
                return Some((out, true));
            }
            at += chunk.len() as u64;
        }
    }

    fn fd_path(&self, fd: i64) -> Option<String> {
        std::fs::read_link(format!("/proc/{}/fd/{fd}", self.tid))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }
}

/// How tracees came under our control: it decides how stops are interpreted and how we leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Spawned with `PTRACE_TRACEME`: new tracees start with SIGSTOP; tracees die with us.
    Spawned,
    /// `PTRACE_SEIZE`d with `-p`: new tracees start with PTRACE_EVENT_STOP; we detach on exit.
    Attached,
}

/// The result of the loop.
pub(crate) struct LoopResult {
    pub events: Vec<Event>,
    pub images: Vec<Image>,
    /// Wait status of the root process's last thread, if it ended while traced.
    pub root_status: Option<RootEnd>,
    pub complete: bool,
}

/// How the root process ended.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RootEnd {
    Exited(i32),
    Killed(i32),
}

pub(crate) struct Tracer<'a> {
    opts: &'a Options,
    mode: Mode,
    seccomp: bool,
    threads: HashMap<i32, Thread>,
    root: i32,
    text: Option<TextPrinter>,
    summary: Option<Summary>,
    collect_json: bool,
    decode_opts: DecodeOptions,
    events: Vec<Event>,
    images: Vec<Image>,
    root_status: Option<RootEnd>,
    /// The tid that gets our own start-up SIGCONT, not shown.
    hidden_sigcont: Option<i32>,
    /// Ctrl-C in attach mode: every tracee, including ones that appear now, is let go.
    detaching: bool,
    /// `-k`: user-stack unwinding.
    stacks: Option<crate::stack::SyscallStacks>,
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
        // If the tracer dies, its tracees die too instead of staying traced and stopped.
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
    pub(crate) fn new(
        opts: &'a Options,
        mode: Mode,
        seccomp: bool,
        text: Option<TextPrinter>,
        collect_json: bool,
    ) -> Self {
        Tracer {
            opts,
            mode,
            seccomp,
            threads: HashMap::new(),
            root: 0,
            text,
            summary: opts.summary.then(Summary::default),
            collect_json,
            decode_opts: DecodeOptions {
                strsize: opts.strsize,
                show_fd_paths: opts.show_fd_paths,
            },
            events: Vec::new(),
            images: Vec::new(),
            root_status: None,
            hidden_sigcont: None,
            detaching: false,
            // -c prints no stacks: none are taken.
            stacks: opts
                .stack_depth
                .filter(|_| !opts.summary)
                .map(crate::stack::SyscallStacks::new),
        }
    }

    /// Hides the SIGCONT the tracer itself sends to `tid` when taking it over.
    pub(crate) fn hide_sigcont(&mut self, tid: i32) {
        self.hidden_sigcont = Some(tid);
    }

    /// Registers an already-stopped (spawned) or seized tracee.
    pub(crate) fn add_tracee(&mut self, tid: i32, pid: i32, phase: Phase0) {
        if self.root == 0 {
            self.root = pid;
            if let Some(t) = &mut self.text {
                t.set_root(pid);
            }
        }
        let phase = match phase {
            Phase0::Starting => Phase::Starting,
        };
        self.threads.insert(
            tid,
            Thread {
                pid,
                auto: false,
                phase,
                call: None,
                want_exit_stop: false,
            },
        );
    }

    /// Records the program image of `tid` (after an exec).
    pub(crate) fn record_image(&mut self, pid: i32, tid: i32, ts: u64) {
        if !self.collect_json {
            return;
        }
        let exe = std::fs::read_link(format!("/proc/{tid}/exe"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let maps = std::fs::read_to_string(format!("/proc/{tid}/maps")).unwrap_or_default();
        self.images.push(Image {
            pid,
            tid,
            timestamp_ns: ts,
            exe,
            maps,
        });
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
        if !self.opts.traced(nr) || !self.opts.status_ok(Some(ret)) {
            return;
        }
        let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
        let name = syscall_name(nr);
        let (ret_text, errno) = decode::format_return(nr, ret);
        if let Some(t) = &mut self.text {
            if !self.opts.summary {
                let _ = t.exit(
                    tid,
                    exit_ns,
                    &name,
                    "",
                    &args,
                    &ret_text,
                    Some(exit_ns - entry_ns),
                );
            }
        }
        self.finish_event(SyscallEvent {
            name,
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
        });
    }

    fn finish_event(&mut self, ev: SyscallEvent) {
        if let Some(s) = &mut self.summary {
            s.add(&ev.name, ev.duration_ns, ev.errno.is_some());
        }
        if self.collect_json {
            self.events.push(Event::Syscall(ev));
        }
    }

    fn text_line(&mut self, tid: i32, ts: u64, text: &str) {
        if self.opts.summary {
            return;
        }
        if let Some(t) = &mut self.text {
            let _ = t.line(tid, ts, text);
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

    /// Runs until every tracee is gone (or detached after Ctrl-C in attach mode).
    pub(crate) fn run(mut self) -> Result<LoopResult, Error> {
        let mut complete = true;
        while !self.threads.is_empty() {
            if INTERRUPTED.load(Ordering::Relaxed) && self.mode == Mode::Attached && !self.detaching
            {
                self.detaching = true;
                self.start_detach();
                if self.threads.is_empty() {
                    break;
                }
            }
            if FLUSH_DUE.swap(false, Ordering::Relaxed) {
                if let Some(t) = &mut self.text {
                    t.flush().map_err(Error::Output)?;
                }
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
            self.handle(tid, stop, ts)?;
        }
        // Calls still open when everything ended (e.g. tracer interrupted) are recorded unfinished.
        let open: Vec<i32> = self.threads.keys().copied().collect();
        for tid in open {
            self.end_call_unfinished(tid, sys::monotonic_ns());
        }
        if let Some(s) = self.summary.take() {
            if let Some(t) = &mut self.text {
                t.raw(&s.render()).map_err(Error::Output)?;
            }
        }
        if let Some(t) = &mut self.text {
            t.finish().map_err(Error::Output)?;
        }
        Ok(LoopResult {
            events: self.events,
            images: self.images,
            root_status: self.root_status,
            complete,
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
        self.threads.remove(&tid);
    }

    fn handle(&mut self, tid: i32, stop: Stop, ts: u64) -> Result<(), Error> {
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
        let phase = self.threads[&tid].phase;
        match stop {
            Stop::Exited(code) => {
                debug!(pid = tid, code, "tracee exited");
                self.end_call_unfinished(tid, ts);
                let pid = self.threads.remove(&tid).map_or(tid, |t| t.pid);
                if tid == self.root {
                    self.root_status = Some(RootEnd::Exited(code));
                }
                self.text_line(tid, ts, &format!("+++ exited with {code} +++"));
                if self.collect_json {
                    self.events.push(Event::Exit(ExitEvent {
                        pid,
                        tid,
                        timestamp_ns: ts,
                        code,
                    }));
                }
            }
            Stop::Killed { signo, core } => {
                debug!(pid = tid, signo, "tracee killed");
                self.end_call_unfinished(tid, ts);
                let pid = self.threads.remove(&tid).map_or(tid, |t| t.pid);
                if tid == self.root {
                    self.root_status = Some(RootEnd::Killed(signo));
                }
                let name = decode::signal_name(signo);
                let core_text = if core { " (core dumped)" } else { "" };
                self.text_line(tid, ts, &format!("+++ killed by {name}{core_text} +++"));
                if self.collect_json {
                    self.events.push(Event::Killed(KilledEvent {
                        pid,
                        tid,
                        timestamp_ns: ts,
                        signal: name,
                        signo,
                        core_dumped: core,
                    }));
                }
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
        Ok(())
    }

    /// The first stop of an auto-attached tracee: follow it, or let go of a process we were
    /// not asked to follow (`clone()` without `CLONE_THREAD` reports as PTRACE_EVENT_CLONE).
    fn initial_stop(&mut self, tid: i32) {
        let (pid, auto) = (self.threads[&tid].pid, self.threads[&tid].auto);
        if auto && pid == tid && !self.opts.follow_forks {
            debug!(pid = tid, "not following non-thread clone");
            let _ = ptrace_req(Resume::Detach, tid, 0);
            self.threads.remove(&tid);
            return;
        }
        if let Some(t) = self.threads.get_mut(&tid) {
            t.phase = Phase::Running;
        }
        self.resume(tid, 0);
    }

    fn syscall_stop(&mut self, tid: i32, ts: u64) {
        let info = match sys::get_syscall_info(tid) {
            Ok(i) => i,
            Err(e) => {
                debug!(pid = tid, error = %e, "PTRACE_GET_SYSCALL_INFO failed");
                return;
            }
        };
        trace!(pid = tid, ?info, "PTRACE_GET_SYSCALL_INFO");
        match info {
            SyscallInfo::Entry { nr, args } => self.call_entry(tid, nr, args, ts),
            SyscallInfo::Exit { rval } => self.call_exit(tid, rval, ts),
            SyscallInfo::None => {}
        }
    }

    fn call_entry(&mut self, tid: i32, nr: u64, args: [u64; 6], ts: u64) {
        // A leftover entry means we missed an exit (should not happen): close it as unfinished.
        self.end_call_unfinished(tid, ts);
        let decoded = if self.opts.traced(nr) {
            let mem = Memory { tid };
            let pending = decode::decode_entry(nr, &args, &mem, &self.decode_opts);
            let text = decode::entry_text(&pending);
            if self.opts.status == StatusFilter::All && !self.opts.summary {
                if let Some(t) = &mut self.text {
                    let _ = t.entry(tid, ts, &syscall_name(nr), &text);
                }
            }
            Some((pending, text))
        } else {
            None
        };
        let stack = match (&mut self.stacks, &decoded, self.threads.get(&tid)) {
            (Some(st), Some(_), Some(t)) => st.at_entry(t.pid, tid, nr),
            _ => None,
        };
        if let Some(t) = self.threads.get_mut(&tid) {
            t.call = Some(PendingCall {
                nr,
                args,
                timestamp_ns: ts,
                decoded,
                stack,
            });
        }
    }

    fn call_exit(&mut self, tid: i32, rval: i64, ts: u64) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        t.want_exit_stop = false;
        let Some(mut call) = t.call.take() else {
            return;
        };
        let pid = t.pid;
        let Some((pending, entry_text)) = call.decoded else {
            return;
        };
        if let (Some(st), None) = (&mut self.stacks, &call.stack) {
            call.stack = Some(st.at_exit(pid, tid));
        }
        let name = syscall_name(call.nr);
        let (ret_text, errno) = decode::format_return(call.nr, rval);
        let ret = if errno.is_some() { -1 } else { rval };
        let duration = ts.saturating_sub(call.timestamp_ns);
        let mem = Memory { tid };
        let args = decode::decode_exit(call.nr, &call.args, rval, pending, &mem, &self.decode_opts);
        let shown = self
            .opts
            .status_ok(Some(if errno.is_some() { -1 } else { rval.max(0) }));
        if let Some(text) = &mut self.text {
            if self.opts.summary {
                // -c: only the table is printed, at the end.
            } else if shown {
                let _ = text.exit(
                    tid,
                    ts,
                    &name,
                    &entry_text,
                    &args,
                    &ret_text,
                    Some(duration),
                );
                if let Some(st) = &call.stack {
                    let _ = text.raw(&crate::stack::text_block(st));
                }
            } else {
                text.drop_entry(tid);
            }
        }
        if !shown {
            return;
        }
        let n = decode::arg_count(call.nr).min(6);
        self.finish_event(SyscallEvent {
            name,
            nr: call.nr,
            pid,
            tid,
            timestamp_ns: call.timestamp_ns,
            duration_ns: Some(duration),
            args,
            raw_args: call.args[..n].to_vec(),
            ret: Some(ret),
            errno: errno.map(str::to_string),
            stack_truncated: call.stack.as_ref().and_then(|st| st.truncated.clone()),
            stack: call.stack.map(|st| st.frames),
        });
    }

    /// Records the open call of `tid`, if any, as one that never returned (`= ?`).
    fn end_call_unfinished(&mut self, tid: i32, ts: u64) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        let Some(call) = t.call.take() else { return };
        let pid = t.pid;
        let Some((pending, entry_text)) = call.decoded else {
            return;
        };
        if !self.opts.status_ok(None) && self.opts.status != StatusFilter::All {
            if let Some(text) = &mut self.text {
                text.drop_entry(tid);
            }
            return;
        }
        let name = syscall_name(call.nr);
        let args: Vec<String> = pending
            .entry_args()
            .into_iter()
            .map(str::to_string)
            .collect();
        if let Some(text) = &mut self.text {
            if !self.opts.summary {
                let _ = text.exit(tid, ts, &name, &entry_text, &args, "?", None);
                if let Some(st) = &call.stack {
                    let _ = text.raw(&crate::stack::text_block(st));
                }
            }
        }
        let n = decode::arg_count(call.nr).min(6);
        self.finish_event(SyscallEvent {
            name,
            nr: call.nr,
            pid,
            tid,
            timestamp_ns: call.timestamp_ns,
            duration_ns: None,
            args,
            raw_args: call.args[..n].to_vec(),
            ret: None,
            errno: None,
            stack_truncated: call.stack.as_ref().and_then(|st| st.truncated.clone()),
            stack: call.stack.map(|st| st.frames),
        });
    }

    fn event_stop(&mut self, tid: i32, event: PtraceEvent, signo: i32, ts: u64) {
        match event {
            PtraceEvent::Clone | PtraceEvent::Fork | PtraceEvent::Vfork => {
                match sys::get_event_msg(tid) {
                    Ok(new) => {
                        let new = new as i32;
                        debug!(pid = tid, child = new, ?event, "new tracee");
                        let pid = if event == PtraceEvent::Clone {
                            tgid_of(new).unwrap_or(new)
                        } else {
                            new
                        };
                        if let (Some(st), false) = (&mut self.stacks, event == PtraceEvent::Clone) {
                            st.new_image(pid);
                        }
                        self.threads.entry(new).or_insert(Thread {
                            pid,
                            auto: true,
                            phase: Phase::Starting,
                            call: None,
                            want_exit_stop: false,
                        });
                    }
                    Err(e) => debug!(pid = tid, error = %e, "PTRACE_GETEVENTMSG failed"),
                }
                self.resume(tid, 0);
            }
            PtraceEvent::Exec => {
                let former = sys::get_event_msg(tid).map(|f| f as i32).unwrap_or(tid);
                debug!(pid = tid, former, "exec");
                if former != tid {
                    // Exec from a non-leader thread: it takes over the leader's tid (and its
                    // pending execve goes with it); the old leader vanishes without a report.
                    // The leader's own pending call (e.g. a sleep) ends here, unfinished.
                    self.end_call_unfinished(tid, ts);
                    if let Some(mut t) = self.threads.remove(&former) {
                        t.pid = tid;
                        self.threads.insert(tid, t);
                    }
                    self.text_line(
                        tid,
                        ts,
                        &format!("+++ superseded by execve in pid {former} +++"),
                    );
                }
                let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
                self.record_image(pid, tid, ts);
                if let Some(st) = &mut self.stacks {
                    st.new_image(pid);
                }
                if self.seccomp && self.opts.traced(execve_nr()) {
                    // execve always runs without a seccomp stop (see SeccompProgram::new): report it
                    // from the exec event instead.
                    let args = exec_args_from_proc(tid, self.opts.strsize);
                    self.synthetic_call(tid, execve_nr(), args, 0, ts, ts);
                }
                self.resume(tid, 0);
            }
            PtraceEvent::Seccomp => {
                self.syscall_stop(tid, ts);
                if let Some(t) = self.threads.get_mut(&tid) {
                    t.want_exit_stop = t.call.is_some();
                }
                self.resume(tid, 0);
            }
            PtraceEvent::Stop => {
                let (phase, auto) = self
                    .threads
                    .get(&tid)
                    .map_or((None, true), |t| (Some(t.phase), t.auto));
                let stop_signal = matches!(
                    signo,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                );
                if phase == Some(Phase::Starting)
                    && !(stop_signal && !auto && self.hidden_sigcont != Some(tid))
                {
                    self.initial_stop(tid);
                } else if matches!(
                    signo,
                    libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
                ) {
                    // Group-stop of a seized tracee: stay stopped without being resumed, but keep
                    // reporting (PTRACE_LISTEN), so SIGCONT works as without a tracer.
                    self.text_line(
                        tid,
                        ts,
                        &format!("--- stopped by {} ---", decode::signal_name(signo)),
                    );
                    // A `-p` process that was already stopped when we attached stays stopped.
                    if let Some(t) = self.threads.get_mut(&tid) {
                        t.phase = Phase::Running;
                    }
                    let _ = sys::listen(tid);
                } else {
                    self.resume(tid, 0);
                }
            }
            PtraceEvent::VforkDone | PtraceEvent::Exit | PtraceEvent::Other(_) => {
                self.resume(tid, 0)
            }
        }
    }

    fn signal_stop(&mut self, tid: i32, signo: i32, ts: u64) {
        let info = sys::get_siginfo(tid);
        trace!(pid = tid, signo, ok = info.is_ok(), "PTRACE_GETSIGINFO");
        match info {
            Ok(info)
                if signo == libc::SIGCONT
                    && self.hidden_sigcont == Some(tid)
                    // SAFETY: si_pid is valid for signals sent with kill(), which si_code
                    // SI_USER (0) says this one was.
                    && info.si_code == 0
                    && unsafe { info.si_pid() } == std::process::id() as i32 =>
            {
                self.hidden_sigcont = None;
                self.resume(tid, signo);
            }
            Ok(info) => {
                let text = decode::format_siginfo(&info);
                let name = decode::signal_name(signo);
                self.text_line(tid, ts, &format!("--- {name} {text} ---"));
                if self.collect_json {
                    let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
                    self.events.push(Event::Signal(SignalEvent {
                        pid,
                        tid,
                        timestamp_ns: ts,
                        signal: name,
                        signo,
                        info: text,
                    }));
                }
                // Pass the signal on unchanged: the program's handler (or default action) runs.
                self.resume(tid, signo);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // Group-stop of a non-seized tracee: resuming is the only way to keep tracing it.
                self.text_line(
                    tid,
                    ts,
                    &format!("--- stopped by {} ---", decode::signal_name(signo)),
                );
                self.resume(tid, 0);
            }
            Err(_) => self.resume(tid, signo),
        }
    }
}

/// How a tracee starts when registered with [`Tracer::add_tracee`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase0 {
    /// Its initial stop is still to come.
    Starting,
}

fn syscall_name(nr: u64) -> String {
    table::name(nr).map_or_else(|| format!("syscall_{nr}"), str::to_string)
}

pub(crate) fn execve_nr() -> u64 {
    table::number("execve").unwrap_or(u64::MAX)
}

/// `execve` arguments rebuilt from `/proc` after the exec (seccomp mode, where the call itself
/// was not stopped at).
fn exec_args_from_proc(tid: i32, strsize: usize) -> Vec<String> {
    let exe = std::fs::read_link(format!("/proc/{tid}/exe"))
        .map(|p| p.into_os_string())
        .unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{tid}/cmdline")).unwrap_or_default();
    let argv: Vec<&[u8]> = cmdline
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .collect();
    exec_args(exe.as_encoded_bytes(), &argv, strsize)
}

/// strace's rendering of execve's arguments.
pub(crate) fn exec_args(path: &[u8], argv: &[&[u8]], strsize: usize) -> Vec<String> {
    let q = |b: &[u8]| decode::escape_bytes(&b[..b.len().min(strsize)], b.len() > strsize);
    let list: Vec<String> = argv.iter().map(|a| q(a)).collect();
    let envc = std::env::vars_os().count();
    vec![
        q(path),
        format!("[{}]", list.join(", ")),
        format!("0x0 /* {envc} vars */"),
    ]
}

/// The thread group of `tid`, from `/proc/TID/status`.
pub(crate) fn tgid_of(tid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_classify_into_stops() {
        assert_eq!(Stop::from_status(3 << 8), Stop::Exited(3));
        assert_eq!(
            Stop::from_status(libc::SIGSEGV | 0x80),
            Stop::Killed {
                signo: 11,
                core: true
            }
        );
        assert_eq!(Stop::from_status(0x857f), Stop::Syscall);
        assert_eq!(Stop::from_status(0x117f), Stop::Signal(libc::SIGCHLD));
        assert_eq!(
            Stop::from_status((libc::PTRACE_EVENT_CLONE << 16) | 0x057f),
            Stop::Event {
                event: PtraceEvent::Clone,
                signo: libc::SIGTRAP
            }
        );
        assert_eq!(
            Stop::from_status((libc::PTRACE_EVENT_STOP << 16) | 0x137f),
            Stop::Event {
                event: PtraceEvent::Stop,
                signo: libc::SIGSTOP
            }
        );
    }

    #[test]
    fn execve_arguments_like_strace() {
        let args = exec_args(b"/bin/echo", &[b"echo", b"a\nb"], 32);
        assert_eq!(args[0], "\"/bin/echo\"");
        assert_eq!(args[1], "[\"echo\", \"a\\nb\"]");
        assert!(args[2].starts_with("0x0 /* ") && args[2].ends_with(" vars */"));
    }
}
