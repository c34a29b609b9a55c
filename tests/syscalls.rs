//! Integration tests of `ruchytrace syscalls`: agreement with strace, the renacer regressions
//! of issue 3, error handling, the sys.json schema and `--debug`. Tests skip (a visible `SKIPPED`
//! line, a failure when `CI` is set) only when ptrace is not permitted or strace is missing.

#[path = "support/sys.rs"]
mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{comparable, json_sequences, program, run, run_json, same, strace_sequences};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn syscalls(doc: &Value) -> Vec<&Value> {
    doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "syscall")
        .collect()
}

/// Whether the compared program forks. A forking program races its parent's `wait4` against
/// the child's exit and SIGCHLD (an interrupted, restarted `wait4` adds calls), so one run may
/// legitimately differ from strace's: those must agree in one of three paired runs. Any other
/// program must agree on the first run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Forks {
    Yes,
    No,
}

/// Compares one command under strace and under ruchytrace, per thread.
fn compare_with_strace(cmd: &[&str], forks: Forks, ignore: &[&str]) {
    require_ptrace!();
    if !support::strace_or_skip() {
        return;
    }
    let runs = if forks == Forks::Yes { 3 } else { 1 };
    let mut last = String::new();
    for _ in 0..runs {
        let dir = tempfile::tempdir().unwrap();
        let (out, doc) = run_json(dir.path(), &["-f"], cmd);
        assert!(out.status.code().is_some(), "{}", stderr(&out));
        let ours = comparable(json_sequences(&doc), ignore);
        let theirs = comparable(strace_sequences(dir.path(), cmd), ignore);
        match same(&ours, &theirs) {
            Ok(()) => return,
            Err(e) => {
                eprintln!("run differed from strace: {e}");
                last = e;
            }
        }
    }
    panic!("{last}");
}

// ---- agreement with strace ------------------------------------------------------------------

#[test]
fn same_as_strace_ls_la_etc() {
    compare_with_strace(&["ls", "-la", "/etc"], Forks::No, &[]);
}

#[test]
fn same_as_strace_shell_redirect_and_cat() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!("echo hi > {0}/x; cat {0}/x", dir.path().display());
    compare_with_strace(&["sh", "-c", &script], Forks::Yes, &[]);
}

#[test]
fn same_as_strace_threads() {
    let prog = program("threads");
    // futex: whether a join or lock waits depends on scheduling.
    // mmap/mprotect/munmap: whether a thread creates its own malloc arena depends on lock
    // contention, and glibc trims the arena only when its mmap was not already aligned.
    compare_with_strace(
        &[prog.to_str().unwrap()],
        Forks::No,
        &["futex", "mmap", "mprotect", "munmap"],
    );
}

#[test]
fn same_as_strace_fork_exec() {
    compare_with_strace(
        &["sh", "-c", "/bin/true; /bin/echo done; exit 4"],
        Forks::Yes,
        &[],
    );
}

#[test]
fn same_as_strace_signals() {
    compare_with_strace(
        &[
            "sh",
            "-c",
            "trap 'echo handled' USR1; kill -USR1 $$; echo after",
        ],
        // `kill` and `echo` are shell builtins: no fork.
        Forks::No,
        &[],
    );
}

// ---- renacer regressions ---------------------------------------------------------------------

#[test]
fn regression_children_of_f_are_followed_and_resumed() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let (out, doc) = run_json(
        dir.path(),
        &["-f"],
        &["sh", "-c", "/bin/true; /bin/true; /bin/true; exit 5"],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let exits: Vec<&Value> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "exit")
        .collect();
    assert_eq!(exits.len(), 4, "sh and three children exit: {exits:?}");
    let execs = syscalls(&doc)
        .into_iter()
        .filter(|e| e["name"] == "execve" && e["return"] == 0)
        .count();
    assert_eq!(execs, 4);
}

