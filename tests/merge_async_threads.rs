//! Futures that really move between threads, recorded by the real runtime: this test binary
//! runs itself as a child (`child_workload`, only active with `RUCHYTRACE_ASYNC_CHILD` set)
//! where a two-thread executor polls six `#[trace] async fn` futures once on `poller-a`, then
//! hands them to `poller-b`, which polls them to completion. The parent merges the child's
//! trace and checks every future's lifetime, busy time and segment threads in the merged JSON,
//! the text timeline and `report --futures`.
#![cfg(feature = "trace")]

#[path = "support/sys.rs"]
mod support;

use std::future::Future;
use std::pin::Pin;
use std::process::Command;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

use ruchytrace::trace;
use serde_json::Value as Json;

const FUTURES: u64 = 6;
const CHILD_ENV: &str = "RUCHYTRACE_ASYNC_CHILD";

/// Pending once, then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[trace]
async fn job(n: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1));
    YieldOnce(false).await;
    std::thread::sleep(Duration::from_millis(2));
    n * 2
}

fn noop_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: every vtable function ignores the (null) data pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

type Job = Pin<Box<dyn Future<Output = u64> + Send>>;

fn poll(f: &mut Job) -> Poll<u64> {
    let waker = noop_waker();
    f.as_mut().poll(&mut Context::from_waker(&waker))
}

#[test]
fn child_workload() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let a = std::thread::Builder::new()
        .name("poller-a".into())
        .spawn(move || {
            for n in 0..FUTURES {
                let mut f: Job = Box::pin(job(n));
                assert!(poll(&mut f).is_pending());
                tx.send(f).unwrap();
            }
        })
        .unwrap();
    let b = std::thread::Builder::new()
        .name("poller-b".into())
        .spawn(move || {
            let mut total = 0;
            for mut f in rx {
                // A gap between the polls: the future waits, not busy.
                std::thread::sleep(Duration::from_millis(3));
                loop {
                    if let Poll::Ready(v) = poll(&mut f) {
                        total += v;
                        break;
                    }
                }
            }
            total
        })
        .unwrap();
    a.join().unwrap();
    assert_eq!(b.join().unwrap(), (0..FUTURES).map(|n| n * 2).sum::<u64>());
    ruchytrace::flush();
}

#[test]
fn futures_moving_between_threads() {
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
        .args(["--exact", "child_workload", "--test-threads", "1"])
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
    let merged = |args: &[&str]| {
        let r = Command::new(support::ruchytrace())
            .arg("merge")
            .arg(&out)
            .args(args)
            .output()
            .unwrap();
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        String::from_utf8(r.stdout).unwrap()
    };
    let doc: Json = serde_json::from_str(&merged(&["--format", "json"])).unwrap();
    let tid_of = |name: &str| {
        doc["threads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("thread {name}"))["tid"]
            .as_u64()
            .unwrap()
    };
    let (a, b) = (tid_of("poller-a"), tid_of("poller-b"));
    assert_ne!(a, b);
    let mut futures = std::collections::BTreeMap::new();
    for t in doc["threads"].as_array().unwrap() {
        for e in t["events"].as_array().unwrap() {
            if e["name"] == "job" {
                let f = &e["future"];
                futures
                    .entry(f["call_id"].as_u64().unwrap())
                    .or_insert_with(Vec::new)
                    .push((t["tid"].as_u64().unwrap(), e.clone()));
            }
        }
    }
    assert_eq!(futures.len() as u64, FUTURES, "{futures:?}");
    for polls in futures.values() {
        assert_eq!(polls.len(), 2);
        let f = &polls[0].1["future"];
        assert_eq!(f["polls"], 2);
        assert_eq!(f["threads"], serde_json::json!([a, b]));
        assert_eq!(f["completed"], true);
        let (first, second) = (&polls[0], &polls[1]);
        assert_eq!((first.0, second.0), (a, b));
        let busy = f["busy_ns"].as_u64().unwrap();
        let life = f["lifetime_ns"].as_u64().unwrap();
        assert_eq!(
            busy,
            first.1["duration_ns"].as_u64().unwrap() + second.1["duration_ns"].as_u64().unwrap()
        );
        assert_eq!(
            life,
            second.1["end_ns"].as_u64().unwrap() - first.1["start_ns"].as_u64().unwrap()
        );
        // Polls sleep 1 ms and 2 ms; the future waits at least 3 ms between them.
        assert!(busy >= 3_000_000, "busy {busy}");
        assert!(life >= busy + 3_000_000, "lifetime {life}, busy {busy}");
        assert_eq!(
            second.1["return"]["text"],
            (first.1["args"][0]["value"].as_u64().unwrap() * 2).to_string()
        );
    }
    // The text timeline: each resumed poll says where it came from; each exit its lifetime.
    let text = merged(&[]);
    assert_eq!(
        text.matches(&format!("(poll 2, moved from thread {a})"))
            .count() as u64,
        FUTURES,
        "{text}"
    );
    assert_eq!(
        text.matches(&format!("in 2 polls, threads {a},{b})"))
            .count() as u64,
        FUTURES,
        "{text}"
    );
    let r = Command::new(support::ruchytrace())
        .args(["report", "--futures"])
        .arg(&out)
        .output()
        .unwrap();
    let report = String::from_utf8(r.stdout).unwrap();
    let row: Vec<&str> = report
        .lines()
        .find(|l| l.ends_with("  job"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row[..2], ["6", "6"], "{report}");
    assert_eq!(
        report
            .matches(&format!("2 polls on threads {a} -> {b}"))
            .count() as u64,
        FUTURES
    );
}
