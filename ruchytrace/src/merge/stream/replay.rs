//! Replaying function events with a call stack per thread: the checking pass of
//! [`plan_text`](super::plan_text) and the writing pass of each thread share this code.

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::io::{self, Write};

use ruchytrace_runtime::model::{Event, LossReason, Return, Site, Value};

use super::super::text::{node_close, node_open, LineCtx};
use super::super::{unknown_site, Call, CallEnd, FnItem, Input, Node, NodeKind};
use super::{sys_node, Facts, Key, NodeSink};
use crate::syscalls::event::Event as SysEvent;

/// Why the stream cannot place the system calls alone.
pub(super) struct NeedsTree;

/// One open call of a replayed thread.
pub(super) struct Frame {
    site: u32,
    call_id: Option<u64>,
    start_ns: u64,
    args: Vec<Value>,
    resumed: bool,
}

/// The replay state of one thread.
#[derive(Default)]
pub(super) struct Thread {
    pub(super) stack: Vec<Frame>,
    /// Next system call (index into the thread's list).
    pub(super) next_sys: usize,
    /// End of the system call in progress (started, not yet known to be enclosed).
    pub(super) pending_until: Option<u64>,
    pub(super) last_ts: Option<u64>,
    /// The function trace (input index) this thread's events come from.
    pub(super) file: Option<usize>,
    pub(super) name: Option<String>,
}

/// What one replay pass does with the lines of a thread.
pub(super) struct Replay<'a> {
    /// Show the runtime's own system calls on user threads.
    pub(super) show_tracer: bool,
    /// The start-up run of the written thread (`None`: not collapsed).
    pub(super) startup: Option<super::super::startup::Run>,
    /// The runtime's markers seen so far, per thread.
    pub(super) markers: super::super::caller::Markers,
    pub(super) inputs: &'a [Input],
    pub(super) sys: &'a HashMap<Key, Vec<(usize, usize)>>,
    /// The thread whose lines are written (`None` in the checking pass).
    pub(super) shown: Option<Key>,
    /// The threads the pass needs (`None`: all): the function traces skip the others' events.
    pub(super) only: Option<&'a [Key]>,
    /// Where the nodes of every thread go instead of text lines (one pass for all threads).
    pub(super) sink: Option<&'a mut dyn NodeSink>,
    pub(super) ctx_origin: u64,
    pub(super) ctx_end: u64,
    pub(super) sites: Vec<Site>,
    pub(super) threads: HashMap<Key, Thread>,
    pub(super) line: String,
}

impl<'a> Replay<'a> {
    /// Whether the events of `key` are written.
    fn shows(&self, key: Key) -> bool {
        self.sink.is_some() || self.shown == Some(key)
    }

    /// A system call's thread and times (without parsing it again when it is in its file).
    fn sys_head(&self, at: (usize, usize)) -> crate::syscalls::event::SysIndexEntry {
        self.inputs[at.0].sys_head(at.1)
    }

