//! `ruchytrace merge` and `ruchytrace report` on synthetic traces (no ptrace needed): attribution
//! rules, the text line format, straddle and pid/clock mismatch detection, malformed inputs
//! (exit 2 with the file and position), the Chrome trace validator, and binary vs JSON inputs.

mod merge_support;
#[path = "support/sys.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use merge_support::*;
use ruchytrace::merge::{self, MergeError, MergeOptions, NodeKind};
use ruchytrace_runtime::format::Format;
use serde_json::Value;

struct Files {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    fn_bin: PathBuf,
    fn_json: PathBuf,
    sys: PathBuf,
}

fn files(sys_events: Vec<Value>) -> Files {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().to_path_buf();
    let fn_bin = p.join("fn.rtrace");
    let fn_json = p.join("fn.json");
    let sys = p.join("sys.json");
    write_fn(&fn_trace(), &fn_bin, Format::Binary);
    write_fn(&fn_trace(), &fn_json, Format::Json);
    write_sys(&sys_doc(PID, REALTIME, sys_events), &sys);
    Files {
        _dir: dir,
        dir: p,
        fn_bin,
        fn_json,
        sys,
    }
}

fn cli(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(support::ruchytrace())
        .args(args)
        .args(paths)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn merged(paths: &[&Path], force: bool) -> Result<merge::Merged, MergeError> {
    let inputs = paths
        .iter()
        .map(|p| merge::load(p, false).unwrap())
        .collect();
    merge::merge(
        inputs,
        &MergeOptions {
            force,
            ..MergeOptions::default()
        },
    )
}

/// (thread, syscall name, parent function name or None) for every syscall.
fn attribution(m: &merge::Merged, show_tracer: bool) -> Vec<(u32, String, Option<String>)> {
    let mut out = Vec::new();
    for t in m.visible_threads(show_tracer) {
        let mut stack: Vec<(u32, Option<String>)> = t.roots.iter().map(|&r| (r, None)).collect();
        while let Some((id, parent)) = stack.pop() {
            match &m.node(id).kind {
                NodeKind::Syscall(s) => out.push((t.tid, s.name.clone(), parent)),
                NodeKind::Call(_) => {
                    let name = m.name(id).to_string();
                    stack.extend(m.node(id).children.iter().map(|&c| (c, Some(name.clone()))));
                }
                NodeKind::Point { .. } => {}
            }
        }
    }
    out.sort();
    out
}

#[test]
fn attribution_rules_binary_and_json_inputs() {
    let f = files(default_syscalls());
    for fn_file in [&f.fn_bin, &f.fn_json] {
        let m = merged(&[fn_file, &f.sys], false).unwrap();
        let want = vec![
            (PID, "openat".to_string(), Some("compute".to_string())),
            (PID, "read".to_string(), Some("load".to_string())),
            (PID, "write".to_string(), None),
            (101, "getpid".to_string(), Some("load".to_string())),
        ];
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(attribution(&m, false), want_sorted, "{}", fn_file.display());
        // The collector's write is hidden unless asked for, and marked as tracer traffic.
        let all = attribution(&m, true);
        assert!(all.contains(&(COLLECTOR, "write".to_string(), None)));
        assert!(m.threads.iter().any(|t| t.tid == COLLECTOR && t.tracer));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    }
}

#[test]
fn text_timeline_format() {
    let f = files(default_syscalls());
    let out = cli(&["merge"], &[&f.fn_bin, &f.sys]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // Times count from the first event (the worker's thread record at +1000 ns).
    let expect = "\
== thread 100 \"main\" (pid 100) ==
[0.000001]   -> compute(x=42, y=100) <src/main.rs:10:5>
[0.000001]     openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3 [800ns]
[0.000002]     -> load() <src/main.rs:11:5>
[0.000002]       read(3, \"root:x:0:0\"..., 4096) = 1234 [500ns]
[0.000004]     <- load() [2.000us]
[0.000008]   <- compute() = 4255 [7.000us]
[0.000008]   write(1, \"done\\n\", 5) = 5 [10ns]
== thread 101 \"worker\" (pid 100) ==
[0.000001]   -> load() <src/main.rs:11:5>
[0.000001]     getpid() = 100 [10ns]
[0.000001]   <- load() [100ns]
";
    assert_eq!(text, expect);
    // --show-tracer adds the collector thread, labelled.
    let out = cli(&["merge", "--show-tracer"], &[&f.fn_bin, &f.sys]);
    let text = stdout(&out);
    assert!(
        text.contains(
            "== thread 102 \"thread 102\" (pid 100) [ruchytrace collector: tracer traffic] =="
        ),
        "{text}"
    );
    assert!(
        text.contains("[0.000000]   write(3, \"...\", 40) = 40 [5ns]"),
        "{text}"
    );
}

#[test]
fn straddling_syscalls_are_errors_naming_the_events() {
    // read on the main thread from 4900 to 5100 crosses load()'s exit at 5000.
    let mut events = default_syscalls();
    events.push(syscall("read", PID, 4900, 200, &["3", "\"\"", "1"], 0));
    let f = files(events);
    let out = cli(&["merge"], &[&f.fn_bin, &f.sys]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("straddle a function boundary"), "{err}");
    assert!(
        err.contains("pid 100 tid 100: read(3, \"\", 1) at 1004900 (returned at 1005100) straddles the exit of load() (entered at 1003000, returned at 1005000)"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "no tree is printed");
    // --force: a warning, and the call goes under the enclosing compute().
    let m = merged(&[&f.fn_bin, &f.sys], true).unwrap();
    assert!(m.warnings.iter().any(|w| w.contains("straddles the exit")));
    let a = attribution(&m, false);
    assert_eq!(
        a.iter()
            .filter(|(t, n, p)| *t == PID && n == "read" && p.as_deref() == Some("compute"))
            .count(),
        1,
        "{a:?}"
    );

    // A syscall that begins before load() is entered and returns inside it.
    let mut events = default_syscalls();
    events.push(syscall(
        "nanosleep",
        PID,
        2900,
        200,
        &["{tv_sec=0, tv_nsec=1}", "NULL"],
        0,
    ));
    let f = files(events);
    match merged(&[&f.fn_bin, &f.sys], false) {
        Err(MergeError::Straddle(list)) => {
            assert_eq!(list.len(), 1, "{list:?}");
            assert!(
                list[0].contains("nanosleep")
                    && list[0].contains("straddles the entry of load() (entered at 1003000"),
                "{list:?}"
            );
        }
        other => panic!("expected a straddle error, got {other:?}"),
    }
}

#[test]
fn boundaries_are_inclusive() {
    // A syscall entering exactly when load() enters and returning exactly when it exits is
    // inside it; one starting exactly at compute()'s exit is outside.
    let events = vec![
        syscall("read", PID, 3000, 2000, &["3", "\"\"", "1"], 0),
        syscall("close", PID, 9000, 0, &["3"], 0),
    ];
    let f = files(events);
    let m = merged(&[&f.fn_bin, &f.sys], false).unwrap();
    let a = attribution(&m, false);
    assert!(
        a.contains(&(PID, "read".into(), Some("load".into()))),
        "{a:?}"
    );
    assert!(
        a.contains(&(PID, "close".into(), Some("compute".into()))),
        "{a:?}"
    );
}

#[test]
fn pid_and_clock_mismatch_are_refused() {
    let f = files(default_syscalls());
    // Another pid.
    let other = f.dir.join("other.json");
    let mut doc = sys_doc(999, REALTIME, vec![]);
    doc["events"] = serde_json::json!([{"type": "syscall", "name": "getpid", "nr": 39, "pid": 999,
        "tid": 999, "timestamp_ns": MONO + 2000, "duration_ns": 5, "args": [], "raw_args": [],
        "return": 999, "errno": null}]);
    write_sys(&doc, &other);
    let out = cli(&["merge"], &[&f.fn_bin, &other]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("pid mismatch") && err.contains("fn.rtrace is a trace of pid 100"),
        "{err}"
    );
    assert!(err.contains("other.json traced pid(s) {999}"), "{err}");

    // Another boot: CLOCK_REALTIME - CLOCK_MONOTONIC differs by an hour.
    let boot = f.dir.join("boot.json");
    write_sys(
        &sys_doc(PID, REALTIME + 3_600_000_000_000, default_syscalls()),
        &boot,
    );
    let out = cli(&["merge"], &[&f.fn_bin, &boot]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("clock mismatch") && stderr(&out).contains("3600.000s"),
        "{}",
        stderr(&out)
    );

    // Same pid and boot, but a different run: the time spans do not overlap.
    let later = f.dir.join("later.json");
    write_sys(
        &sys_doc(
            PID,
            REALTIME,
            vec![syscall("getpid", PID, 50_000_000, 10, &[], 100)],
        ),
        &later,
    );
    let out = cli(&["merge"], &[&f.fn_bin, &later]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("do not overlap"), "{}", stderr(&out));
    // --force merges anyway, with the warning in the output.
    let out = cli(&["merge", "--force"], &[&f.fn_bin, &later]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("# warning: clock mismatch"));
}

#[test]
fn malformed_inputs_exit_2_with_file_and_position() {
    let f = files(default_syscalls());
    let check = |name: &str, bytes: &[u8], needles: &[&str]| {
        let p = f.dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = cli(&["merge"], &[&f.fn_bin, &p]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(
            err.contains(&p.display().to_string()),
            "{name}: file missing in {err}"
        );
        for n in needles {
            assert!(err.contains(n), "{name}: {n:?} missing in {err}");
        }
        assert!(stdout(&out).is_empty());
    };
    // Bad JSON in a sys.json.
    let mut sys = std::fs::read(&f.sys).unwrap();
    sys.truncate(sys.len() / 2);
    check(
        "cut.json",
        &sys,
        &["at line 1 column", "malformed", "EOF while parsing"],
    );
    check(
        "bad.json",
        b"{\"metadata\": {\"format\": \"ruchytrace-syscalls\", \"version\": 1,\n  \"pid\": oops}}",
        &["at line 2 column", "malformed"],
    );
    check(
        "garbage.json",
        b"{ not json",
        &["at line 1 column 3", "malformed JSON"],
    );
    // Wrong kind of file.
    check(
        "other.json",
        b"{\"metadata\": {\"format\": \"chrome-trace\"}}",
        &["at byte 24", "wrong kind of file", "\"chrome-trace\""],
    );
    check(
        "text.txt",
        b"hello\n",
        &["at byte 0", "not a ruchytrace trace"],
    );
    check("empty.json", b"", &["empty file"]);
    // A truncated binary function trace.
    let bin = std::fs::read(&f.fn_bin).unwrap();
    let cut = f.dir.join("cut.rtrace");
    std::fs::write(&cut, &bin[..bin.len() - 7]).unwrap();
    let out = cli(&["merge"], &[&cut, &f.sys]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cut.rtrace") && err.contains("byte") && err.contains("--partial"),
        "{err}"
    );
    // --partial merges what was recorded, and says it is incomplete.
    let out = cli(&["merge", "--partial"], &[&cut, &f.sys]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("# warning: ") && stdout(&out).contains("incomplete function trace")
    );
    // Header only.
    std::fs::write(&cut, &bin[..10]).unwrap();
    let out = cli(&["merge", "--partial"], &[&cut, &f.sys]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("at byte"), "{}", stderr(&out));
    // A missing file.
    let out = cli(&["merge"], &[Path::new("/nonexistent/fn.rtrace")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/fn.rtrace: cannot read"));
}

#[test]
fn chrome_output_is_valid() {
    let mut events = default_syscalls();
    // A call that never returned and a failed call, to exercise the odd shapes.
    events.push(
        serde_json::json!({"type": "syscall", "name": "exit_group", "nr": 231, "pid": PID,
        "tid": PID, "timestamp_ns": MONO + 9800, "duration_ns": null, "args": ["0"],
        "raw_args": [0], "return": null, "errno": null}),
    );
    events.push(syscall("access", 101, 2520, 5, &["\"/x\"", "R_OK"], -1));
    let f = files(events);
    let out_path = f.dir.join("trace.chrome.json");
    let out = cli(
        &["merge", "-o", out_path.to_str().unwrap()],
        &[&f.fn_json, &f.sys],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    let slices = validate_chrome(&doc);
    assert_eq!(
        slices,
        3 + 6,
        "2 calls on main + 1 on the worker, 6 visible syscalls"
    );
    let events = doc["traceEvents"].as_array().unwrap();
    let openat = events.iter().find(|e| e["name"] == "openat").unwrap();
    assert_eq!(openat["cat"], "syscall");
    assert_eq!(openat["ts"].as_f64(), Some(1.1));
    assert_eq!(openat["args"]["return"], "3");
    let compute = events.iter().find(|e| e["name"] == "compute").unwrap();
    assert_eq!(compute["cat"], "function");
    assert_eq!(compute["args"]["x"], "42");
    assert_eq!(compute["args"]["return"], "4255");
    assert_eq!(compute["dur"].as_f64(), Some(7.0));
    assert!(events
        .iter()
        .any(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == "worker"));
    assert!(
        !events.iter().any(|e| e["tid"] == COLLECTOR),
        "collector hidden"
    );

    // The validator catches what it must: overlapping slices, late or missing names.
    let mut bad = doc.clone();
    let evs = bad["traceEvents"].as_array_mut().unwrap();
    let i = evs.iter().position(|e| e["name"] == "read").unwrap();
    evs[i]["dur"] = serde_json::json!(100.0);
    assert!(std::panic::catch_unwind(|| validate_chrome(&bad)).is_err());
    let mut bad = doc.clone();
    let evs = bad["traceEvents"].as_array_mut().unwrap();
    let i = evs
        .iter()
        .position(|e| e["name"] == "write" && e["tid"] == PID)
        .unwrap();
    // Starts before its caller and ends inside it.
    let compute = evs.iter().find(|e| e["name"] == "compute").unwrap().clone();
    evs[i]["ts"] = serde_json::json!(compute["ts"].as_f64().unwrap() - 0.5);
    evs[i]["dur"] = serde_json::json!(1.0);
    assert!(std::panic::catch_unwind(|| validate_chrome(&bad)).is_err());
    let mut bad = doc.clone();
    let evs = bad["traceEvents"].as_array_mut().unwrap();
    let i = evs.iter().position(|e| e["ph"] == "M").unwrap();
    let name = evs.remove(i);
    evs.push(name);
    assert!(std::panic::catch_unwind(|| validate_chrome(&bad)).is_err());
    let mut bad = doc.clone();
    bad["traceEvents"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["name"] != "thread_name");
    assert!(std::panic::catch_unwind(|| validate_chrome(&bad)).is_err());
}

#[test]
fn json_collapsed_dot_and_format_from_extension() {
    let f = files(default_syscalls());
    let json_path = f.dir.join("merged.json");
    let out = cli(
        &["merge", "-o", json_path.to_str().unwrap()],
        &[&f.fn_bin, &f.sys],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(doc["metadata"]["format"], "ruchytrace-merged");
    assert_eq!(doc["metadata"]["version"], 1);
    let main = &doc["threads"][0];
    assert_eq!(main["name"], "main");
    let compute = &main["events"][0];
    assert_eq!(compute["type"], "call");
    assert_eq!(compute["args"][0]["name"], "x");
    assert_eq!(compute["args"][0]["value"], 42);
    assert_eq!(compute["return"]["value"], 4255);
    assert_eq!(compute["children"][0]["name"], "openat");
    assert_eq!(compute["children"][0]["return"], 3);
    assert_eq!(compute["children"][1]["children"][0]["name"], "read");
    assert_eq!(main["events"][1]["name"], "write");

    let folded = stdout(&cli(
        &["merge", "--format", "collapsed"],
        &[&f.fn_bin, &f.sys],
    ));
    let lines: Vec<&str> = folded.lines().collect();
    // compute: 7000 ns - openat 800 - load 2000 = 4200 self; load: 2000 - 500 = 1500.
    assert!(lines.contains(&"main [100];compute 4200"), "{folded}");
    assert!(lines.contains(&"main [100];compute;load 1500"), "{folded}");
    assert!(
        lines.contains(&"main [100];compute;load;syscall::read 500"),
        "{folded}"
    );
    assert!(lines.contains(&"main [100];syscall::write 10"), "{folded}");
    assert!(
        lines.contains(&"worker [101];load;syscall::getpid 10"),
        "{folded}"
    );

    let dot = stdout(&cli(&["merge", "--format", "dot"], &[&f.fn_bin, &f.sys]));
    assert!(
        dot.contains("label=\"load\\n2 calls\\n2.100us (29.5%)\\nself 1.590us"),
        "{dot}"
    );
    assert!(
        dot.contains("shape=ellipse, label=\"getpid\\n1 calls"),
        "{dot}"
    );

    let svg_path = f.dir.join("flame.svg");
    let out = cli(
        &["merge", "-o", svg_path.to_str().unwrap()],
        &[&f.fn_bin, &f.sys],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<?xml") && svg.contains("syscall::read"));
}

#[test]
fn report_sections() {
    let mut events = default_syscalls();
    // 150 one-byte writes to stdout from compute: the "tiny writes" warning.
    for i in 0..150 {
        events.push(syscall(
            "write",
            PID,
            6000 + i * 10,
            5,
            &["1", "\"x\"", "1"],
            1,
        ));
    }
    events.sort_by_key(|e| e["timestamp_ns"].as_u64().unwrap());
    let f = files(events);
    let out = cli(&["report", "--callgraph"], &[&f.fn_bin, &f.sys]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(text.contains("== thread 100 \"main\" (pid 100) =="));
    let compute = text.lines().find(|l| l.ends_with("  compute")).unwrap();
    assert!(
        compute.contains(" 7.000us") && compute.contains("1  compute"),
        "{compute}"
    );
    assert!(
        text.lines().any(|l| l.ends_with("    read [syscall]")),
        "{text}"
    );

    let text = stdout(&cli(&["report", "--hotspots", "1"], &[&f.fn_bin, &f.sys]));
    let rows: Vec<&str> = text.lines().skip(2).collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert!(rows[0].contains("compute <src/main.rs:10:5>"), "{text}");

    let text = stdout(&cli(&["report", "--syscalls"], &[&f.fn_bin, &f.sys]));
    assert!(
        text.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.len() >= 4 && w[0] == "compute" && w[1] == "write" && w[2] == "150" && w[3] == "0"
        }),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("(top level)") && l.contains("write")),
        "{text}"
    );

    let text = stdout(&cli(&["report", "--io"], &[&f.fn_bin, &f.sys]));
    assert!(
        text.lines()
            .any(|l| l.ends_with("  /etc/passwd") && l.contains(" 1234 ")),
        "{text}"
    );
    assert!(
        text.contains("warning: <stdout>: 151 writes of 1 bytes on average"),
        "{text}"
    );
    // A directory written by `run -o` works as input.
    let run_dir = f.dir.join("run");
    std::fs::create_dir(&run_dir).unwrap();
    std::fs::copy(&f.fn_bin, run_dir.join("fn-100.rtrace")).unwrap();
    std::fs::copy(&f.sys, run_dir.join("sys.json")).unwrap();
    let out = cli(&["report", "--io"], &[&run_dir]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `report --io` follows a descriptor that one thread closes and another is given next, when the
/// tracer stamped the `close`'s return after the `openat`'s (it serves one stop at a time, so a
/// return stamp can lag the kernel's work by any amount): the second file keeps its read.
#[test]
fn report_io_fd_reused_while_the_close_return_lags() {
    let f = files(vec![
        // Thread 101: /data/a is descriptor 4 until its close (entered 3000, return seen 3500).
        syscall(
            "openat",
            101,
            1000,
            100,
            &["AT_FDCWD", "\"/data/a\"", "O_RDONLY"],
            4,
        ),
        syscall("read", 101, 1200, 50, &["4", "\"aaaaaaa\"", "64"], 7),
        syscall("close", 101, 3000, 500, &["4"], 0),
        // Thread 100: the kernel hands it 4 again once released; its return is seen at 3300.
        syscall(
            "openat",
            PID,
            3100,
            200,
            &["AT_FDCWD", "\"/data/b\"", "O_RDONLY"],
            4,
        ),
        syscall("read", PID, 3600, 50, &["4", "\"bbbbbbbbb\"", "64"], 9),
        syscall("close", PID, 3700, 20, &["4"], 0),
        // Descriptor 4 again, after both closes: /data/a once more.
        syscall(
            "openat",
            101,
            4000,
            100,
            &["AT_FDCWD", "\"/data/a\"", "O_RDONLY"],
            4,
        ),
        syscall("read", 101, 4200, 50, &["4", "\"aaa\"", "64"], 3),
    ]);
    let text = stdout(&cli(&["report", "--io"], &[&f.fn_bin, &f.sys]));
    let row = |path: &str| -> Vec<String> {
        text.lines()
            .find(|l| l.ends_with(&format!("  {path}")))
            .unwrap_or_else(|| panic!("no {path} row in\n{text}"))
            .split_whitespace()
            .take(5)
            .map(str::to_string)
            .collect()
    };
    // opens, reads, read bytes, writes, written.
    assert_eq!(row("/data/a"), ["2", "2", "10", "0", "0"], "{text}");
    assert_eq!(row("/data/b"), ["1", "1", "9", "0", "0"], "{text}");
    assert!(!text.contains("fd 4"), "{text}");
}

#[test]
fn json_inputs_streamed_whole_or_cut_agree_with_binary() {
    let f = files(default_syscalls());
    let text = |fn_file: &Path, extra: &[&str]| {
        let mut args = vec!["merge"];
        args.extend_from_slice(extra);
        let out = cli(&args, &[fn_file, &f.sys]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out)
    };
    let from_binary = text(&f.fn_bin, &[]);
    // The writer's line layout (streamed) and any other layout (read whole) give the same tree.
    assert_eq!(text(&f.fn_json, &[]), from_binary);
    let doc: Value = serde_json::from_slice(&std::fs::read(&f.fn_json).unwrap()).unwrap();
    let pretty = f.dir.join("pretty.json");
    std::fs::write(&pretty, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    assert_eq!(text(&pretty, &[]), from_binary);
    // A JSON trace cut inside its events: refused without --partial, merged up to the cut with.
    let bytes = std::fs::read(&f.fn_json).unwrap();
    let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let cut_at: usize = lines[..5].iter().map(|l| l.len() + 1).sum::<usize>() + 10;
    let cut = f.dir.join("cut.json");
    std::fs::write(&cut, &bytes[..cut_at]).unwrap();
    let out = cli(&["merge"], &[&cut, &f.sys]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("cut.json") && stderr(&out).contains("truncated at byte"));
    let partial = text(&cut, &["--partial"]);
    assert!(partial.contains("incomplete function trace"), "{partial}");
    assert!(partial.contains("-> load()"), "{partial}");
    assert!(
        partial.contains("<- compute() <unfinished at end of trace>"),
        "{partial}"
    );
}

#[test]
fn a_cut_sys_json_is_refused_or_salvaged_with_partial() {
    let f = files(default_syscalls());
    // The tracer's line layout, cut in the middle of the `read` record (the tracer was killed
    // while writing it): the records before it are whole.
    let doc: Value = serde_json::from_slice(&std::fs::read(&f.sys).unwrap()).unwrap();
    let lines = f.dir.join("sys-lines.json");
    write_sys_lines(&doc, &lines);
    let bytes = std::fs::read(&lines).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let read_line = text.find("\"name\":\"read\"").unwrap();
    let line_start = text[..read_line].rfind('\n').unwrap() + 1;
    let cut = f.dir.join("cut-sys.json");
    std::fs::write(&cut, &bytes[..read_line + 10]).unwrap();
    let out = cli(&["merge"], &[&f.fn_bin, &cut]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&cut.display().to_string()), "{err}");
    assert!(
        err.contains(&format!(
            "incomplete syscall trace: truncated at byte {line_start}: incomplete event record (pass --partial to use the 3 complete events before it)"
        )),
        "{err}"
    );
    assert!(stdout(&out).is_empty());
    // --partial keeps every complete record and says where the file was cut.
    let out = cli(&["merge", "--partial"], &[&f.fn_bin, &cut]);
    let merged = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warning = format!(
        "# warning: {}: incomplete syscall trace (truncated at byte {line_start}: incomplete event record); every system call before the cut is kept, the ones after it are missing\n",
        cut.display()
    );
    assert!(merged.contains(&warning), "{merged}");
    assert!(
        merged.contains("openat(AT_FDCWD, \"/etc/passwd\", O_RDONLY) = 3 [800ns]"),
        "{merged}"
    );
    assert!(merged.contains("getpid() = 100"), "{merged}");
    assert!(!merged.contains("read(3"), "{merged}");
    assert!(!merged.contains("\"done\\n\""), "{merged}");
    // The other outputs take the same salvaged events (streamed or from the tree).
    for format in ["json", "chrome", "report"] {
        let args: Vec<&str> = if format == "report" {
            vec!["report", "--partial"]
        } else {
            vec!["merge", "--partial", "--format", format]
        };
        let out = cli(&args, &[&f.fn_bin, &cut]);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        assert!(stdout(&out).contains("openat"), "{format}");
        assert!(!stdout(&out).contains("\"read\""), "{format}");
    }
}
