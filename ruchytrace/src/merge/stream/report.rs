//! The tables of `ruchytrace report` ([`Tables`]) from one replay instead of the tree: the
//! call graph, the longest call per function, each thread's call paths, the system calls per
//! function and per source line, and the per-file I/O summary.
//!
//! Memory is the aggregates (one entry per function, call path, system call name, source line
//! and file) and the open calls; the I/O summary also keeps a short record of each system call
//! on a file (open, read, write, close: its name, the argument naming the file, its result),
//! which it must replay in the order they returned across threads to follow descriptors.

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::io;

use ruchytrace_runtime::model::Site;

use super::graph::GraphSink;
use super::{Key, NodeSink};
use crate::merge::by_line::{line_key, sort_rows, LineKey, LineRow};
use crate::merge::hotspots::Longest;
use crate::merge::report::{
    fd_table_order, io_name, sort_syscall_rows, PathNode, SyscallRow, Tables, ThreadPaths,
};
use crate::merge::{Node, NodeKind, ProcessInfo, Syscall};

/// A node of a thread's call paths, in an arena.
#[derive(Default)]
struct Flat {
    name: String,
    calls: u64,
    inclusive_ns: u64,
    self_ns: u64,
    errors: u64,
    children: Vec<usize>,
}

/// One open call of a thread: its path node, its site, its children's time so far.
struct Open {
    path: usize,
    site: u32,
    children: u64,
}

#[derive(Default)]
struct Thread {
    /// Node 0 is the thread's top.
    paths: Vec<Flat>,
    stack: Vec<Open>,
}

impl Thread {
    fn child(&mut self, parent: usize, name: &str) -> usize {
        if let Some(&c) = self.paths[parent]
            .children
            .iter()
            .find(|&&c| self.paths[c].name == name)
        {
            return c;
        }
        self.paths.push(Flat {
            name: name.to_owned(),
            ..Flat::default()
        });
        let c = self.paths.len() - 1;
        self.paths[parent].children.push(c);
        c
    }

    fn tree(&self, at: usize) -> PathNode {
        let f = &self.paths[at];
        PathNode {
            calls: f.calls,
            inclusive_ns: f.inclusive_ns,
            self_ns: f.self_ns,
            errors: f.errors,
            children: f
                .children
                .iter()
                .map(|&c| (self.paths[c].name.clone(), self.tree(c)))
                .collect(),
        }
    }
}

/// A system call on a file, kept for the I/O summary until every one is known: what
/// [`io_files`] reads of it (its name, the argument naming the file — the path of an open, the
/// descriptor of the others —, its result), when it acted on the descriptor table (see
/// `fd_table_order`), pid, arrival and duration.
struct IoCall {
    at: (u64, u8),
    pid: u32,
    seq: u32,
    name: &'static str,
    arg: Box<str>,
    ret: Option<i64>,
    failed: bool,
    dur: u64,
}

impl IoCall {
    /// The system call [`io_files`] reads (with the file's argument where it looks for it).
    fn syscall(&self) -> Syscall {
        let mut args = Vec::with_capacity(2);
        if matches!(self.name, "openat" | "openat2") {
            args.push(String::new());
        }
        args.push(self.arg.to_string());
        Syscall {
            name: self.name.to_owned(),
            args,
            raw_args: Vec::new(),
            ret: self.ret,
            errno: self.failed.then(String::new),
            caller: None,
            by_tracer: false,
            startup: None,
        }
    }
}

/// The report's sink.
pub(super) struct ReportSink {
    graph: GraphSink,
    visible: HashSet<Key>,
    end_ns: u64,
    longest: Longest,
    /// Per site id: its `longest` key (name, location) and its longest call so far, folded into
    /// `longest` at the end (sites of the same name and location share a key).
    longest_by_site: Vec<Option<((String, String), u64)>>,
    threads: HashMap<Key, Thread>,
    syscalls: HashMap<(String, String), SyscallRow>,
    lines: HashMap<LineKey, LineRow>,
    io: Vec<IoCall>,
}

impl ReportSink {
    pub(super) fn new(visible: HashSet<Key>, end_ns: u64) -> Self {
        ReportSink {
            graph: GraphSink::new(visible.clone(), end_ns),
            visible,
            end_ns,
            longest: Default::default(),
            longest_by_site: Vec::new(),
            threads: HashMap::default(),
            syscalls: HashMap::default(),
            lines: HashMap::default(),
            io: Vec::new(),
        }
    }

