//! The start-up summary: on each thread, the system calls of the dynamic loader (made before
//! `main`: their whole user stack lies in `ld-linux*.so`, `syscalls -k`) collapse into one line,
//! `… 142 syscalls before main (dynamic loader), --show-startup to list`, in every output of the
//! merge. Without stacks nothing is collapsed: nothing tells the loader's calls apart then.
//!
//! The first unbroken run of such calls among a thread's top-level nodes is collapsed; the tree
//! merge and the streamed text timeline apply the same rule, so their bytes stay equal.

use super::{Merged, Node, NodeKind};
use crate::stack::Frame;

/// `metadata` category of the summary point.
pub const CATEGORY: &str = "startup";

/// Whether a module path is the dynamic loader (`/lib64/ld-linux-x86-64.so.2`, `ld-musl-*.so`).
fn is_loader(module: &str) -> bool {
    let name = module.rsplit('/').next().unwrap_or(module);
    name.starts_with("ld-linux") || name.starts_with("ld-musl") || name.starts_with("ld.so")
}

/// Whether a stack shows a call made by the dynamic loader before `main`: every frame lies in
/// the loader (its `_start` has no caller).
pub fn is_startup(stack: &[Frame]) -> bool {
    !stack.is_empty()
        && stack
            .iter()
            .all(|f| f.module.as_deref().is_some_and(is_loader))
}

/// The summary point of `count` collapsed calls starting at `start_ns`.
pub fn summary(count: u64, start_ns: u64) -> Node {
    Node {
        start_ns,
        end_ns: None,
        children: Vec::new(),
        kind: NodeKind::Point {
            category: CATEGORY,
            text: format!(
                "… {count} syscall{} before main (dynamic loader), --show-startup to list",
                if count == 1 { "" } else { "s" }
            ),
        },
    }
}

fn startup_syscall(n: &Node) -> bool {
    matches!(&n.kind, NodeKind::Syscall(s) if s.startup)
}

/// Collapses the first run of start-up calls of every thread of a merged tree.
pub fn collapse(m: &mut Merged) {
    for ti in 0..m.threads.len() {
        let roots = &m.threads[ti].roots;
        let Some(first) = roots
            .iter()
            .position(|&r| startup_syscall(&m.nodes[r as usize]))
        else {
            continue;
        };
        let len = roots[first..]
            .iter()
            .take_while(|&&r| startup_syscall(&m.nodes[r as usize]))
            .count();
        let start_ns = m.nodes[roots[first] as usize].start_ns;
        m.nodes.push(summary(len as u64, start_ns));
        let id = (m.nodes.len() - 1) as u32;
        m.threads[ti].roots.splice(first..first + len, [id]);
    }
}

/// The streamed writer's side: per thread, whether the run is before, in or after.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// No start-up call seen yet.
    #[default]
    Before,
    /// Counting: how many, and the first one's start.
    In(u64, u64),
    /// The run is over: every later line passes.
    After,
}

impl Run {
    /// Feeds one line's node (at `depth`, opening line or not). Returns whether the line is
    /// swallowed, and the summary to write before it when the run just ended.
    pub fn feed(&mut self, node: &Node, depth: usize, close: bool) -> (bool, Option<Node>) {
        let startup = !close && depth == 1 && startup_syscall(node);
        match (*self, startup) {
            (Run::After, _) => (false, None),
            (Run::Before, true) => {
                *self = Run::In(1, node.start_ns);
                (true, None)
            }
            (Run::Before, false) => (false, None),
            (Run::In(n, first), true) => {
                *self = Run::In(n + 1, first);
                (true, None)
            }
            (Run::In(n, first), false) => {
                *self = Run::After;
                (false, Some(summary(n, first)))
            }
        }
    }

    /// At the end of the thread: the summary still owed, if any.
    pub fn end(&mut self) -> Option<Node> {
        match std::mem::replace(self, Run::After) {
            Run::In(n, first) => Some(summary(n, first)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::{Syscall, ThreadTrack};
    use crate::stack::Unwound;

    fn frame(module: &str) -> Frame {
        Frame {
            pc: 1,
            module: Some(module.into()),
            module_address: None,
            function: None,
            symbol: None,
            symbol_offset: None,
            file: None,
            line: None,
            inlined: false,
            unwound: Unwound::Cfi,
            file_offset: None,
        }
    }

    fn sys(ts: u64, startup: bool) -> Node {
        Node {
            start_ns: ts,
            end_ns: Some(ts + 1),
            children: Vec::new(),
            kind: NodeKind::Syscall(Syscall {
                name: "openat".into(),
                args: vec![],
                raw_args: vec![],
                ret: Some(3),
                errno: None,
                caller: None,
                by_tracer: false,
                startup,
            }),
        }
    }

    #[test]
    fn loader_only_stacks_are_startup() {
        let ld = frame("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        assert!(is_startup(&[ld.clone(), ld.clone()]));
        assert!(!is_startup(&[ld.clone(), frame("/usr/lib/libc.so.6")]));
        assert!(!is_startup(&[]));
        assert!(is_startup(&[frame("/lib/ld-musl-x86_64.so.1")]));
    }

    #[test]
    fn tree_and_stream_collapse_the_same_first_run() {
        // execve (not startup), three loader calls, a program call, a later loader call.
        let flags = [false, true, true, true, false, true];
        let nodes: Vec<Node> = flags
            .iter()
            .enumerate()
            .map(|(i, &s)| sys(10 * i as u64, s))
            .collect();
        let mut m = Merged {
            sources: vec![],
            processes: vec![],
            threads: vec![ThreadTrack {
                pid: 1,
                tid: 1,
                name: None,
                tracer: false,
                roots: (0..nodes.len() as u32).collect(),
            }],
            nodes: nodes.clone(),
            sites: vec![],
            origin_ns: 0,
            end_ns: 100,
            clock: None,
            warnings: vec![],
            futures: Default::default(),
        };
        collapse(&mut m);
        let shown: Vec<u64> = m.threads[0]
            .roots
            .iter()
            .map(|&r| m.nodes[r as usize].start_ns)
            .collect();
        assert_eq!(shown, vec![0, 10, 40, 50]);
        let summary_node = &m.nodes[m.threads[0].roots[1] as usize];
        assert_eq!(
            summary_node.kind,
            NodeKind::Point {
                category: CATEGORY,
                text: "… 3 syscalls before main (dynamic loader), --show-startup to list".into()
            }
        );
        // The streamed writer, line by line.
        let mut run = Run::default();
        let mut out = Vec::new();
        for n in &nodes {
            let (swallow, before) = run.feed(n, 1, false);
            out.extend(before.map(|p| p.start_ns));
            if !swallow {
                out.push(n.start_ns);
            }
        }
        out.extend(run.end().map(|p| p.start_ns));
        assert_eq!(out, shown);
    }
}
