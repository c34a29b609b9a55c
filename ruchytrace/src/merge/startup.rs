//! The start-up summary: on each thread, the system calls made before its first traced call
//! that belong to no code of the program collapse into one line in the text timeline (other
//! outputs keep every call; `--show-startup` lists them in the text too):
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
//! is collapsed; the runtime's own calls (tracer traffic) inside the run stay where they are,
//! before the summary. The tree's text writer and the streamed one feed their lines to the same
//! [`Run`], so their bytes stay equal.

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

/// Clears the start-up marks of a merged tree (`--show-startup`: nothing is collapsed).
pub fn unmark(m: &mut Merged) {
    for n in &mut m.nodes {
        if let NodeKind::Syscall(s) = &mut n.kind {
            s.startup = None;
        }
    }
}

/// The text timeline's state for one thread (tree and streamed writers alike): whether the run
/// is before, in or after.
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
    use crate::merge::Syscall;
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

    fn own(function: &str, file: &str) -> Frame {
        Frame {
            function: Some(function.into()),
            file: Some(file.into()),
            line: Some(3),
            ..frame("/tmp/app")
        }
    }

    /// A node of kind `k`: `L`oader, `R`untime, `U`nknown (no stack), `O`wn (the program's),
    /// `T`racer, `C`all.
    fn node(ts: u64, k: char) -> Node {
        if k == 'C' {
            return Node {
                start_ns: ts,
                end_ns: Some(ts + 1),
                children: Vec::new(),
                kind: NodeKind::Call(crate::merge::Call {
                    site: 0,
                    args: vec![],
                    ret: None,
                    end: crate::merge::CallEnd::Returned,
                    resumed: false,
                    call_id: None,
                }),
            };
        }
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
                by_tracer: k == 'T',
                startup: match k {
                    'L' => Some(Startup::Loader),
                    'R' => Some(Startup::Runtime),
                    'U' => Some(Startup::Unknown),
                    _ => None,
                },
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
    fn classify_by_stack_and_name() {
        let ld = frame("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
        let libc = frame("/usr/lib/x86_64-linux-gnu/libc.so.6");
        let std_init = Frame {
            function: Some("std::rt::lang_start_internal".into()),
            file: Some("library/std/src/rt.rs".into()),
            ..frame("/tmp/app")
        };
        assert_eq!(classify("mmap", Some(&[ld])), Some(Startup::Loader));
        assert_eq!(
            classify("poll", Some(&[libc.clone(), std_init.clone()])),
            Some(Startup::Runtime)
        );
        assert_eq!(
            classify(
                "openat",
                Some(&[libc.clone(), own("app::main", "src/main.rs"), std_init])
            ),
            None,
            "a frame of the program's own code: the program's call"
        );
        assert_eq!(
            classify(
                "openat",
                Some(&[
                    libc,
                    own("ruchytrace_runtime::file::create", "src/file.rs"),
                    own("app::main", "src/main.rs"),
                ])
            ),
            None,
            "the runtime's call (tracer traffic)"
        );
        assert_eq!(classify("openat", None), Some(Startup::Unknown));
        assert_eq!(
            classify("execve", None),
            None,
            "the program's start is shown"
        );
    }

    /// Feeds `kinds` (see [`node`]) at the top level of a thread to a [`Run`]: the lines written,
    /// as start times with the summary as `S…`, and the summary's text.
    fn both(kinds: &str, main_thread: bool) -> (Vec<String>, Option<String>) {
        let nodes: Vec<Node> = kinds
            .chars()
            .enumerate()
            .map(|(i, k)| node(10 * i as u64, k))
            .collect();
        let mut text = None;
        let mut show = |n: &Node| match &n.kind {
            NodeKind::Point { text: t, .. } => {
                text = Some(t.clone());
                format!("S{}", n.start_ns)
            }
            _ => n.start_ns.to_string(),
        };
        let mut run = Run::new(main_thread);
        let mut lines = Vec::new();
        for n in &nodes {
            let (held, before) = run.feed(n, 1, false);
            lines.extend(before.iter().map(&mut show));
            if !held {
                lines.push(show(n));
            }
        }
        lines.extend(run.end().iter().map(&mut show));
        (lines, text)
    }

    #[test]
    fn the_first_run_before_a_traced_call_collapses() {
        // execve (shown), loader and runtime calls with a runtime call inside (kept in place),
        // a traced call, a later start-up-like call (after the first traced call: shown).
        let (lines, text) = both("OLLTRCR", true);
        assert_eq!(lines, ["0", "30", "S10", "50", "60"]);
        assert_eq!(
            text.as_deref(),
            Some("… 3 syscalls before main (dynamic loader, runtime start-up), --show-startup to list")
        );
        // A call of the program's own code ends the run; what follows is not collapsed.
        let (lines, text) = both("LLOL", true);
        assert_eq!(lines, ["S0", "20", "30"]);
        assert_eq!(
            text.as_deref(),
            Some("… 2 syscalls before main (dynamic loader), --show-startup to list")
        );
        // Another thread: its start.
        let (lines, text) = both("RC", false);
        assert_eq!(lines, ["S0", "10"]);
        assert_eq!(
            text.as_deref(),
            Some("… 1 syscall at thread start (runtime start-up), --show-startup to list")
        );
        // A run with stacks at the end of a thread is collapsed.
        assert_eq!(both("OLL", true).0, ["0", "S10"]);
    }

    #[test]
    fn without_stacks_only_a_run_ended_by_a_traced_call_collapses() {
        let (lines, text) = both("OUUTUC", true);
        assert_eq!(lines, ["0", "30", "S10", "50"]);
        assert_eq!(
            text.as_deref(),
            Some("… 3 syscalls before the first traced call, --show-startup to list")
        );
        // A thread that never calls a traced function keeps its calls.
        assert_eq!(both("UUU", false).0, ["0", "10", "20"]);
        // Nor does a run that something else ends.
        assert_eq!(both("UUOC", true).0, ["0", "10", "20", "30"]);
        // Nothing before the first traced call: nothing collapsed after it.
        assert_eq!(both("CUU", true).0, ["0", "10", "20"]);
    }
}
