//! The text timeline without the merged tree: memory bounded by the number of threads and the
//! call depth, not by the length of the trace.
//!
//! [`plan_text`] makes one checking pass over the inputs (every thread at once, a call stack
//! per thread, each thread's system calls in time order): it collects the warnings, thread
//! names, time origin and end, and proves that every system call can be placed from the stack
//! alone — it starts strictly between two function events of its thread, and no function
//! boundary of its thread falls inside it. Then [`TextPlan::write`] replays the function events
//! once per visible thread and writes each line when its event is read: a call's enter line at
//! its entry, its exit line at its exit, a system call's line under the innermost open call.
//!
//! Inputs that need the whole tree — straddling system calls (an error, or `--force`'s
//! re-attribution), timestamps that tie a system call's start to a function event, out of
//! order function events, overlapping system calls of one thread, one thread spread over
//! several function traces — fall back to [`merge`](super::merge) and
//! [`text::write`](super::text::write), so the bytes are the same either way.

use std::collections::HashMap;
use std::io::{self, Write};

use ruchytrace_runtime::model::{Event, LossReason, Return, Site, Value};

use super::text::{node_close, node_open, LineCtx};
use super::{
    check_consistency, merge, unknown_site, Call, CallEnd, FnItem, FnTrace, Input, MergeError,
    MergeOptions, Merged, Node, NodeKind, Syscall,
};
use crate::syscalls::event::{Event as SysEvent, SysTrace};

type Key = (u32, u32);

/// A thread to print.
struct ThreadHead {
    key: Key,
    name: Option<String>,
    tracer: bool,
}

/// How [`TextPlan::write`] will produce the timeline.
pub enum TextPlan {
    /// Streamed from the inputs, one replay per thread.
    Stream(Box<StreamPlan>),
    /// From the merged tree (inputs the stream cannot place alone).
    Tree(Box<Merged>),
}

/// The facts of the checking pass.
pub struct StreamPlan {
    inputs: Vec<Input>,
    /// Each thread's system calls (input index, event index), in time order.
    sys: HashMap<Key, Vec<(usize, usize)>>,
    threads: Vec<ThreadHead>,
    origin_ns: u64,
    end_ns: u64,
    warnings: Vec<String>,
}

impl TextPlan {
    /// True when the timeline is streamed (bounded memory).
    pub fn is_streamed(&self) -> bool {
        matches!(self, TextPlan::Stream(_))
    }

    /// Writes the text timeline, byte for byte what [`super::text::write`] writes for the
    /// merged tree of the same inputs.
    pub fn write(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        match self {
            TextPlan::Tree(m) => super::text::write(m, show_tracer, out),
            TextPlan::Stream(p) => p.write(show_tracer, out),
        }
    }
}

/// A function trace of the inputs with its path.
fn fn_traces(inputs: &[Input]) -> Vec<(&std::path::Path, &FnTrace)> {
    inputs
        .iter()
        .filter_map(|i| match i {
            Input::Functions { path, trace } => Some((path.as_path(), &**trace)),
            Input::Syscalls { .. } => None,
        })
        .collect()
}

fn sys_traces(inputs: &[Input]) -> Vec<(usize, &SysTrace)> {
    inputs
        .iter()
        .enumerate()
        .filter_map(|(i, inp)| match inp {
            Input::Syscalls { trace, .. } => Some((i, &**trace)),
            Input::Functions { .. } => None,
        })
        .collect()
}

fn sys_key(ev: &SysEvent) -> Key {
    match ev {
        SysEvent::Syscall(s) => (s.pid as u32, s.tid as u32),
        SysEvent::Signal(s) => (s.pid as u32, s.tid as u32),
        SysEvent::Exit(e) => (e.pid as u32, e.tid as u32),
        SysEvent::Killed(k) => (k.pid as u32, k.tid as u32),
    }
}

/// The node the tree merge makes of a syscall-trace event (same text, same times).
fn sys_node(ev: &SysEvent) -> Node {
    let ts = ev.timestamp_ns();
    let point = |category: &'static str, text: String| Node {
        start_ns: ts,
        end_ns: None,
        children: Vec::new(),
        kind: NodeKind::Point { category, text },
    };
    match ev {
        SysEvent::Syscall(s) => Node {
            start_ns: ts,
            end_ns: s.duration_ns.map(|d| ts + d),
            children: Vec::new(),
            kind: NodeKind::Syscall(Syscall {
                name: s.name.clone(),
                args: s.args.clone(),
                raw_args: Vec::new(),
                ret: s.ret,
                errno: s.errno.clone(),
            }),
        },
        SysEvent::Signal(s) => point("signal", format!("--- {} {} ---", s.signal, s.info)),
        SysEvent::Exit(e) => point("exit", format!("+++ exited with {} +++", e.code)),
        SysEvent::Killed(k) => point(
            "killed",
            format!(
                "+++ killed by {}{} +++",
                k.signal,
                if k.core_dumped { " (core dumped)" } else { "" }
            ),
        ),
    }
}

