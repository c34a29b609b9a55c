//! What a recording program leaves behind when it does not end normally, forks, or cannot write
//! its trace: every call it completed before a kill is in the file (under `block`, `drop` and
//! `ring`), abort / SIGSEGV / `process::exit` keep the trace, a forked child records into its
//! own file, an unwritable path or a full disk costs one warning and nothing else, and the
//! runtime's start-up is not inside the first call's duration.
#![cfg(feature = "trace")]

use ruchytrace::runtime::format::read_trace;
use ruchytrace::runtime::model::{Event, Return, Trace, Value};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/crash_target")
}

fn target(out: &Path, policy: &str) -> Command {
    let mut c = Command::new(example());
    c.env("RUCHYTRACE", "1")
        .env("RUCHYTRACE_OUTPUT", out)
        .env("RUCHYTRACE_OVERFLOW", policy)
        // Small segments, so kills land at segment switches too.
        .env("RUCHYTRACE_BUFFER", "16K")
        .env("RUCHYTRACE_RING", "300");
    c
}

/// The `i` of every completed `step(i)` call (an exit record whose value is `3 * i`), per pid,
/// in file order.
fn completed(trace: &Trace) -> Vec<(u32, u64)> {
    let step = trace.sites.iter().find(|s| s.name == "step").map(|s| s.id);
    trace
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Exit {
                site,
                pid,
                ret: Return::Value(Value::U64(v)),
                ..
            } if Some(*site) == step => Some((*pid, v / 3)),
            _ => None,
        })
        .collect()
}

/// `done i` lines the program printed (each after `step(i)` returned).
fn reported(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("done ")?.parse().ok())
        .collect()
}

/// A small deterministic generator (seeded from the clock; the seed is in failure messages).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `count 0` (forever), kills it with SIGKILL after `delay_us`, and returns the `done`
/// lines it printed.
fn run_and_kill(out: &Path, policy: &str, delay_us: u64) -> Vec<String> {
    let mut child = target(out, policy)
        .args(["count", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let seen2 = seen.clone();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for l in BufReader::new(stdout).lines() {
            let Ok(l) = l else { break };
            lines.push(l);
            seen2.fetch_add(1, Ordering::Relaxed);
        }
        lines
    });
    std::thread::sleep(Duration::from_micros(delay_us));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    reader.join().unwrap()
}

fn kill_at_random_moments(policy: &str) {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut nonzero = 0;
    for round in 0..20 {
        // Mostly after start-up, sometimes during it.
        let delay = if round % 5 == 0 {
            rng.next() % 3_000
        } else {
            2_000 + rng.next() % 60_000
        };
        let out = dir.path().join(format!("{policy}-{round}.rtrace"));
        let lines = run_and_kill(&out, policy, delay);
        let rep = reported(&lines);
        let ctx = format!("policy {policy}, seed {seed}, round {round}, delay {delay} µs");
        assert_eq!(
            rep,
            (0..rep.len() as u64).collect::<Vec<_>>(),
            "{ctx}: stdout"
        );
        let r = rep.len() as u64;
        let trace = match read_trace(&out) {
            Ok(t) => t,
            // Killed before the header was written: nothing completed yet.
            Err(e) => {
                assert_eq!(r, 0, "{ctx}: unreadable trace after {r} calls: {e}");
                continue;
            }
        };
        assert!(
            trace.truncation.is_some(),
            "{ctx}: a killed run reads as truncated"
        );
        assert!(trace.trailer.is_none(), "{ctx}");
        let got: Vec<u64> = completed(&trace).into_iter().map(|(_, i)| i).collect();
        // The file may hold the call whose `done` line the kill cut off, never less than
        // what was reported.
        let e = got.last().map_or(0, |i| i + 1);
        assert!(
            e == r || e == r + 1,
            "{ctx}: {e} calls in the file, {r} reported"
        );
        if policy == "ring" {
            // A flight recorder: the newest calls, without a gap.
            if let Some(&first) = got.first() {
                assert_eq!(
                    got,
                    (first..e).collect::<Vec<_>>(),
                    "{ctx}: not a contiguous suffix"
                );
                if e > 2_000 {
                    assert!(first > 0, "{ctx}: the ring never wrapped ({e} calls)");
                    assert!(e - first >= 300 / 2, "{ctx}: kept only {} calls", e - first);
                }
            }
        } else {
            assert_eq!(
                got,
                (0..e).collect::<Vec<_>>(),
                "{ctx}: every call, in order"
            );
        }
        if r > 0 {
            nonzero += 1;
        }
    }
    assert!(
        nonzero >= 10,
        "too few kills after the first call ({nonzero})"
    );
}

