//! Aggregates of a merged trace: the call graph (shared by the DOT output, the merged JSON and
//! `ruchytrace report --callgraph`), hotspots, per-function system call tables and the per-file
//! I/O summary.

use std::collections::HashMap;
use std::fmt::Write as _;

use ruchytrace_runtime::duration::fmt_duration;

use super::{Merged, NodeId, NodeKind};

pub use super::futures::futures_text;
pub use super::hotspots::{hotspots_sorted, hotspots_text, sample_rate, SortKey};

/// Whether a call graph node is a function or a system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// The synthetic root (top level of every thread).
    Root,
    /// A traced function.
    Function,
    /// A system call.
    Syscall,
    /// An inferred caller (`~app::f`): the program's own frame that made system calls outside
    /// every traced function, from their user stacks (never a traced call).
    Inferred,
}

impl Kind {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Root => "root",
            Kind::Function => "function",
            Kind::Syscall => "syscall",
            Kind::Inferred => "inferred",
        }
    }
}

/// A function (by qualified name and location) or a system call (by name) of the call graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// Function or syscall.
    pub kind: Kind,
    /// Display name.
    pub name: String,
    /// `file:line:col` of a function.
    pub location: Option<String>,
    /// Number of calls.
    pub calls: u64,
    /// Time inside it, children included; recursive activations count once (outermost).
    pub inclusive_ns: u64,
    /// Time in it, children excluded.
    pub self_ns: u64,
    /// Calls that failed: panics and `Err` returns, or syscalls returning an error.
    pub errors: u64,
}

/// The call graph: nodes and caller → callee edges with call counts.
#[derive(Debug, Clone, PartialEq)]
pub struct CallGraph {
    /// Node 0 is the root (top level of every thread).
    pub nodes: Vec<GraphNode>,
    /// `(caller, callee) -> calls`, sorted.
    pub edges: Vec<(usize, usize, u64)>,
    /// Sum of the durations of every top-level node: what percentages are of.
    pub total_ns: u64,
}

impl CallGraph {
    /// `inclusive / total` in percent.
    pub fn percent(&self, ns: u64) -> f64 {
        if self.total_ns == 0 {
            0.0
        } else {
            ns as f64 * 100.0 / self.total_ns as f64
        }
    }
}

fn node_key(m: &Merged, id: NodeId) -> Option<(Kind, String, Option<String>)> {
    match &m.node(id).kind {
        NodeKind::Call(c) => {
            let s = m.site(c);
            Some((Kind::Function, s.name.clone(), Some(s.location.to_string())))
        }
        NodeKind::Syscall(s) => Some((Kind::Syscall, s.name.clone(), None)),
        NodeKind::Point { .. } => None,
    }
}

fn inferred_caller(m: &Merged, id: NodeId) -> Option<&super::caller::Caller> {
    match &m.node(id).kind {
        NodeKind::Syscall(s) => s.caller.as_ref().filter(|c| c.inferred),
        _ => None,
    }
}

fn is_error(m: &Merged, id: NodeId) -> bool {
    match &m.node(id).kind {
        NodeKind::Call(c) => c.ret.as_ref().is_some_and(|r| r.is_error()),
        NodeKind::Syscall(s) => s.errno.is_some(),
        NodeKind::Point { .. } => false,
    }
}

