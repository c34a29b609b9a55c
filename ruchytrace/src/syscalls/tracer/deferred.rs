//! `-k`: writes held back, in order, behind a call whose user stack waits for a module's
//! symbolizer, so that the tracee is not kept stopped while debug info is parsed and the output
//! is what it would have been had it waited.

use super::*;

/// A write to the sinks held back, in order, behind an event whose user stack waits for a
/// module's symbolizer (`-k`): the tracee is not kept stopped for it, and the output is what it
/// would have been.
pub(super) enum Deferred {
    Emit(Event, Text, Option<Box<crate::stack::PendingStack>>),
    Line {
        tid: i32,
        ts: u64,
        text: String,
    },
    Entry {
        tid: i32,
        ts: u64,
        name: String,
        text: String,
    },
    DropEntry(i32),
    Multi(bool),
    Close(i32),
    Image(Image),
}

/// Writes held back before the tracer waits for the stacks they are behind (bounds memory).
const MAX_DEFERRED: usize = 1 << 16;

impl Tracer<'_> {
    /// A syscall event with its user stack (`-k`): written now, or held back with every later
    /// write while the stack waits for a module's symbolizer.
    pub(super) fn emit_call(
        &mut self,
        mut ev: SyscallEvent,
        text: Text,
        stack: Option<crate::stack::Taken>,
    ) {
        match stack {
            Some(crate::stack::Taken::Pending(p)) => {
                self.defer(Deferred::Emit(Event::Syscall(ev), text, Some(p)));
                return;
            }
            Some(crate::stack::Taken::Ready(st)) => {
                ev.stack = Some(st.frames);
                ev.stack_truncated = st.truncated;
            }
            None => {}
        }
        self.emit(Event::Syscall(ev), text);
    }

    /// Queues a write behind the held-back ones.
    pub(super) fn defer(&mut self, op: Deferred) {
        self.deferred.push_back(op);
        if self.deferred.len() >= MAX_DEFERRED {
            self.drain_deferred(true);
        }
    }

    /// Writes the held-back writes whose stacks are ready (all of them, waiting for the
    /// symbolizers, when `wait`), in order.
    pub(super) fn drain_deferred(&mut self, wait: bool) {
        while let Some(front) = self.deferred.front() {
            if let (Deferred::Emit(_, _, Some(p)), Some(st)) = (front, &self.stacks) {
                if !wait && !st.is_ready(p) {
                    return;
                }
            }
            let Some(op) = self.deferred.pop_front() else {
                return;
            };
            match op {
                Deferred::Emit(mut ev, text, pending) => {
                    if let (Some(p), Some(st), Event::Syscall(e)) =
                        (pending, &mut self.stacks, &mut ev)
                    {
                        let stack = st.resolve(&p);
                        e.stack = Some(stack.frames);
                        e.stack_truncated = stack.truncated;
                    }
                    self.write_event(ev, text);
                }
                Deferred::Line { tid, ts, text } => self.write_line(tid, ts, &text),
                Deferred::Entry {
                    tid,
                    ts,
                    name,
                    text,
                } => self.write_entry(tid, ts, &name, &text),
                Deferred::DropEntry(tid) => self.write_drop_entry(tid),
                Deferred::Multi(multi) => {
                    if let Some(t) = &mut self.text {
                        t.set_multi(multi);
                    }
                }
                Deferred::Close(tid) => self.write_close_thread(tid),
                Deferred::Image(image) => self.write_image(image),
            }
        }
    }

    /// A call's entry line (`name(args` until its exit or another thread's line).
    pub(super) fn print_entry(&mut self, tid: i32, ts: u64, name: &str, text: &str) {
        if !self.deferred.is_empty() {
            self.defer(Deferred::Entry {
                tid,
                ts,
                name: name.to_string(),
                text: text.to_string(),
            });
            return;
        }
        self.write_entry(tid, ts, name, text);
    }

    pub(super) fn write_entry(&mut self, tid: i32, ts: u64, name: &str, text: &str) {
        if let Some(t) = &mut self.text {
            if let Err(e) = t.printer(tid).and_then(|p| p.entry(tid, ts, name, text)) {
                self.output_error.get_or_insert(e);
            }
        }
    }

    /// Forgets the entry line of a call that is not shown.
    pub(super) fn drop_entry(&mut self, tid: i32) {
        if !self.deferred.is_empty() {
            self.defer(Deferred::DropEntry(tid));
            return;
        }
        self.write_drop_entry(tid);
    }

    pub(super) fn write_drop_entry(&mut self, tid: i32) {
        if let Some(text) = &mut self.text {
            if let Ok(p) = text.printer(tid) {
                p.drop_entry(tid);
            }
        }
    }
}
