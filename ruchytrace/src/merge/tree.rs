//! The merged forest: one tree of calls, system calls and point events per thread.
//!
//! Every node lives in [`Merged::nodes`] and refers to its children by [`NodeId`]; a thread
//! ([`ThreadTrack`]) lists its top-level nodes. Calls refer to their site by an index into
//! [`Merged::sites`], the site tables of every function trace renumbered into one.

use ruchytrace_runtime::model::{ClockInfo, Return, Site};

/// Index of a [`Node`] in [`Merged::nodes`].
pub type NodeId = u32;

/// How a traced call ended, as far as the trace knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// Its exit was recorded.
    Returned,
    /// An `async fn` future returned `Pending`: this node is one poll of it.
    Suspended,
    /// Its exit was lost (an outer call's exit was seen first); the end is that outer exit.
    ExitLost,
    /// Still running when the trace ended.
    Open,
}

impl CallEnd {
    /// Lowercase name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CallEnd::Returned => "returned",
            CallEnd::Suspended => "suspended",
            CallEnd::ExitLost => "exit_lost",
            CallEnd::Open => "open",
        }
    }
}

/// A traced function call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Index in [`Merged::sites`].
    pub site: u32,
    /// Captured arguments.
    pub args: Vec<ruchytrace_runtime::model::Value>,
    /// How it returned (when it did).
    pub ret: Option<Return>,
    /// How it ended.
    pub end: CallEnd,
    /// True for a resumed poll of an `async fn` future.
    pub resumed: bool,
    /// The runtime's id of an `async fn` call: every poll of one future has the same id.
    pub call_id: Option<u64>,
}

/// A system call.
#[derive(Debug, Clone, PartialEq)]
pub struct Syscall {
    /// Name (`openat`).
    pub name: String,
    /// Decoded arguments, strace-style.
    pub args: Vec<String>,
    /// Raw argument registers.
    pub raw_args: Vec<u64>,
    /// Return value; `None` when it never returned.
    pub ret: Option<i64>,
    /// Errno name when it failed.
    pub errno: Option<String>,
    /// The program's own frame that made it, from its user stack (`syscalls -k`).
    pub caller: Option<super::caller::Caller>,
    /// Made by the ruchytrace runtime itself on a user thread (its stack passes through the
    /// runtime): tracer traffic, hidden unless `--show-tracer`.
    pub by_tracer: bool,
    /// What kind of start-up call it would be before the thread's first traced call (see
    /// [`super::startup`]); `None`: the program's own or the runtime's.
    pub startup: Option<super::startup::Startup>,
}

/// What a node is.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A traced function call.
    Call(Call),
    /// A system call.
    Syscall(Syscall),
    /// A point event: instant (`instant`), loss record (`loss`), signal (`signal`), thread end
    /// (`exit`, `killed`).
    Point {
        /// `instant`, `loss`, `signal`, `exit` or `killed`.
        category: &'static str,
        /// Human-readable text.
        text: String,
    },
}

/// One node of a thread's tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Start (`CLOCK_MONOTONIC` ns).
    pub start_ns: u64,
    /// End; `None` when unknown (open call, syscall that never returned, point events).
    pub end_ns: Option<u64>,
    /// Children in time order.
    pub children: Vec<NodeId>,
    /// What it is.
    pub kind: NodeKind,
}

impl Node {
    /// Duration, using `trace_end` for calls still open at the end of the trace.
    pub fn duration(&self, trace_end: u64) -> u64 {
        match (&self.kind, self.end_ns) {
            (_, Some(e)) => e.saturating_sub(self.start_ns),
            (NodeKind::Call(_), None) => trace_end.saturating_sub(self.start_ns),
            _ => 0,
        }
    }
}

/// A traced process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Program path.
    pub program: String,
    /// Command line.
    pub args: Vec<String>,
    /// The runtime's collector thread, if known.
    pub collector_tid: Option<u32>,
    /// The function trace's sampling rate (1 in N calls recorded); `None` without a function
    /// trace.
    pub sample_rate: Option<u32>,
}

/// One thread: its top-level nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreadTrack {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Thread name, when the function trace recorded one.
    pub name: Option<String>,
    /// The runtime's collector thread: its system calls are tracer traffic.
    pub tracer: bool,
    /// Top-level nodes in time order.
    pub roots: Vec<NodeId>,
}

impl ThreadTrack {
    /// `name` or `thread TID`.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None if self.pid == self.tid => "main".into(),
            None => format!("thread {}", self.tid),
        }
    }
}