#[test]
fn without_f_children_are_not_traced() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let (out, doc) = run_json(
        dir.path(),
        &[],
        &["sh", "-c", "/bin/true; /bin/echo x; exit 2"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\n");
    let root = doc["metadata"]["pid"].as_i64().unwrap();
    for e in doc["events"].as_array().unwrap() {
        assert_eq!(e["pid"], root, "{e}");
    }
}

#[test]
fn regression_new_threads_syscalls_are_traced_not_enosys() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let prog = program("threads");
    let (out, doc) = run_json(dir.path(), &[], &[prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let calls = syscalls(&doc);
    let root = doc["metadata"]["pid"].as_i64().unwrap();
    assert!(
        calls.iter().all(|e| e["errno"] != "ENOSYS"),
        "a syscall returned ENOSYS"
    );
    let mut writers: Vec<i64> = calls
        .iter()
        .filter(|e| e["name"] == "write" && e["return"] == 10 && e["tid"] != root)
        .map(|e| e["tid"].as_i64().unwrap())
        .collect();
    writers.dedup();
    writers.sort();
    writers.dedup();
    assert_eq!(writers.len(), 4, "four threads each write: {writers:?}");
    for e in &calls {
        assert_eq!(e["pid"], root, "threads belong to the process");
    }
}

#[test]
fn regression_signals_are_delivered_and_handler_runs() {
    require_ptrace!();
    let out = run(&[
        "--",
        "sh",
        "-c",
        "trap 'echo handled' USR1; kill -USR1 $$; echo after",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "handled\nafter\n");
    assert!(
        stderr(&out).contains("--- SIGUSR1 {si_signo=SIGUSR1"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn regression_segfaulting_tracee_does_not_loop() {
    require_ptrace!();
    let prog = program("segv");
    let start = Instant::now();
    let out = run(&["--", prog.to_str().unwrap()]);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(139));
    let err = stderr(&out);
    // Rust's runtime catches the first fault (stack-overflow check), restores the default action
    // and returns, so the fault happens exactly twice; a swallowing tracer would loop forever.
    assert_eq!(
        err.matches("--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR")
            .count(),
        2,
        "{err}"
    );
    assert!(err.contains("+++ killed by SIGSEGV"), "{err}");
}

#[test]
fn regression_table_not_shifted_getppid_statfs_xattr() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let prog = program("calls");
    let (out, doc) = run_json(dir.path(), &[], &[prog.to_str().unwrap(), "7"]);
    assert_eq!(out.status.code(), Some(7));
    let names: Vec<&str> = syscalls(&doc)
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let pos = |n: &str| {
        names
            .iter()
            .position(|x| *x == n)
            .unwrap_or_else(|| panic!("{n} missing: {names:?}"))
    };
    assert!(
        pos("getppid") < pos("statfs")
            && pos("statfs") < pos("getxattr")
            && pos("getxattr") < pos("lgetxattr")
    );
    assert!(!names.contains(&"setpgid"), "{names:?}");
    let getppid = syscalls(&doc)
        .into_iter()
        .find(|e| e["name"] == "getppid")
        .unwrap();
    // The program's parent is the tracer.
    assert!(getppid["return"].as_i64().unwrap() > 1);
    assert!(
        names.iter().all(|n| !n.starts_with("syscall_")),
        "{names:?}"
    );
}

#[test]
fn regression_trace_never_mixed_into_stdout() {
    require_ptrace!();
    let out = run(&["-f", "--", "sh", "-c", "echo hello; /bin/echo world"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\nworld\n");
    assert!(
        stderr(&out).contains(r#"write(1, "hello\n", 6)"#),
        "{}",
        stderr(&out)
    );
}

// ---- errors and robustness --------------------------------------------------------------------

#[test]
fn missing_program_exits_127() {
    let out = run(&["--", "nosuch-ruchytrace-program"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        stderr(&out),
        "ruchytrace: cannot run 'nosuch-ruchytrace-program': No such file or directory\n"
    );
}

#[test]
fn not_executable_exits_126() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("data.txt");
    std::fs::write(&f, "x").unwrap();
    let out = run(&["--", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn exit_status_is_propagated_and_reported() {
    require_ptrace!();
    let out = run(&["--", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).ends_with("+++ exited with 3 +++\n"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn sigkill_gives_137_and_valid_json() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let (out, doc) = run_json(dir.path(), &[], &["sh", "-c", "kill -KILL $$"]);
    assert_eq!(out.status.code(), Some(137));
    let last = doc["events"].as_array().unwrap().last().unwrap();
    assert_eq!(last["type"], "killed");
    assert_eq!(last["signal"], "SIGKILL");
    // kill() never returned to the program.
    let kill = syscalls(&doc)
        .into_iter()
        .rev()
        .find(|e| e["name"] == "kill")
        .unwrap();
    assert_eq!(kill["return"], Value::Null);
    assert_eq!(kill["duration_ns"], Value::Null);
}

#[test]
fn a_thousand_forks_with_f_complete() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let script = "i=0; while [ $i -lt 1000 ]; do (exit 0) & i=$((i+1)); done; wait";
    let start = Instant::now();
    let (out, doc) = run_json(
        dir.path(),
        &["-f", "-e", "trace=exit_group"],
        &["sh", "-c", script],
    );
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let exits = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "exit")
        .count();
    assert_eq!(exits, 1001);
    assert_eq!(doc["end"]["complete"], true);
}

/// Waits until `pid` has a tracer (the tracer installs its SIGINT handler before attaching).
fn wait_traced(pid: i32) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        if !status.contains("TracerPid:\t0\n") {
            // Give the tracer time to pass its PTRACE_INTERRUPT stop.
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{pid} was never attached");
}

#[test]
fn attach_and_detach_on_interrupt_leaves_processes_running() {
    require_ptrace!();
    let mut targets: Vec<_> = (0..2)
        .map(|_| Command::new("sleep").arg("30").spawn().unwrap())
        .collect();
    let pids: Vec<String> = targets.iter().map(|t| t.id().to_string()).collect();
    let tracer = Command::new(support::ruchytrace())
        .args(["syscalls", "-p", &pids[0], "-p", &pids[1]])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for pid in &pids {
        wait_traced(pid.parse().unwrap());
    }
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    let out = tracer.wait_with_output().unwrap();
    let mut states = Vec::new();
    for pid in &pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        states.push((stat, status));
    }
    for t in &mut targets {
        t.kill().unwrap();
        t.wait().unwrap();
    }
    // Detached on SIGINT: 128 + SIGINT, as strace -p.
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("ruchytrace: Process ").count(),
        4,
        "attached and detached lines: {}",
        stderr(&out)
    );
    for (stat, status) in states {
        let state = stat.rsplit(") ").next().unwrap().chars().next().unwrap();
        // Running or sleeping (restarting its nanosleep), never stopped or traced.
        assert!(matches!(state, 'S' | 'R'), "sleep was left stopped: {stat}");
        assert!(status.contains("TracerPid:\t0"), "detached: {status}");
    }
}

#[test]
fn attach_to_stopped_process_keeps_it_stopped() {
    require_ptrace!();
    let mut target = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = target.id() as i32;
    // SAFETY: kill with a valid pid and signal.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(100));
    let tracer = Command::new(support::ruchytrace())
        .args(["syscalls", "-p", &pid.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_traced(pid);
    let stat_traced = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    let out = tracer.wait_with_output().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let stat_after = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    target.kill().unwrap();
    target.wait().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let state = |s: &str| s.rsplit(") ").next().unwrap().chars().next().unwrap();
    assert!(matches!(state(&stat_traced), 't' | 'T'), "{stat_traced}");
    assert_eq!(
        state(&stat_after),
        'T',
        "still stopped after detach: {stat_after}"
    );
}

#[test]
fn attach_to_missing_pid_says_why() {
    let out = run(&["-p", "999999999"]);
    // Bad input: one line, exit 2.
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "ruchytrace: cannot attach to process 999999999: No such process\n"
    );
}

// ---- filtering and output options -------------------------------------------------------------

#[test]
fn trace_filter_uses_seccomp_and_shows_only_selected() {
    require_ptrace!();
    let out = run(&["-e", "trace=openat,close", "--", "cat", "/etc/hostname"]);
    let err = stderr(&out);
    let calls: Vec<&str> = err.lines().filter(|l| !l.starts_with("+++")).collect();
    assert!(!calls.is_empty());
    assert!(
        calls
            .iter()
            .all(|l| l.starts_with("openat(") || l.starts_with("close(")),
        "{err}"
    );
    assert!(
        err.contains(r#"openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3"#),
        "{err}"
    );
}

/// Names of the calls in `syscalls` text output (signal and exit lines left out).
fn call_names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
        .filter_map(|l| l.split_once('(').map(|(name, _)| name.to_string()))
        .collect()
}

#[test]
fn negated_and_class_filters() {
    use ruchytrace::syscalls::table;
    require_ptrace!();
    let memory = table::parse_class("%memory").unwrap();
    let file = table::parse_class("%file").unwrap();
    // Unfiltered, `true` maps its libraries: the filter below has something to remove.
    let all = call_names(&stderr(&run(&["--", "true"])));
    assert!(
        all.iter().any(|n| table::classes(n).contains(memory)),
        "{all:?}"
    );
    let out = run(&["-e", "trace=!%memory,brk", "--", "true"]);
    let err = stderr(&out);
    let kept = call_names(&err);
    for name in &kept {
        assert!(
            !table::classes(name).contains(memory) && name != "brk",
            "{name} passed trace=!%memory,brk:\n{err}"
        );
    }
    let expected: Vec<&String> = all
        .iter()
        .filter(|n| !table::classes(n).contains(memory) && *n != "brk")
        .collect();
    assert_eq!(
        kept.iter().collect::<Vec<_>>(),
        expected,
        "the kept calls are the unfiltered run's minus %memory and brk"
    );
    assert!(err.starts_with("execve("), "{err}");
    assert!(err.contains("exit_group(0)"), "{err}");
    let out = run(&["-e", "trace=%file", "--", "cat", "/etc/hostname"]);
    let err = stderr(&out);
    let kept = call_names(&err);
    assert!(
        err.contains(r#"openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = 3"#),
        "{err}"
    );
    for name in &kept {
        assert!(
            table::classes(name).contains(file),
            "{name} is not in %file:\n{err}"
        );
    }
    assert!(!kept.iter().any(|n| n == "read"), "{err}");
}

#[test]
fn status_failed_shows_only_failures() {
    require_ptrace!();
    let out = run(&["-e", "status=failed", "--", "ls", "/nonexistent-ruchytrace"]);
    let err = stderr(&out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("ls:"))
        .collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| l.contains("= -1 ")), "{err}");
}

#[test]
fn summary_table_has_strace_shape() {
    require_ptrace!();
    let out = run(&["-c", "--", "cat", "/etc/hostname"]);
    let err = stderr(&out);
    assert!(
        err.starts_with("% time     seconds  usecs/call     calls    errors syscall\n"),
        "{err}"
    );
    assert!(err.lines().any(|l| l.ends_with(" openat")), "{err}");
    assert!(err.lines().last().unwrap().ends_with(" total"), "{err}");
}

#[test]
fn durations_and_times_are_printed() {
    require_ptrace!();
    let out = run(&["-T", "-ttt", "-e", "trace=exit_group,getpid", "--", "true"]);
    let err = stderr(&out);
    let line = err.lines().find(|l| l.contains("exit_group")).unwrap();
    let secs: f64 = line.split(' ').next().unwrap().parse().unwrap();
    assert!(secs > 1.5e9, "{line}");
    let out = run(&["-T", "--", "true"]);
    let line = stderr(&out)
        .lines()
        .find(|l| l.starts_with("close("))
        .unwrap()
        .to_string();
    assert!(line.ends_with('>') && line.contains(" <0."), "{line}");
}

#[test]
fn fd_paths_with_y() {
    require_ptrace!();
    let out = run(&["-y", "-e", "trace=read", "--", "cat", "/etc/hostname"]);
    assert!(
        stderr(&out).contains("read(3</etc/hostname>, "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn text_output_file() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("trace.txt");
    let out = run(&["-o", f.to_str().unwrap(), "--", "true"]);
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&f).unwrap();
    assert!(
        text.starts_with("execve(") && text.ends_with("+++ exited with 0 +++\n"),
        "{text}"
    );
}

// ---- sys.json ---------------------------------------------------------------------------------

#[test]
fn json_schema_and_monotonic_timestamps() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let before = support::monotonic_ns();
    let (out, doc) = run_json(
        dir.path(),
        &["-f"],
        &["sh", "-c", "cat /nonexistent-ruchytrace; kill -USR1 $$"],
    );
    let after = support::monotonic_ns();
    assert_eq!(out.status.code(), Some(128 + 10));
    let md = &doc["metadata"];
    assert_eq!(md["format"], "ruchytrace-syscalls");
    assert_eq!(md["version"], 2);
    assert_eq!(md["clock"]["domain"], "CLOCK_MONOTONIC");
    assert_eq!(md["options"]["follow_forks"], true);
    assert!(md["pid"].as_i64().unwrap() > 0);
    assert_eq!(md["arch"], std::env::consts::ARCH);
    let images = md["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "sh and cat");
    assert!(images[1]["exe"].as_str().unwrap().ends_with("/cat"));
    assert!(images[1]["maps"].as_str().unwrap().contains("cat"));
    let events = doc["events"].as_array().unwrap();
    assert_eq!(
        doc["end"]["events"].as_u64().unwrap() as usize,
        events.len()
    );
    assert_eq!(doc["end"]["complete"], true);
    let mut last = 0;
    for e in events {
        let ts = e["timestamp_ns"].as_u64().unwrap();
        assert!(
            before <= ts && ts <= after,
            "timestamp {ts} outside [{before}, {after}]"
        );
        assert!(ts >= last, "events sorted");
        last = ts;
        assert!(e["pid"].as_i64().unwrap() > 0 && e["tid"].as_i64().unwrap() > 0);
        match e["type"].as_str().unwrap() {
            "syscall" => {
                for k in [
                    "name",
                    "nr",
                    "duration_ns",
                    "args",
                    "raw_args",
                    "return",
                    "errno",
                ] {
                    assert!(e.get(k).is_some(), "{k} missing in {e}");
                }
                if let Some(d) = e["duration_ns"].as_u64() {
                    assert!(ts + d <= after);
                }
            }
            "signal" => {
                assert!(e["signal"].is_string() && e["signo"].is_i64() && e["info"].is_string())
            }
            "exit" => assert!(e["code"].is_i64()),
            "killed" => assert!(e["signal"].is_string() && e["core_dumped"].is_boolean()),
            other => panic!("unknown type {other}"),
        }
    }
    let enoent = syscalls(&doc)
        .into_iter()
        .find(|e| e["name"] == "openat" && e["args"][1] == "\"/nonexistent-ruchytrace\"")
        .expect("failed openat");
    assert_eq!(enoent["errno"], "ENOENT");
    assert_eq!(enoent["return"], -1);
    assert_eq!(enoent["nr"].as_u64(), Some(libc::SYS_openat as u64));
    assert!(events
        .iter()
        .any(|e| e["type"] == "signal" && e["signal"] == "SIGUSR1"));
    assert!(events
        .iter()
        .any(|e| e["type"] == "killed" && e["signo"] == 10));
}

// ---- --debug ----------------------------------------------------------------------------------

#[test]
fn debug_flag_is_accepted() {
    require_ptrace!();
    assert_eq!(run(&["--debug", "--", "true"]).status.code(), Some(0));
}

#[test]
fn debug_output_goes_to_stderr_only() {
    require_ptrace!();
    let out = run(&["--debug", "--", "echo", "x"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "x\n");
    assert!(stderr(&out).contains("DEBUG"), "{}", stderr(&out));
}

#[test]
fn debug_shows_waitpid_and_ptrace() {
    require_ptrace!();
    let err = stderr(&run(&["--debug", "--", "true"]));
    assert!(err.contains("waitpid"), "{err}");
    assert!(err.contains("PTRACE_SYSCALL"), "{err}");
}

#[test]
fn debug_shows_pids() {
    require_ptrace!();
    let out = run(&["--debug", "-f", "--", "sh", "-c", "/bin/true"]);
    let err = stderr(&out);
    assert!(err.contains("pid="), "{err}");
    assert!(err.contains("tracee exited"), "{err}");
}

#[test]
fn no_debug_lines_without_debug() {
    require_ptrace!();
    let err = stderr(&run(&["--", "true"]));
    assert!(!err.contains("TRACE") && !err.contains("DEBUG"), "{err}");
}

// ---- process model corner cases ---------------------------------------------------------------

#[test]
fn group_stop_keeps_tracee_stopped_until_sigcont() {
    require_ptrace!();
    let start = Instant::now();
    let out = run(&[
        "-f",
        "--",
        "sh",
        "-c",
        "(sleep 0.3; kill -CONT $$) & kill -STOP $$; echo resumed",
    ]);
    // With the stop swallowed, sh would print and exit at once.
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "resumed\n");
    let err = stderr(&out);
    assert!(err.contains("--- stopped by SIGSTOP ---"), "{err}");
    assert!(err.contains("--- SIGCONT {si_signo=SIGCONT"), "{err}");
}

#[test]
fn exec_from_non_leader_thread() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let prog = program("thread_exec");
    let start = Instant::now();
    let (out, doc) = run_json(dir.path(), &[], &[prog.to_str().unwrap()]);
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    let root = doc["metadata"]["pid"].as_i64().unwrap();
    let calls = syscalls(&doc);
    // The execve entered on the second thread completes on the leader's tid.
    let exec = calls
        .iter()
        .find(|e| {
            e["name"] == "execve"
                && e["return"] == 0
                && e["raw_args"].as_array().is_some_and(|a| !a.is_empty())
        })
        .expect("execve");
    assert_eq!(exec["pid"], root);
    // After the exec, the shell's calls carry the leader's tid.
    let last = calls.last().unwrap();
    assert_eq!(last["name"], "exit_group");
    assert_eq!(last["tid"], root);
    // The leader's sleep never returned: recorded as unfinished, not lost.
    // (The second thread's own short sleeps, made while it waits for the leader to block, carry
    // its own tid.)
    let sleep = calls
        .iter()
        .find(|e| e["name"] == "clock_nanosleep" && e["tid"] == root)
        .expect("the leader's sleep");
    assert_eq!(sleep["return"], Value::Null);
    let images = doc["metadata"]["images"].as_array().unwrap();
    assert!(
        images.last().unwrap()["exe"]
            .as_str()
            .unwrap()
            .ends_with("sh")
            || images.last().unwrap()["exe"]
                .as_str()
                .unwrap()
                .ends_with("dash")
    );
}

#[test]
fn debug_respects_rust_log() {
    require_ptrace!();
    let out = Command::new(support::ruchytrace())
        .args(["syscalls", "--debug", "--", "true"])
        .env("RUST_LOG", "ruchytrace=debug")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(
        err.contains("DEBUG") && err.contains("waitpid returned"),
        "{err}"
    );
    assert!(
        !err.contains("TRACE"),
        "RUST_LOG=debug hides TRACE lines: {err}"
    );
}

#[test]
fn strsize_limits_strings() {
    require_ptrace!();
    let out = run(&["-s", "5", "-e", "trace=write", "--", "echo", "hello world"]);
    assert!(
        stderr(&out).contains(r#"write(1, "hello"..., 12)"#),
        "{}",
        stderr(&out)
    );
}

#[test]
fn abort_reports_sigabrt_and_134() {
    require_ptrace!();
    let out = run(&["--", "sh", "-c", "kill -ABRT $$"]);
    assert_eq!(out.status.code(), Some(134));
    assert!(
        stderr(&out).contains("+++ killed by SIGABRT"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn killed_tracer_leaves_no_traced_program_behind() {
    require_ptrace!();
    let mut tracer = Command::new(support::ruchytrace())
        .args(["syscalls", "--", "sleep", "30"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let tpid = tracer.id();
    let children = format!("/proc/{tpid}/task/{tpid}/children");
    let start = Instant::now();
    let child: i32 = loop {
        let text = std::fs::read_to_string(&children).unwrap_or_default();
        if let Some(pid) = text.split_whitespace().next() {
            break pid.parse().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no child");
        std::thread::sleep(Duration::from_millis(10));
    };
    wait_traced(child);
    tracer.kill().unwrap();
    tracer.wait().unwrap();
    // PTRACE_O_EXITKILL: the program dies with its tracer instead of staying traced.
    let start = Instant::now();
    while std::fs::metadata(format!("/proc/{child}")).is_ok() {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        if stat.contains(") Z ") {
            break; // a zombie waiting for init to reap it
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "program survived: {stat}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