/// Builds the call graph of the visible threads.
pub fn call_graph(m: &Merged, show_tracer: bool) -> CallGraph {
    let mut nodes = vec![GraphNode {
        kind: Kind::Root,
        name: "(top level)".into(),
        location: None,
        calls: 0,
        inclusive_ns: 0,
        self_ns: 0,
        errors: 0,
    }];
    let mut index: HashMap<(Kind, String, Option<String>), usize> = HashMap::new();
    let mut edges: HashMap<(usize, usize), u64> = HashMap::new();
    let mut total = 0u64;
    for t in m.visible_threads(show_tracer) {
        // (node, graph index of the caller, entering?) and, per graph node, how many of its
        // activations are open (so recursion counts inclusive time once).
        let mut active: HashMap<usize, u32> = HashMap::new();
        let mut stack: Vec<(NodeId, usize, bool)> =
            t.roots.iter().rev().map(|&r| (r, 0, false)).collect();
        while let Some((id, mut caller, leaving)) = stack.pop() {
            let Some(key) = node_key(m, id) else {
                continue;
            };
            if let (0, false, Some(c)) = (caller, leaving, inferred_caller(m, id)) {
                // A top-level system call with an inferred caller hangs under that caller.
                let dur = m.node(id).duration(m.end_ns);
                total += dur;
                let ikey = (
                    Kind::Inferred,
                    c.frame_name(),
                    c.file.as_ref().map(|f| match c.line {
                        Some(l) => format!("{f}:{l}"),
                        None => f.clone(),
                    }),
                );
                let ii = *index.entry(ikey.clone()).or_insert_with(|| {
                    nodes.push(GraphNode {
                        kind: Kind::Inferred,
                        name: ikey.1.clone(),
                        location: ikey.2.clone(),
                        calls: 0,
                        inclusive_ns: 0,
                        self_ns: 0,
                        errors: 0,
                    });
                    nodes.len() - 1
                });
                nodes[ii].calls += 1;
                nodes[ii].inclusive_ns += dur;
                *edges.entry((0, ii)).or_insert(0) += 1;
                caller = ii;
            }
            let gi = *index.entry(key.clone()).or_insert_with(|| {
                nodes.push(GraphNode {
                    kind: key.0,
                    name: key.1.clone(),
                    location: key.2.clone(),
                    calls: 0,
                    inclusive_ns: 0,
                    self_ns: 0,
                    errors: 0,
                });
                nodes.len() - 1
            });
            if leaving {
                *active.get_mut(&gi).expect("entered") -= 1;
                continue;
            }
            let dur = m.node(id).duration(m.end_ns);
            if caller == 0 {
                total += dur;
            }
            let a = active.entry(gi).or_insert(0);
            let g = &mut nodes[gi];
            g.calls += 1;
            if *a == 0 {
                g.inclusive_ns += dur;
            }
            *a += 1;
            g.self_ns += m.self_time(id);
            if is_error(m, id) {
                g.errors += 1;
            }
            *edges.entry((caller, gi)).or_insert(0) += 1;
            stack.push((id, caller, true));
            stack.extend(m.node(id).children.iter().rev().map(|&c| (c, gi, false)));
        }
    }
    nodes[0].inclusive_ns = total;
    let mut edges: Vec<_> = edges.into_iter().map(|((a, b), n)| (a, b, n)).collect();
    edges.sort_unstable();
    CallGraph {
        nodes,
        edges,
        total_ns: total,
    }
}

/// One node of the `--callgraph` tree: calls aggregated by their path from the thread's top.
#[derive(Debug, Default)]
pub(crate) struct PathNode {
    pub(crate) calls: u64,
    pub(crate) inclusive_ns: u64,
    pub(crate) self_ns: u64,
    pub(crate) errors: u64,
    pub(crate) children: Vec<(String, PathNode)>,
}

/// A thread of the `--callgraph` tree: (pid, tid, label) and its paths.
pub(crate) type ThreadPaths = ((u32, u32, String), PathNode);