    /// The tables; `threads` are the visible threads in order, with their labels.
    pub(super) fn finish(mut self, threads: &[(Key, String)], processes: &[ProcessInfo]) -> Tables {
        let paths: Vec<ThreadPaths> = threads
            .iter()
            .map(|(key, label)| {
                let root = self
                    .threads
                    .get(key)
                    .filter(|t| !t.paths.is_empty())
                    .map_or_else(PathNode::default, |t| t.tree(0));
                ((key.0, key.1, label.clone()), root)
            })
            .collect();
        let mut syscalls: Vec<SyscallRow> = self.syscalls.into_values().collect();
        sort_syscall_rows(&mut syscalls);
        self.io.sort_unstable_by_key(|c| (c.at, c.pid, c.seq));
        let io = {
            // One system call rebuilt at a time, in the order they acted on descriptors.
            let mut current: Option<Syscall> = None;
            let mut files = crate::merge::report::IoFiles::default();
            for c in &self.io {
                let s = current.insert(c.syscall());
                files.add(c.pid, s, c.dur);
            }
            files.finish()
        };
        for (key, max) in self.longest_by_site.into_iter().flatten() {
            let longest = self.longest.entry(key).or_insert(0);
            *longest = (*longest).max(max);
        }
        Tables {
            graph: self.graph.finish(),
            longest: self.longest,
            rate: crate::merge::hotspots::sample_rate_of(processes),
            paths,
            syscalls,
            lines: sort_rows(self.lines.into_values().collect()),
            io,
        }
    }
}

impl NodeSink for ReportSink {
    fn node(&mut self, key: Key, node: &Node, close: bool, sites: &[Site]) -> io::Result<()> {
        if !self.visible.contains(&key) {
            return Ok(());
        }
        self.graph.node(key, node, close, sites)?;
        let th = self.threads.entry(key).or_default();
        if th.paths.is_empty() {
            th.paths.push(Flat::default());
        }
        let parent = th.stack.last().map_or(0, |o| o.path);
        let duration = node.duration(self.end_ns);
        match &node.kind {
            NodeKind::Call(c) if !close => {
                let name = &sites[c.site as usize].name;
                let p = th.child(parent, name);
                th.paths[p].calls += 1;
                th.stack.push(Open {
                    path: p,
                    site: c.site,
                    children: 0,
                });
            }
            NodeKind::Call(c) => {
                let Some(open) = th.stack.pop() else {
                    return Ok(());
                };
                let f = &mut th.paths[open.path];
                f.inclusive_ns += duration;
                f.self_ns += duration.saturating_sub(open.children);
                if c.ret.as_ref().is_some_and(|r| r.is_error()) {
                    f.errors += 1;
                }
                if let Some(up) = th.stack.last_mut() {
                    up.children += duration;
                }
                let i = open.site as usize;
                if self.longest_by_site.len() <= i {
                    self.longest_by_site.resize(i + 1, None);
                }
                let (_, longest) = self.longest_by_site[i].get_or_insert_with(|| {
                    let site = &sites[i];
                    ((site.name.clone(), site.location.to_string()), 0)
                });
                *longest = (*longest).max(duration);
            }
            NodeKind::Syscall(s) => {
                let p = th.child(parent, &format!("{} [syscall]", s.name));
                let f = &mut th.paths[p];
                f.calls += 1;
                f.inclusive_ns += duration;
                f.self_ns += duration;
                f.errors += u64::from(s.errno.is_some());
                let function = th.stack.last().map_or_else(
                    || "(top level)".to_string(),
                    |o| sites[o.site as usize].name.clone(),
                );
                if let Some(up) = th.stack.last_mut() {
                    up.children += duration;
                }
                let row = self
                    .syscalls
                    .entry((function, s.name.clone()))
                    .or_insert_with_key(|(function, name)| SyscallRow {
                        function: function.clone(),
                        syscall: name.clone(),
                        count: 0,
                        errors: 0,
                        total_ns: 0,
                    });
                row.count += 1;
                row.errors += u64::from(s.errno.is_some());
                row.total_ns += duration;
                let lk = line_key(s);
                let line =
                    self.lines
                        .entry(lk)
                        .or_insert_with_key(|(location, function, inferred)| LineRow {
                            location: location.clone(),
                            function: function.clone(),
                            inferred: *inferred,
                            ..LineRow::default()
                        });
                line.calls += 1;
                line.errors += u64::from(s.errno.is_some());
                line.total_ns += duration;
                *line.by_name.entry(s.name.clone()).or_insert(0) += 1;
                if let Some(name) = io_name(&s.name) {
                    let at = usize::from(matches!(name, "openat" | "openat2"));
                    self.io.push(IoCall {
                        at: fd_table_order(name, node.start_ns, node.end_ns),
                        pid: key.0,
                        seq: self.io.len() as u32,
                        name,
                        arg: s
                            .args
                            .get(at)
                            .map_or_else(Box::default, |a| a.as_str().into()),
                        ret: s.ret,
                        failed: s.errno.is_some(),
                        dur: duration,
                    });
                }
            }
            NodeKind::Point { .. } => {}
        }
        Ok(())
    }
}
