//! Sampling (`RUCHYTRACE_SAMPLE`, `#[trace(sample = N)]`): estimates against true counts, and
//! balanced traces. Runs `examples/mixed_workload.rs`, which counts its own calls.
#![cfg(feature = "trace")]

use ruchytrace::runtime::format::read_trace;
use ruchytrace::runtime::model::Event;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    // target/debug/deps/sampling-xxxx -> target/debug/examples/NAME
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} not built", path.display());
    path
}

#[derive(Debug, Default)]
struct Row {
    truth: u64,
    recorded: u64,
    estimated: u64,
    is_estimate: bool,
}

/// Runs the mixed workload; returns its per-function rows and the trace file.
fn run_mixed(
    scale: u32,
    env: &[(&str, &str)],
) -> (BTreeMap<String, Row>, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("mixed.rtrace");
    let mut cmd = Command::new(example("mixed_workload"));
    cmd.arg(scale.to_string());
    for k in ruchytrace::runtime::config::ENV_VARS {
        cmd.env_remove(k);
    }
    cmd.env("RUCHYTRACE_OUTPUT", &out)
        .env("RUCHYTRACE_FORMAT", "binary");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run mixed_workload");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for line in stdout.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["count", name, n] => {
                rows.entry(name.to_string()).or_default().truth = n.parse().unwrap()
            }
            ["summary", name, rec, est, flag] => {
                let r = rows.entry(name.to_string()).or_default();
                r.recorded = rec.parse().unwrap();
                r.estimated = est.parse().unwrap();
                r.is_estimate = flag.parse().unwrap();
            }
            _ => panic!("unexpected line {line:?}"),
        }
    }
    (rows, dir, out)
}

/// Every recorded enter has its exit, on the same thread, innermost first: returns recorded
/// calls per function name.
fn balanced(path: &std::path::Path) -> HashMap<String, u64> {
    let trace = read_trace(path).expect("read trace");
    assert!(trace.trailer.is_some(), "trace not closed");
    let mut stacks: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut calls = HashMap::new();
    for ev in &trace.events {
        match ev {
            Event::Enter { site, tid, .. } => stacks.entry(*tid).or_default().push(*site),
            Event::Exit { site, tid, .. } => {
                assert_eq!(stacks.entry(*tid).or_default().pop(), Some(*site));
                let name = trace.site(*site).expect("site").name.clone();
                *calls.entry(name).or_default() += 1;
            }
            _ => {}
        }
    }
    for (tid, s) in stacks {
        assert!(s.is_empty(), "thread {tid} left {} calls open", s.len());
    }
    calls
}

#[test]
fn estimates_within_ten_percent_for_every_busy_function() {
    // Rate 10: a function with 10,000 calls gets ~1,000 samples, so ±10% is over 3 standard
    // deviations of the estimate.
    let (rows, _dir, out) = run_mixed(1, &[("RUCHYTRACE_SAMPLE", "10"), ("RUCHYTRACE_SEED", "7")]);
    let recorded = balanced(&out);
    let mut checked = 0;
    for (name, r) in &rows {
        // The summary counts exactly what the file holds.
        assert_eq!(
            recorded.get(name).copied().unwrap_or(0),
            r.recorded,
            "{name}"
        );
        if r.truth < 10_000 {
            continue;
        }
        checked += 1;
        assert!(
            r.is_estimate,
            "{name}: a sampled count must be marked as an estimate"
        );
        let err = (r.estimated as f64 - r.truth as f64) / r.truth as f64;
        assert!(
            err.abs() <= 0.10,
            "{name}: estimated {} for {} true calls ({:+.1}%)",
            r.estimated,
            r.truth,
            err * 100.0
        );
        assert!(r.recorded < r.truth / 5, "{name}: {r:?} is not a sample");
    }
    // north/east/south/west (period-4 round robin), outer, inner, leafy, label, own_rate.
    assert_eq!(checked, 9, "{rows:?}");
    // The site with its own rate is extrapolated by it (50), not by the global one.
    let own = &rows["own_rate"];
    assert_eq!(own.estimated, own.recorded * 50);
    let leafy = &rows["leafy"];
    assert_eq!(leafy.estimated, leafy.recorded * 10);
}

#[test]
fn estimates_hold_for_other_seeds_and_rates() {
    // The same number of samples per function at a 10x rarer rate over a 10x longer run.
    for (scale, rate, seed) in [(1, "10", "1"), (10, "100", "12345")] {
        let (rows, _dir, _out) = run_mixed(
            scale,
            &[("RUCHYTRACE_SAMPLE", rate), ("RUCHYTRACE_SEED", seed)],
        );
        for (name, r) in rows.iter().filter(|(_, r)| r.truth >= 10_000) {
            let err = (r.estimated as f64 - r.truth as f64) / r.truth as f64;
            assert!(err.abs() <= 0.10, "rate {rate} seed {seed}: {name} {r:?}");
        }
    }
}

#[test]
fn without_sampling_counts_are_exact_and_not_estimates() {
    let (rows, _dir, out) = run_mixed(1, &[]);
    let recorded = balanced(&out);
    for (name, r) in &rows {
        if name == "own_rate" {
            // Its own rate applies even when the global rate is 1.
            assert!(r.is_estimate && r.recorded < r.truth, "{r:?}");
            continue;
        }
        assert_eq!(r.recorded, r.truth, "{name}");
        assert_eq!(r.estimated, r.truth, "{name}");
        assert!(!r.is_estimate, "{name}");
        assert_eq!(recorded[name], r.truth, "{name}");
    }
}

/// The calls a sampled single-threaded run recorded, in order: (function, arguments).
fn sampled_calls(seed: &str) -> Vec<(String, Vec<ruchytrace::runtime::model::Value>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("stress.rtrace");
    let mut cmd = Command::new(example("stress"));
    // One worker thread calls work(0, i) -> leaf(i) 5,000 times.
    cmd.args(["1", "5000", "return"]);
    for k in ruchytrace::runtime::config::ENV_VARS {
        cmd.env_remove(k);
    }
    let o = cmd
        .env("RUCHYTRACE_OUTPUT", &out)
        .env("RUCHYTRACE_SAMPLE", "10")
        .env("RUCHYTRACE_SEED", seed)
        .output()
        .expect("run stress");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    balanced(&out);
    let trace = read_trace(&out).expect("read trace");
    trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Enter { site, args, .. } => {
                Some((trace.site(*site).expect("site").name.clone(), args.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn same_seed_same_sample() {
    // Two runs with one seed record the very same calls; another seed picks other calls.
    let first = sampled_calls("42");
    let second = sampled_calls("42");
    // 10,000 calls at 1 in 10: about 1,000 recorded, never all of them.
    assert!(
        (500..=2_000).contains(&first.len()),
        "{} calls recorded",
        first.len()
    );
    assert_eq!(first, second, "RUCHYTRACE_SEED=42 twice");
    assert_ne!(first, sampled_calls("43"), "seeds 42 and 43");
}
