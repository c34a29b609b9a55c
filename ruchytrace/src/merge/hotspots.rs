//! `report --hotspots N --sort KEY`: the functions with the most self time (or inclusive time,
//! calls, time per call, longest call), with estimated counts for sampled traces.

use std::collections::HashMap;
use std::fmt::Write as _;

use ruchytrace_runtime::duration::fmt_duration;

use super::report::{call_graph, GraphNode, Kind};
use super::{Merged, NodeId, NodeKind};

/// The order of `report --hotspots` (`--sort`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// Total self time (children excluded).
    #[default]
    #[value(name = "self")]
    SelfTime,
    /// Total inclusive time.
    Total,
    /// Number of calls.
    Calls,
    /// Inclusive time per call.
    Avg,
    /// The longest single call.
    Max,
}

impl SortKey {
    /// How the hotspots header names the order.
    pub fn describe(self) -> &'static str {
        match self {
            SortKey::SelfTime => "self time",
            SortKey::Total => "inclusive time",
            SortKey::Calls => "calls",
            SortKey::Avg => "inclusive time per call",
            SortKey::Max => "longest call",
        }
    }
}

/// The sampling rate every function trace of `m` was recorded with, when it is the same for all
/// (1: every call); `None` when the processes disagree.
pub fn sample_rate(m: &Merged) -> Option<u32> {
    sample_rate_of(&m.processes)
}

/// [`sample_rate`] of some processes.
pub(crate) fn sample_rate_of(processes: &[super::ProcessInfo]) -> Option<u32> {
    let mut rates = processes.iter().filter_map(|p| p.sample_rate);
    let first = rates.next().unwrap_or(1);
    rates.all(|r| r == first).then_some(first)
}

/// The longest single call per function, by (name, location).
pub(crate) type Longest = HashMap<(String, String), u64>;

/// The longest single call per function (by name and location) on the visible threads.
pub(crate) fn longest_calls(m: &Merged, show_tracer: bool) -> HashMap<(String, String), u64> {
    let mut max: HashMap<(String, String), u64> = HashMap::new();
    for t in m.visible_threads(show_tracer) {
        let mut stack: Vec<NodeId> = t.roots.clone();
        while let Some(id) = stack.pop() {
            let n = m.node(id);
            if let NodeKind::Call(c) = &n.kind {
                let site = m.site(c);
                let e = max
                    .entry((site.name.clone(), site.location.to_string()))
                    .or_insert(0);
                *e = (*e).max(n.duration(m.end_ns));
            }
            stack.extend(n.children.iter().copied());
        }
    }
    max
}

/// `report --hotspots N`: the N functions with the most self time.
pub fn hotspots_text(m: &Merged, show_tracer: bool, n: usize) -> String {
    hotspots_sorted(m, show_tracer, n, SortKey::SelfTime)
}

/// `report --hotspots N --sort KEY`. Calls of a sampled trace (1 in R recorded) are shown as
/// `~count×R`, estimated.
pub fn hotspots_sorted(m: &Merged, show_tracer: bool, n: usize, sort: SortKey) -> String {
    render_hotspots(
        &call_graph(m, show_tracer),
        &longest_calls(m, show_tracer),
        sample_rate(m),
        n,
        sort,
    )
}

/// The hotspots text of a call graph, the longest calls and the sampling rate.
pub(crate) fn render_hotspots(
    g: &super::report::CallGraph,
    max: &Longest,
    rate: Option<u32>,
    n: usize,
    sort: SortKey,
) -> String {
    let longest = |f: &GraphNode| {
        max.get(&(f.name.clone(), f.location.clone().unwrap_or_default()))
            .copied()
            .unwrap_or(0)
    };
    let mut fns: Vec<&GraphNode> = g
        .nodes
        .iter()
        .filter(|x| x.kind == Kind::Function)
        .collect();
    let key = |f: &GraphNode| -> u64 {
        match sort {
            SortKey::SelfTime => f.self_ns,
            SortKey::Total => f.inclusive_ns,
            SortKey::Calls => f.calls,
            SortKey::Avg => f.inclusive_ns.checked_div(f.calls).unwrap_or(0),
            SortKey::Max => longest(f),
        }
    };
    fns.sort_by(|a, b| key(b).cmp(&key(a)).then(a.name.cmp(&b.name)));
    let mut out = String::new();
    match rate {
        Some(r) if r > 1 => {
            let _ = writeln!(
                out,
                "# sampled 1 in {r}: ~ = calls estimated as recorded calls x {r}; times are those of the recorded calls"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "# the traces were sampled at different rates: recorded calls shown, not extrapolated"
            );
        }
        _ => {}
    }
    let _ = writeln!(
        out,
        "{:>12} {:>7} {:>12} {:>10} {:>12} {:>12}  function",
        "self", "%", "inclusive", "calls", "avg", "max"
    );
    for f in fns.into_iter().take(n) {
        let calls = match rate {
            Some(r) if r > 1 => format!("~{}", f.calls * u64::from(r)),
            _ => f.calls.to_string(),
        };
        let _ = writeln!(
            out,
            "{:>12} {:>6.2}% {:>12} {:>10} {:>12} {:>12}  {} <{}>",
            fmt_duration(f.self_ns),
            g.percent(f.self_ns),
            fmt_duration(f.inclusive_ns),
            calls,
            fmt_duration(f.inclusive_ns.checked_div(f.calls).unwrap_or(0)),
            fmt_duration(longest(f)),
            f.name,
            f.location.as_deref().unwrap_or("?")
        );
    }
    out
}