/// Start and end of a syscall-trace event, as the tree merge places it.
fn sys_span(ev: &SysEvent) -> (u64, u64) {
    let e = ev.timestamp_ns();
    match ev {
        SysEvent::Syscall(s) => (e, s.duration_ns.map_or(e, |d| e + d)),
        _ => (e, e),
    }
}

/// Why the stream cannot place the system calls alone.
struct NeedsTree;

/// One open call of a replayed thread.
struct Frame {
    site: u32,
    call_id: Option<u64>,
    start_ns: u64,
    args: Vec<Value>,
    resumed: bool,
}

/// The replay state of one thread.
#[derive(Default)]
struct Thread {
    stack: Vec<Frame>,
    /// Next system call (index into the thread's list).
    next_sys: usize,
    /// End of the system call in progress (started, not yet known to be enclosed).
    pending_until: Option<u64>,
    last_ts: Option<u64>,
    /// The function trace (input index) this thread's events come from.
    file: Option<usize>,
    name: Option<String>,
}

/// What one replay pass does with the lines of a thread.
struct Replay<'a> {
    inputs: &'a [Input],
    sys: &'a HashMap<Key, Vec<(usize, usize)>>,
    /// The thread whose lines are written (`None` in the checking pass).
    shown: Option<Key>,
    ctx_origin: u64,
    ctx_end: u64,
    sites: Vec<Site>,
    threads: HashMap<Key, Thread>,
    line: String,
}

