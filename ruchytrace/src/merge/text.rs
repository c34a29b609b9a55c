//! The merged text timeline: one indented block per thread, functions and system calls
//! interleaved, times in seconds relative to the first event of the merge.
//!
//! ```text
//! == thread 4242 "main" (pid 4242) ==
//! [0.000012]   -> compute(x=42, y=100) <src/main.rs:15:5>
//! [0.000031]     openat(AT_FDCWD, "/etc/passwd", O_RDONLY) = 3 [4.000us]
//! [0.001234]   <- compute() = 4255 [1.222ms]
//! ```

use std::fmt::Write as _;
use std::io::{self, Write};

use ruchytrace_runtime::duration::write_duration;
use ruchytrace_runtime::model::Return;

use super::{fmt_return, CallEnd, Merged, Node, NodeId, NodeKind};

/// Writes the timeline of every visible thread.
pub fn write(m: &Merged, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut line = String::with_capacity(256);
    for w in &m.warnings {
        writeln!(out, "# warning: {w}")?;
    }
    for t in m.visible_threads(show_tracer) {
        write!(out, "== thread {} \"{}\" (pid {})", t.tid, t.label(), t.pid)?;
        if t.tracer {
            write!(out, " [ruchytrace collector: tracer traffic]")?;
        }
        writeln!(out, " ==")?;
        // The start-up summary: the same rule, fed the same lines, as the streamed writer.
        let mut run = super::startup::Run::new(t.pid == t.tid);
        let startup_line = |n: &Node, line: &mut String, out: &mut dyn Write| {
            line.clear();
            node_open(&LineCtx::of(m), n, 1, line);
            line.push('\n');
            out.write_all(line.as_bytes())
        };
        // Iterative depth-first walk: deep recursion in the trace must not overflow our stack.
        let mut stack: Vec<(NodeId, usize, bool)> =
            t.roots.iter().rev().map(|&r| (r, 1, false)).collect();
        while let Some((id, depth, closing)) = stack.pop() {
            line.clear();
            if closing {
                close_line(m, id, depth, &mut line);
            } else {
                let n = m.node(id);
                if !show_tracer && super::caller::hidden(n) {
                    continue;
                }
                let (held, before) = run.feed(n, depth, false);
                for b in &before {
                    startup_line(b, &mut line, out)?;
                }
                if held {
                    continue;
                }
                line.clear();
                open_line(m, id, depth, &mut line);
                if let NodeKind::Call(_) = n.kind {
                    stack.push((id, depth, true));
                    stack.extend(n.children.iter().rev().map(|&c| (c, depth + 1, false)));
                }
            }
            line.push('\n');
            out.write_all(line.as_bytes())?;
        }
        for b in &run.end() {
            startup_line(b, &mut line, out)?;
        }
    }
    Ok(())
}

/// What a line needs besides its node: the time origin, the end of the trace and the sites.
pub(crate) struct LineCtx<'a> {
    pub(crate) origin_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) sites: &'a [ruchytrace_runtime::model::Site],
}

