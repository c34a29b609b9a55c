//! The call graph in Graphviz DOT: functions (boxes) and system calls (ellipses), edges labelled
//! with call counts, nodes with call count, inclusive time and percent of the traced time.

use std::io::{self, Write};

use ruchytrace_runtime::duration::fmt_duration;

use super::report::{call_graph, CallGraph, Kind};
use super::Merged;

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Writes the graph of `m`.
pub fn write(m: &Merged, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
    write_graph(&call_graph(m, show_tracer), out)
}

/// Writes a call graph computed elsewhere (the streamed merge).
pub fn write_graph(g: &CallGraph, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "digraph ruchytrace {{")?;
    writeln!(out, "  rankdir=LR;")?;
    writeln!(out, "  node [fontname=\"monospace\"];")?;
    for (i, n) in g.nodes.iter().enumerate() {
        let shape = match n.kind {
            Kind::Root => "house",
            Kind::Function => "box",
            Kind::Syscall => "ellipse",
            Kind::Inferred => "box",
        };
        let label = match n.kind {
            Kind::Root => format!("{}\\n{}", n.name, fmt_duration(n.inclusive_ns)),
            _ => format!(
                "{}\\n{} calls\\n{} ({:.1}%)\\nself {}",
                esc(&n.name),
                n.calls,
                fmt_duration(n.inclusive_ns),
                g.percent(n.inclusive_ns),
                fmt_duration(n.self_ns)
            ),
        };
        let style = match n.kind {
            Kind::Syscall => ", style=filled, fillcolor=\"#e8f0ff\"",
            // Inferred from stacks, not traced: drawn apart.
            Kind::Inferred => ", style=dashed",
            _ => "",
        };
        writeln!(out, "  n{i} [shape={shape}, label=\"{label}\"{style}];")?;
    }
    for (a, b, c) in &g.edges {
        writeln!(out, "  n{a} -> n{b} [label=\"{c}\"];")?;
    }
    writeln!(out, "}}")?;
    out.flush()
}
