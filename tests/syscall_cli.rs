//! `ruchytrace syscalls` as people use strace: the command line (usage errors, options ending at
//! the program), each strace flag compared with the real strace on the same program, the output
//! shapes of `-o`/`-ff`, and a tracer that can be stopped (signals, SIGKILL, memory, affinity).
//! Comparisons skip (with a message) when strace is missing; everything skips when ptrace is not
//! permitted here.

#[path = "support/sys.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{program, run};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Replaces what differs between two runs of the same program: addresses, pids, random bytes,
/// times and free-space counters.
fn normalise_line(line: &str) -> String {
    // The bare pid that starts every line under -f -o.
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let line = if digits > 0 && line[digits..].starts_with(' ') {
        line[digits..].trim_start()
    } else {
        line
    };
    let mut out = String::with_capacity(line.len());
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"0x") {
            let mut j = i + 2;
            while j < b.len() && b[j].is_ascii_hexdigit() {
                j += 1;
            }
            out.push_str("ADDR");
            i = j;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    for key in [
        "si_pid=",
        "si_uid=",
        "si_utime=",
        "si_stime=",
        "st_size=",
        "f_bfree=",
        "f_bavail=",
        "f_ffree=",
        "freeram=",
        "bufferram=",
        "procs=",
        "uptime=",
    ] {
        while let Some(at) = out.find(key) {
            let start = at + key.len();
            let end = out[start..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(out.len(), |e| start + e);
            out.replace_range(at..end, &key.replace('=', "#N"));
        }
    }
    for key in ["pipe:[", "socket:[", "kill("] {
        let mut from = 0;
        while let Some(at) = out[from..].find(key) {
            let start = from + at + key.len();
            let end = out[start..]
                .find(|c: char| !c.is_ascii_digit())
                .map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "N");
            from = start;
        }
    }
    if out.starts_with("getrandom(") {
        return "getrandom(...)".into();
    }
    for pid_call in [
        "getpid()",
        "gettid()",
        "getppid()",
        "set_tid_address(",
        "vfork()",
        "fork()",
        "clone(",
        "clone3(",
        "wait4(",
        "rt_sigreturn(",
    ] {
        if out.starts_with(pid_call) {
            if let Some(eq) = out.rfind(" = ") {
                out.truncate(eq);
                out.push_str(" = PID");
            }
        }
    }
    // The ` = ` column moves with the length of what was normalised.
    if let Some(eq) = out.find(" = ") {
        let (head, tail) = out.split_at(eq);
        out = format!("{} {}", head.trim_end(), tail.trim_start());
    }
    out
}

fn normalise(text: &str) -> Vec<String> {
    text.lines().map(normalise_line).collect()
}

/// Runs `strace FLAGS -o FILE CMD` and returns FILE's text, or `None` without strace.
fn strace(dir: &Path, flags: &[&str], cmd: &[&str]) -> Option<String> {
    if !support::strace_or_skip() {
        return None;
    }
    let f = dir.join("strace.txt");
    // stderr piped as for ours (fd 2 shows under -y); strace re-raises the signal that killed
    // the program, so there may be no exit code.
    let _ = Command::new("strace")
        .args(flags)
        .arg("-o")
        .arg(&f)
        .args(cmd)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    Some(std::fs::read_to_string(f).unwrap())
}

/// Runs `ruchytrace syscalls FLAGS -o FILE CMD` and returns FILE's text.
fn ours(dir: &Path, flags: &[&str], cmd: &[&str]) -> String {
    let f = dir.join("ours.txt");
    let out = Command::new(support::ruchytrace())
        .arg("syscalls")
        .args(flags)
        .arg("-o")
        .arg(&f)
        .args(cmd)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.code().is_some(), "{}", stderr(&out));
    std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)))
}

