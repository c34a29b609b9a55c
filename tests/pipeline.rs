//! End-to-end tests of the function-tracing runtime: real example programs run with
//! `RUCHYTRACE_*` settings, their trace files read back and checked whole.
#![cfg(feature = "trace")]

use ruchytrace::runtime::format::{read_trace, Nesting, SiteTable};
use ruchytrace::runtime::model::{Event, LossReason, Return, Trace, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    // target/debug/deps/pipeline-xxxx -> target/debug/examples/NAME
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built (cargo test builds examples)",
        path.display()
    );
    path
}

fn run(name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(example(name));
    cmd.args(args);
    for k in ruchytrace::runtime::config::ENV_VARS {
        cmd.env_remove(k);
    }
    cmd.env_remove("RUST_BACKTRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run example")
}

fn tmp(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join(name);
    (dir, p)
}

/// Per thread: (enters, exits) by site name, and checks that every exit closes the innermost
/// open call of its thread with the same site.
fn check_nesting(trace: &Trace) -> HashMap<u32, HashMap<String, (u64, u64)>> {
    let mut stacks: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut counts: HashMap<u32, HashMap<String, (u64, u64)>> = HashMap::new();
    for ev in &trace.events {
        match ev {
            Event::Enter { site, tid, .. } => {
                stacks.entry(*tid).or_default().push(*site);
                let name = trace.site(*site).expect("site").name.clone();
                counts.entry(*tid).or_default().entry(name).or_default().0 += 1;
            }
            Event::Exit { site, tid, .. } => {
                let top = stacks.entry(*tid).or_default().pop();
                assert_eq!(
                    top,
                    Some(*site),
                    "exit of site {site} on thread {tid} does not close the innermost call"
                );
                let name = trace.site(*site).expect("site").name.clone();
                counts.entry(*tid).or_default().entry(name).or_default().1 += 1;
            }
            _ => {}
        }
    }
    counts
}

