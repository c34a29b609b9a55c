//! A merged JSON document read back: `merge`, `report` and `diff` give the same answers from
//! it as from the traces it was merged from.

mod merge_support;
#[path = "support/sys.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use merge_support::*;
use ruchytrace_runtime::format::Format;

fn run(args: &[&str], paths: &[&Path]) -> (Option<i32>, String, String) {
    let out = Command::new(support::ruchytrace())
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn merged_json_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let fn_path = dir.path().join("fn.rtrace");
    let sys_path = dir.path().join("sys.json");
    let mut t = async_trace();
    t.metadata.settings.sample = 4;
    write_fn(&t, &fn_path, Format::Binary);
    let mut sys = default_syscalls();
    sys.push(syscall("read", 100, 21_200, 100, &["5", "\"x\"", "1"], 1));
    write_sys(&sys_doc(PID, REALTIME, sys), &sys_path);
    let merged = dir.path().join("merged.json");
    let (code, _, err) = run(
        &["merge", "-o", merged.to_str().unwrap()],
        &[&fn_path, &sys_path],
    );
    assert_eq!(code, Some(0), "{err}");

    let (_, from_inputs, _) = run(&["merge"], &[&fn_path, &sys_path]);
    let (code, from_json, err) = run(&["merge"], &[&merged]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(from_json, from_inputs);
    // The document written again from its own read-back is the same document.
    let (_, again, _) = run(&["merge", "--format", "json"], &[&merged]);
    let (_, first, _) = run(&["merge", "--format", "json"], &[&fn_path, &sys_path]);
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        v["metadata"]["sources"] = serde_json::Value::Null;
        v
    };
    assert_eq!(strip(&again), strip(&first));

    let (_, report_inputs, _) = run(&["report"], &[&fn_path, &sys_path]);
    let (code, report_json, err) = run(&["report"], &[&merged]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(report_json, report_inputs);
    assert!(report_json.contains("# sampled 1 in 4"), "{report_json}");

    let (code, diff, err) = run(&["diff", "--fail-above", "0"], &[&merged, dir.path()]);
    assert_eq!(code, Some(0), "{diff}{err}");
    assert!(diff.contains("no regression above 0%"), "{diff}");

    // A merged trace stands alone.
    let (code, _, err) = run(&["merge"], &[&merged, &sys_path]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot be merged with other inputs"), "{err}");
}