    /// A system call, parsed again when it is in its file.
    fn sys_event(&self, at: (usize, usize)) -> Result<Cow<'a, SysEvent>, NeedsTree> {
        self.inputs[at.0].sys_event(at.1).ok_or(NeedsTree)
    }

    fn emit(
        &mut self,
        key: Key,
        node: &Node,
        depth: usize,
        close: bool,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        if !self.show_tracer && super::super::caller::hidden(node) {
            return Ok(());
        }
        if let Some(sink) = self.sink.as_deref_mut() {
            // At the top level no traced call encloses a system call: its caller is inferred
            // (as `caller::mark_inferred` marks the tree).
            if let (true, super::super::NodeKind::Syscall(s)) = (depth <= 1, &node.kind) {
                if s.caller.as_ref().is_some_and(|c| !c.inferred) {
                    let mut n = node.clone();
                    if let super::super::NodeKind::Syscall(s) = &mut n.kind {
                        if let Some(c) = &mut s.caller {
                            c.inferred = true;
                        }
                    }
                    return sink.node(key, &n, close, &self.sites);
                }
            }
            return sink.node(key, node, close, &self.sites);
        }
        if self.shown != Some(key) {
            return Ok(());
        }
        if let Some(run) = &mut self.startup {
            let (swallow, before) = run.feed(node, depth, close);
            for n in &before {
                self.write_line(n, 1, false, out)?;
            }
            if swallow {
                return Ok(());
            }
        }
        self.write_line(node, depth, close, out)
    }

    fn write_line(
        &mut self,
        node: &Node,
        depth: usize,
        close: bool,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let ctx = LineCtx {
            origin_ns: self.ctx_origin,
            end_ns: self.ctx_end,
            sites: &self.sites,
        };
        self.line.clear();
        if close {
            node_close(&ctx, node, depth, &mut self.line);
        } else {
            node_open(&ctx, node, depth, &mut self.line);
        }
        self.line.push('\n');
        out.write_all(self.line.as_bytes())
    }

    /// Writes the system calls of `key` that start before `ts` (all of them when `ts` is
    /// `None`), under the calls open now.
    fn flush_sys(
        &mut self,
        key: Key,
        ts: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<io::Result<()>, NeedsTree> {
        let Some(list) = self.sys.get(&key) else {
            return Ok(Ok(()));
        };
        loop {
            let th = self.threads.entry(key).or_default();
            if let (Some(x), Some(t)) = (th.pending_until, ts) {
                if x <= t {
                    th.pending_until = None;
                }
            } else if ts.is_none() {
                th.pending_until = None;
            }
            let Some(&at) = list.get(th.next_sys) else {
                return Ok(Ok(()));
            };
            let h = self.sys_head(at);
            let (e, x) = (h.start_ns, h.end_ns);
            let th = self.threads.entry(key).or_default();
            match ts {
                Some(t) if e > t => return Ok(Ok(())),
                // A tie with a function event: the tree's order decides, not the stack.
                Some(t) if e == t => return Err(NeedsTree),
                _ => {}
            }
            if th.last_ts == Some(e) || th.pending_until.is_some() {
                return Err(NeedsTree);
            }
            th.next_sys += 1;
            if x > e {
                th.pending_until = Some(x);
            }
            let depth = th.stack.len() + 1;
            // Only a written thread's system calls are parsed (again, when in their file) and
            // followed for the runtime's markers.
            if self.shows(key) {
                let mut node = sys_node(&*self.sys_event(at)?);
                self.markers.mark(key, &mut node);
                if let Err(err) = self.emit(key, &node, depth, false, out) {
                    return Ok(Err(err));
                }
            }
        }
    }

    /// Closes the frames of `key` above position `pos` (their exits were lost, they end at
    /// `ts`), then returns the frame at `pos`.
    fn pop_to(
        &mut self,
        key: Key,
        site: u32,
        call_id: Option<u64>,
        ts: u64,
        lost: &mut u64,
        out: &mut dyn Write,
    ) -> io::Result<Option<(Frame, usize)>> {
        let th = self.threads.entry(key).or_default();
        let Some(pos) = th
            .stack
            .iter()
            .rposition(|f| f.site == site && (call_id.is_none() || f.call_id == call_id))
        else {
            return Ok(None);
        };
        *lost += (th.stack.len() - pos - 1) as u64;
        if pos + 1 == th.stack.len() {
            // The innermost call returns (the usual case): nothing above it to close.
            return Ok(th.stack.pop().map(|f| (f, pos + 1)));
        }
        let above: Vec<Frame> = th.stack.drain(pos + 1..).collect();
        let matched = th.stack.pop().map(|f| (f, pos + 1));
        for (i, f) in above.into_iter().enumerate().rev() {
            let node = call_node(f, Some(ts), CallEnd::ExitLost, None);
            self.emit(key, &node, pos + 2 + i, true, out)?;
        }
        Ok(matched)
    }

    /// Runs every function trace, and the system calls of every thread, through the stacks.
    /// Warnings and thread facts go to `facts` (checking pass).
    pub(super) fn run(
        &mut self,
        mut facts: Option<&mut Facts>,
        out: &mut dyn Write,
    ) -> Result<io::Result<()>, NeedsTree> {
        let inputs = self.inputs;
        for (file, input) in inputs.iter().enumerate() {
            let Input::Functions { path, trace } = input else {
                continue;
            };
            if let (Some(f), Some(t)) = (facts.as_deref_mut(), &trace.truncation) {
                f.warnings.push(format!(
                    "{}: incomplete function trace ({t}); calls still open at its end are shown as unfinished",
                    path.display()
                ));
            }
            let mut remap: HashMap<u32, u32> = HashMap::default();
            let mut unmatched = 0u64;
            let mut lost_exits = 0u64;
            let items = match trace.replay(path, self.only) {
                Ok(i) => i,
                // The file vanished since it was checked: the tree merge reports it.
                Err(_) => return Err(NeedsTree),
            };
            for item in items {
                let ev = match item {
                    FnItem::Site(mut s) => {
                        let id = self.sites.len() as u32;
                        remap.insert(s.id, id);
                        s.id = id;
                        self.sites.push(s);
                        continue;
                    }
                    FnItem::Event(ev) => ev,
                };
                let ts = ev.ts();
                let key = ev.pid_tid();
                if let Some(f) = facts.as_deref_mut() {
                    f.see(key, ts);
                }
                {
                    let th = self.threads.entry(key).or_default();
                    match th.file {
                        Some(f) if f != file => return Err(NeedsTree),
                        _ => th.file = Some(file),
                    }
                    if let Event::Thread { name: Some(n), .. } = &ev {
                        th.name = Some(n.clone());
                    }
                }
                if matches!(ev, Event::Thread { .. } | Event::Stall { .. }) {
                    continue;
                }
                {
                    let th = self.threads.entry(key).or_default();
                    if th.last_ts.is_some_and(|l| l > ts) {
                        return Err(NeedsTree);
                    }
                }
                if let Err(e) = self.flush_sys(key, Some(ts), out)? {
                    return Ok(Err(e));
                }
                let th = self.threads.entry(key).or_default();
                th.last_ts = Some(ts);
                // Inside a system call nothing may enter or leave: that is a straddle.
                let in_syscall = th.pending_until.is_some_and(|x| ts < x);
                let sites = &mut self.sites;
                let mut global = |site: u32| {
                    *remap.entry(site).or_insert_with(|| {
                        let id = sites.len() as u32;
                        sites.push(unknown_site(id, site));
                        id
                    })
                };
                let r = match ev {
                    Event::Enter {
                        site,
                        args,
                        call_id,
                        ..
                    } => {
                        if in_syscall {
                            return Err(NeedsTree);
                        }
                        let g = global(site);
                        self.enter(key, g, call_id, ts, args, false, out)
                    }
                    // An `async fn` future's exit line shows its whole lifetime, busy time and
                    // threads, known only from every poll: the tree writes those.
                    Event::Resume { .. } | Event::Suspend { .. } => return Err(NeedsTree),
                    Event::Exit {
                        site, ret, call_id, ..
                    } => {
                        let g = global(site);
                        match self.pop_to(key, g, call_id, ts, &mut lost_exits, out) {
                            Ok(Some(_)) if in_syscall => return Err(NeedsTree),
                            Ok(Some((f, depth))) => {
                                let node = call_node(f, Some(ts), CallEnd::Returned, Some(ret));
                                self.emit(key, &node, depth, true, out)
                            }
                            Ok(None) => {
                                unmatched += 1;
                                Ok(())
                            }
                            Err(e) => Err(e),
                        }
                    }
                    Event::Instant {
                        category,
                        name,
                        detail,
                        ..
                    } => {
                        let text = format!("{} {name}: {detail}", category.as_str());
                        self.point(key, ts, "instant", text, out)
                    }
                    Event::Loss { count, reason, .. } => {
                        let why = match reason {
                            LossReason::BufferFull => "buffer full",
                            LossReason::Evicted => "evicted by ring buffer",
                            LossReason::Unflushed => "not flushed before the end",
                        };
                        if let Some(f) = facts.as_deref_mut() {
                            let (pid, tid) = key;
                            f.warnings.push(format!(
                                "pid {pid} tid {tid}: {count} function events lost ({why}); system calls near them may sit under an outer call"
                            ));
                        }
                        self.point(key, ts, "loss", format!("{count} events lost ({why})"), out)
                    }
                    Event::Thread { .. } | Event::Stall { .. } => Ok(()),
                };
                if let Err(e) = r {
                    return Ok(Err(e));
                }
            }
            if let Some(f) = facts.as_deref_mut() {
                if unmatched > 0 {
                    f.warnings.push(format!(
                        "{}: {unmatched} exit(s) without a matching enter (enter lost or before the trace started)",
                        path.display()
                    ));
                }
                if lost_exits > 0 {
                    f.warnings.push(format!(
                        "{}: {lost_exits} call(s) whose exit was lost end at their caller's exit",
                        path.display()
                    ));
                }
            }
        }
        Ok(Ok(()))
    }

    #[allow(clippy::too_many_arguments)]
    fn enter(
        &mut self,
        key: Key,
        site: u32,
        call_id: Option<u64>,
        ts: u64,
        args: Vec<Value>,
        resumed: bool,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let depth = self.threads.entry(key).or_default().stack.len() + 1;
        let frame = Frame {
            site,
            call_id,
            start_ns: ts,
            args,
            resumed,
        };
        if self.shows(key) {
            let node = Node {
                start_ns: ts,
                end_ns: None,
                children: Vec::new(),
                kind: NodeKind::Call(Call {
                    site,
                    args: frame.args.clone(),
                    ret: None,
                    end: CallEnd::Open,
                    resumed,
                    call_id,
                }),
            };
            self.emit(key, &node, depth, false, out)?;
        }
        self.threads.entry(key).or_default().stack.push(frame);
        Ok(())
    }

    fn point(
        &mut self,
        key: Key,
        ts: u64,
        category: &'static str,
        text: String,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let depth = self.threads.entry(key).or_default().stack.len() + 1;
        let node = Node {
            start_ns: ts,
            end_ns: None,
            children: Vec::new(),
            kind: NodeKind::Point { category, text },
        };
        self.emit(key, &node, depth, false, out)
    }

    /// The end of `key`'s stream: its remaining system calls, then its calls still open.
    pub(super) fn finish(
        &mut self,
        key: Key,
        out: &mut dyn Write,
    ) -> Result<io::Result<()>, NeedsTree> {
        if let Err(e) = self.flush_sys(key, None, out)? {
            return Ok(Err(e));
        }
        let owed = self.startup.as_mut().map(|r| r.end()).unwrap_or_default();
        if self.shown == Some(key) {
            for n in &owed {
                if let Err(e) = self.write_line(n, 1, false, out) {
                    return Ok(Err(e));
                }
            }
        }
        let frames: Vec<Frame> = std::mem::take(&mut self.threads.entry(key).or_default().stack);
        for (i, f) in frames.into_iter().enumerate().rev() {
            let node = call_node(f, None, CallEnd::Open, None);
            if let Err(e) = self.emit(key, &node, i + 1, true, out) {
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }
}

fn call_node(f: Frame, end_ns: Option<u64>, end: CallEnd, ret: Option<Return>) -> Node {
    Node {
        start_ns: f.start_ns,
        end_ns,
        children: Vec::new(),
        kind: NodeKind::Call(Call {
            site: f.site,
            args: Vec::new(),
            ret,
            end,
            resumed: f.resumed,
            call_id: f.call_id,
        }),
    }
}
