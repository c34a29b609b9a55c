//! The start-up summary: on each thread, the system calls made before its first traced call
//! that belong to no code of the program collapse into one line, in every output of the merge:
//! `… 142 syscalls before main (dynamic loader, runtime start-up), --show-startup to list`.
//!
//! With user stacks (`syscalls -k`) a call is start-up when its stack has no frame of the
//! program's own crates: the dynamic loader (every frame in `ld-linux*.so`), the standard
//! library's runtime set-up before `main`, a thread's start. A call with a frame of the program
//! (its inferred caller) ends the run: it is the program's code, shown. Without stacks nothing
//! tells these apart, so every call before the first traced call counts, and the run is
//! collapsed only when a traced call ends it (a thread that never calls a traced function keeps
//! its calls). The `execve` that starts the program is never part of it.
//!
//! The first run of such calls among a thread's top-level nodes (before its first traced call)
//! is collapsed; the runtime's own calls (tracer traffic) inside the run stay where they are. The
//! tree merge and the streamed text timeline apply the same rule, so their bytes stay equal.

use super::{Merged, Node, NodeKind};
use crate::stack::Frame;

/// `metadata` category of the summary point.
pub const CATEGORY: &str = "startup";

/// What kind of start-up call a system call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Startup {
    /// Its whole stack lies in the dynamic loader.
    Loader,
    /// Its stack has no frame of the program's own crates (the standard library's set-up, libc,
    /// a thread's start).
    Runtime,
    /// No stack: start-up only by its place (before the thread's first traced call).
    Unknown,
}

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

/// The start-up kind of system call `name` with user stack `stack` (`None` without `-k`), or
/// `None` when it is the program's (a frame of its own crates), the runtime's (tracer traffic)
/// or the `execve` that starts the program.
pub fn classify(name: &str, stack: Option<&[Frame]>) -> Option<Startup> {
    match stack {
        None if name == "execve" || name == "execveat" => None,
        None => Some(Startup::Unknown),
        Some(st) if is_startup(st) => Some(Startup::Loader),
        Some(st) if st.iter().any(super::caller::is_own) || super::caller::by_tracer(st) => None,
        Some(_) => Some(Startup::Runtime),
    }
}

/// The kinds of calls a run holds.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Kinds {
    loader: bool,
    runtime: bool,
    unknown: bool,
}

impl Kinds {
    fn add(&mut self, k: Startup) {
        match k {
            Startup::Loader => self.loader = true,
            Startup::Runtime => self.runtime = true,
            Startup::Unknown => self.unknown = true,
        }
    }
}

/// The summary point of `count` collapsed calls starting at `start_ns` (on the process's main
/// thread or another one).
pub fn summary(count: u64, start_ns: u64, kinds: Kinds, main_thread: bool) -> Node {
    let n = format!("{count} syscall{}", if count == 1 { "" } else { "s" });
    let text = if kinds.unknown {
        format!("… {n} before the first traced call, --show-startup to list")
    } else {
        let what = match (kinds.loader, kinds.runtime) {
            (true, true) => "dynamic loader, runtime start-up",
            (true, false) => "dynamic loader",
            _ => "runtime start-up",
        };
        let when = if main_thread {
            "before main"
        } else {
            "at thread start"
        };
        format!("… {n} {when} ({what}), --show-startup to list")
    };
    Node {
        start_ns,
        end_ns: None,
        children: Vec::new(),
        kind: NodeKind::Point {
            category: CATEGORY,
            text,
        },
    }
}

fn kind_of(n: &Node) -> Option<Startup> {
    match &n.kind {
        NodeKind::Syscall(s) if !s.by_tracer => s.startup,
        _ => None,
    }
}

fn by_tracer(n: &Node) -> bool {
    matches!(&n.kind, NodeKind::Syscall(s) if s.by_tracer)
}

fn is_call(n: &Node) -> bool {
    matches!(n.kind, NodeKind::Call(_))
}

