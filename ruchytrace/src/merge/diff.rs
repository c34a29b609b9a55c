//! Comparing two runs: per function calls, self and inclusive time (total and per call), per
//! system call count and time, side by side with the absolute and relative change, sorted by
//! impact; and the regression gate of `ruchytrace diff --fail-above PCT`.
//!
//! Functions are matched by display name (so two builds whose line numbers moved still
//! compare), system calls by name. The figures come from the call graph of each merged trace
//! ([`report::call_graph`](super::report::call_graph), or the same graph from one streamed
//! replay of the inputs, [`super::stream`]): a recursive function's inclusive time counts its
//! outermost activations once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use ruchytrace_runtime::duration::fmt_duration;

use super::report::{call_graph, CallGraph, Kind};
use super::{Merged, ProcessInfo};

/// What one run spent in one function or system call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls.
    pub calls: u64,
    /// Self time (children excluded), all calls together.
    pub self_ns: u64,
    /// Inclusive time, all calls together.
    pub inclusive_ns: u64,
}

impl Stats {
    /// Self time per call.
    pub fn self_per_call(&self) -> u64 {
        self.self_ns.checked_div(self.calls).unwrap_or(0)
    }

    /// Inclusive time per call.
    pub fn inclusive_per_call(&self) -> u64 {
        self.inclusive_ns.checked_div(self.calls).unwrap_or(0)
    }
}

/// The figures of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    /// Per function display name.
    pub functions: BTreeMap<String, Stats>,
    /// Per system call name (`self_ns` = `inclusive_ns` = time in the kernel).
    pub syscalls: BTreeMap<String, Stats>,
    /// The traced programs.
    pub programs: BTreeSet<String>,
}

/// The profile of a merged trace's visible threads.
pub fn profile(m: &Merged, show_tracer: bool) -> Profile {
    profile_of(&call_graph(m, show_tracer), &m.processes)
}

/// The profile of a call graph (from the tree or from a streamed replay) of the traces of
/// `processes`.
pub fn profile_of(g: &CallGraph, processes: &[ProcessInfo]) -> Profile {
    let mut p = Profile::default();
    for n in &g.nodes {
        let into = match n.kind {
            // An inferred caller is not a traced call; its system calls count as syscalls.
            Kind::Root | Kind::Inferred => continue,
            Kind::Function => p.functions.entry(n.name.clone()).or_default(),
            Kind::Syscall => p.syscalls.entry(n.name.clone()).or_default(),
        };
        into.calls += n.calls;
        into.self_ns += n.self_ns;
        into.inclusive_ns += n.inclusive_ns;
    }
    p.programs = processes
        .iter()
        .map(|p| {
            std::path::Path::new(&p.program)
                .file_name()
                .map_or_else(|| p.program.clone(), |n| n.to_string_lossy().into_owned())
        })
        .collect();
    p
}

/// One compared function or system call.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Function or system call.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// In run A (zero when absent).
    pub a: Stats,
    /// In run B (zero when absent).
    pub b: Stats,
}

/// `(b - a) / a` in percent; `None` when `a` is zero (new in B, or zero in both).
pub fn relative(a: u64, b: u64) -> Option<f64> {
    (a != 0).then(|| (b as f64 - a as f64) * 100.0 / a as f64)
}

impl Row {
    /// What the row's change weighs: the change of total self time (functions) or total time
    /// (system calls), in ns.
    pub fn impact(&self) -> u64 {
        self.a.self_ns.abs_diff(self.b.self_ns)
    }

    /// The metric the gate watches: self time per call (functions) or count (system calls).
    fn gated(&self) -> (u64, u64) {
        match self.kind {
            Kind::Syscall => (self.a.calls, self.b.calls),
            _ => (self.a.self_per_call(), self.b.self_per_call()),
        }
    }

    /// True when every change of the row is within `noise_pct` percent (or it is absent from
    /// neither run and unchanged).
    pub fn is_noise(&self, noise_pct: f64) -> bool {
        let small = |a: u64, b: u64| match relative(a, b) {
            Some(r) => r.abs() <= noise_pct,
            None => b == 0,
        };
        small(self.a.calls, self.b.calls)
            && small(self.a.self_per_call(), self.b.self_per_call())
            && small(self.a.inclusive_per_call(), self.b.inclusive_per_call())
    }
}

/// Self times per call below this, in both runs, are timer noise and never fail the gate.
pub const GATE_FLOOR_NS: u64 = 100;

/// Every function and system call of either run, the biggest change first.
pub fn compare(a: &Profile, b: &Profile) -> Vec<Row> {
    let mut rows = Vec::new();
    for (kind, ma, mb) in [
        (Kind::Function, &a.functions, &b.functions),
        (Kind::Syscall, &a.syscalls, &b.syscalls),
    ] {
        let names: BTreeSet<&String> = ma.keys().chain(mb.keys()).collect();
        for name in names {
            rows.push(Row {
                kind,
                name: name.clone(),
                a: ma.get(name).copied().unwrap_or_default(),
                b: mb.get(name).copied().unwrap_or_default(),
            });
        }
    }
    rows.sort_by(|x, y| {
        y.impact()
            .cmp(&x.impact())
            .then(x.kind.cmp(&y.kind))
            .then(x.name.cmp(&y.name))
    });
    rows
}

