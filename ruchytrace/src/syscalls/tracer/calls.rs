//! Syscall stops: the entry (decode what is known, maybe print `name(args` for an interrupted
//! call), the exit (complete the event), and calls that never return.

use super::*;

/// `rt_sigreturn`'s number, decoded from the stack rather than its (unused) arguments.
static SIGRETURN_NR: std::sync::LazyLock<Option<u64>> =
    std::sync::LazyLock::new(|| crate::syscalls::table::number("rt_sigreturn"));

impl Tracer<'_> {
    pub(super) fn syscall_stop(&mut self, tid: i32, ts: u64) {
        let info = match sys::get_syscall_info(tid) {
            Ok(i) => i,
            Err(e) => {
                debug!(pid = tid, error = %e, "PTRACE_GET_SYSCALL_INFO failed");
                return;
            }
        };
        trace!(pid = tid, ?info, "PTRACE_GET_SYSCALL_INFO");
        match info {
            SyscallInfo::Entry { nr, args, sp } => self.call_entry(tid, nr, args, sp, ts),
            SyscallInfo::Exit { rval } => self.call_exit(tid, rval, ts),
            SyscallInfo::None => {}
        }
    }

    pub(super) fn call_entry(&mut self, tid: i32, nr: u64, args: [u64; 6], sp: u64, ts: u64) {
        self.cpu.on_entry(nr);
        // A leftover entry means we missed an exit (should not happen): close it as unfinished.
        self.end_call_unfinished(tid, ts);
        let mem = Memory { tid };
        let hidden = matches!(&self.pre_exec, Some((t, _)) if *t == tid);
        let selected = !hidden
            && self.opts.traced(nr)
            && (self.paths.is_empty() || decode::touches_paths(nr, &args, &mem, &self.paths));
        let decoded = if selected {
            let pending = if Some(nr) == *SIGRETURN_NR {
                decode::sigreturn_entry(sp, &mem)
            } else {
                decode::decode_entry(nr, &args, &mem, &self.decode_opts)
            };
            let text = decode::entry_text(&pending);
            if self.opts.status == StatusFilter::All
                && self.opts.prints_trace()
                && self.text.is_some()
            {
                let name = crate::syscalls::table::name(nr)
                    .map_or_else(|| syscall_name(nr).into(), std::borrow::Cow::Borrowed);
                self.print_entry(tid, ts, &name, &text);
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

    pub(super) fn call_exit(&mut self, tid: i32, rval: i64, ts: u64) {
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
        let mem = Memory { tid };
        let (ret_text, errno) =
            decode::format_return_full(call.nr, &call.args, rval, &mem, &self.decode_opts);
        let ret = if errno.is_some() { -1 } else { rval };
        let args = decode::decode_exit(call.nr, &call.args, rval, pending, &mem, &self.decode_opts);
        let shown = self
            .opts
            .status_ok(Some(if errno.is_some() { -1 } else { rval.max(0) }));
        if !shown {
            self.drop_entry(tid);
            return;
        }
        // Only calls that are shown pay for their stack.
        if let (Some(st), None) = (&mut self.stacks, &call.stack) {
            call.stack = Some(st.at_exit(pid, tid));
        }
        let n = decode::arg_count(call.nr).min(6);
        let ev = SyscallEvent {
            name: syscall_name(call.nr),
            nr: call.nr,
            pid,
            tid,
            timestamp_ns: call.timestamp_ns,
            duration_ns: Some(ts.saturating_sub(call.timestamp_ns)),
            args,
            raw_args: call.args[..n].to_vec(),
            ret: Some(ret),
            errno: errno.map(str::to_string),
            stack_truncated: None,
            stack: None,
        };
        let text = Text::Call {
            ts,
            entry_text,
            ret_text,
        };
        self.emit_call(ev, text, call.stack);
    }

    /// Records the open call of `tid`, if any, as one that never returned (`= ?`).
    pub(super) fn end_call_unfinished(&mut self, tid: i32, ts: u64) {
        let Some(t) = self.threads.get_mut(&tid) else {
            return;
        };
        let Some(call) = t.call.take() else { return };
        let pid = t.pid;
        let Some((pending, entry_text)) = call.decoded else {
            return;
        };
        if self.opts.status != StatusFilter::All {
            self.drop_entry(tid);
            return;
        }
        let args: Vec<String> = pending
            .entry_args()
            .into_iter()
            .map(str::to_string)
            .collect();
        let n = decode::arg_count(call.nr).min(6);
        let ev = SyscallEvent {
            name: syscall_name(call.nr),
            nr: call.nr,
            pid,
            tid,
            timestamp_ns: call.timestamp_ns,
            duration_ns: None,
            args,
            raw_args: call.args[..n].to_vec(),
            ret: None,
            errno: None,
            stack_truncated: None,
            stack: None,
        };
        let text = Text::Call {
            ts,
            entry_text,
            ret_text: "?".into(),
        };
        self.emit_call(ev, text, call.stack);
    }
}