/// The same flags give the same lines as strace on a program whose calls are deterministic.
fn agree(flags: &[&str], cmd: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let Some(theirs) = strace(dir.path(), flags, cmd) else {
        return;
    };
    let mine = ours(dir.path(), flags, cmd);
    let (mut a, mut b) = (normalise(&theirs), normalise(&mine));
    // The first execve: strace sees the real call, we report it from what we passed to it.
    for v in [&mut a, &mut b] {
        if v.first().is_some_and(|l| l.starts_with("execve(")) {
            v.remove(0);
        }
    }
    if a != b {
        let first = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len()));
        panic!(
            "flags {flags:?} on {cmd:?} differ from strace at line {first}:\n  strace: {:?}\n  ours:   {:?}\n({} vs {} lines)",
            a.get(first),
            b.get(first),
            a.len(),
            b.len()
        );
    }
}

/// A file with printable text, control bytes and bytes above 0x7e, for the quoting flags.
fn binary_file(dir: &Path) -> PathBuf {
    let p = dir.join("mixed.bin");
    std::fs::write(&p, b"plain text\n\x01\x02tab\there\xff\xfe end").unwrap();
    p
}

// ---- the command line -----------------------------------------------------------------------

#[test]
fn unknown_options_are_usage_errors_with_a_hint() {
    for (args, msg) in [
        (&["-%", "true"][..], "invalid option -- '%'"),
        (
            &["--no-such-option", "true"][..],
            "unrecognized option '--no-such-option'",
        ),
        (
            &["-X", "loud", "true"][..],
            "invalid -X argument: 'loud' (expected raw, abbrev or verbose)",
        ),
        (&["-o"][..], "option requires an argument -- 'o'"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            stderr(&out),
            format!(
                "ruchytrace syscalls: {msg}\nTry 'ruchytrace syscalls -h' for more information.\n"
            ),
            "{args:?}"
        );
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn strace_flags_are_flags_not_the_program() {
    require_ptrace!();
    // Issue 14: `-r` used to be taken as the program to run.
    let out = run(&["-r", "-e", "trace=exit_group", "--", "/bin/true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let first = stderr(&out).lines().next().unwrap().to_string();
    let (stamp, call) = first.trim_start().split_once(' ').unwrap();
    assert!(
        stamp.len() == 8 && stamp.as_bytes()[1] == b'.',
        "relative stamp: {first}"
    );
    assert!(call.starts_with("exit_group(0)"), "{first}");
}

#[test]
fn options_end_at_the_first_word_that_is_not_one() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(support::ruchytrace())
        .current_dir(dir.path())
        .args(["syscalls", "-e", "trace=none", "echo", "-f", "-o", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "-f -o x\n");
    assert!(
        !dir.path().join("x").exists(),
        "-o after the program is the program's"
    );
    // `--` ends them too, even before a word that looks like an option.
    let out = run(&["-e", "trace=none", "--", "-no-such-program"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        stderr(&out),
        "ruchytrace: cannot run '-no-such-program': No such file or directory\n"
    );
}

// ---- agreement with strace, flag by flag ------------------------------------------------------

#[test]
fn same_as_strace_quoting_x_xx_and_s() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let f = binary_file(dir.path());
    let f = f.to_str().unwrap();
    agree(&["-x"], &["cat", f]);
    agree(&["-xx"], &["cat", f]);
    agree(&["-s", "5"], &["cat", f]);
}

#[test]
fn same_as_strace_constants_raw_and_verbose() {
    require_ptrace!();
    agree(&["-X", "raw"], &["cat", "/etc/hostname"]);
    agree(&["-X", "verbose"], &["cat", "/etc/hostname"]);
}

#[test]
fn same_as_strace_status_path_and_trace_sets() {
    require_ptrace!();
    agree(&["-z"], &["cat", "/etc/hostname"]);
    agree(&["-Z"], &["cat", "/etc/hostname"]);
    agree(
        &["-P", "/etc/hostname"],
        &["cat", "/etc/hostname", "/etc/passwd"],
    );
    agree(&["-e", "trace=/^(open|read)"], &["cat", "/etc/hostname"]);
    agree(
        &["-e", "trace=?no_such_call,close"],
        &["cat", "/etc/hostname"],
    );
    agree(&["-y"], &["cat", "/etc/hostname"]);
    // -v: the environment of an execve in full.
    agree(
        &["-v", "-f", "-e", "trace=execve"],
        &["sh", "-c", "exec /bin/true"],
    );
}

#[test]
fn same_as_strace_fcntl_getfl_getgroups_and_statx_mask() {
    require_ptrace!();
    let prog = program("decode_cases");
    agree(
        &["-e", "trace=fcntl,getgroups,statx"],
        &[prog.to_str().unwrap()],
    );
    let dir = tempfile::tempdir().unwrap();
    let mine = ours(
        dir.path(),
        &["-e", "trace=fcntl,getgroups,statx"],
        &[prog.to_str().unwrap()],
    );
    let getfl = mine
        .lines()
        .find(|l| l.starts_with("fcntl(3, F_GETFL)"))
        .unwrap();
    // O_LARGEFILE is 0x8000 on x86_64 (0x20000 on aarch64).
    if cfg!(target_arch = "x86_64") {
        assert!(
            getfl.ends_with(" = 0x8402 (flags O_RDWR|O_APPEND|O_LARGEFILE)"),
            "{getfl}"
        );
    }
    assert!(mine.contains("getgroups(0, NULL)"), "{mine}");
    assert!(mine.contains("STATX_ALL"), "{mine}");
}

#[test]
fn same_as_strace_signal_sets_and_quiet() {
    require_ptrace!();
    let cmd = ["sh", "-c", "kill -USR1 $$"];
    agree(&["-e", "signal=none"], &cmd);
    agree(&["-e", "signal=!SIGUSR1"], &cmd);
    agree(&["-e", "signal=SIGUSR1"], &cmd);
    agree(&["-qq"], &cmd);
}

#[test]
fn same_as_strace_socket_endpoints_yy() {
    require_ptrace!();
    let prog = program("sockets");
    let prog = prog.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let flags = ["-yy", "-e", "trace=listen,connect,sendto,recvfrom"];
    let Some(theirs) = strace(dir.path(), &flags, &[prog]) else {
        return;
    };
    let mine = ours(dir.path(), &flags, &[prog]);
    // Ports and inodes differ between runs.
    let ports = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| {
                let mut s = String::new();
                let mut digits = false;
                for c in l.chars() {
                    if c.is_ascii_digit() {
                        if !digits {
                            s.push('N');
                        }
                        digits = true;
                    } else {
                        digits = false;
                        s.push(c);
                    }
                }
                s
            })
            .collect()
    };
    assert_eq!(ports(&mine), ports(&theirs), "{mine}");
    assert!(mine.contains("<TCP:[127.0.0.1:"), "{mine}");
    assert!(mine.contains("<UDP:[127.0.0.1:"), "{mine}");
}

#[test]
fn f_with_output_file_starts_lines_with_the_bare_pid() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let cmd = ["sh", "-c", "/bin/true; exit 3"];
    let mine = ours(dir.path(), &["-f"], &cmd);
    let pid_of = |l: &str| -> i32 {
        let (pid, rest) = l.split_at(l.find(' ').unwrap());
        assert!(
            pid.len() >= 5 || rest.starts_with(&" ".repeat(6 - pid.len())),
            "`%-5d ` prefix: {l:?}"
        );
        pid.parse().unwrap_or_else(|_| panic!("bare pid: {l:?}"))
    };
    let mut pids: Vec<i32> = mine.lines().map(pid_of).collect();
    pids.dedup();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 2, "{mine}");
    if let Some(theirs) = strace(dir.path(), &["-f"], &cmd) {
        let mut spids: Vec<i32> = theirs.lines().map(pid_of).collect();
        spids.sort();
        spids.dedup();
        assert_eq!(spids.len(), pids.len(), "{theirs}");
    }
}

