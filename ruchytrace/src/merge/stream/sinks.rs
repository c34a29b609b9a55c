//! Where a one-pass replay sends its nodes for the streamed formats: Perfetto packets, folded
//! stacks, and one thread of the merged JSON document.

use rustc_hash::FxHashMap as HashMap;
use std::io::{self, Write};

use ruchytrace_runtime::model::Site;

use super::{Key, NodeSink};
use crate::merge::json::{self, Nested};
use crate::merge::{Node, NodeKind};

/// The Perfetto writer as a replay's sink.
pub(super) struct PerfettoSink<'s, 'w> {
    pub(super) seq: &'s mut crate::merge::perfetto::Sequence<'w>,
    pub(super) visible: rustc_hash::FxHashSet<Key>,
    pub(super) end_ns: u64,
    pub(super) losses: HashMap<u32, Vec<(u64, i64)>>,
}

impl NodeSink for PerfettoSink<'_, '_> {
    fn node(&mut self, key: Key, node: &Node, close: bool, sites: &[Site]) -> io::Result<()> {
        if !self.visible.contains(&key) {
            return Ok(());
        }
        crate::merge::perfetto::write_node(
            self.seq,
            key,
            node,
            close,
            sites,
            self.end_ns,
            None,
            &mut self.losses,
        )
    }
}

/// An open call of [`FoldedSink`]: where its frame starts in the path, its start, and its
/// children's time so far.
type OpenFrame = (usize, u64, u64);

/// Folded stacks from a replay: per thread the current path and, per open call, where its frame
/// starts in the path, its start and its children's time.
pub(super) struct FoldedSink {
    pub(super) roots: HashMap<Key, String>,
    pub(super) stacks: HashMap<Key, (String, Vec<OpenFrame>)>,
    pub(super) weights: HashMap<String, u64>,
    pub(super) end_ns: u64,
}

impl FoldedSink {
    fn add(&mut self, path: &str, w: u64) {
        if w == 0 {
            return;
        }
        match self.weights.get_mut(path) {
            Some(x) => *x += w,
            None => {
                self.weights.insert(path.to_owned(), w);
            }
        }
    }
}

impl NodeSink for FoldedSink {
    fn node(&mut self, key: Key, node: &Node, close: bool, sites: &[Site]) -> io::Result<()> {
        let Some(root) = self.roots.get(&key) else {
            return Ok(());
        };
        let (mut path, mut stack) = self
            .stacks
            .remove(&key)
            .unwrap_or_else(|| (root.clone(), Vec::new()));
        let duration = node.duration(self.end_ns);
        match &node.kind {
            NodeKind::Call(c) if !close => {
                stack.push((path.len(), node.start_ns, 0));
                path.push(';');
                path.push_str(&crate::merge::flame::frame(&sites[c.site as usize].name));
            }
            NodeKind::Call(_) => {
                if let Some((base, _, children)) = stack.pop() {
                    self.add(&path, duration.saturating_sub(children));
                    path.truncate(base);
                    if let Some(parent) = stack.last_mut() {
                        parent.2 += duration;
                    }
                }
            }
            NodeKind::Syscall(s) => {
                let base = path.len();
                // An inferred caller is its own (distinct, `~`-marked) frame above the syscall,
                // as in the tree version (`flame::folded`).
                if let Some(c) = s.caller.as_ref().filter(|c| c.inferred) {
                    path.push(';');
                    path.push_str(&crate::merge::flame::frame(&c.frame_name()));
                }
                path.push_str(";syscall::");
                path.push_str(&crate::merge::flame::frame(&s.name));
                self.add(&path, duration);
                path.truncate(base);
                if let Some(parent) = stack.last_mut() {
                    parent.2 += duration;
                }
            }
            NodeKind::Point { .. } => {}
        }
        self.stacks.insert(key, (path, stack));
        Ok(())
    }
}

/// One thread's events of the merged JSON document, written as the replay reads them (the
/// other threads' nodes are ignored).
pub(super) struct JsonSink<'w> {
    pub(super) key: Key,
    pub(super) out: &'w mut dyn Write,
    pub(super) buf: String,
    pub(super) nest: Nested,
    /// Also given this thread's nodes: the call graph at the document's end.
    pub(super) graph: Option<&'w mut super::graph::GraphSink>,
    /// Per site id, the start of its call objects ([`json::call_head`]).
    pub(super) heads: Vec<Option<Box<str>>>,
}

impl NodeSink for JsonSink<'_> {
    fn node(&mut self, key: Key, node: &Node, close: bool, sites: &[Site]) -> io::Result<()> {
        if key != self.key {
            return Ok(());
        }
        if let Some(g) = self.graph.as_deref_mut() {
            g.node(key, node, close, sites)?;
        }
        match &node.kind {
            NodeKind::Call(c) if close => json::call_close(
                &mut self.buf,
                &sites[c.site as usize],
                node,
                c,
                &mut self.nest,
            ),
            NodeKind::Call(c) => {
                let i = c.site as usize;
                if self.heads.len() <= i {
                    self.heads.resize(i + 1, None);
                }
                let head = self.heads[i].get_or_insert_with(|| {
                    let mut h = String::new();
                    json::call_head(&mut h, &sites[i]);
                    h.into_boxed_str()
                });
                self.nest.element(&mut self.buf);
                self.buf.push_str(head);
                json::call_rest(&mut self.buf, &sites[i], node, c, None, &mut self.nest);
            }
            _ => json::leaf(&mut self.buf, node, &mut self.nest),
        }
        if self.buf.len() > 1 << 16 {
            self.out.write_all(self.buf.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }
}

/// The Chrome trace writer as a replay's sink (the visible threads only).
pub(super) struct ChromeNodes<'s, 'w> {
    pub(super) sink: &'s mut crate::merge::chrome::ChromeSink<'w>,
    pub(super) visible: rustc_hash::FxHashSet<Key>,
}

impl NodeSink for ChromeNodes<'_, '_> {
    fn node(&mut self, key: Key, node: &Node, close: bool, sites: &[Site]) -> io::Result<()> {
        if !self.visible.contains(&key) {
            return Ok(());
        }
        self.sink.node(key, node, close, sites, None)
    }
}

/// The OTLP writer of one process as a replay's sink (it ignores the other processes' threads).
pub(super) struct OtlpNodes<'s, 'w> {
    pub(super) sink: &'s mut crate::merge::otlp::OtlpSink<'w>,
}

impl NodeSink for OtlpNodes<'_, '_> {
    fn node(&mut self, key: Key, node: &Node, close: bool, sites: &[Site]) -> io::Result<()> {
        self.sink.node(key, node, close, sites, None)
    }
}
