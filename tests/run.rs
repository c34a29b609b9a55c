//! `ruchytrace run`: the program's output and exit status pass through, `--trace-*` flags reach
//! the runtime, the raw traces stay in `-o DIR`, and `--timeout` reports where every thread
//! hangs (with and without the syscall companion; the latter skips when ptrace is not
//! permitted).
#![cfg(feature = "trace")]

#[path = "support/sys.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/ground_truth")
}

/// `ruchytrace run ARGS -- ground_truth PROGRAM_ARGS` with `TMPDIR` in `tmp`, so the
/// directory `run` keeps without `-o` goes away with the test's temporary directory.
fn run_in(tmp: &std::path::Path, args: &[&str], program: &[&str]) -> Output {
    Command::new(support::ruchytrace())
        .env("TMPDIR", tmp)
        .arg("run")
        .args(args)
        .arg("--")
        .arg(example())
        .args(program)
        .output()
        .unwrap()
}

fn run(args: &[&str], program: &[&str]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    run_in(tmp.path(), args, program)
}

fn ruchytrace_in(tmp: &tempfile::TempDir) -> Command {
    let mut c = Command::new(support::ruchytrace());
    c.env("TMPDIR", tmp.path());
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn output_passes_through_and_timeline_goes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &[], &[dir.path().to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ground truth done\n");
    for n in 0..4 {
        assert!(err.contains(&format!("\"gt-{n}\"")), "{err}");
    }
    assert!(err.contains("-> worker(n="), "{err}");
    assert!(err.contains("-> nap(level=0, worker="), "{err}");
    // Without --syscalls there are only functions.
    assert!(!err.contains("openat("), "{err}");
    // The traces stay on disk; the last line says where.
    let last = err.lines().last().unwrap();
    let merged = last
        .strip_prefix("ruchytrace: merged trace in ")
        .and_then(|r| r.strip_suffix(" (raw traces next to it)"))
        .unwrap_or_else(|| panic!("{last}"));
    let merged = PathBuf::from(merged);
    let kept = std::fs::read_to_string(&merged).unwrap();
    assert!(kept.contains("-> worker(n="), "{kept}");
    let kept_dir = merged.parent().unwrap();
    assert!(kept_dir.starts_with(dir.path()), "{}", kept_dir.display());
    assert!(std::fs::read_dir(kept_dir)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().ends_with(".rtrace")));
}

#[test]
fn exit_status_is_the_programs() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ruchytrace_in(&tmp)
        .args(["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    let err = stderr(&out);
    assert!(err.starts_with("err\n"), "{err}");
    assert!(err.contains("no function trace was written"), "{err}");
    let out = ruchytrace_in(&tmp)
        .args(["run", "--", "sh", "-c", "kill -TERM $$"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128 + 15));
    let out = ruchytrace_in(&tmp)
        .args(["run", "--", "/nonexistent/program"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("cannot run '/nonexistent/program'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn trace_flags_reach_the_runtime_and_raw_traces_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let data = tmp.path().to_str().unwrap();
    let out = run(
        &[
            "--trace-filter=!nap",
            "--trace-format=json",
            "-o",
            dir.to_str().unwrap(),
        ],
        &[data],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("merged trace in"), "{err}");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("fn-") && n.ends_with(".json")),
        "{names:?}"
    );
    let merged = std::fs::read_to_string(dir.join("merged.txt")).unwrap();
    assert!(merged.contains("-> whoami()"), "{merged}");
    assert!(
        !merged.contains("nap("),
        "the filter excluded nap: {merged}"
    );
    // A bad flag value is refused before anything runs.
    let out = run(&["--trace-sample=0"], &[data]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--trace-sample"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

fn check_timeout(extra: &[&str]) {
    let start = Instant::now();
    let mut args = vec!["--timeout=1s"];
    args.extend_from_slice(extra);
    let out = run(&args, &["--hang"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(start.elapsed() < Duration::from_secs(20));
    let line = err
        .lines()
        .find(|l| l.contains("wait_forever"))
        .unwrap_or_else(|| panic!("no TIMEOUT line with the open call in:\n{err}"));
    assert!(line.starts_with("TIMEOUT after 1.000s — thread "), "{line}");
    assert!(
        line.contains("wait_forever (examples/ground_truth.rs:"),
        "{line}"
    );
    assert!(line.contains("blocked in read("), "{line}");
    // The timeline of what happened before the kill follows.
    assert!(err.contains("-> wait_forever(fd="), "{err}");
}

#[test]
fn timeout_shows_open_calls_and_blocking_syscall() {
    check_timeout(&[]);
}

#[test]
fn timeout_under_the_syscall_tracer() {
    if !support::ptrace_permitted() {
        return;
    }
    check_timeout(&["--syscalls"]);
}

#[test]
fn cargo_subcommand_errors() {
    let out = Command::new(support::ruchytrace())
        .args(["cargo", "--", "test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("supports `run`"), "{}", stderr(&out));
    // cargo's own error passes through; its status is ours.
    let out = Command::new(support::ruchytrace())
        .args(["cargo", "--", "run", "--example", "no_such_example_here"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(101), "{err}");
    assert!(err.contains("no_such_example_here"), "{err}");
    assert!(err.contains("ruchytrace: the build failed"), "{err}");
}