#[test]
fn ff_writes_one_file_per_process_like_strace() {
    require_ptrace!();
    if !support::strace_or_skip() {
        return;
    }
    let cmd = ["sh", "-c", "/bin/true; exit 3"];
    let files = |dir: &Path, prefix: &str| -> Vec<Vec<String>> {
        let mut v: Vec<(i32, PathBuf)> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                let pid = n.strip_prefix(prefix)?.parse().ok()?;
                Some((pid, e.path()))
            })
            .collect();
        v.sort();
        v.iter()
            .map(|(_, p)| {
                normalise(&std::fs::read_to_string(p).unwrap())
                    .into_iter()
                    .filter(|l| !l.starts_with("execve("))
                    .collect()
            })
            .collect()
    };
    // Forking programs race their parent's wait4 against the child's exit: one of three paired
    // runs must agree.
    let mut last = String::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let st = Command::new("strace")
            .args(["-ff", "-o"])
            .arg(dir.path().join("s"))
            .args(cmd)
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(3));
        let out = Command::new(support::ruchytrace())
            .args(["syscalls", "-ff", "-o"])
            .arg(dir.path().join("r"))
            .args(cmd)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let (theirs, mine) = (files(dir.path(), "s."), files(dir.path(), "r."));
        assert_eq!(mine.len(), 2, "one file per process");
        if theirs == mine {
            return;
        }
        last = theirs
            .iter()
            .zip(&mine)
            .enumerate()
            .find_map(|(f, (a, b))| {
                let at = a.iter().zip(b).position(|(x, y)| x != y)?;
                Some(format!(
                    "file {f} line {at}: strace {:?} ours {:?}",
                    a[at], b[at]
                ))
            })
            .unwrap_or_else(|| {
                format!(
                    "lengths: {:?} {:?}",
                    theirs.iter().map(Vec::len).collect::<Vec<_>>(),
                    mine.iter().map(Vec::len).collect::<Vec<_>>()
                )
            });
    }
    panic!("{last}");
}