impl PathNode {
    pub(crate) fn child(&mut self, name: &str) -> &mut PathNode {
        let i = match self.children.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.children.push((name.to_string(), PathNode::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[i].1
    }
}

fn add_path(m: &Merged, id: NodeId, into: &mut PathNode) {
    let Some((kind, name, _)) = node_key(m, id) else {
        return;
    };
    let label = match kind {
        Kind::Syscall => format!("{name} [syscall]"),
        _ => name,
    };
    let p = into.child(&label);
    p.calls += 1;
    p.inclusive_ns += m.node(id).duration(m.end_ns);
    p.self_ns += m.self_time(id);
    if is_error(m, id) {
        p.errors += 1;
    }
    for &c in &m.node(id).children {
        add_path(m, c, p);
    }
}

/// Every table of `ruchytrace report` but the futures: from the merged tree
/// ([`Tables::of_tree`]) or from one replay of the inputs ([`super::stream`]).
#[derive(Debug)]
pub struct Tables {
    /// The call graph (hotspots).
    pub graph: CallGraph,
    /// The longest single call per function.
    pub(crate) longest: super::hotspots::Longest,
    /// The sampling rate of the function traces ([`sample_rate`]).
    pub rate: Option<u32>,
    /// Each visible thread's call paths.
    pub(crate) paths: Vec<ThreadPaths>,
    /// System calls per function.
    pub syscalls: Vec<SyscallRow>,
    /// System calls per source line.
    pub lines: Vec<super::by_line::LineRow>,
    /// Per-file I/O.
    pub io: Vec<FileIo>,
}

impl Tables {
    /// The tables of a merged tree's visible threads.
    pub fn of_tree(m: &Merged, show_tracer: bool) -> Tables {
        Tables {
            graph: call_graph(m, show_tracer),
            longest: super::hotspots::longest_calls(m, show_tracer),
            rate: sample_rate(m),
            paths: paths_of(m, show_tracer),
            syscalls: syscall_table(m, show_tracer),
            lines: super::by_line::by_line(m, show_tracer),
            io: io_summary(m, show_tracer),
        }
    }

    /// `--callgraph`.
    pub fn callgraph_text(&self) -> String {
        render_paths(&self.paths)
    }

    /// `--hotspots N --sort KEY`.
    pub fn hotspots_text(&self, n: usize, sort: SortKey) -> String {
        super::hotspots::render_hotspots(&self.graph, &self.longest, self.rate, n, sort)
    }

    /// `--syscalls`.
    pub fn syscalls_text(&self) -> String {
        render_syscall_rows(&self.syscalls)
    }

    /// `--syscalls --by-line`.
    pub fn by_line_text(&self) -> String {
        super::by_line::render_rows(&self.lines)
    }

    /// `--io`.
    pub fn io_text(&self) -> String {
        render_io(&self.io)
    }
}

fn paths_of(m: &Merged, show_tracer: bool) -> Vec<ThreadPaths> {
    m.visible_threads(show_tracer)
        .map(|t| {
            let mut root = PathNode::default();
            for &r in &t.roots {
                add_path(m, r, &mut root);
            }
            ((t.pid, t.tid, t.label()), root)
        })
        .collect()
}

/// `report --callgraph`: per thread, the tree of call paths with inclusive time, self time,
/// percent of the thread's traced time and call counts (functions and system calls).
pub fn callgraph_text(m: &Merged, show_tracer: bool) -> String {
    render_paths(&paths_of(m, show_tracer))
}

/// The `--callgraph` text of each thread's paths.
pub(crate) fn render_paths(threads: &[ThreadPaths]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>12} {:>7} {:>8}  call path",
        "inclusive", "self", "%", "calls"
    );
    for ((pid, tid, label), root) in threads {
        let total: u64 = root.children.iter().map(|(_, c)| c.inclusive_ns).sum();
        let _ = writeln!(out, "== thread {tid} \"{label}\" (pid {pid}) ==");
        let mut stack: Vec<(&str, &PathNode, usize)> = root
            .children
            .iter()
            .rev()
            .map(|(n, c)| (n.as_str(), c, 0))
            .collect();
        while let Some((name, p, depth)) = stack.pop() {
            let pct = if total == 0 {
                0.0
            } else {
                p.inclusive_ns as f64 * 100.0 / total as f64
            };
            let _ = write!(
                out,
                "{:>12} {:>12} {:>6.2}% {:>8}  {}{}",
                fmt_duration(p.inclusive_ns),
                fmt_duration(p.self_ns),
                pct,
                p.calls,
                "  ".repeat(depth),
                name
            );
            if p.errors > 0 {
                let _ = write!(out, " ({} errors)", p.errors);
            }
            out.push('\n');
            stack.extend(
                p.children
                    .iter()
                    .rev()
                    .map(|(n, c)| (n.as_str(), c, depth + 1)),
            );
        }
    }
    out
}