/// Collapses the first run of start-up calls of every thread of a merged tree.
pub fn collapse(m: &mut Merged) {
    for ti in 0..m.threads.len() {
        let main_thread = m.threads[ti].pid == m.threads[ti].tid;
        let roots = &m.threads[ti].roots;
        // The run starts at the first start-up call before the first traced call.
        let Some(first) = roots
            .iter()
            .map(|&r| &m.nodes[r as usize])
            .take_while(|n| !is_call(n))
            .position(|n| kind_of(n).is_some())
        else {
            continue;
        };
        let mut kinds = Kinds::default();
        let mut members = Vec::new();
        let mut end = roots.len();
        for (i, &r) in roots.iter().enumerate().skip(first) {
            let n = &m.nodes[r as usize];
            match kind_of(n) {
                Some(k) => {
                    kinds.add(k);
                    members.push(i);
                }
                None if by_tracer(n) => {}
                None => {
                    end = i;
                    break;
                }
            }
        }
        let ended_by_call = end < roots.len() && is_call(&m.nodes[roots[end] as usize]);
        if kinds.unknown && !ended_by_call {
            continue;
        }
        let start_ns = m.nodes[roots[first] as usize].start_ns;
        m.nodes.push(summary(members.len() as u64, start_ns, kinds, main_thread));
        let id = (m.nodes.len() - 1) as u32;
        // The summary stands where the run ends (after the runtime's calls inside it, as the
        // streamed writer, which learns the count there, writes it).
        let roots = &mut m.threads[ti].roots;
        let mut kept = Vec::with_capacity(roots.len() - members.len() + 1);
        let mut members = members.into_iter().peekable();
        for (i, &r) in roots.iter().enumerate() {
            if i == end {
                kept.push(id);
            }
            if members.peek() == Some(&i) {
                members.next();
            } else {
                kept.push(r);
            }
        }
        if end == roots.len() {
            kept.push(id);
        }
        *roots = kept;
    }
}

/// The streamed writer's side: per thread, whether the run is before, in or after.
#[derive(Debug, Clone, PartialEq)]
pub enum Run {
    /// No start-up call seen yet (and no traced call).
    Before {
        /// The thread is its process's main thread.
        main_thread: bool,
    },
    /// Counting: the nodes held back (start-up calls and the runtime's calls among them), how
    /// many are start-up calls, their kinds, the first one's start.
    In {
        /// The thread is its process's main thread.
        main_thread: bool,
        /// Held back, in order.
        held: Vec<Node>,
        /// Start-up calls among `held`.
        count: u64,
        /// Their kinds.
        kinds: Kinds,
    },
    /// The run is over: every later line passes.
    After,
}

impl Run {
    /// A run for a thread (`main_thread`: its process's main thread).
    pub fn new(main_thread: bool) -> Run {
        Run::Before { main_thread }
    }

    /// Feeds one line's node (at `depth`, opening line or not). Returns whether the line is
    /// held back, and the lines (depth 1) to write before it.
    pub fn feed(&mut self, node: &Node, depth: usize, close: bool) -> (bool, Vec<Node>) {
        let top = !close && depth == 1;
        let kind = if top { kind_of(node) } else { None };
        match self {
            Run::After => (false, Vec::new()),
            Run::Before { main_thread } => {
                if let Some(k) = kind {
                    let mut kinds = Kinds::default();
                    kinds.add(k);
                    *self = Run::In {
                        main_thread: *main_thread,
                        held: vec![node.clone()],
                        count: 1,
                        kinds,
                    };
                    (true, Vec::new())
                } else {
                    if top && is_call(node) {
                        *self = Run::After;
                    }
                    (false, Vec::new())
                }
            }
            Run::In {
                held, count, kinds, ..
            } => {
                if let Some(k) = kind {
                    kinds.add(k);
                    *count += 1;
                    held.push(node.clone());
                    return (true, Vec::new());
                }
                if top && by_tracer(node) {
                    held.push(node.clone());
                    return (true, Vec::new());
                }
                (false, self.finish(top && is_call(node)))
            }
        }
    }

    /// At the end of the thread: the lines still owed.
    pub fn end(&mut self) -> Vec<Node> {
        self.finish(false)
    }

    /// Ends the run (`by_call`: a traced call ends it): the summary after the runtime's calls
    /// held, or every held line when the run is not collapsed.
    fn finish(&mut self, by_call: bool) -> Vec<Node> {
        let Run::In {
            main_thread,
            held,
            count,
            kinds,
        } = std::mem::replace(self, Run::After)
        else {
            return Vec::new();
        };
        if kinds.unknown && !by_call {
            return held;
        }
        // The run starts with a start-up call.
        let first_startup = held.first().map_or(0, |n| n.start_ns);
        let mut out: Vec<Node> = held.into_iter().filter(by_tracer).collect();
        out.push(summary(count, first_startup, kinds, main_thread));
        out
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
