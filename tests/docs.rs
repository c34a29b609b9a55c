//! The documentation tells the truth: every generated example in README.md and docs/ is what the
//! code prints now (`scripts/regen-docs.sh --check`), and the README's first command works end to
//! end with the shape the README shows.
#![cfg(feature = "trace")]

#[path = "support/sys.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// The README test rebuilds the examples that the docs check runs: one at a time.
static EXAMPLES: Mutex<()> = Mutex::new(());

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn docs_examples_are_current() {
    let _one = EXAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    let bin_dir = support::ruchytrace().parent().unwrap();
    assert!(
        bin_dir.join("examples/fibonacci").exists(),
        "the examples are not built in {}",
        bin_dir.display()
    );
    let ptrace = support::ptrace_permitted();
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/regen-docs.sh"))
        .arg("--check")
        .env("RUCHYTRACE_DOCS_BIN", bin_dir)
        // Share the build cache of tests/ruchy.rs: the runtime compiles once for both.
        .env(
            "RUCHYTRACE_DOCS_CACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("ruchy-cache"),
        );
    if ptrace.is_err() {
        cmd.env("RUCHYTRACE_DOCS_NO_PTRACE", "1");
    }
    let out = cmd.output().expect("run scripts/regen-docs.sh");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "checked-in examples differ from what the code prints now; run scripts/regen-docs.sh \
         and review the diff:\n{err}"
    );
    assert!(err.contains("regen-docs: checked "), "{err}");
    if let Err(why) = ptrace {
        support::skip(&format!("the system call examples were not checked: {why}"));
    }
}

/// One line of a merged timeline without its timestamp: (indentation, text).
fn body(line: &str) -> Option<(usize, &str)> {
    let rest = line.strip_prefix('[')?.split_once("] ")?.1;
    let text = rest.trim_start();
    Some((rest.len() - text.len(), text))
}

/// The direct children of the first call of `name` in `lines`: the lines between its enter and
/// its exit, each one level deeper.
fn children<'a>(lines: &[(usize, &'a str)], name: &str) -> (&'a str, Vec<&'a str>, &'a str) {
    let start = lines
        .iter()
        .position(|(_, t)| t.starts_with(&format!("-> {name}(")))
        .unwrap_or_else(|| panic!("no call of {name}"));
    let depth = lines[start].0;
    let end = start
        + lines[start..]
            .iter()
            .position(|(d, t)| *d == depth && t.starts_with(&format!("<- {name}()")))
            .unwrap_or_else(|| panic!("{name} never returns"));
    let inner = lines[start + 1..end]
        .iter()
        .map(|&(d, t)| {
            assert_eq!(d, depth + 2, "{t} is not a direct child of {name}");
            t
        })
        .collect();
    (lines[start].1, inner, lines[end].1)
}

/// The text of a system call line without its duration (`openat(...) = 4`).
fn call(line: &str) -> &str {
    line.rsplit_once(" [").map_or(line, |(c, _)| c)
}