impl<'a> LineCtx<'a> {
    fn of(m: &'a Merged) -> LineCtx<'a> {
        LineCtx {
            origin_ns: m.origin_ns,
            end_ns: m.end_ns,
            sites: &m.sites,
        }
    }
}

fn stamp(m: &LineCtx, ts: u64, depth: usize, out: &mut String) {
    let rel = ts.saturating_sub(m.origin_ns);
    let _ = write!(
        out,
        "[{}.{:06}] ",
        rel / 1_000_000_000,
        (rel % 1_000_000_000) / 1_000
    );
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// The line of a node (the enter line of a call).
pub fn open_line(m: &Merged, id: NodeId, depth: usize, out: &mut String) {
    node_open(&LineCtx::of(m), m.node(id), depth, out);
    // A resumed poll says which poll it is, and where the future ran before when it moved.
    if let Some((f, k)) = m.futures.of(id).filter(|&(_, k)| k > 0) {
        let _ = write!(out, " (poll {}", k + 1);
        let (prev, _) = f.polls[k - 1];
        let (here, _) = f.polls[k];
        if prev != here {
            let _ = write!(out, ", moved from thread {prev}");
        }
        out.push(')');
    }
}

/// The line of a node, from the node itself (the streaming writer has no tree).
pub(crate) fn node_open(m: &LineCtx, n: &Node, depth: usize, out: &mut String) {
    stamp(m, n.start_ns, depth, out);
    match &n.kind {
        NodeKind::Call(c) => {
            let site = &m.sites[c.site as usize];
            out.push_str(if c.resumed { "~> " } else { "-> " });
            out.push_str(&site.name);
            out.push('(');
            for (i, v) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match site.args.get(i) {
                    Some(a) => out.push_str(&a.name),
                    None => {
                        let _ = write!(out, "arg{i}");
                    }
                }
                let _ = write!(out, "={v}");
            }
            let _ = write!(out, ") <{}>", site.location);
        }
        NodeKind::Syscall(s) => {
            let _ = write!(out, "{}({}) = {}", s.name, s.args.join(", "), fmt_return(s));
            if let Some(e) = n.end_ns {
                bracketed_duration(out, e.saturating_sub(n.start_ns));
            } else {
                out.push_str(" <unfinished>");
            }
            if let Some(c) = &s.caller {
                // At the top level no traced call encloses it: the caller is inferred (the
                // streaming writer has no tree, so the depth decides for both writers).
                let c = super::caller::Caller {
                    inferred: depth <= 1,
                    ..c.clone()
                };
                out.push(' ');
                out.push_str(&c.text());
            }
        }
        NodeKind::Point { category, text } => match *category {
            "instant" => {
                let _ = write!(out, "** {text}");
            }
            "loss" => {
                let _ = write!(out, "!! {text}");
            }
            _ => out.push_str(text),
        },
    }
}

/// The exit line of a call.
pub fn close_line(m: &Merged, id: NodeId, depth: usize, out: &mut String) {
    node_close(&LineCtx::of(m), m.node(id), depth, out);
    // The exit of a future that took several polls shows its whole lifetime (first poll to
    // completion) instead of its last poll, then its busy time and threads.
    let Some((f, k)) = m.futures.of(id) else {
        return;
    };
    if f.polls.len() < 2 || k + 1 != f.polls.len() {
        return;
    }
    if let Some(at) = out.rfind(" [") {
        out.truncate(at);
    }
    bracketed_duration(out, f.lifetime_ns());
    out.push_str(" (future: busy ");
    let _ = write_duration(out, f.busy_ns);
    let threads: Vec<String> = f.segment_threads().iter().map(u32::to_string).collect();
    let _ = write!(
        out,
        " in {} polls, threads {})",
        f.polls.len(),
        threads.join(",")
    );
}

/// The exit line of a call, from the node itself.
pub(crate) fn node_close(m: &LineCtx, n: &Node, depth: usize, out: &mut String) {
    let NodeKind::Call(c) = &n.kind else {
        return;
    };
    let name = &m.sites[c.site as usize].name;
    stamp(m, n.end_ns.unwrap_or(m.end_ns), depth, out);
    match c.end {
        CallEnd::Open => {
            let _ = write!(out, "<- {name}() <unfinished at end of trace>");
            return;
        }
        CallEnd::Suspended => {
            let _ = write!(out, "<~ {name}() suspended");
        }
        CallEnd::ExitLost => {
            let _ = write!(out, "<- {name}() <exit lost>");
        }
        CallEnd::Returned => {
            let _ = write!(out, "<- {name}()");
            match &c.ret {
                Some(Return::Value(v)) if *v != ruchytrace_runtime::model::Value::Unit => {
                    let _ = write!(out, " = {v}");
                }
                Some(Return::Panic { message }) => {
                    let _ = write!(out, " = <panic: {:?}>", message.as_deref().unwrap_or("?"));
                }
                Some(Return::Cancelled) => out.push_str(" = <cancelled>"),
                _ => {}
            }
        }
    }
    bracketed_duration(out, n.duration(m.end_ns));
}

/// ` [1.222ms]`.
fn bracketed_duration(out: &mut String, ns: u64) {
    out.push_str(" [");
    let _ = write_duration(out, ns);
    out.push(']');
}
