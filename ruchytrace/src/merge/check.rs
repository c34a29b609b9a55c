//! The checks that keep a merge honest.
//!
//! [`check_consistency`] refuses inputs that cannot come from one run: a function trace not on
//! `CLOCK_MONOTONIC`, a pid the syscall trace never saw, clock offsets from different boots or
//! machines, or time spans of one pid that do not overlap. [`place`] finds the call a system
//! call belongs to, and reports a system call that crosses a function's entry or exit (a
//! straddle) instead of re-parenting it.

use std::path::Path;

use ruchytrace_runtime::model::Site;

use super::input::span;
use super::{FnTrace, MergeError, MergeOptions, Node, NodeId, NodeKind};
use crate::syscalls::event::{SysIndexEntry, SysTrace};

/// Where a system call goes, or why it cannot.
pub(super) enum Placement {
    /// Under this call (`None`: at the thread's top level).
    Under(Option<NodeId>),
    /// It crosses a function boundary; `at` is the innermost call enclosing it entirely.
    Straddle {
        /// The innermost call that encloses it entirely.
        at: Option<NodeId>,
        /// Which boundary it crosses.
        what: String,
    },
}

pub(super) fn describe_syscall(n: &Node) -> String {
    match &n.kind {
        NodeKind::Syscall(s) => format!("{}({})", s.name, s.args.join(", ")),
        NodeKind::Point { text, .. } => text.clone(),
        NodeKind::Call(_) => "call".into(),
    }
}

fn call_name(nodes: &[Node], sites: &[Site], id: NodeId) -> String {
    let n = &nodes[id as usize];
    match &n.kind {
        NodeKind::Call(c) => {
            let name = sites.get(c.site as usize).map_or("?", |s| s.name.as_str());
            match n.end_ns {
                Some(e) => format!("{name}() (entered at {}, returned at {e})", n.start_ns),
                None => format!("{name}() (entered at {})", n.start_ns),
            }
        }
        _ => format!("node #{id}"),
    }
}

/// Finds the innermost call among `level` (and below) that encloses `[e, x]`.
pub(super) fn place(nodes: &[Node], sites: &[Site], level: &[NodeId], e: u64, x: u64) -> Placement {
    let mut parent: Option<NodeId> = None;
    let mut level = level;
    loop {
        // Calls in `level` are in time order and do not overlap: find the last one that
        // started at or before `e`, skipping point events.
        let upto = level.partition_point(|&c| nodes[c as usize].start_ns <= e);
        let before = level[..upto]
            .iter()
            .rev()
            .find(|&&c| matches!(nodes[c as usize].kind, NodeKind::Call(_)));
        if let Some(&c) = before {
            let n = &nodes[c as usize];
            match n.end_ns {
                None => {
                    parent = Some(c);
                    level = &n.children;
                    continue;
                }
                Some(cx) if cx >= x => {
                    parent = Some(c);
                    level = &n.children;
                    continue;
                }
                Some(cx) if cx > e => {
                    return Placement::Straddle {
                        at: parent,
                        what: format!("straddles the exit of {}", call_name(nodes, sites, c)),
                    };
                }
                Some(_) => {}
            }
        }
        // No enclosing call at this level: a call that starts during the syscall straddles it.
        if let Some(&next) = level[upto..]
            .iter()
            .find(|&&c| matches!(nodes[c as usize].kind, NodeKind::Call(_)))
        {
            let s = nodes[next as usize].start_ns;
            if s < x {
                return Placement::Straddle {
                    at: parent,
                    what: format!("straddles the entry of {}", call_name(nodes, sites, next)),
                };
            }
        }
        return Placement::Under(parent);
    }
}

/// Refuses inputs that cannot come from one run.
pub(crate) fn check_consistency(
    fn_traces: &[(&Path, &FnTrace)],
    sys_traces: &[(&Path, &SysTrace, &[SysIndexEntry])],
    opts: &MergeOptions,
    warnings: &mut Vec<String>,
) -> Result<(), MergeError> {
    let mut problems = Vec::new();
    for (path, t) in fn_traces {
        if t.metadata.clock.domain != "CLOCK_MONOTONIC" {
            problems.push(format!(
                "{}: clock domain is {:?}, expected CLOCK_MONOTONIC",
                path.display(),
                t.metadata.clock.domain
            ));
        }
    }
    for (spath, s, heads) in sys_traces {
        let sys_pids: std::collections::BTreeSet<u32> = heads
            .iter()
            .map(|e| e.pid)
            .chain(std::iter::once(s.metadata.pid as u32))
            .collect();
        let s_off = s.metadata.clock.realtime_ns as i128 - s.metadata.clock.monotonic_ns as i128;
        for (fpath, f) in fn_traces {
            let pid = f.metadata.pid;
            if !sys_pids.contains(&pid) {
                problems.push(format!(
                    "pid mismatch: {} is a trace of pid {pid}, but {} traced pid(s) {:?} — traces from different runs?",
                    fpath.display(),
                    spath.display(),
                    sys_pids
                ));
                continue;
            }
            let f_off =
                f.metadata.clock.realtime_ns as i128 - f.metadata.clock.monotonic_ns as i128;
            if (f_off - s_off).abs() > 2_000_000_000 {
                problems.push(format!(
                    "clock mismatch: {} and {} disagree by {:.3}s on CLOCK_REALTIME - CLOCK_MONOTONIC (recorded on different boots or machines?)",
                    fpath.display(),
                    spath.display(),
                    (f_off - s_off) as f64 / 1e9
                ));
                continue;
            }
            // Both spans of this pid must overlap: same pid but disjoint times is a reused pid.
            let fspan = f.span;
            let of_pid = || heads.iter().filter(|e| e.syscall && e.pid == pid);
            let sspan = span(of_pid().map(|e| e.end_ns));
            let sstart = span(of_pid().map(|e| e.start_ns));
            if let (Some((f0, f1)), Some((s0, _)), Some((_, s1))) = (fspan, sstart, sspan) {
                if f1 < s0 || f0 > s1 {
                    problems.push(format!(
                        "clock mismatch: function events of pid {pid} in {} span {f0}..{f1} ns, system calls in {} span {s0}..{s1} ns — they do not overlap (traces from different runs?)",
                        fpath.display(),
                        spath.display()
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    if opts.force {
        warnings.extend(problems);
        return Ok(());
    }
    Err(MergeError::Mismatch(problems.join("\n")))
}