#[test]
fn relative_times_and_summary_with_trace() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let mine = ours(dir.path(), &["-r"], &["cat", "/etc/hostname"]);
    for l in mine.lines() {
        let stamp = &l[..14];
        assert!(
            stamp.ends_with(' ') && stamp.trim().len() == 8 && stamp.trim().as_bytes()[1] == b'.',
            "{l:?}"
        );
    }
    let mine = ours(dir.path(), &["-C"], &["cat", "/etc/hostname"]);
    assert!(
        mine.contains("openat(AT_FDCWD, \"/etc/hostname\""),
        "{mine}"
    );
    assert!(
        mine.contains("% time     seconds  usecs/call     calls    errors syscall"),
        "{mine}"
    );
    if let Some(theirs) = strace(dir.path(), &["-C"], &["cat", "/etc/hostname"]) {
        let rows = |t: &str| -> Vec<String> {
            let mut v: Vec<String> = t
                .lines()
                .skip_while(|l| !l.starts_with("% time"))
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    // calls and name of each row (times differ).
                    (f.len() >= 5 && f[0] != "%" && !f[0].starts_with('-'))
                        .then(|| format!("{} {}", f[3], f[f.len() - 1]))
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(rows(&mine), rows(&theirs));
    }
}

// ---- a tracer that can be stopped ---------------------------------------------------------------

/// Waits until `pid` is traced by someone.
fn wait_traced(pid: i32) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status.contains("TracerPid:") && !status.contains("TracerPid:\t0\n") {
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{pid} was never traced");
}

/// Waits until `pid` (traced `sleep`) is blocked in its long sleep: its start-up calls have
/// all been traced by then, however slowly a loaded machine ran them.
fn wait_asleep(pid: i32) {
    #[cfg(target_arch = "x86_64")]
    const CLOCK_NANOSLEEP: &str = "230";
    #[cfg(target_arch = "aarch64")]
    const CLOCK_NANOSLEEP: &str = "115";
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        let now = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        if now.split_whitespace().next() == Some(CLOCK_NANOSLEEP) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{pid} never went to sleep");
}