/// The regressions above `pct` percent: functions (present in both runs) whose self time per
/// call grew by more than `pct` (unless both are under [`GATE_FLOOR_NS`]), and system calls
/// whose count grew by more than `pct` (a system call new in B counts as grown).
pub fn regressions(rows: &[Row], pct: f64) -> Vec<String> {
    let mut out = Vec::new();
    for r in rows {
        let (a, b) = r.gated();
        match r.kind {
            Kind::Function => {
                if r.a.calls == 0 || r.b.calls == 0 || a.max(b) < GATE_FLOOR_NS {
                    continue;
                }
                if let Some(rel) = relative(a, b).filter(|&rel| rel > pct) {
                    out.push(format!(
                        "function {}: self time per call {} -> {} (+{rel:.1}%)",
                        r.name,
                        fmt_duration(a),
                        fmt_duration(b)
                    ));
                }
            }
            Kind::Syscall => {
                let grown = match relative(a, b) {
                    Some(rel) => (rel > pct).then(|| format!("+{rel:.1}%")),
                    None => (b > 0).then(|| "new".to_owned()),
                };
                if let Some(how) = grown {
                    out.push(format!("syscall {}: count {a} -> {b} ({how})", r.name));
                }
            }
            Kind::Root | Kind::Inferred => {}
        }
    }
    out
}

fn pct_text(a: u64, b: u64) -> String {
    match relative(a, b) {
        Some(r) => format!("{r:+.1}%"),
        None if b == 0 => "=".into(),
        None => "new".into(),
    }
}

fn signed_duration(a: u64, b: u64) -> String {
    let sign = if b >= a { '+' } else { '-' };
    format!("{sign}{}", fmt_duration(a.abs_diff(b)))
}

/// The side-by-side tables; rows within `noise_pct` are left out (and counted).
pub fn text(rows: &[Row], noise_pct: f64) -> String {
    let mut out = String::new();
    let shown = |kind: Kind| {
        rows.iter()
            .filter(move |r| r.kind == kind && !r.is_noise(noise_pct))
    };
    let hidden = |kind: Kind| {
        rows.iter()
            .filter(|r| r.kind == kind && r.is_noise(noise_pct))
            .count()
    };
    let _ = writeln!(
        out,
        "## functions (by change of total self time)\n{:>8} {:>8} {:>12} {:>12} {:>8} {:>12} {:>12} {:>8} {:>12}  function",
        "calls A", "calls B", "self/call A", "self/call B", "change", "incl/call A", "incl/call B",
        "change", "self total"
    );
    for r in shown(Kind::Function) {
        let _ = writeln!(
            out,
            "{:>8} {:>8} {:>12} {:>12} {:>8} {:>12} {:>12} {:>8} {:>12}  {}",
            r.a.calls,
            r.b.calls,
            fmt_duration(r.a.self_per_call()),
            fmt_duration(r.b.self_per_call()),
            pct_text(r.a.self_per_call(), r.b.self_per_call()),
            fmt_duration(r.a.inclusive_per_call()),
            fmt_duration(r.b.inclusive_per_call()),
            pct_text(r.a.inclusive_per_call(), r.b.inclusive_per_call()),
            signed_duration(r.a.self_ns, r.b.self_ns),
            r.name
        );
    }
    let n = hidden(Kind::Function);
    if n > 0 {
        let _ = writeln!(
            out,
            "({n} within the {noise_pct}% noise threshold not shown)"
        );
    }
    let _ = writeln!(
        out,
        "\n## system calls (by change of total time)\n{:>8} {:>8} {:>8} {:>12} {:>12} {:>8}  syscall",
        "count A", "count B", "change", "time A", "time B", "change"
    );
    for r in shown(Kind::Syscall) {
        let _ = writeln!(
            out,
            "{:>8} {:>8} {:>8} {:>12} {:>12} {:>8}  {}",
            r.a.calls,
            r.b.calls,
            pct_text(r.a.calls, r.b.calls),
            fmt_duration(r.a.self_ns),
            fmt_duration(r.b.self_ns),
            pct_text(r.a.self_ns, r.b.self_ns),
            r.name
        );
    }
    let n = hidden(Kind::Syscall);
    if n > 0 {
        let _ = writeln!(
            out,
            "({n} within the {noise_pct}% noise threshold not shown)"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(calls: u64, self_ns: u64) -> Stats {
        Stats {
            calls,
            self_ns,
            inclusive_ns: self_ns,
        }
    }

    #[test]
    fn gate_and_noise() {
        let mut a = Profile::default();
        let mut b = Profile::default();
        a.functions.insert("steady".into(), stats(10, 10_000));
        b.functions.insert("steady".into(), stats(10, 10_200));
        a.functions.insert("slower".into(), stats(4, 4_000));
        b.functions.insert("slower".into(), stats(4, 6_000));
        b.functions.insert("fresh".into(), stats(1, 9_000_000));
        a.functions.insert("tiny".into(), stats(100, 1_000));
        b.functions.insert("tiny".into(), stats(100, 5_000));
        a.syscalls.insert("read".into(), stats(10, 100));
        b.syscalls.insert("read".into(), stats(12, 100));
        b.syscalls.insert("fsync".into(), stats(1, 100));
        let rows = compare(&a, &b);
        assert_eq!(rows[0].name, "fresh", "biggest change first");
        assert_eq!(
            regressions(&rows, 10.0),
            vec![
                "function slower: self time per call 1.000us -> 1.500us (+50.0%)".to_owned(),
                "syscall fsync: count 0 -> 1 (new)".to_owned(),
                "syscall read: count 10 -> 12 (+20.0%)".to_owned(),
            ]
        );
        assert_eq!(
            regressions(&rows, 60.0),
            vec!["syscall fsync: count 0 -> 1 (new)"]
        );
        let t = text(&rows, 5.0);
        assert!(!t.contains("steady"), "{t}");
        assert!(
            t.contains("(1 within the 5% noise threshold not shown)"),
            "{t}"
        );
        assert!(t.contains("+50.0%") && t.contains("slower"), "{t}");
    }
}
