//! `async fn` futures in the merged outputs (synthetic trace, no ptrace): the exit of a future
//! that took several polls shows its whole lifetime and busy time, resumed polls say where the
//! future ran before, and `report --futures` lists the futures that moved between threads.

mod merge_support;
#[path = "support/sys.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use merge_support::*;
use ruchytrace_runtime::format::Format;
use serde_json::Value as Json;

fn inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let fn_path = dir.join("fn.rtrace");
    let sys_path = dir.join("sys.json");
    write_fn(&async_trace(), &fn_path, Format::Binary);
    let mut sys = default_syscalls();
    sys.push(syscall("read", 100, 21_200, 100, &["5", "\"x\"", "1"], 1));
    sys.push(syscall("write", 101, 24_100, 100, &["6", "\"y\"", "1"], 1));
    write_sys(&sys_doc(PID, REALTIME, sys), &sys_path);
    (fn_path, sys_path)
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
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn text_shows_lifetime_busy_time_and_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (f, s) = inputs(dir.path());
    let text = run(&["merge"], &[&f, &s]);
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split_once("] ").map_or(l, |(_, r)| r))
        .collect();
    let find = |needle: &str| {
        *lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} in\n{text}"))
    };
    assert_eq!(find("<~ job"), "  <~ job() suspended [500ns]");
    assert_eq!(
        find("~> job"),
        "  ~> job(n=5) <src/main.rs:30:1> (poll 2, moved from thread 100)"
    );
    assert_eq!(
        find("<- job"),
        "  <- job() = 204 [4.000us] (future: busy 1.500us in 2 polls, threads 100,101)"
    );
    assert_eq!(find("-> job"), "  -> job(n=5) <src/main.rs:30:1>");
}

#[test]
fn json_and_report_carry_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let (f, s) = inputs(dir.path());
    let doc: Json = serde_json::from_str(&run(&["merge", "--format", "json"], &[&f, &s])).unwrap();
    let mut polls = Vec::new();
    for t in doc["threads"].as_array().unwrap() {
        for e in t["events"].as_array().unwrap() {
            if e["name"] == "job" {
                polls.push((t["tid"].as_u64().unwrap(), e["future"].clone()));
            }
        }
    }
    assert_eq!(polls.len(), 2);
    for (k, (_, fut)) in polls.iter().enumerate() {
        assert_eq!(fut["call_id"], 7);
        assert_eq!(fut["poll"], k as u64 + 1);
        assert_eq!(fut["polls"], 2);
        assert_eq!(fut["lifetime_ns"], 4000);
        assert_eq!(fut["busy_ns"], 1500);
        assert_eq!(fut["completed"], true);
        assert_eq!(fut["threads"], serde_json::json!([100, 101]));
    }
    let report = run(&["report"], &[&f, &s]);
    let section = report.split("## async futures\n").nth(1).unwrap();
    let rows: Vec<Vec<&str>> = section
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[1], ["1", "1", "4.000us", "1.500us", "2.0", "job"]);
    assert_eq!(rows[2].join(" "), "futures that moved between threads:");
    assert_eq!(
        section.lines().nth(3).unwrap(),
        "  job (future 7): 2 polls on threads 100 -> 101; lifetime 4.000us, busy 1.500us"
    );
    // Without futures, the default report has no such section.
    let plain = dir.path().join("plain.rtrace");
    write_fn(&fn_trace(), &plain, Format::Binary);
    assert!(!run(&["report"], &[&plain]).contains("## async futures"));
}
