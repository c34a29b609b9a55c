//! `RUCHYTRACE=dormant`, `ruchytrace attach` and `ruchytrace snapshot` against real running
//! programs: a dormant program records nothing until attached, records while attached (its
//! calls, and with `--syscalls` its system calls, merged), stops when the session ends and runs
//! on; a ring-mode program's flight recorder is copied while it runs.
#![cfg(feature = "trace")]

#[path = "support/sys.rs"]
mod support;

use ruchytrace::runtime::format::read_trace;
use ruchytrace::runtime::model::{Event, Return, Trace, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/crash_target")
}

/// A running `crash_target` whose `done` lines are counted as they come.
struct Running {
    child: Child,
    lines: Arc<AtomicU64>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    fn start(env: &[(&str, &str)], args: &[&str]) -> Running {
        let mut c = Command::new(example());
        c.args(args)
            .env_remove("RUCHYTRACE_OUTPUT")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let lines = Arc::new(AtomicU64::new(0));
        let l2 = lines.clone();
        let reader = std::thread::spawn(move || {
            for l in BufReader::new(out).lines() {
                if l.is_err() {
                    break;
                }
                l2.fetch_add(1, Ordering::Relaxed);
            }
        });
        Running {
            child,
            lines,
            reader: Some(reader),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn lines(&self) -> u64 {
        self.lines.load(Ordering::Relaxed)
    }

    fn wait_lines(&self, n: u64) {
        let end = Instant::now() + Duration::from_secs(20);
        while self.lines() < n {
            assert!(
                Instant::now() < end,
                "the program stalled at {} lines",
                self.lines()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}

fn ruchytrace(args: &[&str]) -> std::process::Output {
    Command::new(support::ruchytrace())
        .args(args)
        .output()
        .unwrap()
}

/// The `i` of every completed `step(i)` in `trace`, in order.
fn steps(trace: &Trace) -> Vec<u64> {
    let id = trace.sites.iter().find(|s| s.name == "step").map(|s| s.id);
    trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Exit {
                site,
                ret: Return::Value(Value::U64(v)),
                ..
            } if Some(*site) == id => Some(v / 3),
            _ => None,
        })
        .collect()
}

fn contiguous(v: &[u64]) -> bool {
    v.windows(2).all(|w| w[1] == w[0] + 1)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn dormant_program_records_only_while_attached() {
    let cwd = tempfile::tempdir().unwrap();
    // Idle for 300 ms before its first traced call: attach must work before it.
    let p = Running::start(&[("RUCHYTRACE", "dormant")], &["idle", "300"]);
    std::thread::sleep(Duration::from_millis(100));
    let dir = cwd.path().join("session");
    let o = ruchytrace(&[
        "attach",
        &p.pid().to_string(),
        "--for",
        "800ms",
        "-o",
        dir.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let pid = p.pid();
    assert_eq!(
        files_in(&dir),
        [
            format!("fn-{pid}.json"),
            "merged.txt".into(),
            format!("raw-{pid}.rtrace")
        ]
    );
    let after_off = p.lines();
    let raw = dir.join(format!("raw-{pid}.rtrace"));
    let session = steps(&read_trace(&raw).unwrap());
    assert!(session.len() > 100, "{} calls in 800 ms", session.len());
    assert_eq!(session[0], 0, "recording was on before the first call");
    assert!(contiguous(&session), "every call while attached");
    let last = *session.last().unwrap();
    assert!(
        last < after_off,
        "{last} recorded, {after_off} reported after off"
    );
    // Switched off: the program runs on and records nothing more.
    p.wait_lines(after_off + 100);
    let again = steps(&read_trace(&raw).unwrap());
    assert_eq!(
        again.len(),
        session.len(),
        "nothing recorded after the session"
    );
    // The session's own trace and the merged timeline hold the same calls.
    let fn_trace = read_trace(&dir.join(format!("fn-{pid}.json"))).unwrap();
    assert_eq!(steps(&fn_trace), session);
    let merged = std::fs::read_to_string(dir.join("merged.txt")).unwrap();
    assert_eq!(
        merged.matches("-> step(i=").count(),
        session.len(),
        "{}",
        &merged[..merged.len().min(2000)]
    );
    assert!(
        err.contains(&format!("{} calls recorded", session.len())),
        "{err}"
    );
}

#[test]
fn second_session_records_into_the_same_file_and_keeps_only_its_calls() {
    let cwd = tempfile::tempdir().unwrap();
    let p = Running::start(&[("RUCHYTRACE", "dormant")], &["idle", "0"]);
    p.wait_lines(20);
    let pid = p.pid().to_string();
    let d1 = cwd.path().join("one");
    let d2 = cwd.path().join("two");
    let o = ruchytrace(&["attach", &pid, "--for", "300ms", "-o", d1.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let between = p.lines();
    p.wait_lines(between + 50);
    let o = ruchytrace(&["attach", &pid, "--for", "300ms", "-o", d2.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let first = steps(&read_trace(&d1.join(format!("fn-{pid}.json"))).unwrap());
    let second = steps(&read_trace(&d2.join(format!("fn-{pid}.json"))).unwrap());
    assert!(
        first.len() > 20 && second.len() > 20,
        "{first:?} {second:?}"
    );
    assert!(contiguous(&first) && contiguous(&second));
    assert!(
        *first.last().unwrap() + 50 <= second[0],
        "the gap between the sessions is not recorded"
    );
    // The raw file stays where the first session put it.
    assert!(!d2.join(format!("raw-{pid}.rtrace")).exists());
}

#[test]
fn attach_with_syscalls_merges_the_programs_system_calls() {
    let cwd = tempfile::tempdir().unwrap();
    let p = Running::start(&[("RUCHYTRACE", "dormant")], &["idle", "0"]);
    p.wait_lines(10);
    let dir = cwd.path().join("s");
    let o = ruchytrace(&[
        "attach",
        &p.pid().to_string(),
        "--syscalls",
        "--for",
        "500ms",
        "-o",
        dir.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    if err.contains("cannot attach to process") {
        eprintln!("skipped: ptrace is not permitted here: {err}");
        return;
    }
    assert_eq!(o.status.code(), Some(0), "{err}");
    let before = p.lines();
    p.wait_lines(before + 50);
    let sys: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sys.json")).unwrap()).unwrap();
    let events = sys["events"].as_array().unwrap();
    let writes = events
        .iter()
        .filter(|e| e["name"] == "write" && e["args"][0] == "1")
        .count();
    assert!(writes > 20, "{writes} writes of `done` lines traced");
    let merged = std::fs::read_to_string(dir.join("merged.txt")).unwrap();
    assert!(merged.contains("-> step(i="), "{merged}");
    assert!(merged.contains("write(1, \"done "), "{merged}");
}

#[test]
fn a_forked_child_of_a_dormant_program_is_dormant_with_its_own_socket() {
    let mut c = Command::new(example());
    c.args(["forkidle", "50"])
        .env("RUCHYTRACE", "dormant")
        .env_remove("RUCHYTRACE_OUTPUT")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut parent = c.spawn().unwrap();
    let mut lines = BufReader::new(parent.stdout.take().unwrap()).lines();
    let kid: u32 = lines
        .by_ref()
        .find_map(|l| l.ok()?.strip_prefix("forked ")?.parse().ok())
        .expect("the parent prints its child's pid");
    // Keep the parent's stdout drained.
    let drain = std::thread::spawn(move || for _ in lines {});
    std::thread::sleep(Duration::from_millis(100));
    let cwd = tempfile::tempdir().unwrap();
    let mut got = Vec::new();
    for pid in [kid, parent.id()] {
        let dir = cwd.path().join(pid.to_string());
        let o = ruchytrace(&[
            "attach",
            &pid.to_string(),
            "--for",
            "300ms",
            "-o",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let t = read_trace(&dir.join(format!("fn-{pid}.json"))).unwrap();
        assert!(t.events.iter().all(|e| e.pid_tid().0 == pid), "{pid}");
        got.push(steps(&t));
    }
    // SAFETY: ending the child this test's program forked.
    unsafe { libc::kill(kid as i32, libc::SIGKILL) };
    let _ = parent.kill();
    let _ = parent.wait();
    let _ = drain.join();
    let (child_calls, parent_calls) = (&got[0], &got[1]);
    assert!(child_calls.len() > 20 && parent_calls.len() > 20, "{got:?}");
    assert!(
        child_calls.iter().all(|i| *i >= 1_000_000),
        "{child_calls:?}"
    );
    assert!(
        parent_calls.iter().all(|i| *i < 1_000_000),
        "{parent_calls:?}"
    );
    assert!(contiguous(child_calls) && contiguous(parent_calls));
}

#[test]
fn attach_to_a_process_that_is_not_dormant_fails_clearly() {
    let p = Running::start(&[("RUCHYTRACE", "0")], &["idle", "0"]);
    p.wait_lines(5);
    let cwd = tempfile::tempdir().unwrap();
    let o = ruchytrace(&[
        "attach",
        &p.pid().to_string(),
        "--for",
        "100ms",
        "-o",
        cwd.path().join("x").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("does not listen for attach") && err.contains("RUCHYTRACE=dormant"),
        "{err}"
    );
}

fn snapshot_case(env: &[(&str, &str)]) {
    let p = Running::start(env, &["count", "0"]);
    p.wait_lines(5_000);
    let dir = tempfile::tempdir().unwrap();
    let mut lasts = Vec::new();
    for round in 0..3 {
        if let Some(prev) = lasts.last() {
            // The program has made calls since the previous snapshot (on a loaded machine it
            // may not have run at all between two snapshots taken back to back).
            p.wait_lines(prev + 300);
        }
        let before = p.lines();
        let out = dir.path().join(format!("snap-{round}.rtrace"));
        let o = ruchytrace(&[
            "snapshot",
            &p.pid().to_string(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let trace = read_trace(&out).unwrap();
        assert!(
            trace.truncation.is_some(),
            "a running program's trace is partial"
        );
        let got = steps(&trace);
        assert!(got.len() >= 300, "the last events survive: {}", got.len());
        assert!(contiguous(&got), "round {round}: a contiguous run of calls");
        // Every call reported before the snapshot is in it (the program's later lines may
        // still sit in the pipe, so only the lower bound is exact).
        let last = *got.last().unwrap();
        assert!(
            last + 1 >= before,
            "round {round}: last call {last}, {before} reported before"
        );
        lasts.push(last);
        assert!(
            got[0] > 0,
            "the ring has wrapped: the oldest calls are gone"
        );
    }
    // Not stopped: it keeps going, past every snapshot.
    let now = p.lines();
    p.wait_lines(now + 1_000);
    assert!(lasts.windows(2).all(|w| w[0] < w[1]), "{lasts:?}");
    let total = p.lines();
    assert!(lasts.iter().all(|l| *l < total), "{lasts:?} {total}");
}

#[test]
fn snapshot_copies_a_running_ring_programs_flight_recorder() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ring-%p.rtrace");
    snapshot_case(&[
        ("RUCHYTRACE", "1"),
        ("RUCHYTRACE_OVERFLOW", "ring"),
        ("RUCHYTRACE_RING", "300"),
        ("RUCHYTRACE_OUTPUT", file.to_str().unwrap()),
    ]);
}

#[test]
fn snapshot_finds_the_memory_file_of_a_text_output() {
    // A text output in ring mode records into an anonymous memory file until exit.
    snapshot_case(&[
        ("RUCHYTRACE", "1"),
        ("RUCHYTRACE_OVERFLOW", "ring"),
        ("RUCHYTRACE_RING", "300"),
    ]);
}

#[test]
fn snapshot_of_a_process_without_trace_fails_clearly() {
    let p = Running::start(&[("RUCHYTRACE", "0")], &["idle", "0"]);
    p.wait_lines(5);
    let o = ruchytrace(&["snapshot", &p.pid().to_string(), "-o", "/dev/null"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("has no ruchytrace trace file mapped"), "{err}");
}