impl Replay<'_> {
    fn sys_event(&self, at: (usize, usize)) -> &SysEvent {
        match &self.inputs[at.0] {
            Input::Syscalls { trace, .. } => &trace.events[at.1],
            Input::Functions { .. } => unreachable!("indexes point at syscall traces"),
        }
    }

    fn emit(
        &mut self,
        key: Key,
        node: &Node,
        depth: usize,
        close: bool,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        if self.shown != Some(key) {
            return Ok(());
        }
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
            let (e, x) = sys_span(self.sys_event(at));
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
            if self.shown == Some(key) {
                let node = sys_node(self.sys_event(at));
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
    fn run(
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
            let mut remap: HashMap<u32, u32> = HashMap::new();
            let mut unmatched = 0u64;
            let mut lost_exits = 0u64;
            let mut suspended: HashMap<u64, Vec<Value>> = HashMap::new();
            let items = match trace.replay(path) {
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
                    Event::Resume { site, call_id, .. } => {
                        if in_syscall {
                            return Err(NeedsTree);
                        }
                        let g = global(site);
                        let args = suspended.remove(&call_id).unwrap_or_default();
                        self.enter(key, g, Some(call_id), ts, args, true, out)
                    }
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
                    Event::Suspend { site, call_id, .. } => {
                        let g = global(site);
                        match self.pop_to(key, g, Some(call_id), ts, &mut lost_exits, out) {
                            Ok(Some(_)) if in_syscall => return Err(NeedsTree),
                            Ok(Some((f, depth))) => {
                                suspended.insert(call_id, f.args.clone());
                                let node = call_node(f, Some(ts), CallEnd::Suspended, None);
                                self.emit(key, &node, depth, true, out)
                            }
                            Ok(None) => Ok(()),
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
        if self.shown == Some(key) {
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
    fn finish(&mut self, key: Key, out: &mut dyn Write) -> Result<io::Result<()>, NeedsTree> {
        if let Err(e) = self.flush_sys(key, None, out)? {
            return Ok(Err(e));
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
        }),
    }
}

/// What the checking pass learns.
#[derive(Default)]
struct Facts {
    warnings: Vec<String>,
    origin: Option<u64>,
    end: u64,
    keys: std::collections::HashSet<Key>,
}

impl Facts {
    fn see(&mut self, key: Key, ts: u64) {
        self.origin = Some(self.origin.map_or(ts, |o| o.min(ts)));
        self.end = self.end.max(ts);
        self.keys.insert(key);
    }
}

/// Checks the inputs and decides how to write their text timeline: streamed when every system
/// call can be placed from the call stacks alone, else from the merged tree. Errors are those of
/// [`merge`] (inconsistent inputs, straddling system calls without `--force`).
pub fn plan_text(inputs: Vec<Input>, opts: &MergeOptions) -> Result<TextPlan, MergeError> {
    if inputs.is_empty() {
        return Err(MergeError::NoInput("no input files".into()));
    }
    let mut facts = Facts::default();
    let (fn_pairs, sys_pairs) = split_refs(&inputs);
    check_consistency(&fn_pairs, &sys_pairs, opts, &mut facts.warnings)?;
    // Each thread's system calls in time order (stable: the tree's order on equal starts).
    let mut sys: HashMap<Key, Vec<(usize, usize)>> = HashMap::new();
    let mut sys_warnings = Vec::new();
    for (i, t) in sys_traces(&inputs) {
        if !t.end.complete {
            sys_warnings.push(format!(
                "syscall trace of pid {} is incomplete (the tracer did not see every thread end)",
                t.metadata.pid
            ));
        }
        for (j, ev) in t.events.iter().enumerate() {
            let (e, x) = sys_span(ev);
            let key = sys_key(ev);
            facts.see(key, e);
            facts.end = facts.end.max(x);
            sys.entry(key).or_default().push((i, j));
        }
    }
    for list in sys.values_mut() {
        list.sort_by_key(|&(i, j)| match &inputs[i] {
            Input::Syscalls { trace, .. } => trace.events[j].timestamp_ns(),
            Input::Functions { .. } => 0,
        });
    }
    let mut check = Replay {
        inputs: &inputs,
        sys: &sys,
        shown: None,
        ctx_origin: 0,
        ctx_end: 0,
        sites: Vec::new(),
        threads: HashMap::new(),
        line: String::new(),
    };
    let mut sink = io::sink();
    let mut streamable = check.run(Some(&mut facts), &mut sink).is_ok();
    if streamable {
        let keys: Vec<Key> = facts.keys.iter().copied().collect();
        for key in keys {
            if check.finish(key, &mut sink).is_err() {
                streamable = false;
                break;
            }
        }
    }
    if !streamable {
        return Ok(TextPlan::Tree(Box::new(merge(inputs, opts)?)));
    }
    let fns = fn_traces(&inputs);
    let mut threads: Vec<ThreadHead> = facts
        .keys
        .iter()
        .map(|&key| ThreadHead {
            key,
            name: check.threads.get(&key).and_then(|t| t.name.clone()),
            tracer: fns
                .iter()
                .any(|(_, t)| t.metadata.pid == key.0 && t.metadata.collector_tid == Some(key.1)),
        })
        .collect();
    threads.sort_by_key(|t| t.key);
    let mut warnings = facts.warnings;
    warnings.extend(sys_warnings);
    let origin_ns = facts.origin.unwrap_or(0);
    let end_ns = facts.end;
    drop(check);
    Ok(TextPlan::Stream(Box::new(StreamPlan {
        inputs,
        sys,
        threads,
        origin_ns,
        end_ns,
        warnings,
    })))
}

/// The inputs' function and syscall traces, borrowed.
type Refs<'a> = (
    Vec<(&'a std::path::Path, &'a FnTrace)>,
    Vec<(&'a std::path::Path, &'a SysTrace)>,
);

fn split_refs(inputs: &[Input]) -> Refs<'_> {
    let f = fn_traces(inputs);
    let s = inputs
        .iter()
        .filter_map(|i| match i {
            Input::Syscalls { path, trace } => Some((path.as_path(), &**trace)),
            Input::Functions { .. } => None,
        })
        .collect();
    (f, s)
}

impl StreamPlan {
    fn write(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        for w in &self.warnings {
            writeln!(out, "# warning: {w}")?;
        }
        for t in self.threads.iter().filter(|t| show_tracer || !t.tracer) {
            let (pid, tid) = t.key;
            let label = match &t.name {
                Some(n) => n.clone(),
                None if pid == tid => "main".into(),
                None => format!("thread {tid}"),
            };
            write!(out, "== thread {tid} \"{label}\" (pid {pid})")?;
            if t.tracer {
                write!(out, " [ruchytrace collector: tracer traffic]")?;
            }
            writeln!(out, " ==")?;
            let mut replay = Replay {
                inputs: &self.inputs,
                sys: &self.sys,
                shown: Some(t.key),
                ctx_origin: self.origin_ns,
                ctx_end: self.end_ns,
                sites: Vec::new(),
                threads: HashMap::new(),
                line: String::new(),
            };
            let done = match replay.run(None, out) {
                Ok(Ok(())) => replay.finish(t.key, out),
                other => other,
            };
            match done {
                Ok(r) => r?,
                Err(NeedsTree) => {
                    return Err(io::Error::other(
                        "the inputs changed since they were checked",
                    ))
                }
            }
        }
        Ok(())
    }
}