/// One row of the per-function system call table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRow {
    /// The function that made the calls directly (`(top level)` outside any traced call).
    pub function: String,
    /// The system call.
    pub syscall: String,
    /// How many.
    pub count: u64,
    /// How many failed.
    pub errors: u64,
    /// Total time in them.
    pub total_ns: u64,
}

/// Which system calls each function made directly.
pub fn syscall_table(m: &Merged, show_tracer: bool) -> Vec<SyscallRow> {
    let mut rows: HashMap<(String, String), SyscallRow> = HashMap::new();
    for t in m.visible_threads(show_tracer) {
        let mut stack: Vec<(NodeId, Option<NodeId>)> = t.roots.iter().map(|&r| (r, None)).collect();
        while let Some((id, parent)) = stack.pop() {
            let n = m.node(id);
            match &n.kind {
                NodeKind::Syscall(s) => {
                    let function =
                        parent.map_or_else(|| "(top level)".to_string(), |p| m.name(p).to_string());
                    let row = rows
                        .entry((function.clone(), s.name.clone()))
                        .or_insert_with(|| SyscallRow {
                            function,
                            syscall: s.name.clone(),
                            count: 0,
                            errors: 0,
                            total_ns: 0,
                        });
                    row.count += 1;
                    row.errors += u64::from(s.errno.is_some());
                    row.total_ns += n.duration(m.end_ns);
                }
                NodeKind::Call(_) => stack.extend(n.children.iter().map(|&c| (c, Some(id)))),
                NodeKind::Point { .. } => {}
            }
        }
    }
    let mut rows: Vec<_> = rows.into_values().collect();
    sort_syscall_rows(&mut rows);
    rows
}

/// Sorts the rows of [`syscall_table`]: by function, most time first, then by name.
pub(crate) fn sort_syscall_rows(rows: &mut [SyscallRow]) {
    rows.sort_by(|a, b| {
        a.function
            .cmp(&b.function)
            .then(b.total_ns.cmp(&a.total_ns))
            .then(a.syscall.cmp(&b.syscall))
    });
}

/// `report --syscalls`.
pub fn syscalls_text(m: &Merged, show_tracer: bool) -> String {
    render_syscall_rows(&syscall_table(m, show_tracer))
}

/// The `--syscalls` text of the rows.
pub(crate) fn render_syscall_rows(rows: &[SyscallRow]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:<20} {:>8} {:>7} {:>12}",
        "function", "syscall", "calls", "errors", "total time"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<32} {:<20} {:>8} {:>7} {:>12}",
            r.function,
            r.syscall,
            r.count,
            r.errors,
            fmt_duration(r.total_ns)
        );
    }
    out
}

/// Per-file I/O totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileIo {
    /// The path (or `<stdout>`, `fd 5`, ...).
    pub path: String,
    /// Successful opens.
    pub opens: u64,
    /// Read calls.
    pub reads: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Write calls.
    pub writes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Time in every call on the file (open, read, write, close, ...).
    pub time_ns: u64,
}

fn unquote(arg: &str) -> Option<String> {
    let a = arg.trim().trim_end_matches("...");
    let inner = a.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
}

fn fd_arg(arg: &str) -> Option<(i64, Option<String>)> {
    // `3` or, with `-y`, `3</etc/passwd>`.
    let (num, path) = match arg.split_once('<') {
        Some((n, rest)) => (n, Some(rest.trim_end_matches('>').to_string())),
        None => (arg, None),
    };
    num.trim().parse().ok().map(|n| (n, path))
}