#[test]
fn sigkill_at_random_moments_block() {
    kill_at_random_moments("block");
}

#[test]
fn sigkill_at_random_moments_drop() {
    kill_at_random_moments("drop");
}

#[test]
fn sigkill_at_random_moments_ring() {
    kill_at_random_moments("ring");
}

/// Runs `MODE 500` and returns (stdout lines, exit status, trace).
fn run_mode(mode: &str, policy: &str) -> (Vec<String>, std::process::ExitStatus, Trace) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.rtrace");
    let o = target(&out, policy).args([mode, "500"]).output().unwrap();
    let lines = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let trace = read_trace(&out).unwrap_or_else(|e| panic!("{mode}: {e}"));
    (lines, o.status, trace)
}

#[test]
fn abort_sigsegv_and_exit_keep_every_call() {
    use std::os::unix::process::ExitStatusExt;
    for policy in ["block", "ring"] {
        for (mode, signal, code) in [
            ("abort", Some(libc::SIGABRT), None),
            ("segv", Some(libc::SIGSEGV), None),
            ("exit", None, Some(7)),
        ] {
            let (lines, status, trace) = run_mode(mode, policy);
            assert_eq!(status.signal(), signal, "{mode}/{policy}");
            assert_eq!(status.code(), code, "{mode}/{policy}");
            assert_eq!(reported(&lines).len(), 500, "{mode}/{policy}");
            let got: Vec<u64> = completed(&trace).into_iter().map(|(_, i)| i).collect();
            if policy == "ring" {
                let first = got[0];
                assert_eq!(got, (first..500).collect::<Vec<_>>(), "{mode}/{policy}");
            } else {
                assert_eq!(got, (0..500).collect::<Vec<_>>(), "{mode}/{policy}");
            }
            // `exit` runs the exit handlers: the trace is finished; a signal leaves it open.
            assert_eq!(
                trace.truncation.is_none(),
                mode == "exit",
                "{mode}/{policy}: {:?}",
                trace.truncation
            );
        }
    }
}

fn child_pid(lines: &[String]) -> u32 {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("child ")?.split(' ').next()?.parse().ok())
        .expect("the parent prints its child's pid")
}

