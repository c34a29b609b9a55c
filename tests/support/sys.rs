//! Shared helpers of the `syscalls` integration tests: locating (building) the `ruchytrace`
//! binary, compiling the small test programs, running strace, and normalising both traces into
//! per-thread sequences of `(name, result)` that can be compared.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

/// `target/debug` (or whatever profile dir holds this test binary).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The `ruchytrace` binary, built on first use (a root-package test cannot ask Cargo for another
/// package's binary).
pub fn ruchytrace() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = profile_dir();
        let target_dir = dir.parent().unwrap();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "-q",
            "-p",
            "ruchytrace",
            "--bin",
            "ruchytrace",
            "--target-dir",
        ])
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "building the ruchytrace binary failed");
        dir.join("ruchytrace")
    })
}

/// Compiles `tests/programs/NAME.rs` with rustc (once per test run) and returns the binary.
pub fn program(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let map = BUILT.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = map.get(name) {
        return p.clone();
    }
    let out_dir = profile_dir().join("syscalls-test-programs");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/programs")
        .join(format!("{name}.rs"));
    let status = Command::new("rustc")
        .args(["--edition", "2021", "-O", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run rustc");
    assert!(status.success(), "compiling {} failed", src.display());
    map.insert(name.to_string(), out.clone());
    out
}

#[path = "skip.rs"]
mod skip;
#[allow(unused_imports)] // each test binary uses its own subset
pub use skip::{in_ci, ptrace_or_skip, ptrace_permitted, skip};

/// Skips the calling test (reports it, then returns early) when ptrace is not permitted.
#[macro_export]
macro_rules! require_ptrace {
    () => {
        if !support::ptrace_or_skip() {
            return;
        }
    };
}

/// Whether a usable `strace` is installed; `Err` says why not.
pub fn strace_available() -> Result<(), String> {
    static OK: OnceLock<Result<(), String>> = OnceLock::new();
    OK.get_or_init(|| {
        match Command::new("strace")
            .args(["-qq", "-o", "/dev/null", "true"])
            .output()
        {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(format!(
                "strace cannot trace here: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => Err(format!("strace is not installed ({e})")),
        }
    })
    .clone()
}

/// [`strace_available`], reporting a skip when it is not.
#[track_caller]
pub fn strace_or_skip() -> bool {
    match strace_available() {
        Ok(()) => true,
        Err(why) => {
            skip(&why);
            false
        }
    }
}

/// Runs `ruchytrace syscalls ARGS`.
pub fn run(args: &[&str]) -> Output {
    Command::new(ruchytrace())
        .arg("syscalls")
        .args(args)
        .output()
        .unwrap()
}

/// Runs `ruchytrace syscalls -o DIR/sys.json EXTRA -- CMD` and returns the output and the
/// document as the library reads it (the file itself is streamed: see `syscalls::event`).
pub fn run_json(dir: &Path, extra: &[&str], cmd: &[&str]) -> (Output, serde_json::Value) {
    let json = dir.join("sys.json");
    let mut args: Vec<&str> = vec!["-o", json.to_str().unwrap()];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(cmd);
    let out = run(&args);
    let text = std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "no sys.json ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let _: serde_json::Value = serde_json::from_str(&text).expect("sys.json is valid JSON");
    // Read through the library's reader: images in the metadata, events sorted by time.
    let (trace, cut) = ruchytrace::syscalls::read_sys_trace(text.as_bytes()).expect("sys.json");
    assert_eq!(cut, None, "sys.json is complete");
    let doc = serde_json::to_value(&trace).unwrap();
    (out, doc)
}

/// One syscall as compared: name and normalised result.
pub type Call = (String, String);

/// Syscalls whose results are pids (differ between runs).
const PID_RESULTS: &[&str] = &[
    "getpid",
    "getppid",
    "gettid",
    "set_tid_address",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "wait4",
    // returns the interrupted call's register value, here a pid from wait4
    "rt_sigreturn",
];

/// Normalises a result: errors by name, pids and addresses by kind, small numbers exactly.
pub fn normalise(name: &str, ret: Option<i64>, errno: Option<&str>) -> String {
    match (ret, errno) {
        (None, _) => "?".into(),
        (Some(_), Some(e)) => format!("-1 {e}"),
        (Some(r), None) if PID_RESULTS.contains(&name) && r > 0 => "PID".into(),
        (Some(r), None) if !(0..=1 << 20).contains(&r) => "ADDR".into(),
        (Some(r), None) => r.to_string(),
    }
}

/// Per-thread call sequences from `sys.json`, keyed by tid.
pub fn json_sequences(doc: &serde_json::Value) -> HashMap<i64, Vec<Call>> {
    let mut map: HashMap<i64, Vec<Call>> = HashMap::new();
    for e in doc["events"].as_array().unwrap() {
        if e["type"] != "syscall" {
            continue;
        }
        let name = e["name"].as_str().unwrap().to_string();
        let r = normalise(&name, e["return"].as_i64(), e["errno"].as_str());
        map.entry(e["tid"].as_i64().unwrap())
            .or_default()
            .push((name, r));
    }
    map
}

/// Runs `strace -f -qq -o FILE CMD` and returns its per-thread sequences.
pub fn strace_sequences(dir: &Path, cmd: &[&str]) -> HashMap<i64, Vec<Call>> {
    let file = dir.join("strace.out");
    let out = Command::new("strace")
        .arg("-f")
        .arg("-qq")
        .arg("-o")
        .arg(&file)
        .args(cmd)
        .output()
        .unwrap();
    assert!(out.status.code().is_some(), "strace died: {out:?}");
    parse_strace(&std::fs::read_to_string(&file).unwrap())
}

/// Parses `strace -f -o` lines (`PID  name(args) = ret`, with unfinished/resumed pairs).
pub fn parse_strace(text: &str) -> HashMap<i64, Vec<Call>> {
    let mut map: HashMap<i64, Vec<Call>> = HashMap::new();
    // Index of the unfinished call of each tid in its sequence.
    let mut open: HashMap<i64, usize> = HashMap::new();
    for line in text.lines() {
        let (tid, rest) = match line.split_once(' ') {
            Some((p, r)) => match p.parse::<i64>() {
                Ok(t) => (t, r.trim_start()),
                Err(_) => continue,
            },
            None => continue,
        };
        if rest.starts_with("---") || rest.starts_with("+++") {
            continue;
        }
        let seq = map.entry(tid).or_default();
        if let Some(resumed) = rest.strip_prefix("<... ") {
            let name = resumed.split(' ').next().unwrap().to_string();
            let ret = parse_ret(&name, resumed);
            match open.remove(&tid) {
                Some(i) => seq[i].1 = ret,
                None => seq.push((name, ret)),
            }
            continue;
        }
        let Some(paren) = rest.find('(') else {
            continue;
        };
        let name = rest[..paren].to_string();
        if rest.ends_with("<unfinished ...>") {
            open.insert(tid, seq.len());
            seq.push((name, "?".into()));
        } else {
            let ret = parse_ret(&name, rest);
            seq.push((name, ret));
        }
    }
    map
}

fn parse_ret(name: &str, rest: &str) -> String {
    let Some(i) = rest.rfind(" = ") else {
        return "?".into();
    };
    let mut it = rest[i + 3..].split_whitespace();
    let value = it.next().unwrap_or("?");
    if value == "?" {
        return "?".into();
    }
    if value == "-1" {
        return format!("-1 {}", it.next().unwrap_or(""));
    }
    let v = if let Some(hex) = value.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else {
        value.parse::<i64>().ok()
    };
    normalise(name, v, None)
}

/// Sequences with the given syscalls removed (documented, racy or tracer-dependent calls),
/// sorted so the comparison ignores tid numbering and thread creation order.
pub fn comparable(map: HashMap<i64, Vec<Call>>, ignore: &[&str]) -> Vec<Vec<Call>> {
    let mut seqs: Vec<Vec<Call>> = map
        .into_values()
        .map(|s| {
            s.into_iter()
                .filter(|(n, _)| !ignore.contains(&n.as_str()))
                .collect()
        })
        .collect();
    seqs.sort();
    seqs
}

/// Compares two sets of sequences; the error shows the first difference.
pub fn same(ours: &[Vec<Call>], theirs: &[Vec<Call>]) -> Result<(), String> {
    if ours.len() != theirs.len() {
        return Err(format!(
            "thread count differs:\nours={ours:#?}\nstrace={theirs:#?}"
        ));
    }
    for (a, b) in ours.iter().zip(theirs) {
        if a != b {
            let i = a
                .iter()
                .zip(b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            return Err(format!(
                "sequences differ at call {i}: ours {:?} vs strace {:?}\nours={a:?}\nstrace={b:?}",
                a.get(i),
                b.get(i)
            ));
        }
    }
    Ok(())
}

/// `CLOCK_MONOTONIC` now, in ns.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live local written by clock_gettime.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
