//! `report --syscalls --by-line`: system calls grouped by the source line that made them (the
//! caller found in their user stacks, `syscalls -k`), with counts, errors and time.
//!
//! ```text
//! line                         function              calls  errors       time  syscalls
//! src/log.rs:42                app::log::flush          12       0    1.200ms  write×12
//! ~src/main.rs:10              ~app::setup               3       1   40.000us  openat×3
//! (no own frame)                                       340       2    2.100ms  mmap×120 …
//! ```
//!
//! Lines of inferred callers (no traced call encloses the system call) are marked with `~`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use ruchytrace_runtime::duration::fmt_duration;

use super::{Merged, NodeKind};

/// One row: the system calls made from one source line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LineRow {
    /// `file:line`, or `None` for system calls without an own frame (no stack, or only
    /// std/libc/loader frames); shown as `(no own frame)`.
    pub location: Option<String>,
    /// The function around that line.
    pub function: Option<String>,
    /// No traced call enclosed these calls.
    pub inferred: bool,
    /// Number of system calls.
    pub calls: u64,
    /// How many failed.
    pub errors: u64,
    /// Total time inside them.
    pub total_ns: u64,
    /// Count per system call name.
    pub by_name: BTreeMap<String, u64>,
}

/// Rows for every visible thread, most time first (the `(no own frame)` row last); the
/// runtime's own calls only with `show_tracer`.
pub fn by_line(m: &Merged, show_tracer: bool) -> Vec<LineRow> {
    let mut rows: HashMap<(Option<String>, Option<String>, bool), LineRow> = HashMap::new();
    for t in m.visible_threads(show_tracer) {
        let mut stack: Vec<u32> = t.roots.clone();
        while let Some(id) = stack.pop() {
            let n = m.node(id);
            stack.extend(n.children.iter().copied());
            let NodeKind::Syscall(s) = &n.kind else {
                continue;
            };
            if s.by_tracer && !show_tracer {
                continue;
            }
            let key = line_key(s);
            let row = rows.entry(key.clone()).or_insert_with(|| LineRow {
                location: key.0.clone(),
                function: key.1.clone(),
                inferred: key.2,
                ..LineRow::default()
            });
            row.calls += 1;
            row.errors += u64::from(s.errno.is_some());
            row.total_ns += n.duration(m.end_ns);
            *row.by_name.entry(s.name.clone()).or_insert(0) += 1;
        }
    }
    sort_rows(rows.into_values().collect())
}

/// The key of a system call's row: its caller's line and function, inferred or not.
pub(crate) type LineKey = (Option<String>, Option<String>, bool);

/// The row key of a system call.
pub(crate) fn line_key(s: &super::Syscall) -> LineKey {
    match &s.caller {
        Some(c) => (
            Some(match (&c.file, c.line) {
                (Some(f), Some(l)) => format!("{f}:{l}"),
                (Some(f), None) => f.clone(),
                _ => "?".into(),
            }),
            Some(c.function.clone()),
            c.inferred,
        ),
        None => (None, None, false),
    }
}

/// Rows most time first, the `(no own frame)` row last.
pub(crate) fn sort_rows(mut out: Vec<LineRow>) -> Vec<LineRow> {
    out.sort_by(|a, b| {
        a.location
            .is_none()
            .cmp(&b.location.is_none())
            .then(b.total_ns.cmp(&a.total_ns))
            .then(a.location.cmp(&b.location))
            .then(a.function.cmp(&b.function))
    });
    out
}

/// The table as text.
pub fn by_line_text(m: &Merged, show_tracer: bool) -> String {
    render_rows(&by_line(m, show_tracer))
}

/// The table of some rows as text.
pub(crate) fn render_rows(rows: &[LineRow]) -> String {
    if rows.is_empty() {
        return "(no system calls)\n".into();
    }
    let cell = |r: &LineRow| -> (String, String) {
        let mark = if r.inferred { "~" } else { "" };
        (
            match &r.location {
                Some(l) => format!("{mark}{l}"),
                None => "(no own frame)".into(),
            },
            r.function
                .as_ref()
                .map_or(String::new(), |f| format!("{mark}{f}")),
        )
    };
    let cells: Vec<(String, String)> = rows.iter().map(cell).collect();
    let w0 = cells.iter().map(|c| c.0.len()).max().unwrap_or(0).max(4);
    let w1 = cells.iter().map(|c| c.1.len()).max().unwrap_or(0).max(8);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<w0$}  {:<w1$}  {:>7}  {:>7}  {:>10}  syscalls",
        "line", "function", "calls", "errors", "time"
    );
    for (r, (loc, func)) in rows.iter().zip(&cells) {
        let names: Vec<String> = r.by_name.iter().map(|(n, c)| format!("{n}×{c}")).collect();
        let _ = writeln!(
            s,
            "{loc:<w0$}  {func:<w1$}  {:>7}  {:>7}  {:>10}  {}",
            r.calls,
            r.errors,
            fmt_duration(r.total_ns),
            names.join(" ")
        );
    }
    s
}
