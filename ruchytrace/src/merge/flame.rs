//! Flame graphs: folded stacks (`thread;outer;inner;syscall count`, one line per distinct stack,
//! weighted by self time in nanoseconds) and an SVG rendered from them by `inferno`.
//!
//! The first frame is the thread (`main [4242]`); system calls are leaf frames named
//! `syscall::NAME` so they stand out from functions of the same name.

use std::collections::HashMap;
use std::io::{self, Write};

use super::{Merged, NodeId, NodeKind};

/// A frame name without the characters that the folded format reserves.
pub(crate) fn frame(name: &str) -> String {
    name.replace(';', ":").replace('\n', " ")
}

/// The folded stacks with their self-time weights, sorted by stack.
pub fn folded(m: &Merged, show_tracer: bool) -> Vec<(String, u64)> {
    let mut weights: HashMap<String, u64> = HashMap::new();
    for t in m.visible_threads(show_tracer) {
        let root = frame(&format!("{} [{}]", t.label(), t.tid));
        // (node, length of `path` before this node's frame was appended)
        let mut path = root.clone();
        let mut stack: Vec<(NodeId, usize)> =
            t.roots.iter().rev().map(|&r| (r, root.len())).collect();
        while let Some((id, base)) = stack.pop() {
            let n = m.node(id);
            let name = match &n.kind {
                NodeKind::Call(c) => frame(&m.site(c).name),
                // An inferred caller is its own (distinct, `~`-marked) frame above the syscall.
                NodeKind::Syscall(s) => match &s.caller {
                    Some(c) if c.inferred => {
                        format!("{};syscall::{}", frame(&c.frame_name()), frame(&s.name))
                    }
                    _ => format!("syscall::{}", frame(&s.name)),
                },
                NodeKind::Point { .. } => continue,
            };
            path.truncate(base);
            path.push(';');
            path.push_str(&name);
            let w = m.self_time(id);
            if w > 0 {
                *weights.entry(path.clone()).or_insert(0) += w;
            }
            let len = path.len();
            stack.extend(n.children.iter().rev().map(|&c| (c, len)));
        }
    }
    let mut out: Vec<_> = weights.into_iter().collect();
    out.sort_unstable();
    out
}

/// Writes the folded stacks.
pub fn write_collapsed(m: &Merged, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
    write_folded(&folded(m, show_tracer), out)
}

/// Writes folded stacks computed elsewhere (the streamed merge).
pub fn write_folded(folded: &[(String, u64)], out: &mut dyn Write) -> io::Result<()> {
    for (stack, w) in folded {
        writeln!(out, "{stack} {w}")?;
    }
    out.flush()
}

/// Writes an SVG flame graph.
pub fn write_svg(m: &Merged, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
    write_svg_folded(folded(m, show_tracer), out)
}

/// Writes an SVG flame graph of folded stacks computed elsewhere (the streamed merge).
pub fn write_svg_folded(folded: Vec<(String, u64)>, out: &mut dyn Write) -> io::Result<()> {
    let lines: Vec<String> = folded
        .into_iter()
        .map(|(s, w)| format!("{s} {w}"))
        .collect();
    let mut opts = inferno::flamegraph::Options::default();
    opts.title = "ruchytrace: functions and system calls (self time)".into();
    opts.count_name = "ns".into();
    if lines.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "nothing to draw: the merged trace has no timed calls",
        ));
    }
    inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), out)
        .map_err(|e| io::Error::other(e.to_string()))
}
