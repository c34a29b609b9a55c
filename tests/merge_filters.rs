//! Replay filters on `merge` and `report` (synthetic traces, no ptrace): what each filter keeps,
//! where the system calls of dropped calls go, `--sort`, estimated counts of a sampled trace,
//! and `report DIR` reading trace files whatever their names.

mod merge_support;
#[path = "support/sys.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use merge_support::*;
use ruchytrace_runtime::format::Format;

struct Files {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    fn_bin: PathBuf,
    sys: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    let fn_bin = p.join("fn.rtrace");
    let sys = p.join("sys.json");
    write_fn(&fn_trace(), &fn_bin, Format::Binary);
    write_sys(&sys_doc(PID, REALTIME, default_syscalls()), &sys);
    Files {
        _dir: dir,
        dir: p,
        fn_bin,
        sys,
    }
}

fn run(args: &[&str], paths: &[&Path]) -> String {
    let out = Command::new(support::ruchytrace())
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The merged text timeline with the filter flags, timestamps and durations cut off.
fn timeline(f: &Files, flags: &[&str]) -> Vec<String> {
    let mut args = vec!["merge"];
    args.extend_from_slice(flags);
    run(&args, &[&f.fn_bin, &f.sys])
        .lines()
        .map(|l| {
            let l = l.split_once("] ").map_or(l, |(_, rest)| rest);
            l.split(" [").next().unwrap().trim_end().to_owned()
        })
        .collect()
}

const MAIN: &str = "== thread 100 \"main\" (pid 100) ==";
const WORKER: &str = "== thread 101 \"worker\" (pid 100) ==";

#[test]
fn min_duration_moves_syscalls_to_the_nearest_kept_caller() {
    let f = files();
    assert_eq!(
        timeline(&f, &["--min-duration", "1us"]),
        [
            MAIN,
            "  -> compute(x=42, y=100) <src/main.rs:10:5>",
            "    openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3",
            "    -> load() <src/main.rs:11:5>",
            "      read(3, \"root:x:0:0\"..., 4096) = 1234",
            "    <- load()",
            "  <- compute() = 4255",
            "  write(1, \"done\\n\", 5) = 5",
            WORKER,
            "  getpid() = 100",
        ]
    );
    assert_eq!(
        timeline(&f, &["--min-duration", "3us"])[..6],
        [
            MAIN,
            "  -> compute(x=42, y=100) <src/main.rs:10:5>",
            "    openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3",
            "    read(3, \"root:x:0:0\"..., 4096) = 1234",
            "  <- compute() = 4255",
            "  write(1, \"done\\n\", 5) = 5",
        ]
    );
}

#[test]
fn depth_tid_caller_filter_and_time_range() {
    let f = files();
    let depth1 = timeline(&f, &["--depth", "1"]);
    assert_eq!(
        depth1,
        [
            MAIN,
            "  -> compute(x=42, y=100) <src/main.rs:10:5>",
            "    openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3",
            "    read(3, \"root:x:0:0\"..., 4096) = 1234",
            "  <- compute() = 4255",
            "  write(1, \"done\\n\", 5) = 5",
            WORKER,
            "  -> load() <src/main.rs:11:5>",
            "    getpid() = 100",
            "  <- load()",
        ]
    );
    assert_eq!(
        timeline(&f, &["--tid", "101"]),
        [
            WORKER,
            "  -> load() <src/main.rs:11:5>",
            "    getpid() = 100",
            "  <- load()",
        ]
    );
    assert_eq!(
        timeline(&f, &["--caller", "load"]),
        [
            MAIN,
            "  -> load() <src/main.rs:11:5>",
            "    read(3, \"root:x:0:0\"..., 4096) = 1234",
            "  <- load()",
            WORKER,
            "  -> load() <src/main.rs:11:5>",
            "    getpid() = 100",
            "  <- load()",
        ]
    );
    assert_eq!(
        timeline(&f, &["--filter", "!load"]),
        [
            MAIN,
            "  -> compute(x=42, y=100) <src/main.rs:10:5>",
            "    openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3",
            "    read(3, \"root:x:0:0\"..., 4096) = 1234",
            "  <- compute() = 4255",
            "  write(1, \"done\\n\", 5) = 5",
            WORKER,
            "  getpid() = 100",
        ]
    );
    // The first event is at MONO + 1000 ns: 2us.. keeps what starts at MONO + 3000 or later.
    assert_eq!(
        timeline(&f, &["--time-range", "2us.."]),
        [
            MAIN,
            "  -> load() <src/main.rs:11:5>",
            "    read(3, \"root:x:0:0\"..., 4096) = 1234",
            "  <- load()",
            "  write(1, \"done\\n\", 5) = 5",
            WORKER,
        ]
    );
    let abs = format!("..{}", MONO + 2_100);
    assert_eq!(
        timeline(&f, &["--time-range", &abs, "--tid", "100"]),
        [
            MAIN,
            "  -> compute(x=42, y=100) <src/main.rs:10:5>",
            "    openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3",
            "  <- compute() = 4255",
        ]
    );
    // Bad filter values are usage errors.
    let out = Command::new(support::ruchytrace())
        .args(["merge", "--time-range", "soon"])
        .arg(&f.fn_bin)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn report_sorts_filters_and_reads_any_trace_file_in_a_dir() {
    let f = files();
    let hot = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["report", "--hotspots", "5"];
        args.extend_from_slice(extra);
        run(&args, &[&f.fn_bin, &f.sys])
            .lines()
            .skip_while(|l| !l.starts_with("## hotspots"))
            .skip(2)
            .map(|l| l.split_whitespace().nth(6).unwrap().to_owned())
            .collect()
    };
    assert_eq!(hot(&[]), ["compute", "load"], "by self time");
    assert_eq!(hot(&["--sort", "calls"]), ["load", "compute"]);
    assert_eq!(hot(&["--sort", "max"]), ["compute", "load"]);
    let report = run(
        &["report", "--hotspots", "5", "--sort", "avg"],
        &[&f.fn_bin, &f.sys],
    );
    assert!(
        report.contains("## hotspots (top 5 by inclusive time per call)"),
        "{report}"
    );
    let load = report
        .lines()
        .find(|l| l.ends_with("load <src/main.rs:11:5>"))
        .unwrap();
    // load: 2 calls, 2.000us + 100ns inclusive, 1.050us per call, longest 2.000us.
    assert_eq!(
        load.split_whitespace().collect::<Vec<_>>()[..7],
        ["1.590us", "22.36%", "2.100us", "2", "1.050us", "2.000us", "load"]
    );
    let filtered = run(
        &["report", "--hotspots", "5", "--tid", "101"],
        &[&f.fn_bin, &f.sys],
    );
    assert!(!filtered.contains("compute"), "{filtered}");

    // A sampled trace: counts are estimated.
    let mut t = fn_trace();
    t.metadata.settings.sample = 10;
    let odd = f.dir.join("odd names");
    std::fs::create_dir_all(&odd).unwrap();
    write_fn(&t, &odd.join("calls.bin"), Format::Binary);
    std::fs::copy(&f.sys, odd.join("kernel-side.json")).unwrap();
    std::fs::write(odd.join("notes.txt"), "not a trace").unwrap();
    let sampled = run(&["report", "--hotspots", "5"], &[&odd]);
    assert!(
        sampled.contains("# sampled 1 in 10: ~ = calls estimated as recorded calls x 10"),
        "{sampled}"
    );
    let load = sampled
        .lines()
        .find(|l| l.ends_with("load <src/main.rs:11:5>"))
        .unwrap();
    assert_eq!(load.split_whitespace().nth(3), Some("~20"), "{load}");
    // Both files of the directory were read: the syscalls are there.
    let sys = run(&["report", "--syscalls"], &[&odd]);
    assert!(sys.contains("openat"), "{sys}");
}
