//! `ruchytrace diff A B` on synthetic runs whose differences are known: per-function and
//! per-syscall tables, the noise threshold, the `--fail-above` gate and the warning for traces
//! of different programs.

mod merge_support;
#[path = "support/sys.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use merge_support::*;
use ruchytrace_runtime::format::Format;
use ruchytrace_runtime::model::*;

/// A run of pid 100: `compute()` calling `load()` `loads` times, each `load_ns` long with one
/// 100 ns `read` inside; compute's own time is 500 + 500 + 100 per gap between loads.
fn write_run(dir: &Path, program: &str, loads: u64, load_ns: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut t = fn_trace();
    t.metadata.program = program.into();
    let mut events = vec![
        t.events[0].clone(),
        enter(0, 1000, PID, vec![Value::I64(1), Value::I64(2)]),
    ];
    let mut sys = Vec::new();
    let mut at = 1500;
    for i in 0..loads {
        if i > 0 {
            at += 100;
        }
        events.push(enter(1, at, PID, vec![]));
        sys.push(syscall("read", PID, at + 10, 100, &["3", "\"x\"", "1"], 1));
        at += load_ns;
        events.push(exit(1, at, PID, Value::Unit));
    }
    events.push(exit(0, at + 500, PID, Value::I64(3)));
    t.trailer = Some(Trailer {
        events: events.len() as u64,
        lost: 0,
        end_ns: MONO + at + 600,
    });
    t.events = events;
    write_fn(&t, &dir.join("fn-100.rtrace"), Format::Binary);
    write_sys(&sys_doc(PID, REALTIME, sys), &dir.join("sys.json"));
}

fn diff(a: &Path, b: &Path, extra: &[&str]) -> Output {
    Command::new(support::ruchytrace())
        .arg("diff")
        .arg(a)
        .arg(b)
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn row<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.lines()
        .find(|l| l.ends_with(&format!("  {name}")))
        .unwrap_or_else(|| panic!("a row for {name} in\n{out}"))
        .split_whitespace()
        .collect()
}

#[test]
fn known_differences_and_the_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_run(&a, "/bin/demo", 2, 1000);
    write_run(&b, "/bin/demo", 3, 3000);

    let o = diff(&a, &b, &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(!err.contains("different programs"), "{err}");
    // load: 2 -> 3 calls, self per call 900ns -> 2.900us, inclusive 1us -> 3us.
    assert_eq!(
        row(&out, "load"),
        [
            "2", "3", "900ns", "2.900us", "+222.2%", "1.000us", "3.000us", "+200.0%", "+6.900us",
            "load"
        ]
    );
    // compute: self 1.100us -> 1.200us per call (one more gap between loads).
    assert_eq!(
        row(&out, "compute"),
        [
            "1", "1", "1.100us", "1.200us", "+9.1%", "3.100us", "10.200us", "+229.0%", "+100ns",
            "compute"
        ]
    );
    assert_eq!(
        row(&out, "read"),
        ["2", "3", "+50.0%", "200ns", "300ns", "+50.0%", "read"]
    );
    // Sorted by impact: load changed most.
    let fns: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("## functions"))
        .skip(2)
        .take(2)
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(fns, ["load", "compute"]);

    let o = diff(&a, &b, &["--fail-above", "100"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let gate: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("## regressions above 100%"))
        .skip(1)
        .collect();
    assert_eq!(
        gate,
        ["function load: self time per call 900ns -> 2.900us (+222.2%)"]
    );

    let o = diff(&a, &b, &["--fail-above", "5"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out.contains("function compute: self time per call 1.100us -> 1.200us (+9.1%)"),
        "{out}"
    );
    assert!(out.contains("syscall read: count 2 -> 3 (+50.0%)"), "{out}");

    let o = diff(&a, &b, &["--fail-above", "300"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("no regression above 300%"), "{out}");

    // The same run twice: nothing beyond the noise threshold.
    let o = diff(&a, &a, &["--fail-above", "0"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("(2 within the 5% noise threshold not shown)"),
        "{out}"
    );
    assert!(
        out.contains("(1 within the 5% noise threshold not shown)"),
        "{out}"
    );
}

#[test]
fn different_programs_warn_and_still_compare() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    write_run(&a, "/bin/demo", 2, 1000);
    write_run(&b, "/bin/other", 2, 2000);
    let o = diff(&a, &b, &[]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: A and B trace different programs"),
        "{err}"
    );
    assert_eq!(row(&out, "load")[4], "+111.1%", "{out}");
}

#[test]
fn a_damaged_input_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    write_run(&a, "/bin/demo", 1, 1000);
    let bad = tmp.path().join("bad.rtrace");
    std::fs::write(&bad, b"not a trace at all").unwrap();
    let o = diff(&a, &bad, &[]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.rtrace"), "{err}");
}