/// The first child of `pid`.
fn child_of(pid: u32) -> i32 {
    let start = Instant::now();
    loop {
        let text =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(c) = text.split_whitespace().next() {
            return c.parse().unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no child");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_and_sighup_detach_and_the_program_keeps_running() {
    require_ptrace!();
    for (sig, code) in [
        (libc::SIGTERM, 143),
        (libc::SIGHUP, 129),
        (libc::SIGINT, 130),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("sys.json");
        let tracer = Command::new(support::ruchytrace())
            .args(["syscalls", "-o"])
            .arg(&json)
            .args(["--", "sleep", "30"])
            // Not piped: the program would hold the pipe open after the tracer is gone.
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let child = child_of(tracer.id());
        wait_traced(child);
        wait_asleep(child);
        // SAFETY: kill with valid pids and signals.
        unsafe { libc::kill(tracer.id() as i32, sig) };
        let mut tracer = tracer;
        let st = tracer.wait().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap();
        // SAFETY: as above.
        unsafe { libc::kill(child, libc::SIGKILL) };
        assert_eq!(st.code(), Some(code), "signal {sig}");
        assert!(status.contains("TracerPid:\t0\n"), "detached: {status}");
        assert!(
            !status.contains("State:\tZ"),
            "signal {sig}: still running: {status}"
        );
        let (trace, cut) =
            ruchytrace::syscalls::read_sys_trace(&std::fs::read(&json).unwrap()).unwrap();
        assert_eq!(cut, None, "the file was finished");
        assert!(!trace.end.complete, "not followed to its end");
        assert!(trace.events.len() > 10);
    }
}

#[test]
fn sigkill_of_the_tracer_leaves_a_readable_prefix() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sys.json");
    let text = dir.path().join("sys.txt");
    let mut tracers: Vec<_> = [&json, &text]
        .iter()
        .map(|out| {
            Command::new(support::ruchytrace())
                .args(["syscalls", "-o"])
                .arg(out)
                .args([
                    "--",
                    "dd",
                    "if=/dev/zero",
                    "of=/dev/null",
                    "bs=1",
                    "count=100000000",
                ])
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    // Kill once both files hold well over the events checked below (not after a fixed time: a
    // loaded machine may take seconds to start the tracers).
    let deadline = Instant::now() + Duration::from_secs(60);
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    while (size(&json) < 512 << 10 || size(&text) < 128 << 10) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in &mut tracers {
        t.kill().unwrap();
        t.wait().unwrap();
    }
    let (trace, cut) =
        ruchytrace::syscalls::read_sys_trace(&std::fs::read(&json).unwrap()).unwrap();
    let cut = cut.expect("a killed tracer's file is reported as cut");
    assert!(cut.starts_with("truncated at byte "), "{cut}");
    assert!(!trace.end.complete);
    assert!(trace.events.len() > 1000, "{} events", trace.events.len());
    assert_eq!(
        trace.metadata.images.len(),
        1,
        "the exec's maps were streamed"
    );
    let reads = trace
        .events
        .iter()
        .filter(|e| matches!(e, ruchytrace::syscalls::Event::Syscall(s) if s.name == "read" && s.args == ["0", "\"\\0\"", "1"]))
        .count();
    assert!(reads > 500, "{reads} one-byte reads");
    // The text file: whole lines up to the last flush.
    let t = std::fs::read_to_string(&text).unwrap();
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines.len() > 1000);
    assert!(lines[..lines.len() - 1]
        .iter()
        .all(|l| l.contains(" = ") || l.ends_with("<unfinished ...>")));
}

/// Peak RSS in KiB of `ruchytrace syscalls ARGS` (from wait4's rusage).
// The child is reaped by wait4 (which also gives its rusage), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn tracer_peak_rss(args: &[&str]) -> i64 {
    let child = Command::new(support::ruchytrace())
        .arg("syscalls")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills; status is a live local.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: waits for our own child, writing into the two locals.
        let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut ru) };
        if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break r;
        }
    };
    assert_eq!(
        r,
        child.id() as i32,
        "wait4: {}",
        std::io::Error::last_os_error()
    );
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "status {status:#x}"
    );
    ru.ru_maxrss
}

#[test]
fn memory_stays_flat_for_a_million_syscalls() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sys.json");
    let json = json.to_str().unwrap();
    // dd does a read and a write per byte: 2 calls per count.
    let small = tracer_peak_rss(&[
        "-o",
        json,
        "--",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=1",
        "count=10000",
    ]);
    let big = tracer_peak_rss(&[
        "-o",
        json,
        "--",
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=1",
        "count=500000",
    ]);
    let size = std::fs::metadata(json).unwrap().len();
    assert!(size > 100_000_000, "1M events were written: {size} bytes");
    assert!(
        big - small < 4 * 1024,
        "peak RSS grew from {small} KiB (20k calls) to {big} KiB (1M calls)"
    );
}

