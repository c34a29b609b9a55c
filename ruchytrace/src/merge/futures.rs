//! `async fn` futures as users think of them: one future from its first poll to its completion,
//! however many polls it took and whichever threads ran them.
//!
//! The merged tree has one call node per poll (an `async fn` returning `Pending` ends a poll
//! with [`CallEnd::Suspended`](super::CallEnd::Suspended); the next poll is a node with
//! `resumed`). [`collect`] groups the polls by (pid, call id) and works out each future's
//! lifetime (first poll's start to last poll's end), busy time (the sum of its polls) and the
//! threads its polls ran on, in order.

use std::collections::HashMap;
use std::fmt::Write as _;

use ruchytrace_runtime::duration::fmt_duration;

use ruchytrace_runtime::model::SiteKind;

use super::{CallEnd, Merged, NodeId, NodeKind};

/// One future.
#[derive(Debug, Clone, PartialEq)]
pub struct FutureInfo {
    /// Process id.
    pub pid: u32,
    /// The runtime's call id.
    pub call_id: u64,
    /// Its polls in time order: (thread, node).
    pub polls: Vec<(u32, NodeId)>,
    /// First poll's start.
    pub start_ns: u64,
    /// Last poll's end (the trace's end for a future still pending).
    pub end_ns: u64,
    /// Time spent being polled.
    pub busy_ns: u64,
    /// Whether its last poll completed it.
    pub completed: bool,
}

impl FutureInfo {
    /// First poll to completion.
    pub fn lifetime_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }

    /// The threads its polls ran on, in order, consecutive repeats merged (`[100, 101, 100]`).
    pub fn segment_threads(&self) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for &(tid, _) in &self.polls {
            if out.last() != Some(&tid) {
                out.push(tid);
            }
        }
        out
    }

    /// True when its polls ran on more than one thread.
    pub fn moved(&self) -> bool {
        self.polls.iter().any(|&(t, _)| t != self.polls[0].0)
    }
}

/// Every future of a merged trace, and which future each poll node belongs to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Futures {
    /// The futures, by first poll.
    pub list: Vec<FutureInfo>,
    /// Poll node -> (index in `list`, index of the poll).
    pub by_node: HashMap<NodeId, (usize, usize)>,
}

impl Futures {
    /// The future a poll node belongs to, and the poll's index.
    pub fn of(&self, node: NodeId) -> Option<(&FutureInfo, usize)> {
        self.by_node.get(&node).map(|&(f, k)| (&self.list[f], k))
    }
}

/// The call id of a node that is one poll of an `async fn` future.
fn poll_of(m: &Merged, id: NodeId) -> Option<u64> {
    let NodeKind::Call(c) = &m.node(id).kind else {
        return None;
    };
    let call_id = c.call_id?;
    let is_async = m.sites.get(c.site as usize).map(|s| s.kind) == Some(SiteKind::Async)
        || c.resumed
        || c.end == CallEnd::Suspended;
    is_async.then_some(call_id)
}

/// Groups the polls of every thread into futures.
pub fn collect(m: &Merged) -> Futures {
    let mut by_id: HashMap<(u32, u64), Vec<(u32, NodeId)>> = HashMap::new();
    for t in &m.threads {
        let mut stack: Vec<NodeId> = t.roots.clone();
        while let Some(id) = stack.pop() {
            if let Some(call_id) = poll_of(m, id) {
                by_id.entry((t.pid, call_id)).or_default().push((t.tid, id));
            }
            stack.extend(m.node(id).children.iter().copied());
        }
    }
    let mut list: Vec<FutureInfo> = by_id
        .into_iter()
        .map(|((pid, call_id), mut polls)| {
            polls.sort_by_key(|&(_, id)| m.node(id).start_ns);
            let start_ns = m.node(polls[0].1).start_ns;
            let last = m.node(polls[polls.len() - 1].1);
            let end_ns = last.end_ns.unwrap_or(m.end_ns).max(start_ns);
            let busy_ns = polls
                .iter()
                .map(|&(_, id)| m.node(id).duration(m.end_ns))
                .sum();
            let completed = matches!(&last.kind, NodeKind::Call(c) if c.end == CallEnd::Returned);
            FutureInfo {
                pid,
                call_id,
                polls,
                start_ns,
                end_ns,
                busy_ns,
                completed,
            }
        })
        .collect();
    list.sort_by_key(|f| (f.start_ns, f.pid, f.call_id));
    let mut by_node = HashMap::new();
    for (i, f) in list.iter().enumerate() {
        for (k, &(_, id)) in f.polls.iter().enumerate() {
            by_node.insert(id, (i, k));
        }
    }
    Futures { list, by_node }
}

/// `report --futures`: per `async fn`, its futures' lifetimes and busy (polled) times, and the
/// futures whose polls ran on more than one thread, with those threads in order.
pub fn futures_text(m: &Merged, show_tracer: bool) -> String {
    let visible: std::collections::HashSet<(u32, u32)> = m
        .visible_threads(show_tracer)
        .map(|t| (t.pid, t.tid))
        .collect();
    let futures: Vec<&FutureInfo> = m
        .futures
        .list
        .iter()
        .filter(|f| f.polls.iter().all(|&(t, _)| visible.contains(&(f.pid, t))))
        .collect();
    let name = |f: &FutureInfo| -> String {
        match &m.node(f.polls[0].1).kind {
            NodeKind::Call(c) => m.site(c).name.clone(),
            _ => "?".into(),
        }
    };
    // function -> (futures, moved, lifetime, busy, polls)
    let mut per: std::collections::BTreeMap<String, (u64, u64, u64, u64, u64)> = Default::default();
    for f in &futures {
        let e = per.entry(name(f)).or_default();
        e.0 += 1;
        e.1 += u64::from(f.moved());
        e.2 += f.lifetime_ns();
        e.3 += f.busy_ns;
        e.4 += f.polls.len() as u64;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>8} {:>6} {:>12} {:>12} {:>9}  function",
        "futures", "moved", "lifetime/avg", "busy/avg", "polls/avg"
    );
    for (fname, (n, moved, life, busy, polls)) in &per {
        let _ = writeln!(
            out,
            "{n:>8} {moved:>6} {:>12} {:>12} {:>9.1}  {fname}",
            fmt_duration(life / n),
            fmt_duration(busy / n),
            *polls as f64 / *n as f64
        );
    }
    let moved: Vec<&&FutureInfo> = futures.iter().filter(|f| f.moved()).collect();
    if !moved.is_empty() {
        let _ = writeln!(out, "futures that moved between threads:");
        for f in moved.iter().take(20) {
            let threads: Vec<String> = f.segment_threads().iter().map(u32::to_string).collect();
            let _ = writeln!(
                out,
                "  {} (future {}): {} polls on threads {}; lifetime {}, busy {}",
                name(f),
                f.call_id,
                f.polls.len(),
                threads.join(" -> "),
                fmt_duration(f.lifetime_ns()),
                fmt_duration(f.busy_ns)
            );
        }
        if moved.len() > 20 {
            let _ = writeln!(out, "  ... and {} more", moved.len() - 20);
        }
    }
    out
}