#[test]
fn eight_threads_100k_calls_exact_counts_and_nesting() {
    let (_d, out) = tmp("t.rtrace");
    let o = run(
        "stress",
        &["8", "100000", "return"],
        &[("RUCHYTRACE_OUTPUT", out.to_str().unwrap())],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trace = read_trace(&out).expect("read");
    assert!(trace.is_complete(), "{:?}", trace.truncation);
    let counts = check_nesting(&trace);
    let workers: Vec<_> = counts
        .iter()
        .filter(|(_, c)| c.contains_key("work"))
        .collect();
    assert_eq!(workers.len(), 8);
    for (tid, c) in workers {
        assert_eq!(c["work"], (100_000, 100_000), "thread {tid}");
        assert_eq!(c["leaf"], (100_000, 100_000), "thread {tid}");
    }
    let names: Vec<_> = trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Thread { name: Some(n), .. } if n.starts_with("worker-") => Some(n.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    assert_eq!(trace.trailer.as_ref().unwrap().lost, 0);
}

#[test]
fn leaf_args_and_returns_are_typed() {
    let (_d, out) = tmp("t.json");
    let o = run(
        "stress",
        &["1", "3", "return"],
        &[("RUCHYTRACE_OUTPUT", out.to_str().unwrap())],
    );
    assert!(o.status.success());
    let trace = read_trace(&out).expect("read json");
    let leaf = trace
        .sites
        .iter()
        .find(|s| s.name == "leaf")
        .expect("leaf site");
    assert_eq!(leaf.args.len(), 1);
    assert_eq!(
        (leaf.args[0].name.as_str(), leaf.args[0].type_name.as_str()),
        ("i", "u64")
    );
    assert_eq!(leaf.return_type, "u64");
    assert!(
        leaf.qualified_name.ends_with("stress::leaf"),
        "{}",
        leaf.qualified_name
    );
    let mut pairs = Vec::new();
    let mut last_arg = None;
    for ev in &trace.events {
        match ev {
            Event::Enter { site, args, .. } if *site == leaf.id => last_arg = Some(args[0].clone()),
            Event::Exit { site, ret, .. } if *site == leaf.id => {
                pairs.push((last_arg.take().unwrap(), ret.clone()))
            }
            _ => {}
        }
    }
    assert_eq!(
        pairs,
        (0..3u64)
            .map(|i| (Value::U64(i), Return::Value(Value::U64(i ^ 5))))
            .collect::<Vec<_>>()
    );
}

#[test]
fn overflow_block_loses_nothing() {
    let (_d, out) = tmp("t.rtrace");
    let o = run(
        "stress",
        &["2", "50000", "return"],
        &[
            ("RUCHYTRACE_OUTPUT", out.to_str().unwrap()),
            ("RUCHYTRACE_BUFFER", "4K"),
            ("RUCHYTRACE_FLUSH_MS", "500"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trace = read_trace(&out).expect("read");
    assert!(trace.is_complete());
    let counts = check_nesting(&trace);
    for c in counts.values().filter(|c| c.contains_key("work")) {
        assert_eq!(c["work"], (50_000, 50_000));
    }
    // Records go straight into the trace file: a small buffer only means small segments, and
    // nobody waits.
    assert!(!trace.events.iter().any(|e| matches!(e, Event::Loss { .. })));
    assert!(!trace
        .events
        .iter()
        .any(|e| matches!(e, Event::Stall { .. })));
}

#[test]
fn overflow_drop_counts_every_lost_event() {
    let (_d, out) = tmp("t.rtrace");
    let o = run(
        "stress",
        &["2", "50000", "return"],
        &[
            ("RUCHYTRACE_OUTPUT", out.to_str().unwrap()),
            ("RUCHYTRACE_BUFFER", "4K"),
            ("RUCHYTRACE_FLUSH_MS", "500"),
            ("RUCHYTRACE_OVERFLOW", "drop"),
        ],
    );
    assert!(o.status.success());
    let trace = read_trace(&out).expect("read");
    let mut per_thread: HashMap<u32, u64> = HashMap::new();
    for ev in &trace.events {
        match ev {
            Event::Enter { tid, .. } | Event::Exit { tid, .. } => {
                *per_thread.entry(*tid).or_default() += 1
            }
            Event::Loss {
                tid, count, reason, ..
            } => {
                assert_eq!(*reason, LossReason::BufferFull);
                *per_thread.entry(*tid).or_default() += count;
            }
            _ => {}
        }
    }
    let lost: u64 = trace
        .events
        .iter()
        .map(|e| {
            if let Event::Loss { count, .. } = e {
                *count
            } else {
                0
            }
        })
        .sum();
    // Recorded + lost = every call's enter and exit (work + leaf = 4 events per iteration),
    // except that a dropped enter suppresses its own exit; so recorded + lost <= 4 * 50_000.
    // A thread's buffer overflows unless the collector happened to keep up (it drains early
    // whenever a producer reports pressure); if nothing was lost, everything must be there.
    let workers: Vec<_> = per_thread
        .iter()
        .filter(|(t, _)| **t != trace.metadata.pid)
        .collect();
    assert_eq!(workers.len(), 2, "{per_thread:?}");
    for (tid, n) in workers {
        if lost == 0 {
            assert_eq!(
                *n, 200_000,
                "thread {tid}: nothing lost, so nothing may be missing"
            );
        } else {
            assert!(*n <= 200_000 && *n > 0, "thread {tid}: {n}");
        }
    }
    assert_eq!(trace.trailer.as_ref().unwrap().lost, lost);
}

#[test]
fn overflow_ring_keeps_the_last_events_of_each_thread() {
    let (_d, out) = tmp("t.rtrace");
    let o = run(
        "stress",
        &["2", "10000", "return"],
        &[
            ("RUCHYTRACE_OUTPUT", out.to_str().unwrap()),
            ("RUCHYTRACE_OVERFLOW", "ring"),
            ("RUCHYTRACE_RING", "100"),
            // Big enough that the producer never waits, so no stall records enter the count.
            ("RUCHYTRACE_BUFFER", "16M"),
        ],
    );
    assert!(o.status.success());
    let trace = read_trace(&out).expect("read");
    let mut kept: HashMap<u32, u64> = HashMap::new();
    let mut evicted: HashMap<u32, u64> = HashMap::new();
    for ev in &trace.events {
        match ev {
            Event::Loss {
                tid,
                count,
                reason: LossReason::Evicted,
                ..
            } => {
                evicted.insert(*tid, *count);
            }
            e => *kept.entry(e.pid_tid().1).or_default() += 1,
        }
    }
    let workers: Vec<u32> = evicted.keys().copied().collect();
    assert_eq!(workers.len(), 2, "{evicted:?}");
    for t in workers {
        // Whole segments survive: at least the last 100 events, far fewer than recorded.
        assert!((100..10_000).contains(&kept[&t]), "{}", kept[&t]);
        // 1 thread record + 4 events per iteration.
        assert_eq!(evicted[&t] + kept[&t], 1 + 4 * 10_000);
    }
    // The last kept event of a worker is the final exit of `work`.
    let last = trace
        .events
        .iter()
        .rev()
        .find(|e| matches!(e, Event::Exit { .. }))
        .unwrap();
    let Event::Exit { site, .. } = last else {
        unreachable!()
    };
    assert_eq!(trace.site(*site).unwrap().name, "work");
}

#[test]
fn process_exit_flushes_and_keeps_the_status() {
    let (_d, out) = tmp("t.rtrace");
    let o = run(
        "stress",
        &["2", "1000", "exit"],
        &[("RUCHYTRACE_OUTPUT", out.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(3));
    let trace = read_trace(&out).expect("read");
    assert!(trace.is_complete());
    let counts = check_nesting(&trace);
    assert_eq!(
        counts
            .values()
            .filter(|c| c.get("work") == Some(&(1000, 1000)))
            .count(),
        2
    );
}

#[test]
fn abort_keeps_every_event_before_it() {
    let (_d, out) = tmp("t.rtrace");
    let o = run(
        "stress",
        &["2", "1000", "abort"],
        &[("RUCHYTRACE_OUTPUT", out.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), None, "killed by SIGABRT");
    let trace = read_trace(&out).expect("read");
    // Not closed properly: the reader says so, and keeps everything.
    assert!(!trace.is_complete());
    let counts = check_nesting(&trace);
    assert_eq!(
        counts
            .values()
            .filter(|c| c.get("work") == Some(&(1000, 1000)))
            .count(),
        2
    );
    let explode = trace
        .sites
        .iter()
        .find(|s| s.name == "explode")
        .expect("explode recorded");
    assert!(trace.events.iter().any(|e| matches!(e, Event::Enter { site, args, .. } if *site == explode.id && args == &vec![Value::I32(7)])));
}

#[test]
fn thread_that_never_returns_is_reported_open() {
    let (_d, out) = tmp("t.json");
    let o = run(
        "stress",
        &["1", "10", "hang"],
        &[("RUCHYTRACE_OUTPUT", out.to_str().unwrap())],
    );
    assert!(o.status.success());
    let trace = read_trace(&out).expect("read");
    assert!(trace.is_complete());
    let sites = SiteTable::from_sites(&trace.sites);
    let mut n = Nesting::new();
    for ev in &trace.events {
        n.observe(ev, &sites);
    }
    let open = n.open_calls();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(trace.site(open[0].site).unwrap().name, "stuck");
}

#[test]
fn sigkill_keeps_what_was_streamed() {
    let (_d, out) = tmp("t.rtrace");
    let mut child = Command::new(example("stress"))
        .args(["1", "0", "forever"])
        .env("RUCHYTRACE_OUTPUT", &out)
        .env("RUCHYTRACE_FLUSH_MS", "10")
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(400));
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let trace = read_trace(&out).expect("a killed trace still reads");
    assert!(!trace.is_complete());
    // What survived is exactly the worker's calls from the first on, in order, with their
    // values: work(0, i) holding leaf(i), for i = 0, 1, 2, ..., with at most the call in
    // flight cut short at the end. Nothing is lost under the default `block` policy.
    let site = |name: &str| {
        trace
            .sites
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name} site"))
            .id
    };
    let (work, leaf) = (site("work"), site("leaf"));
    let calls: Vec<&Event> = trace
        .events
        .iter()
        .filter(|e| match e {
            Event::Enter { site, .. } | Event::Exit { site, .. } => *site == work || *site == leaf,
            Event::Loss { .. } => panic!("events were lost: {e:?}"),
            _ => false,
        })
        .collect();
    let expected = |n: usize| -> (u32, Option<Vec<Value>>, Option<Value>) {
        let i = (n / 4) as u64;
        match n % 4 {
            0 => (work, Some(vec![Value::U32(0), Value::U64(i)]), None),
            1 => (leaf, Some(vec![Value::U64(i)]), None),
            2 => (leaf, None, Some(Value::U64(i ^ 0x5))),
            _ => (work, None, Some(Value::U64(i ^ 0x5))),
        }
    };
    for (n, ev) in calls.iter().enumerate() {
        let got = match ev {
            Event::Enter { site, args, .. } => (*site, Some(args.clone()), None),
            Event::Exit {
                site,
                ret: Return::Value(v),
                ..
            } => (*site, None, Some(v.clone())),
            other => panic!("event {n}: unexpected {other:?}"),
        };
        assert_eq!(got, expected(n), "event {n}");
    }
    let complete = calls.len() / 4;
    assert!(complete > 1000, "only {complete} calls survived");
}

#[test]
fn bad_environment_values_warn_once_and_fall_back() {
    let (_d, out) = tmp("t.json");
    let o = run(
        "stress",
        &["1", "5", "return"],
        &[
            ("RUCHYTRACE_OUTPUT", out.to_str().unwrap()),
            ("RUCHYTRACE_SAMPLE", "lots"),
            ("RUCHYTRACE_OVERFLOW", "explode"),
        ],
    );
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let warnings: Vec<_> = err.lines().filter(|l| l.contains("warning")).collect();
    assert_eq!(
        warnings,
        vec![
            "ruchytrace: warning: invalid RUCHYTRACE_OVERFLOW=\"explode\": expected block, drop or ring; using the default",
            "ruchytrace: warning: invalid RUCHYTRACE_SAMPLE=\"lots\": expected a number >= 1 (record one call in N); using the default",
        ]
    );
    let trace = read_trace(&out).expect("read");
    assert_eq!(trace.metadata.settings.sample, 1);
    assert_eq!(trace.metadata.settings.overflow, "block");
}

#[test]
fn disabled_by_environment_writes_nothing() {
    let (_d, out) = tmp("t.json");
    let o = run(
        "stress",
        &["1", "5", "return"],
        &[
            ("RUCHYTRACE_OUTPUT", out.to_str().unwrap()),
            ("RUCHYTRACE", "0"),
        ],
    );
    assert!(o.status.success());
    assert!(!out.exists());
}

#[test]
fn fibonacci_text_output_has_the_documented_shape() {
    let (_d, out) = tmp("fib.txt");
    let o = run(
        "fibonacci",
        &["3"],
        &[("RUCHYTRACE_OUTPUT", out.to_str().unwrap())],
    );
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "fibonacci(3) = 2\n");
    let text = std::fs::read_to_string(&out).unwrap();
    // Strip the wall-clock stamps and durations, keep everything else verbatim.
    let stamp = |l: &str| -> String {
        let l = l.trim_end();
        assert!(l.starts_with('['), "{l}");
        let (ts, rest) = l.split_at(l.find(']').unwrap() + 1);
        assert!(ts[1..ts.len() - 1].parse::<f64>().unwrap() > 1.6e9, "{ts}");
        match rest.rfind(" [") {
            Some(i) if rest.ends_with("s]") => rest[..i].to_string(),
            _ => rest.to_string(),
        }
    };
    let body: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(stamp)
        .filter(|l| !l.contains("++ thread"))
        .collect();
    let loc = "<examples/fibonacci.rs:12:1>";
    let expected = [
        format!(" -> fibonacci(n=3) {loc}"),
        format!("   -> fibonacci(n=2) {loc}"),
        format!("     -> fibonacci(n=1) {loc}"),
        "     <- fibonacci() = 1".to_string(),
        format!("     -> fibonacci(n=0) {loc}"),
        "     <- fibonacci() = 0".to_string(),
        "   <- fibonacci() = 1".to_string(),
        format!("   -> fibonacci(n=1) {loc}"),
        "   <- fibonacci() = 1".to_string(),
        " <- fibonacci() = 2".to_string(),
    ];
    assert_eq!(body, expected, "{text}");
}
