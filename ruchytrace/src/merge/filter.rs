//! Replay filters: narrowing a merged trace after the fact, in uftrace's vocabulary.
//!
//! Every filter works on the merged forest and keeps the attribution honest: a call that is
//! dropped (too short, too deep, outside the time range, not matching `--filter`) is taken out
//! of the tree and what it contained — its system calls, point events and any calls that are
//! kept — moves up under the nearest kept ancestor (or to the thread's top level), in time
//! order. `--caller F` is different: it keeps only the subtrees of calls of F (their outermost
//! activations), everything outside them is gone. `--tid` keeps whole threads.
//!
//! System calls and point events are never dropped by the call filters; they are dropped only
//! by `--tid`, `--time-range` (when they start outside it) and `--caller`.

use ruchytrace_runtime::duration::fmt_duration;
use ruchytrace_runtime::filter::Filter;

use super::{Merged, NodeId, NodeKind};

/// The filters to apply; the default keeps everything.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Drop calls shorter than this (ns).
    pub min_duration: Option<u64>,
    /// Keep calls at most this deep (1: the calls at a thread's top level).
    pub depth: Option<usize>,
    /// Keep only these threads.
    pub tids: Option<Vec<u32>>,
    /// Keep what starts in this range.
    pub time_range: Option<TimeRange>,
    /// Keep only the subtrees of calls whose qualified name this matches.
    pub caller: Option<Filter>,
    /// Keep calls whose qualified name this matches (the record-time filter's syntax).
    pub filter: Option<Filter>,
}

/// One end of `--time-range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimePoint {
    /// Nanoseconds after the first event of the merge (written with a unit: `1.5ms`).
    Relative(u64),
    /// Absolute `CLOCK_MONOTONIC` nanoseconds (a bare number).
    Absolute(u64),
}

impl TimePoint {
    fn resolve(self, origin: u64) -> u64 {
        match self {
            TimePoint::Relative(d) => origin.saturating_add(d),
            TimePoint::Absolute(t) => t,
        }
    }
}

/// `--time-range A..B`: either end may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// From (inclusive).
    pub from: Option<TimePoint>,
    /// To (inclusive).
    pub to: Option<TimePoint>,
}

/// Parses a duration: a number with a unit (`850ns`, `4us`, `1.5ms`, `2s`); a bare number is
/// nanoseconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let scale = match unit.trim() {
        "" | "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        other => return Err(format!("unknown unit {other:?} in {s:?} (ns, us, ms, s)")),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (e.g. 100us, 1.5ms)"))?;
    Ok((v * scale).round() as u64)
}

/// Parses `A..B` (`1ms..5ms` relative to the trace's start, bare numbers absolute
/// `CLOCK_MONOTONIC` ns; either end may be empty).
pub fn parse_time_range(s: &str) -> Result<TimeRange, String> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| format!("{s:?}: expected A..B (e.g. 1ms..5ms)"))?;
    let point = |p: &str| -> Result<Option<TimePoint>, String> {
        let p = p.trim();
        if p.is_empty() {
            return Ok(None);
        }
        if p.bytes().all(|c| c.is_ascii_digit()) {
            return p
                .parse()
                .map(|t| Some(TimePoint::Absolute(t)))
                .map_err(|e| format!("{p:?}: {e}"));
        }
        parse_duration(p).map(|d| Some(TimePoint::Relative(d)))
    };
    Ok(TimeRange {
        from: point(a)?,
        to: point(b)?,
    })
}

impl Filters {
    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.min_duration.is_none()
            && self.depth.is_none()
            && self.tids.is_none()
            && self.time_range.is_none()
            && self.caller.is_none()
            && self.filter.is_none()
    }

    /// A one-line description of the filters in force, for warnings and headers.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = self.min_duration {
            parts.push(format!("min-duration {}", fmt_duration(d)));
        }
        if let Some(d) = self.depth {
            parts.push(format!("depth {d}"));
        }
        if let Some(t) = &self.tids {
            let list: Vec<String> = t.iter().map(u32::to_string).collect();
            parts.push(format!("tid {}", list.join(",")));
        }
        if self.time_range.is_some() {
            parts.push("time-range".into());
        }
        if self.caller.is_some() {
            parts.push("caller".into());
        }
        if self.filter.is_some() {
            parts.push("filter".into());
        }
        parts.join(", ")
    }
}