/// The merged forest of every thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The input files.
    pub sources: Vec<String>,
    /// Traced processes.
    pub processes: Vec<ProcessInfo>,
    /// Threads, sorted by (pid, tid).
    pub threads: Vec<ThreadTrack>,
    /// Every node.
    pub nodes: Vec<Node>,
    /// Call sites of every function trace (ids are indexes into this table).
    pub sites: Vec<Site>,
    /// The earliest timestamp of any event: relative times count from here.
    pub origin_ns: u64,
    /// The latest timestamp seen (end of every open call).
    pub end_ns: u64,
    /// A clock pair, for wall-clock output.
    pub clock: Option<ClockInfo>,
    /// What the reader should know (losses, truncations, forced attributions).
    pub warnings: Vec<String>,
    /// The `async fn` futures: their polls, lifetimes, busy times and threads.
    pub futures: super::futures::Futures,
}

impl Merged {
    /// Replays thread `t`'s tree in time order as the streaming writers see a trace: `f(node,
    /// false, None)` when a node opens, and for a call `f(node, true, its future)` when it
    /// closes, after its children (the runtime's own system calls skipped unless
    /// `show_tracer`). How the tree paths of the writers that stream (Chrome, OTLP) feed the
    /// same sink as the streamed merge.
    pub fn replay_thread<E>(
        &self,
        t: &ThreadTrack,
        show_tracer: bool,
        mut f: impl FnMut(&Node, bool, Option<(&super::futures::FutureInfo, usize)>) -> Result<(), E>,
    ) -> Result<(), E> {
        // (node, leaving?)
        let mut stack: Vec<(NodeId, bool)> = t.roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((id, leaving)) = stack.pop() {
            let n = self.node(id);
            if !show_tracer && super::caller::hidden(n) {
                continue;
            }
            if leaving {
                f(n, true, self.futures.of(id))?;
                continue;
            }
            f(n, false, None)?;
            if matches!(n.kind, NodeKind::Call(_)) {
                stack.push((id, true));
                stack.extend(n.children.iter().rev().map(|&c| (c, false)));
            }
        }
        Ok(())
    }

    /// The node with id `id`.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    /// The site of a call.
    pub fn site(&self, call: &Call) -> &Site {
        &self.sites[call.site as usize]
    }

    /// The name of a node: function display name, syscall name, or point category.
    pub fn name(&self, id: NodeId) -> &str {
        match &self.node(id).kind {
            NodeKind::Call(c) => &self.site(c).name,
            NodeKind::Syscall(s) => &s.name,
            NodeKind::Point { category, .. } => category,
        }
    }

    /// Threads to show: every thread, or all but the tracer's own.
    pub fn visible_threads(&self, show_tracer: bool) -> impl Iterator<Item = &ThreadTrack> {
        self.threads
            .iter()
            .filter(move |t| show_tracer || !t.tracer)
    }

    /// Self time of a node: its duration minus its children's.
    pub fn self_time(&self, id: NodeId) -> u64 {
        let n = self.node(id);
        let children: u64 = n
            .children
            .iter()
            .map(|&c| self.node(c).duration(self.end_ns))
            .sum();
        n.duration(self.end_ns).saturating_sub(children)
    }
}

/// Renders a system call's result the way strace does: `3`, `0x7f12a000` for addresses,
/// `-1 ENOENT`, `?` when it never returned.
pub fn fmt_return(s: &Syscall) -> String {
    match (s.ret, &s.errno) {
        (None, _) => "?".into(),
        (Some(r), Some(e)) => format!("{r} {e}"),
        (Some(r), None) => {
            if matches!(s.name.as_str(), "mmap" | "mremap" | "brk" | "shmat") || r > 0xffff_ffff {
                format!("{r:#x}")
            } else {
                r.to_string()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_like_strace() {
        let mut s = Syscall {
            name: "mmap".into(),
            args: vec![],
            raw_args: vec![],
            ret: Some(0x7f00_0000_0000),
            errno: None,
            caller: None,
            by_tracer: false,
            startup: None,
        };
        assert_eq!(fmt_return(&s), "0x7f0000000000");
        s.name = "openat".into();
        s.ret = Some(-1);
        s.errno = Some("ENOENT".into());
        assert_eq!(fmt_return(&s), "-1 ENOENT");
        s.ret = None;
        assert_eq!(fmt_return(&s), "?");
    }
}