/// README's first command, `ruchytrace cargo --syscalls -- run --example fibonacci_io`: it builds
/// the example with the `trace` feature, runs it under the system call tracer and prints one
/// merged timeline in which `save` and `load` hold their file system calls.
#[test]
fn readme_first_command() {
    let _one = EXAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    if !support::ptrace_or_skip() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(support::ruchytrace());
    cmd.args([
        "cargo",
        "--syscalls",
        "--",
        "run",
        "--example",
        "fibonacci_io",
    ])
    .current_dir(root())
    .env("CARGO", env!("CARGO"))
    .env("TMPDIR", tmp.path());
    for k in ruchytrace::runtime::config::ENV_VARS {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("run ruchytrace cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fibonacci(0..=6) = [0, 1, 1, 2, 3, 5, 8]\n"
    );

    // One thread: the program's main thread (the runtime's collector makes no traced calls).
    let headers: Vec<&str> = stderr.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(headers.len(), 1, "{stderr}");
    let pid: u32 = headers[0]
        .strip_prefix("== thread ")
        .and_then(|h| h.split_once(' '))
        .and_then(|(p, _)| p.parse().ok())
        .unwrap_or_else(|| panic!("header {}", headers[0]));
    assert_eq!(
        headers[0],
        format!("== thread {pid} \"main\" (pid {pid}) ==")
    );
    let lines: Vec<(usize, &str)> = stderr.lines().filter_map(body).collect();
    assert!(lines[0].1.starts_with("execve("), "{stderr}");

    // fibonacci(0..=6): 59 calls, balanced, and no system call inside any of them.
    let enters = lines
        .iter()
        .filter(|(_, t)| t.starts_with("-> fibonacci(n="))
        .count();
    let exits = lines
        .iter()
        .filter(|(_, t)| t.starts_with("<- fibonacci() = "))
        .count();
    assert_eq!((enters, exits), (59, 59), "{stderr}");
    let (enter, inner, exit) = children(&lines, "fibonacci");
    assert_eq!(enter, "-> fibonacci(n=0) <examples/fibonacci_io.rs:25:1>");
    assert!(inner.is_empty(), "{inner:?}");
    assert!(exit.starts_with("<- fibonacci() = 0 ["), "{exit}");

    // save: openat, write, close of the file, in that order (a debug build's `File` drop also
    // checks the descriptor with fcntl(F_GETFD)).
    let path = format!("{}/fibonacci-{pid}.txt", tmp.path().display());
    let (enter, inner, exit) = children(&lines, "save");
    assert_eq!(
        enter,
        format!(
            "-> save(path={path:?}, values=[0, 1, 1, 2, 3, 5, 8]) <examples/fibonacci_io.rs:35:1>"
        )
    );
    let calls: Vec<&str> = inner
        .iter()
        .map(|l| call(l))
        .filter(|c| !(c.starts_with("fcntl(") && c.ends_with(", F_GETFD) = 1")))
        .collect();
    let fd = calls
        .first()
        .and_then(|c| c.rsplit_once(" = "))
        .map(|(_, fd)| fd)
        .unwrap_or_else(|| panic!("{inner:?}"));
    assert_eq!(
        calls,
        vec![
            format!("openat(AT_FDCWD, {path:?}, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = {fd}"),
            format!("write({fd}, \"0 1 1 2 3 5 8\\n\", 14) = 14"),
            format!("close({fd}) = 0"),
        ]
    );
    assert!(exit.starts_with("<- save() = Ok(14) ["), "{exit}");

    // load: opens the file read-only, reads the 14 bytes, closes it.
    let (enter, inner, exit) = children(&lines, "load");
    assert_eq!(
        enter,
        format!("-> load(path={path:?}) <examples/fibonacci_io.rs:45:1>")
    );
    let calls: Vec<&str> = inner.iter().map(|l| call(l)).collect();
    let fd = calls
        .first()
        .and_then(|c| {
            c.strip_prefix(&format!(
                "openat(AT_FDCWD, {path:?}, O_RDONLY|O_CLOEXEC) = "
            ))
        })
        .unwrap_or_else(|| panic!("{calls:?}"));
    assert!(
        calls.contains(&format!("read({fd}, \"0 1 1 2 3 5 8\\n\", 14) = 14").as_str()),
        "{calls:?}"
    );
    assert_eq!(calls.last(), Some(&format!("close({fd}) = 0").as_str()));
    assert!(
        exit.starts_with("<- load() = Ok([0, 1, 1, 2, 3, 5, 8]) ["),
        "{exit}"
    );

    // The merged trace is kept where the README says.
    let last = stderr.lines().last().unwrap();
    let merged = last
        .strip_prefix("ruchytrace: merged trace in ")
        .and_then(|l| l.strip_suffix(" (raw traces next to it)"))
        .unwrap_or_else(|| panic!("last line: {last}"));
    assert!(
        merged.ends_with("/debug/examples/fibonacci_io.ruchytrace/merged.txt"),
        "{merged}"
    );
    let text = std::fs::read_to_string(merged).unwrap();
    assert!(text.contains(&format!("-> save(path={path:?}")), "{text}");

    // Run again: the directory holds that run only, so the README's second command (`report
    // DIR --syscalls`) reads one run's traces, not a mix of runs.
    let again = cmd.output().expect("run ruchytrace cargo again");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let dir = std::path::Path::new(merged).parent().unwrap();
    let traces: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fn-"))
        .collect();
    assert_eq!(traces.len(), 1, "{traces:?}");
    let report = Command::new(support::ruchytrace())
        .arg("report")
        .arg(dir)
        .arg("--syscalls")
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
}