fn fork_case(pattern: &str, child_path: impl Fn(&Path, u32, u32) -> PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(pattern);
    let child = target(&out, "block")
        .args(["fork", "200"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let parent = child.id();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    let kid = child_pid(&lines);
    assert!(
        lines.contains(&format!("child {kid} status 0")),
        "{lines:?}"
    );
    let parent_file = PathBuf::from(out.to_str().unwrap().replace("%p", &parent.to_string()));
    let child_file = child_path(dir.path(), parent, kid);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want = vec![
        parent_file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
        child_file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
    ];
    want.sort();
    assert_eq!(names, want, "one file per process");

    let pt = read_trace(&parent_file).unwrap();
    assert_eq!(pt.truncation, None, "parent trace complete");
    assert_eq!(pt.metadata.pid, parent);
    assert_eq!(
        completed(&pt),
        (0..400).map(|i| (parent, i)).collect::<Vec<_>>(),
        "the parent's file holds only the parent's calls"
    );
    let ct = read_trace(&child_file).unwrap();
    assert_eq!(ct.truncation, None, "child trace complete");
    assert_eq!(ct.metadata.pid, kid);
    assert_eq!(
        completed(&ct),
        (1000..1200).map(|i| (kid, i)).collect::<Vec<_>>(),
        "the child's file holds only the child's calls"
    );
    for e in &ct.events {
        assert_eq!(e.pid_tid().0, kid, "{e:?}");
    }
}

#[test]
fn fork_without_exec_gives_the_child_its_own_file_pct_p() {
    fork_case("f-%p.rtrace", |d, _, kid| d.join(format!("f-{kid}.rtrace")));
}

#[test]
fn fork_without_exec_appends_the_child_pid_without_pct_p() {
    fork_case("t.rtrace", |d, _, kid| d.join(format!("t.rtrace.{kid}")));
}

#[test]
fn unwritable_output_path_warns_once_and_the_program_runs_on() {
    let o = target(Path::new("/nonexistent/x.rtrace"), "block")
        .args(["status", "50"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(reported(&lines_of(&o.stdout)).len(), 50);
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {err}");
    assert!(
        lines[0].starts_with("ruchytrace: warning: ") && lines[0].contains("/nonexistent/x.rtrace"),
        "{err}"
    );
}

fn lines_of(b: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(b)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A full disk, made with `RLIMIT_FSIZE` (no privileges needed): growing the file fails with
/// `EFBIG` as it would with `ENOSPC`. `SIGXFSZ` is ignored, as a program on a full disk gets no
/// signal at all.
#[test]
fn full_disk_warns_once_stops_recording_and_keeps_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("full.rtrace");
    let mut c = target(&out, "block");
    c.args(["status", "40000"]);
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 256 << 10,
                rlim_max: 256 << 10,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(reported(&lines_of(&o.stdout)).len(), 40000);
    let err = String::from_utf8_lossy(&o.stderr);
    let warn: Vec<&str> = err.lines().collect();
    assert_eq!(warn.len(), 1, "exactly one line on stderr: {err}");
    assert!(
        warn[0].starts_with("ruchytrace: warning: ") && warn[0].contains("recording stopped"),
        "{err}"
    );
    assert!(std::fs::metadata(&out).unwrap().len() <= 256 << 10);
    let trace = read_trace(&out).unwrap();
    let got: Vec<u64> = completed(&trace).into_iter().map(|(_, i)| i).collect();
    assert!(got.len() > 1000, "what fitted is kept: {} calls", got.len());
    assert!(got.len() < 40000, "recording stopped: {} calls", got.len());
    assert_eq!(
        got,
        (0..got.len() as u64).collect::<Vec<_>>(),
        "a prefix, in order"
    );
}

/// The durations of the `nap` calls (300 µs sleeps) of one `sleepy 8` run, in call order.
fn nap_durations(clock: &str) -> Vec<u64> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.rtrace");
    let o = target(&out, "block")
        .env("RUCHYTRACE_CLOCK", clock)
        .args(["sleepy", "8"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let trace = read_trace(&out).unwrap();
    let mut open = None;
    let mut durations = Vec::new();
    for e in &trace.events {
        match e {
            Event::Enter { ts, .. } => open = Some(*ts),
            Event::Exit { ts, .. } => durations.push(ts - open.take().expect("enter first")),
            _ => {}
        }
    }
    assert_eq!(durations.len(), 8);
    durations
}

/// The first call's duration is under 1 ms and within 300 µs of the median of the others.
/// Sleeps overshoot at random on a loaded machine, so a run may be retried twice; start-up
/// inside the first call would fail every run.
#[test]
fn start_up_is_not_inside_the_first_call() {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let d = nap_durations("tsc");
        let mut rest = d[1..].to_vec();
        rest.sort_unstable();
        let median = rest[rest.len() / 2];
        let first = d[0];
        assert!(first >= 300_000, "a 300 µs sleep took {first} ns: {d:?}");
        if first < 1_000_000 && first < median + 300_000 {
            return;
        }
        runs.push(d);
    }
    panic!("the first call is slow in every run: {runs:?}");
}

/// With `RUCHYTRACE_CLOCK=monotonic` records are stamped in nanoseconds; segment bases must be
/// too (they were TSC readings, which made every delta 0 and every duration 0 ns).
#[test]
fn monotonic_clock_durations_are_real() {
    let d = nap_durations("monotonic");
    assert!(d.iter().all(|ns| *ns >= 300_000), "{d:?}");
    assert!(d.iter().filter(|ns| **ns < 1_000_000).count() >= 4, "{d:?}");
}
