//! Building the merged forest from loaded inputs.
//!
//! [`merge`] first checks that the inputs come from one run
//! ([`check_consistency`](super::check::check_consistency)), then replays every function trace
//! in file order, one call stack per thread: an enter opens a call node, an exit closes the
//! innermost open call of its site (calls above it lost their exits and end there), a suspend
//! closes one poll of an `async fn` future and a resume opens the next. Instants and loss
//! records become point nodes. Last, every event of the syscall traces is placed under the
//! innermost call that encloses it ([`place`](super::check::place)); a system call that
//! crosses a function boundary refuses the merge unless [`MergeOptions::force`].

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use ruchytrace_runtime::model::{ClockInfo, Event, LossReason, Return, Site, Value};

use super::check::{check_consistency, describe_syscall, place, Placement};
use super::{
    Call, CallEnd, FnItem, FnTrace, Input, Merged, Node, NodeId, NodeKind, ProcessInfo, Syscall,
    ThreadTrack,
};
use crate::syscalls::event::{Event as SysEvent, SysTrace};

/// A thread: (pid, tid).
type Key = (u32, u32);

/// Merge settings.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Turn straddling system calls and pid/clock mismatches into warnings (the straddling call
    /// goes under the innermost call that encloses it entirely).
    pub force: bool,
    /// List the dynamic loader's system calls instead of one summary line per thread.
    pub show_startup: bool,
}