/// When a system call acts on the descriptor table, as far as the trace can tell, and a rank
/// that orders calls stamped at the same instant (releases, then assignments, then uses).
///
/// The tracer stamps a call's entry before the kernel runs it and its return only once it gets
/// round to that thread's exit stop, which can lag by any amount while it serves other threads.
/// So when one thread's `close(4)` releases descriptor 4 and another thread's `openat` is then
/// given 4, the `openat` may well be stamped as returning before the `close` does — ordering by
/// return time would then let the `close` drop the new file's descriptor, and the new file's
/// reads would be counted under `fd 4`. What the stamps do guarantee: a release happens after the
/// call's entry stamp, an assignment before the call's return stamp, so a `close` is placed at its
/// entry, an open at its return, and a read or write (which looks its descriptor up as it
/// starts) at its entry.
pub(crate) fn fd_table_order(name: &str, start_ns: u64, end_ns: Option<u64>) -> (u64, u8) {
    match name {
        "close" => (start_ns, 0),
        "open" | "openat" | "creat" | "openat2" => (end_ns.unwrap_or(start_ns), 1),
        _ => (start_ns, 2),
    }
}

/// The per-file I/O summary, from the system calls (file descriptors are followed from
/// `open`/`openat`/`creat` to `close`, per process).
pub fn io_summary(m: &Merged, show_tracer: bool) -> Vec<FileIo> {
    let mut calls: Vec<(u64, u8, u32, NodeId)> = Vec::new();
    for t in m.visible_threads(show_tracer) {
        let mut stack: Vec<NodeId> = t.roots.clone();
        while let Some(id) = stack.pop() {
            let n = m.node(id);
            match &n.kind {
                // The runtime's own calls (its markers write to fd -1) only with --show-tracer,
                // as in the streamed report.
                NodeKind::Syscall(s) if s.by_tracer && !show_tracer => {}
                NodeKind::Syscall(s) => {
                    let (at, rank) = fd_table_order(&s.name, n.start_ns, n.end_ns);
                    calls.push((at, rank, t.pid, id));
                }
                _ => stack.extend(n.children.iter().copied()),
            }
        }
    }
    calls.sort_unstable();
    io_files(calls.into_iter().filter_map(|(_, _, pid, id)| {
        let n = m.node(id);
        match &n.kind {
            NodeKind::Syscall(s) => Some((pid, s, n.duration(m.end_ns))),
            _ => None,
        }
    }))
}

/// The name (static) of a system call the per-file I/O summary counts.
pub(crate) fn io_name(name: &str) -> Option<&'static str> {
    const NAMES: [&str; 15] = [
        "open", "openat", "creat", "openat2", "read", "pread64", "readv", "preadv", "preadv2",
        "write", "pwrite64", "writev", "pwritev", "pwritev2", "close",
    ];
    NAMES.into_iter().find(|n| *n == name)
}

/// The per-file I/O summary of system calls (pid, call, duration) in the order they acted on
/// the descriptor table (see [`fd_table_order`]).
pub(crate) fn io_files<'a>(
    calls: impl Iterator<Item = (u32, &'a super::Syscall, u64)>,
) -> Vec<FileIo> {
    let mut files = IoFiles::default();
    for (pid, s, dur) in calls {
        files.add(pid, s, dur);
    }
    files.finish()
}

/// The per-file I/O summary being built, one system call at a time in descriptor-table order
/// (descriptors are followed from their open to their close, per process).
#[derive(Default)]
pub(crate) struct IoFiles {
    files: HashMap<String, FileIo>,
    fds: HashMap<(u32, i64), String>,
}

