//! Futures under a real multi-threaded `tokio` runtime, recorded by the real runtime: this test
//! binary runs itself as a child (`tokio_workload`, only active with `RUCHYTRACE_TOKIO_CHILD`
//! set) where four named tokio workers run `#[trace] async fn` tasks that sleep on tokio's timer
//! twice, so their polls are resumed by whichever worker is free (work stealing moves them). The
//! parent merges the child's trace and checks, for every future, that its lifetime, busy time
//! and segment threads in the merged JSON agree with its polls, that the text timeline and
//! `report --futures` say the same, and that some futures did move between workers.
#![cfg(feature = "trace")]

#[path = "support/sys.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ruchytrace::trace;
use serde_json::Value as Json;

const TASKS: u64 = 64;
const WORKERS: usize = 4;
const CHILD_ENV: &str = "RUCHYTRACE_TOKIO_CHILD";

/// Busy for 200 us on its worker, waits 1 ms on the timer, busy again, waits again, busy.
#[trace]
async fn task(n: u64) -> u64 {
    std::thread::sleep(Duration::from_micros(200));
    tokio::time::sleep(Duration::from_millis(1)).await;
    std::thread::sleep(Duration::from_micros(200));
    tokio::time::sleep(Duration::from_millis(1)).await;
    std::thread::sleep(Duration::from_micros(200));
    n + 1
}

#[test]
fn tokio_workload() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .thread_name_fn(|| format!("worker-{}", NEXT.fetch_add(1, Ordering::Relaxed)))
        .enable_time()
        .build()
        .unwrap();
    let total: u64 = rt.block_on(async {
        let handles: Vec<_> = (0..TASKS).map(|n| tokio::spawn(task(n))).collect();
        let mut total = 0;
        for h in handles {
            total += h.await.unwrap();
        }
        total
    });
    assert_eq!(total, (1..=TASKS).sum::<u64>());
    drop(rt);
    ruchytrace::flush();
}

#[test]
fn futures_under_tokio_multi_thread() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fn.rtrace");
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    for k in ruchytrace::runtime::config::ENV_VARS {
        cmd.env_remove(k);
    }
    let res = cmd
        .args(["--exact", "tokio_workload", "--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .env("RUCHYTRACE", "1")
        .env("RUCHYTRACE_OUTPUT", &out)
        .env("RUCHYTRACE_FORMAT", "binary")
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stdout)
    );
    let run = |args: &[&str]| {
        let r = Command::new(support::ruchytrace())
            .args(args)
            .arg(&out)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        String::from_utf8(r.stdout).unwrap()
    };
    let doc: Json = serde_json::from_str(&run(&["merge", "--format", "json"])).unwrap();
    let mut workers = BTreeMap::new();
    for t in doc["threads"].as_array().unwrap() {
        if let Some(name) = t["name"].as_str().filter(|n| n.starts_with("worker-")) {
            workers.insert(t["tid"].as_u64().unwrap(), name.to_string());
        }
    }
    // Every poll: (start, thread, event), per future.
    let mut futures: BTreeMap<u64, Vec<(u64, u64, Json)>> = BTreeMap::new();
    for t in doc["threads"].as_array().unwrap() {
        let tid = t["tid"].as_u64().unwrap();
        for e in t["events"].as_array().unwrap() {
            if e["name"] == "task" {
                let id = e["future"]["call_id"].as_u64().unwrap();
                let start = e["start_ns"].as_u64().unwrap();
                futures.entry(id).or_default().push((start, tid, e.clone()));
            }
        }
    }
    assert_eq!(futures.len() as u64, TASKS, "{:?}", futures.keys());
    let (mut moved, mut resumed_elsewhere) = (0u64, 0u64);
    let mut expected_report: BTreeMap<u64, String> = BTreeMap::new();
    for (&id, polls) in futures.iter_mut() {
        polls.sort_by_key(|p| p.0);
        let f = &polls[0].2["future"];
        // Two timer waits: at least three polls, every one of them on a tokio worker.
        assert!(polls.len() >= 3, "{polls:?}");
        assert_eq!(f["polls"].as_u64(), Some(polls.len() as u64));
        assert!(
            polls.iter().all(|p| workers.contains_key(&p.1)),
            "{polls:?}"
        );
        assert_eq!(f["completed"], true);
        // The segment threads: the polls' threads, consecutive repeats merged.
        let mut segments: Vec<u64> = Vec::new();
        for p in polls.iter() {
            if segments.last() != Some(&p.1) {
                segments.push(p.1);
            }
        }
        assert_eq!(f["threads"], serde_json::json!(segments));
        if segments.len() > 1 {
            moved += 1;
            let path: Vec<String> = segments.iter().map(u64::to_string).collect();
            expected_report.insert(
                id,
                format!("{} polls on threads {};", polls.len(), path.join(" -> ")),
            );
        }
        resumed_elsewhere += polls.windows(2).filter(|w| w[0].1 != w[1].1).count() as u64;
        // Busy time is the polls' time; the lifetime runs from the first poll's start to the
        // last one's end, and holds both timer waits.
        let busy = f["busy_ns"].as_u64().unwrap();
        let life = f["lifetime_ns"].as_u64().unwrap();
        let durations: u64 = polls
            .iter()
            .map(|p| p.2["duration_ns"].as_u64().unwrap())
            .sum();
        assert_eq!(busy, durations);
        let last = &polls[polls.len() - 1].2;
        assert_eq!(life, last["end_ns"].as_u64().unwrap() - polls[0].0);
        assert!(busy >= 600_000, "three busy spells of 200 us: {busy}");
        assert!(
            life >= busy + 2_000_000,
            "two 1 ms waits: life {life}, busy {busy}"
        );
        assert_eq!(
            last["return"]["text"],
            (polls[0].2["args"][0]["value"].as_u64().unwrap() + 1).to_string()
        );
    }
    // Work stealing moves futures between workers (dozens of the 64 in practice).
    assert!(moved > 0, "no future moved between tokio's workers");
    // The text timeline names the thread each resumed poll came from.
    let text = run(&["merge"]);
    assert_eq!(
        text.matches("moved from thread ").count() as u64,
        resumed_elsewhere,
        "{text}"
    );
    // `report --futures`: one row for `task`, with its futures and how many moved, then each
    // moved future's threads in order.
    let report = run(&["report", "--futures"]);
    let row: Vec<&str> = report
        .lines()
        .find(|l| l.ends_with("  task"))
        .unwrap_or_else(|| panic!("{report}"))
        .split_whitespace()
        .collect();
    assert_eq!(row[..2], [TASKS.to_string(), moved.to_string()], "{report}");
    // Each listed future (the first 20) with its threads in order, then how many more.
    let listed: Vec<(u64, &str)> = report
        .lines()
        .filter_map(|l| l.strip_prefix("  task (future "))
        .map(|l| {
            let (id, rest) = l.split_once("): ").unwrap();
            (id.parse().unwrap(), rest)
        })
        .collect();
    assert_eq!(listed.len() as u64, moved.min(20), "{report}");
    for (id, rest) in &listed {
        assert!(
            rest.starts_with(&expected_report[id]),
            "future {id}: {rest}"
        );
    }
    if moved > 20 {
        assert!(report.contains(&format!("  ... and {} more", moved - 20)));
    }
}