/// Applies `f` to `m` in place (dropped nodes stay in `m.nodes`, unreferenced).
pub fn apply(m: &mut Merged, f: &Filters) {
    if f.is_empty() {
        return;
    }
    if let Some(tids) = &f.tids {
        m.threads.retain(|t| tids.contains(&t.tid));
    }
    let range = f.time_range.map(|r| {
        (
            r.from.map_or(0, |p| p.resolve(m.origin_ns)),
            r.to.map_or(u64::MAX, |p| p.resolve(m.origin_ns)),
        )
    });
    for ti in 0..m.threads.len() {
        let roots = std::mem::take(&mut m.threads[ti].roots);
        let roots = match &f.caller {
            Some(c) => subtrees_of(m, &roots, c),
            None => roots,
        };
        let mut new_roots = Vec::new();
        for r in roots {
            keep(m, r, f, range, 0, &mut new_roots);
        }
        m.threads[ti].roots = new_roots;
    }
}

/// The outermost calls matching `caller` in the trees of `roots`, in time order.
fn subtrees_of(m: &Merged, roots: &[NodeId], caller: &Filter) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut stack: Vec<NodeId> = roots.iter().rev().copied().collect();
    while let Some(id) = stack.pop() {
        let n = m.node(id);
        if let NodeKind::Call(c) = &n.kind {
            if caller.matches(&m.site(c).qualified_name) {
                out.push(id);
                continue;
            }
            stack.extend(n.children.iter().rev().copied());
        }
    }
    out
}

/// Whether node `id` itself survives the filters (its children are decided on their own).
fn kept(m: &Merged, id: NodeId, f: &Filters, range: Option<(u64, u64)>, depth: usize) -> bool {
    let n = m.node(id);
    if let Some((a, b)) = range {
        if n.start_ns < a || n.start_ns > b {
            return false;
        }
    }
    let NodeKind::Call(c) = &n.kind else {
        return true;
    };
    if f.depth.is_some_and(|d| depth + 1 > d) {
        return false;
    }
    if f.min_duration.is_some_and(|d| n.duration(m.end_ns) < d) {
        return false;
    }
    if let Some(filter) = &f.filter {
        if !filter.matches(&m.site(c).qualified_name) {
            return false;
        }
    }
    true
}

/// Walks the subtree of `id` (iteratively: traces can be deep), rebuilding the children lists
/// of kept nodes; what a dropped node contained goes to its nearest kept ancestor's list
/// (`into`, at call depth `depth`).
fn keep(
    m: &mut Merged,
    id: NodeId,
    f: &Filters,
    range: Option<(u64, u64)>,
    depth: usize,
    into: &mut Vec<NodeId>,
) {
    // Work items: a node to decide, with the index of the list it goes to and its call depth;
    // or the end of a kept node, whose collected children are then stored.
    enum Item {
        Visit(NodeId, usize, usize),
        Close(NodeId, usize),
    }
    // lists[0] is `into`; a kept call gets a new list for its children.
    let mut lists: Vec<Vec<NodeId>> = vec![std::mem::take(into)];
    let mut stack = vec![Item::Visit(id, 0, depth)];
    while let Some(item) = stack.pop() {
        match item {
            Item::Visit(id, list, depth) => {
                let children = std::mem::take(&mut m.nodes[id as usize].children);
                if kept(m, id, f, range, depth) {
                    lists[list].push(id);
                    let is_call = matches!(m.node(id).kind, NodeKind::Call(_));
                    let own = lists.len();
                    lists.push(Vec::new());
                    stack.push(Item::Close(id, own));
                    let d = depth + usize::from(is_call);
                    stack.extend(children.into_iter().rev().map(|c| Item::Visit(c, own, d)));
                } else {
                    stack.extend(
                        children
                            .into_iter()
                            .rev()
                            .map(|c| Item::Visit(c, list, depth)),
                    );
                }
            }
            Item::Close(id, own) => {
                m.nodes[id as usize].children = std::mem::take(&mut lists[own]);
            }
        }
    }
    *into = std::mem::take(&mut lists[0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_ranges() {
        assert_eq!(parse_duration("850ns"), Ok(850));
        assert_eq!(parse_duration("4us"), Ok(4_000));
        assert_eq!(parse_duration("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_duration("2s"), Ok(2_000_000_000));
        assert_eq!(parse_duration("120"), Ok(120));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(
            parse_time_range("1ms..").unwrap(),
            TimeRange {
                from: Some(TimePoint::Relative(1_000_000)),
                to: None
            }
        );
        assert_eq!(
            parse_time_range("1000..2000").unwrap(),
            TimeRange {
                from: Some(TimePoint::Absolute(1000)),
                to: Some(TimePoint::Absolute(2000))
            }
        );
        assert!(parse_time_range("5ms").is_err());
    }
}