/// Why a merge was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeError {
    /// The inputs cannot come from the same run (different pids, clocks or boot).
    Mismatch(String),
    /// System calls that cross a function entry or exit: a clock or data error.
    Straddle(Vec<String>),
    /// Nothing to merge.
    NoInput(String),
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::Mismatch(m) | MergeError::NoInput(m) => f.write_str(m),
            MergeError::Straddle(list) => {
                write!(
                    f,
                    "{} system call(s) straddle a function boundary (clock or data error; --force attributes them to the enclosing call):",
                    list.len()
                )?;
                for s in list.iter().take(10) {
                    write!(f, "\n  {s}")?;
                }
                if list.len() > 10 {
                    write!(f, "\n  ... and {} more", list.len() - 10)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for MergeError {}
struct Frame {
    node: NodeId,
    site: u32,
    call_id: Option<u64>,
}

#[derive(Default)]
struct ThreadBuild {
    name: Option<String>,
    roots: Vec<NodeId>,
    stack: Vec<Frame>,
}

/// What one function trace's replay counts and remembers.
#[derive(Default)]
struct FnPass {
    /// The trace's site ids to ids in [`Merged::sites`].
    remap: HashMap<u32, u32>,
    /// Exits that matched no open call.
    unmatched: u64,
    /// Calls closed by an outer call's exit.
    lost_exits: u64,
    /// Arguments of suspended futures, by call id, for the poll that resumes them.
    suspended: HashMap<u64, Vec<Value>>,
}

/// The forest under construction.
struct Builder {
    nodes: Vec<Node>,
    sites: Vec<Site>,
    threads: HashMap<Key, ThreadBuild>,
    processes: Vec<ProcessInfo>,
    clock: Option<ClockInfo>,
    origin: u64,
    end: u64,
    warnings: Vec<String>,
}

/// Merges function traces and at most one syscall trace (several syscall traces are merged as
/// one when they come from the same run).
pub fn merge(inputs: Vec<Input>, opts: &MergeOptions) -> Result<Merged, MergeError> {
    if inputs.is_empty() {
        return Err(MergeError::NoInput("no input files".into()));
    }
    let n_inputs = inputs.len();
    let mut fn_traces = Vec::new();
    let mut sys_traces = Vec::new();
    let mut sources = Vec::new();
    for mut input in inputs {
        sources.push(input.path().display().to_string());
        // The tree holds every event: a syscall trace left in its file is read now.
        input.load_sys_events()?;
        match input {
            Input::Functions { path, trace } => fn_traces.push((path, trace)),
            Input::Syscalls {
                path,
                trace,
                truncation,
                ..
            } => {
                let cut = truncation.map(|t| super::input::sys_cut_warning(&path, &t));
                sys_traces.push((path, trace, cut));
            }
            // A merged trace is already a forest: it stands alone.
            Input::Merged { path, merged } => {
                if n_inputs > 1 {
                    return Err(MergeError::NoInput(format!(
                        "{}: a merged trace cannot be merged with other inputs",
                        path.display()
                    )));
                }
                return Ok(*merged);
            }
        }
    }
    let mut warnings = Vec::new();
    {
        let fns: Vec<(&Path, &FnTrace)> =
            fn_traces.iter().map(|(p, t)| (p.as_path(), &**t)).collect();
        let heads: Vec<Vec<_>> = sys_traces
            .iter()
            .map(|(_, t, _)| t.events.iter().map(super::input::head_of).collect())
            .collect();
        let sys: Vec<(&Path, &SysTrace, &[_])> = sys_traces
            .iter()
            .zip(&heads)
            .map(|((p, t, _), h)| (p.as_path(), &**t, h.as_slice()))
            .collect();
        check_consistency(&fns, &sys, opts, &mut warnings)?;
    }

    // One node per call (two events) and per syscall: reserving avoids the 2x overshoot of a
    // growing vector on large traces.
    let expected_nodes = fn_traces.iter().map(|(_, t)| t.events / 2).sum::<u64>()
        + sys_traces
            .iter()
            .map(|(_, t, _)| t.events.len() as u64)
            .sum::<u64>();
    let mut b = Builder {
        nodes: Vec::with_capacity(expected_nodes.min(1 << 28) as usize),
        sites: Vec::new(),
        threads: HashMap::new(),
        processes: Vec::new(),
        clock: None,
        origin: u64::MAX,
        end: 0,
        warnings,
    };
    for (path, trace) in fn_traces {
        b.add_functions(&path, *trace)?;
    }
    // Calls still open end with the trace.
    for th in b.threads.values_mut() {
        th.stack.clear();
    }
    let mut straddles = Vec::new();
    let mut attached = Vec::new();
    for (_, trace, cut) in sys_traces {
        b.add_syscalls(*trace, cut, &mut straddles, &mut attached);
    }
    if !straddles.is_empty() {
        if !opts.force {
            return Err(MergeError::Straddle(straddles));
        }
        let n = straddles.len();
        b.warnings.extend(straddles);
        b.warnings.push(format!(
            "--force: {n} straddling system call(s) attributed to the enclosing call"
        ));
    }
    b.attach(attached);
    let mut m = b.finish(sources);
    if opts.show_startup {
        // The text timeline collapses the calls marked as start-up ones: none are.
        super::startup::unmark(&mut m);
    }
    Ok(m)
}

impl Builder {
    /// Replays one function trace into the forest.
    fn add_functions(&mut self, path: &Path, trace: FnTrace) -> Result<(), MergeError> {
        let meta = &trace.metadata;
        self.clock.get_or_insert_with(|| meta.clock.clone());
        self.processes.push(ProcessInfo {
            pid: meta.pid,
            program: meta.program.clone(),
            args: meta.args.clone(),
            collector_tid: meta.collector_tid,
            sample_rate: Some(meta.settings.sample.max(1)),
        });
        if let Some(t) = &trace.truncation {
            self.warnings.push(format!(
                "{}: incomplete function trace ({t}); calls still open at its end are shown as unfinished",
                path.display()
            ));
        }
        let mut pass = FnPass::default();
        for item in trace.items(path)? {
            match item {
                FnItem::Site(s) => self.add_site(&mut pass, s),
                FnItem::Event(ev) => self.add_event(&mut pass, ev),
            }
        }
        if pass.unmatched > 0 {
            self.warnings.push(format!(
                "{}: {} exit(s) without a matching enter (enter lost or before the trace started)",
                path.display(),
                pass.unmatched
            ));
        }
        if pass.lost_exits > 0 {
            self.warnings.push(format!(
                "{}: {} call(s) whose exit was lost end at their caller's exit",
                path.display(),
                pass.lost_exits
            ));
        }
        Ok(())
    }

    /// Renumbers a site of one trace into the merged table.
    fn add_site(&mut self, pass: &mut FnPass, mut s: Site) {
        let id = self.sites.len() as u32;
        pass.remap.insert(s.id, id);
        s.id = id;
        self.sites.push(s);
    }

    /// The merged id of a trace's site; an event whose site is missing from the table gets a
    /// placeholder site, so it stays visible.
    fn global_site(&mut self, pass: &mut FnPass, site: u32) -> u32 {
        let sites = &mut self.sites;
        *pass.remap.entry(site).or_insert_with(|| {
            let id = sites.len() as u32;
            sites.push(unknown_site(id, site));
            id
        })
    }

    fn add_event(&mut self, pass: &mut FnPass, ev: Event) {
        let ts = ev.ts();
        self.origin = self.origin.min(ts);
        self.end = self.end.max(ts);
        let key = ev.pid_tid();
        // Every thread with an event is shown, even when the event adds no node.
        self.threads.entry(key).or_default();
        match ev {
            Event::Enter {
                site,
                args,
                call_id,
                ..
            } => {
                let g = self.global_site(pass, site);
                self.open_call(key, ts, g, args, call_id, false);
            }
            Event::Exit {
                site, ret, call_id, ..
            } => {
                let g = self.global_site(pass, site);
                self.exit(pass, key, ts, g, call_id, ret);
            }
            Event::Suspend { site, call_id, .. } => {
                let g = self.global_site(pass, site);
                self.suspend(pass, key, ts, g, call_id);
            }
            Event::Resume { site, call_id, .. } => {
                let g = self.global_site(pass, site);
                let args = pass.suspended.remove(&call_id).unwrap_or_default();
                self.open_call(key, ts, g, args, Some(call_id), true);
            }
            Event::Instant {
                category,
                name,
                detail,
                ..
            } => {
                let text = format!("{} {name}: {detail}", category.as_str());
                self.push(key, point(ts, "instant", text));
            }
            Event::Thread { name, .. } => {
                if name.is_some() {
                    self.threads.entry(key).or_default().name = name;
                }
            }
            Event::Loss { count, reason, .. } => self.loss(key, ts, count, reason),
            Event::Stall { .. } => {}
        }
    }

    /// Adds `node` under the innermost open call of its thread (or at its top level).
    fn push(&mut self, key: Key, node: Node) -> NodeId {
        let th = self.threads.entry(key).or_default();
        push_node(&mut self.nodes, th, node)
    }

    /// Opens a call (an enter, or `resumed`: the next poll of a suspended future).
    fn open_call(
        &mut self,
        key: Key,
        ts: u64,
        site: u32,
        args: Vec<Value>,
        call_id: Option<u64>,
        resumed: bool,
    ) {
        let node = Node {
            start_ns: ts,
            end_ns: None,
            children: Vec::new(),
            kind: NodeKind::Call(Call {
                site,
                args,
                ret: None,
                end: CallEnd::Open,
                resumed,
                call_id,
            }),
        };
        let id = self.push(key, node);
        self.threads.entry(key).or_default().stack.push(Frame {
            node: id,
            site,
            call_id,
        });
    }

    fn exit(
        &mut self,
        pass: &mut FnPass,
        key: Key,
        ts: u64,
        site: u32,
        call_id: Option<u64>,
        ret: Return,
    ) {
        let th = self.threads.entry(key).or_default();
        let Some((node, lost)) = pop_to(&mut self.nodes, th, site, call_id, ts) else {
            pass.unmatched += 1;
            return;
        };
        pass.lost_exits += lost;
        let n = &mut self.nodes[node as usize];
        n.end_ns = Some(ts);
        if let NodeKind::Call(c) = &mut n.kind {
            c.ret = Some(ret);
            c.end = CallEnd::Returned;
        }
    }

    /// Ends one poll of a future; its arguments wait for the poll that resumes it.
    fn suspend(&mut self, pass: &mut FnPass, key: Key, ts: u64, site: u32, call_id: u64) {
        let th = self.threads.entry(key).or_default();
        let Some((node, lost)) = pop_to(&mut self.nodes, th, site, Some(call_id), ts) else {
            return;
        };
        pass.lost_exits += lost;
        let n = &mut self.nodes[node as usize];
        n.end_ns = Some(ts);
        if let NodeKind::Call(c) = &mut n.kind {
            c.end = CallEnd::Suspended;
            pass.suspended.insert(call_id, c.args.clone());
        }
    }

    fn loss(&mut self, (pid, tid): Key, ts: u64, count: u64, reason: LossReason) {
        let why = match reason {
            LossReason::BufferFull => "buffer full",
            LossReason::Evicted => "evicted by ring buffer",
            LossReason::Unflushed => "not flushed before the end",
        };
        self.warnings.push(format!(
            "pid {pid} tid {tid}: {count} function events lost ({why}); system calls near them may sit under an outer call"
        ));
        let text = format!("{count} events lost ({why})");
        self.push((pid, tid), point(ts, "loss", text));
    }

    /// Places every event of a syscall trace; the placements are applied by [`Builder::attach`]
    /// once every straddle is known.
    fn add_syscalls(
        &mut self,
        mut trace: SysTrace,
        cut: Option<String>,
        straddles: &mut Vec<String>,
        attached: &mut Vec<(Option<NodeId>, Key, NodeId)>,
    ) {
        if self.clock.is_none() {
            self.clock = Some(trace.metadata.clock.clone());
        }
        if self
            .processes
            .iter()
            .all(|p| p.pid != trace.metadata.pid as u32)
        {
            self.processes.push(ProcessInfo {
                pid: trace.metadata.pid as u32,
                program: trace.metadata.program.clone(),
                args: trace.metadata.args.clone(),
                collector_tid: None,
                sample_rate: None,
            });
        }
        if !trace.end.complete {
            self.warnings.push(format!(
                "syscall trace of pid {} is incomplete (the tracer did not see every thread end)",
                trace.metadata.pid
            ));
        }
        self.warnings.extend(cut);
        let mut markers = super::caller::Markers::default();
        for ev in std::mem::take(&mut trace.events) {
            let ts = ev.timestamp_ns();
            self.origin = self.origin.min(ts);
            self.end = self.end.max(ts);
            let (mut node, key) = sys_node(ev);
            markers.mark(key, &mut node);
            if let Some(x) = node.end_ns {
                self.end = self.end.max(x);
            }
            let th = self.threads.entry(key).or_default();
            let e = node.start_ns;
            let x = node.end_ns.unwrap_or(e);
            let parent = match place(&self.nodes, &self.sites, &th.roots, e, x) {
                Placement::Under(p) => p,
                Placement::Straddle { at, what } => {
                    straddles.push(format!(
                        "pid {} tid {}: {} at {} (returned at {}) {what}",
                        key.0,
                        key.1,
                        describe_syscall(&node),
                        e,
                        x
                    ));
                    at
                }
            };
            let id = self.nodes.len() as NodeId;
            self.nodes.push(node);
            attached.push((parent, key, id));
        }
    }

    /// Inserts the placed system calls among their parents' children, keeping time order.
    fn attach(&mut self, attached: Vec<(Option<NodeId>, Key, NodeId)>) {
        let mut touched_parents = Vec::new();
        let mut touched_threads = Vec::new();
        for (parent, key, id) in attached {
            match parent {
                Some(p) => {
                    self.nodes[p as usize].children.push(id);
                    touched_parents.push(p);
                }
                None => {
                    self.threads.entry(key).or_default().roots.push(id);
                    touched_threads.push(key);
                }
            }
        }
        let nodes = &mut self.nodes;
        touched_parents.sort_unstable();
        touched_parents.dedup();
        for p in touched_parents {
            let mut children = std::mem::take(&mut nodes[p as usize].children);
            children.sort_by_key(|&c| nodes[c as usize].start_ns);
            nodes[p as usize].children = children;
        }
        touched_threads.sort_unstable();
        touched_threads.dedup();
        for key in touched_threads {
            if let Some(th) = self.threads.get_mut(&key) {
                th.roots.sort_by_key(|&c| nodes[c as usize].start_ns);
            }
        }
    }

    fn finish(mut self, sources: Vec<String>) -> Merged {
        let processes = &self.processes;
        let mut threads: Vec<ThreadTrack> = self
            .threads
            .into_iter()
            .map(|((pid, tid), b)| ThreadTrack {
                pid,
                tid,
                name: b.name,
                tracer: processes
                    .iter()
                    .any(|p| p.pid == pid && p.collector_tid == Some(tid)),
                roots: b.roots,
            })
            .collect();
        threads.sort_by_key(|t| (t.pid, t.tid));
        self.processes.sort_by_key(|p| p.pid);
        super::caller::mark_inferred(&threads, &mut self.nodes);
        let mut m = Merged {
            sources,
            processes: self.processes,
            threads,
            nodes: self.nodes,
            sites: self.sites,
            origin_ns: if self.origin == u64::MAX {
                0
            } else {
                self.origin
            },
            end_ns: self.end,
            clock: self.clock,
            warnings: self.warnings,
            futures: Default::default(),
        };
        m.futures = super::futures::collect(&m);
        m
    }
}

/// The node of a syscall-trace event, and its thread.
fn sys_node(ev: SysEvent) -> (Node, Key) {
    let ts = ev.timestamp_ns();
    match ev {
        SysEvent::Syscall(s) => (
            Node {
                start_ns: ts,
                end_ns: s.duration_ns.map(|d| ts + d),
                children: Vec::new(),
                kind: NodeKind::Syscall(Syscall {
                    // Before `name` moves out.
                    startup: super::startup::classify(&s.name, s.stack.as_deref()),
                    name: s.name,
                    args: s.args,
                    raw_args: s.raw_args,
                    ret: s.ret,
                    errno: s.errno,
                    caller: s.stack.as_deref().and_then(super::caller::own_caller),
                    by_tracer: s.stack.as_deref().is_some_and(super::caller::by_tracer),
                }),
            },
            (s.pid as u32, s.tid as u32),
        ),
        SysEvent::Signal(s) => (
            point(ts, "signal", format!("--- {} {} ---", s.signal, s.info)),
            (s.pid as u32, s.tid as u32),
        ),
        SysEvent::Exit(e) => (
            point(ts, "exit", format!("+++ exited with {} +++", e.code)),
            (e.pid as u32, e.tid as u32),
        ),
        SysEvent::Killed(k) => (
            point(
                ts,
                "killed",
                format!(
                    "+++ killed by {}{} +++",
                    k.signal,
                    if k.core_dumped { " (core dumped)" } else { "" }
                ),
            ),
            (k.pid as u32, k.tid as u32),
        ),
    }
}

pub(crate) fn unknown_site(id: u32, original: u32) -> Site {
    Site {
        id,
        name: format!("<site {original}>"),
        qualified_name: format!("<site {original}>"),
        location: ruchytrace_runtime::model::Location {
            file: "?".into(),
            line: 0,
            column: 0,
        },
        args: Vec::new(),
        return_type: "?".into(),
        kind: ruchytrace_runtime::model::SiteKind::Fn,
    }
}

fn point(ts: u64, category: &'static str, text: String) -> Node {
    Node {
        start_ns: ts,
        end_ns: None,
        children: Vec::new(),
        kind: NodeKind::Point { category, text },
    }
}

fn push_node(nodes: &mut Vec<Node>, th: &mut ThreadBuild, node: Node) -> NodeId {
    let id = nodes.len() as NodeId;
    nodes.push(node);
    match th.stack.last() {
        Some(f) => nodes[f.node as usize].children.push(id),
        None => th.roots.push(id),
    }
    id
}

/// Pops the innermost frame of `site` (and `call_id`) and every frame above it, which lost
/// their exits (they end at `ts`). Returns the matched node and how many frames were above it.
fn pop_to(
    nodes: &mut [Node],
    th: &mut ThreadBuild,
    site: u32,
    call_id: Option<u64>,
    ts: u64,
) -> Option<(NodeId, u64)> {
    let pos = th
        .stack
        .iter()
        .rposition(|f| f.site == site && (call_id.is_none() || f.call_id == call_id))?;
    let lost = (th.stack.len() - pos - 1) as u64;
    for f in th.stack.drain(pos + 1..) {
        let n = &mut nodes[f.node as usize];
        n.end_ns = Some(ts);
        if let NodeKind::Call(c) = &mut n.kind {
            c.end = CallEnd::ExitLost;
        }
    }
    th.stack.pop().map(|f| (f.node, lost))
}
