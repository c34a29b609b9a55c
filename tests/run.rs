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
    // Without -o nothing of the run stays on disk: no temporary directory is left behind.
    assert!(!err.contains("merged trace in"), "{err}");
    let left: Vec<String> = names_in(dir.path())
        .into_iter()
        .filter(|n| n.starts_with("ruchytrace-run-"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
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
    if !support::ptrace_or_skip() {
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

/// Entries of `dir` by name, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn no_temporary_directory_outlives_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = run_in(tmp.path(), &[], &[data.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The timeline was shown, and the directory it was built in is gone.
    assert!(stderr(&out).contains("-> whoami()"), "{}", stderr(&out));
    assert_eq!(names_in(tmp.path()), Vec::<String>::new());
    assert!(
        !stderr(&out).contains("merged trace in"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn output_dir_must_be_empty_unless_forced_and_old_files_survive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    // An old trace of another run: never deleted, never merged (it is not a trace at all).
    std::fs::write(dir.join("fn-1.rtrace"), "not a trace").unwrap();
    let data = tmp.path().to_str().unwrap();
    let dir_s = dir.to_str().unwrap();
    let out = run(&["-o", dir_s], &[data]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "ruchytrace: {dir_s} is not empty; choose an empty or new directory, or pass --force to write into it (its files are kept)\n"
        )
    );
    assert!(out.stdout.is_empty(), "the program did not run");
    assert_eq!(names_in(&dir), ["fn-1.rtrace", "notes.txt"]);
    let out = run(&["--force", "-o", dir_s], &[data]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("fn-1.rtrace")).unwrap(),
        "not a trace"
    );
    let merged = std::fs::read_to_string(dir.join("merged.txt")).unwrap();
    assert!(merged.contains("-> whoami()"), "{merged}");
}

#[test]
fn syscall_trace_of_run_is_private() {
    if !support::ptrace_or_skip() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let data = tmp.path().to_str().unwrap();
    let out = run(&["--syscalls", "-o", dir.to_str().unwrap()], &[data]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mode = std::fs::metadata(dir.join("sys.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