#[test]
fn the_programs_affinity_and_policy_are_untouched_while_the_tracer_follows_it() {
    require_ptrace!();
    // The program and a child it forks report their CPU mask and scheduling policy.
    let script = "dd if=/dev/zero of=/dev/null bs=1 count=3000 status=none; \
                  grep Cpus_allowed_list /proc/self/status; grep -E '^policy' /proc/self/sched; \
                  sh -c 'grep -E ^policy /proc/self/sched'";
    let plain = Command::new("sh").args(["-c", script]).output().unwrap();
    assert!(String::from_utf8_lossy(&plain.stdout).contains("Cpus_allowed_list"));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    for mode in ["auto", "follow", "off"] {
        let out = run(&[
            "-f",
            "--debug",
            "--cpu-mode",
            mode,
            "-o",
            "/dev/null",
            "--",
            "sh",
            "-c",
            script,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&plain.stdout),
            "--cpu-mode {mode}"
        );
        let log = stderr(&out);
        let want = match mode {
            "follow" => "active=Follow",
            "off" => "active=Off",
            // auto: Idle where SCHED_IDLE can be left again (root), Off elsewhere.
            _ => "active=",
        };
        assert!(log.contains(want), "--cpu-mode {mode}: {log}");
        if mode == "follow" && cpus > 1 {
            assert!(
                log.contains("tracer follows tracee"),
                "the tracer moved its own thread"
            );
        }
    }
}

// ---- files and bad input --------------------------------------------------------------------

#[test]
fn trace_files_are_private() {
    require_ptrace!();
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    for name in ["t.txt", "t.json"] {
        let p = dir.path().join(name);
        let out = run(&["-o", p.to_str().unwrap(), "true"]);
        assert_eq!(out.status.code(), Some(0));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no/such/dir/out.txt");
    for (args, msg) in [
        (
            vec!["-P", "/no/such/path", "--", "sh", "-c", "echo ran"],
            "ruchytrace: -P /no/such/path: no such file or directory\n".to_string(),
        ),
        (
            vec![
                "-o",
                missing_dir.to_str().unwrap(),
                "--",
                "sh",
                "-c",
                "echo ran",
            ],
            format!(
                "ruchytrace: cannot create {}: No such file or directory\n",
                missing_dir.display()
            ),
        ),
        (
            vec!["-p", "2147483647"],
            "ruchytrace: cannot attach to process 2147483647: No such process\n".to_string(),
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out), msg);
        assert!(out.stdout.is_empty(), "the program did not run");
    }
}

#[test]
fn sys_json_is_written_while_the_program_runs() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sys.json");
    let mut tracer = Command::new(support::ruchytrace())
        .args(["syscalls", "-o"])
        .arg(&json)
        .args([
            "--",
            "sh",
            "-c",
            "cat /etc/hostname >/dev/null; exec sleep 3",
        ])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut seen = None;
    while start.elapsed() < Duration::from_secs(3) {
        let bytes = std::fs::read(&json).unwrap_or_default();
        if let Ok((t, Some(_))) = ruchytrace::syscalls::read_sys_trace(&bytes) {
            if t.events.iter().any(|e| matches!(e, ruchytrace::syscalls::Event::Syscall(s) if s.name == "execve" && s.pid != t.metadata.pid || s.name == "close")) {
                seen = Some(t.events.len());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = tracer.kill();
    let _ = tracer.wait();
    assert!(
        seen.is_some(),
        "events appear in the file while the program runs"
    );
}

#[test]
fn daemonized_tracer_keeps_the_program_a_child_of_the_caller() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("d.txt");
    let out = Command::new(support::ruchytrace())
        .args(["syscalls", "-D", "-o"])
        .arg(&f)
        .args(["--", "sh", "-c", "echo $PPID"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        std::process::id().to_string(),
        "the program's parent is the caller, not the tracer"
    );
    // The tracer finishes its file after the program ends.
    let start = Instant::now();
    loop {
        let t = std::fs::read_to_string(&f).unwrap_or_default();
        if t.contains("+++ exited with 0 +++") {
            assert!(t.starts_with("execve(\""), "{t}");
            assert!(t.contains("write(1, \""), "{t}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{t}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