impl IoFiles {
    /// One more system call of process `pid`, `dur` long.
    pub(crate) fn add(&mut self, pid: u32, s: &super::Syscall, dur: u64) {
        let (files, fds) = (&mut self.files, &mut self.fds);
        let name_of_fd = |fd: i64, shown: Option<String>, fds: &HashMap<(u32, i64), String>| {
            shown
                .or_else(|| fds.get(&(pid, fd)).cloned())
                .unwrap_or_else(|| match fd {
                    0 => "<stdin>".into(),
                    1 => "<stdout>".into(),
                    2 => "<stderr>".into(),
                    _ => format!("fd {fd}"),
                })
        };
        match s.name.as_str() {
            "open" | "openat" | "creat" | "openat2" => {
                let path_arg = if s.name == "openat" || s.name == "openat2" {
                    1
                } else {
                    0
                };
                let Some(path) = s.args.get(path_arg).and_then(|a| unquote(a)) else {
                    return;
                };
                let f = files.entry(path.clone()).or_insert_with(|| FileIo {
                    path: path.clone(),
                    ..FileIo::default()
                });
                f.time_ns += dur;
                if let (Some(fd), None) = (s.ret, &s.errno) {
                    f.opens += 1;
                    fds.insert((pid, fd), path);
                }
            }
            "read" | "pread64" | "readv" | "preadv" | "preadv2" | "write" | "pwrite64"
            | "writev" | "pwritev" | "pwritev2" | "close" => {
                let Some((fd, shown)) = s.args.first().and_then(|a| fd_arg(a)) else {
                    return;
                };
                let path = name_of_fd(fd, shown, fds);
                let f = files.entry(path.clone()).or_insert_with(|| FileIo {
                    path,
                    ..FileIo::default()
                });
                f.time_ns += dur;
                let bytes = s.ret.filter(|r| *r > 0).unwrap_or(0) as u64;
                if s.name == "close" {
                    fds.remove(&(pid, fd));
                } else if s.name.contains("read") {
                    f.reads += 1;
                    f.read_bytes += bytes;
                } else {
                    f.writes += 1;
                    f.write_bytes += bytes;
                }
            }
            _ => {}
        }
    }

    /// The files, most time first.
    pub(crate) fn finish(self) -> Vec<FileIo> {
        let mut out: Vec<_> = self.files.into_values().collect();
        out.sort_by(|a, b| b.time_ns.cmp(&a.time_ns).then(a.path.cmp(&b.path)));
        out
    }
}

/// Average bytes per call below which many calls count as "tiny".
pub const TINY_IO_BYTES: u64 = 512;
/// How many calls make "many".
pub const MANY_IO_CALLS: u64 = 100;

/// `report --io`: the per-file table, then warnings for files with many tiny reads or writes.
pub fn io_text(m: &Merged, show_tracer: bool) -> String {
    render_io(&io_summary(m, show_tracer))
}

/// The `--io` text of the per-file summary.
pub(crate) fn render_io(files: &[FileIo]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>6} {:>8} {:>12} {:>8} {:>12} {:>10} {:>10}  file",
        "opens", "reads", "read bytes", "writes", "written", "time", "avg size"
    );
    let mut warnings = Vec::new();
    for f in files {
        let ops = f.reads + f.writes;
        let avg = (f.read_bytes + f.write_bytes).checked_div(ops).unwrap_or(0);
        let _ = writeln!(
            out,
            "{:>6} {:>8} {:>12} {:>8} {:>12} {:>10} {:>10}  {}",
            f.opens,
            f.reads,
            f.read_bytes,
            f.writes,
            f.write_bytes,
            fmt_duration(f.time_ns),
            avg,
            f.path
        );
        for (kind, calls, bytes) in [
            ("reads", f.reads, f.read_bytes),
            ("writes", f.writes, f.write_bytes),
        ] {
            if calls >= MANY_IO_CALLS && bytes / calls < TINY_IO_BYTES {
                warnings.push(format!(
                    "warning: {}: {calls} {kind} of {} bytes on average — buffer them (BufReader/BufWriter)",
                    f.path,
                    bytes / calls
                ));
            }
        }
    }
    for w in warnings {
        out.push_str(&w);
        out.push('\n');
    }
    out
}
