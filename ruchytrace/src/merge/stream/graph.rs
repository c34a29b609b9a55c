//! The call graph ([`CallGraph`]) from one replay instead of the tree: what `dot` draws.
//!
//! The tree walk counts a node when it enters it (calls, edge from its caller) and adds its
//! times then; the replay learns a call's duration only at its exit, so it counts at the entry
//! and adds the times at the exit, with the same rules: inclusive time only for the outermost
//! activation of a function on its thread, self time = duration - children's durations, the
//! total of the top-level nodes.

use rustc_hash::FxHashMap as HashMap;
use std::io;

use ruchytrace_runtime::model::Site;

use super::{Key, NodeSink};
use crate::merge::report::{CallGraph, GraphNode, Kind};
use crate::merge::{Node, NodeKind};

/// An open call: its graph node, its caller's, whether it is the outermost activation, and
/// its children's time so far.
struct Open {
    node: usize,
    caller: usize,
    outermost: bool,
    children: u64,
}

/// The call graph sink.
pub(super) struct GraphSink {
    pub(super) visible: rustc_hash::FxHashSet<Key>,
    pub(super) end_ns: u64,
    nodes: Vec<GraphNode>,
    index: HashMap<(Kind, String, Option<String>), usize>,
    edges: HashMap<(usize, usize), u64>,
    total: u64,
    threads: HashMap<Key, (Vec<Open>, HashMap<usize, u32>)>,
    /// The graph node of each site id met so far (a site's name and location never change).
    by_site: Vec<Option<usize>>,
}

impl GraphSink {
    pub(super) fn new(visible: rustc_hash::FxHashSet<Key>, end_ns: u64) -> Self {
        GraphSink {
            visible,
            end_ns,
            nodes: vec![GraphNode {
                kind: Kind::Root,
                name: "(top level)".into(),
                location: None,
                calls: 0,
                inclusive_ns: 0,
                self_ns: 0,
                errors: 0,
            }],
            index: HashMap::default(),
            edges: HashMap::default(),
            total: 0,
            threads: HashMap::default(),
            by_site: Vec::new(),
        }
    }

    fn graph_node(&mut self, key: (Kind, String, Option<String>)) -> usize {
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.nodes.push(GraphNode {
            kind: key.0,
            name: key.1.clone(),
            location: key.2.clone(),
            calls: 0,
            inclusive_ns: 0,
            self_ns: 0,
            errors: 0,
        });
        self.index.insert(key, self.nodes.len() - 1);
        self.nodes.len() - 1
    }

    /// Forgets the site ids met so far: the next replay builds its own site table.
    pub(super) fn new_replay(&mut self) {
        self.by_site.clear();
    }

    /// The finished graph (edges sorted, like the tree's).
    pub(super) fn finish(mut self) -> CallGraph {
        self.nodes[0].inclusive_ns = self.total;
        let mut edges: Vec<_> = self
            .edges
            .into_iter()
            .map(|((a, b), n)| (a, b, n))
            .collect();
        edges.sort_unstable();
        CallGraph {
            nodes: self.nodes,
            edges,
            total_ns: self.total,
        }
    }
}

impl NodeSink for GraphSink {
    fn node(&mut self, key: Key, node: &Node, close: bool, sites: &[Site]) -> io::Result<()> {
        if !self.visible.contains(&key) {
            return Ok(());
        }
        let (mut stack, mut active) = self.threads.remove(&key).unwrap_or_default();
        let caller = stack.last().map_or(0, |o| o.node);
        let duration = node.duration(self.end_ns);
        match &node.kind {
            NodeKind::Call(c) if !close => {
                let i = c.site as usize;
                if self.by_site.len() <= i {
                    self.by_site.resize(i + 1, None);
                }
                let gi = match self.by_site[i] {
                    Some(gi) => gi,
                    None => {
                        let site = &sites[i];
                        let gi = self.graph_node((
                            Kind::Function,
                            site.name.clone(),
                            Some(site.location.to_string()),
                        ));
                        self.by_site[i] = Some(gi);
                        gi
                    }
                };
                let a = active.entry(gi).or_insert(0);
                let outermost = *a == 0;
                *a += 1;
                self.nodes[gi].calls += 1;
                *self.edges.entry((caller, gi)).or_insert(0) += 1;
                stack.push(Open {
                    node: gi,
                    caller,
                    outermost,
                    children: 0,
                });
            }
            NodeKind::Call(c) => {
                if let Some(o) = stack.pop() {
                    let g = &mut self.nodes[o.node];
                    if o.outermost {
                        g.inclusive_ns += duration;
                    }
                    g.self_ns += duration.saturating_sub(o.children);
                    if c.ret.as_ref().is_some_and(|r| r.is_error()) {
                        g.errors += 1;
                    }
                    if let Some(a) = active.get_mut(&o.node) {
                        *a -= 1;
                    }
                    if o.caller == 0 {
                        self.total += duration;
                    }
                    if let Some(parent) = stack.last_mut() {
                        parent.children += duration;
                    }
                }
            }
            NodeKind::Syscall(s) => {
                let mut caller = caller;
                if let (0, Some(c)) = (caller, s.caller.as_ref().filter(|c| c.inferred)) {
                    // A top-level system call with an inferred caller hangs under that caller
                    // (as in `report::call_graph`).
                    let ii = self.graph_node((
                        Kind::Inferred,
                        c.frame_name(),
                        c.file.as_ref().map(|f| match c.line {
                            Some(l) => format!("{f}:{l}"),
                            None => f.clone(),
                        }),
                    ));
                    self.nodes[ii].calls += 1;
                    self.nodes[ii].inclusive_ns += duration;
                    *self.edges.entry((0, ii)).or_insert(0) += 1;
                    self.total += duration;
                    caller = ii;
                }
                let gi = self.graph_node((Kind::Syscall, s.name.clone(), None));
                let g = &mut self.nodes[gi];
                g.calls += 1;
                g.inclusive_ns += duration;
                g.self_ns += duration;
                if s.errno.is_some() {
                    g.errors += 1;
                }
                *self.edges.entry((caller, gi)).or_insert(0) += 1;
                if caller == 0 {
                    self.total += duration;
                }
                if let Some(parent) = stack.last_mut() {
                    parent.children += duration;
                }
            }
            NodeKind::Point { .. } => {}
        }
        self.threads.insert(key, (stack, active));
        Ok(())
    }
}
