//! Stops that are not syscalls: ptrace events (clone, exec, seccomp, group-stop), signal
//! deliveries, and the first stop of a new tracee.

use super::*;

impl Tracer<'_> {
    /// The first stop of an auto-attached tracee: follow it, or let go of a process we were
    /// not asked to follow (`clone()` without `CLONE_THREAD` reports as PTRACE_EVENT_CLONE).
    pub(super) fn initial_stop(&mut self, tid: i32) {
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
        if auto && pid == tid {
            // A new process: fork balancing started it on an idle CPU.
            self.cpu.rearm();
        }
        self.resume(tid, 0);
    }

    pub(super) fn event_stop(&mut self, tid: i32, event: PtraceEvent, signo: i32, ts: u64) {
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
                self.cpu.rearm();
                let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
                self.record_image(pid, tid, ts);
                if let Some(st) = &mut self.stacks {
                    st.new_image(pid);
                }
                if let Some((_, args)) = self.pre_exec.take_if(|(t, _)| *t == tid) {
                    // -D: the first exec ends the calls we hid; report it as a spawn does.
                    if let Some(t) = self.threads.get_mut(&tid) {
                        t.call = None;
                    }
                    self.synthetic_call(tid, execve_nr(), args, 0, ts, ts);
                } else if self.seccomp && self.opts.traced(execve_nr()) {
                    // execve always runs without a seccomp stop (see SeccompProgram::new): report it
                    // from the exec event instead.
                    let args = exec_args_from_proc(tid, &self.decode_opts);
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
                } else if stop_signal {
                    // Group-stop of a seized tracee: stay stopped without being resumed, but keep
                    // reporting (PTRACE_LISTEN), so SIGCONT works as without a tracer.
                    if self.opts.signal_shown(signo) {
                        self.text_line(
                            tid,
                            ts,
                            &format!("--- stopped by {} ---", decode::signal_name(signo)),
                        );
                    }
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

    pub(super) fn signal_stop(&mut self, tid: i32, signo: i32, ts: u64) {
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
                let hidden = matches!(&self.pre_exec, Some((t, _)) if *t == tid);
                if self.opts.signal_shown(signo) && !hidden {
                    let text = decode::format_siginfo(&info);
                    let name = decode::signal_name(signo);
                    let line = format!("--- {name} {text} ---");
                    let pid = self.threads.get(&tid).map_or(tid, |t| t.pid);
                    let ev = Event::Signal(SignalEvent {
                        pid,
                        tid,
                        timestamp_ns: ts,
                        signal: name,
                        signo,
                        info: text,
                    });
                    self.emit(ev, Text::Line(line));
                }
                // Pass the signal on unchanged: the program's handler (or default action) runs.
                self.resume(tid, signo);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // Group-stop of a non-seized tracee: resuming is the only way to keep tracing it.
                if self.opts.signal_shown(signo) {
                    self.text_line(
                        tid,
                        ts,
                        &format!("--- stopped by {} ---", decode::signal_name(signo)),
                    );
                }
                self.resume(tid, 0);
            }
            Err(_) => self.resume(tid, signo),
        }
    }
}
