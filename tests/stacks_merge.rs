//! The merged view with user stacks (`run --syscalls -k`): system calls under a traced function
//! gain their exact calling line (here in an untraced helper), system calls outside every traced
//! function show an inferred caller (`~fn <file:line>`) in text, JSON, Chrome and collapsed
//! output, the runtime's own system calls are hidden as tracer traffic, and `report --syscalls
//! --by-line` groups per line. Skips (with a message) when ptrace is not permitted.
#![cfg(feature = "trace")]

#[path = "support/sys.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SOURCE: &str = include_str!("../examples/stacks_merge.rs");

fn line_of(tag: &str) -> usize {
    let marker = format!("LINE:{tag}");
    SOURCE
        .lines()
        .position(|l| l.trim_end().ends_with(&marker))
        .unwrap_or_else(|| panic!("no {marker}"))
        + 1
}

fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/stacks_merge")
}

fn ruchytrace(args: &[&str]) -> Output {
    Command::new(support::ruchytrace())
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs the example under `run --syscalls -k -o DIR`; returns the raw trace files.
fn record(dir: &Path) -> Vec<String> {
    let out = Command::new(support::ruchytrace())
        .args(["run", "--syscalls", "-k", "-o"])
        .arg(dir.join("out"))
        .arg("--")
        .arg(example())
        .arg(dir.join("saved.txt"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<String> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".rtrace") || p.ends_with("sys.json"))
        .collect();
    files.sort();
    files
}

fn indent(line: &str) -> usize {
    let rest = line.split_once("] ").map_or(line, |x| x.1);
    rest.len() - rest.trim_start().len()
}

#[test]
fn calling_lines_inferred_callers_and_tracer_traffic() {
    require_ptrace!();
    let dir = tempfile::tempdir().unwrap();
    let files = record(dir.path());
    let saved = dir.path().join("saved.txt");
    let saved = saved.to_str().unwrap();
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    let merged = text(&ruchytrace(&args));
    let src = "examples/stacks_merge.rs";

    // Under the traced function: its parent stays, the line is the helper's.
    let enter = merged
        .lines()
        .find(|l| l.contains("-> traced_save("))
        .unwrap_or_else(|| panic!("{merged}"));
    let open = merged
        .lines()
        .find(|l| l.contains("openat(") && l.contains(saved))
        .unwrap_or_else(|| panic!("{merged}"));
    assert!(indent(open) > indent(enter), "{open}\n{enter}");
    assert!(
        open.ends_with(&format!(" <{src}:{}>", line_of("create"))),
        "{open}"
    );
    let write = merged
        .lines()
        .find(|l| l.contains("write(") && l.contains("merged with stacks"))
        .unwrap();
    assert!(
        write.ends_with(&format!(" <{src}:{}>", line_of("write"))),
        "{write}"
    );
    // Outside every traced function: the inferred caller, marked as such.
    let probes: Vec<&str> = merged.lines().filter(|l| l.contains("getppid()")).collect();
    assert_eq!(probes.len(), 2, "{merged}");
    for p in &probes {
        assert_eq!(indent(p), indent(enter), "{p}");
        assert!(
            p.ends_with(&format!(
                " ~stacks_merge::untraced_probe <{src}:{}>",
                line_of("probe")
            )),
            "{p}"
        );
    }
    // The runtime's own system calls on the main thread are tracer traffic: hidden by
    // default, shown with --show-tracer.
    assert!(!merged.contains(".rtrace\""), "{merged}");
    let mut args_all = args.clone();
    args_all.push("--show-tracer");
    let all = text(&ruchytrace(&args_all));
    assert!(all.contains(".rtrace\""), "{all}");

    // The calls before main — the dynamic loader's (their whole stack in ld.so) and the
    // standard library's set-up (no frame of the program) — are one summary line, listed with
    // --show-startup.
    let summaries: Vec<&str> = merged
        .lines()
        .filter(|l| {
            l.contains(
                "syscalls before main (dynamic loader, runtime start-up), --show-startup to list",
            )
        })
        .collect();
    assert_eq!(summaries.len(), 1, "{merged}");
    assert!(!merged.contains("/etc/ld.so.cache"), "{merged}");
    // std's check of the standard descriptors, before main.
    assert!(!merged.contains("poll(["), "{merged}");
    let mut args_startup = args.clone();
    args_startup.push("--show-startup");
    let listed = text(&ruchytrace(&args_startup));
    assert!(listed.contains("/etc/ld.so.cache"), "{listed}");
    assert!(listed.contains("poll(["), "{listed}");
    assert!(!listed.contains("before main"), "{listed}");
    let n: usize = summaries[0]
        .split("… ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(
        listed.lines().count(),
        merged.lines().count() - 1 + n,
        "the summary stands for exactly the calls --show-startup lists"
    );

    // The streamed timeline and the merged tree's agree byte for byte, whatever is hidden or
    // collapsed.
    let paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    let load = || -> Vec<ruchytrace::merge::Input> {
        paths
            .iter()
            .map(|p| ruchytrace::merge::load(p, true).unwrap())
            .collect()
    };
    for show_startup in [false, true] {
        let opts = ruchytrace::merge::MergeOptions {
            show_startup,
            ..Default::default()
        };
        for show_tracer in [false, true] {
            let plan = ruchytrace::merge::stream::plan_text(load(), &opts).unwrap();
            assert!(plan.is_streamed());
            let mut a = Vec::new();
            plan.write(show_tracer, &mut a).unwrap();
            let m = ruchytrace::merge::merge(load(), &opts).unwrap();
            let mut b = Vec::new();
            ruchytrace::merge::text::write(&m, show_tracer, &mut b).unwrap();
            assert_eq!(
                String::from_utf8(a).unwrap(),
                String::from_utf8(b).unwrap(),
                "show_startup={show_startup} show_tracer={show_tracer}"
            );
        }
    }

    // JSON: the caller object, inferred or not.
    let mut json_args = args.clone();
    json_args.extend(["--format", "json"]);
    let doc: Value = serde_json::from_str(&text(&ruchytrace(&json_args))).unwrap();
    let mut callers = Vec::new();
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Object(o) => {
                if o.get("type").is_some_and(|t| t == "syscall") && o.contains_key("caller") {
                    out.push(v);
                }
                o.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&doc, &mut callers);
    let probe = callers
        .iter()
        .find(|c| c["name"] == "getppid")
        .expect("getppid with a caller");
    assert_eq!(
        probe["caller"],
        serde_json::json!({"function": "stacks_merge::untraced_probe", "file": src,
            "line": line_of("probe"), "inferred": true})
    );
    let w = callers
        .iter()
        .find(|c| {
            c["name"] == "write" && c["args"][1].as_str().is_some_and(|a| a.contains("merged"))
        })
        .unwrap();
    assert_eq!(w["caller"]["function"], "stacks_merge::write_file");
    assert_eq!(w["caller"]["inferred"], false);

    // Collapsed stacks: the inferred caller is a frame of its own above the syscall.
    let mut coll_args = args.clone();
    coll_args.extend(["--format", "collapsed"]);
    let collapsed = text(&ruchytrace(&coll_args));
    assert!(
        collapsed
            .lines()
            .any(|l| l.contains(";~stacks_merge::untraced_probe;syscall::getppid ")),
        "{collapsed}"
    );

    // DOT: the inferred caller is a dashed box between the top level and the syscall.
    let mut dot_args = args.clone();
    dot_args.extend(["--format", "dot"]);
    let dot = text(&ruchytrace(&dot_args));
    let node_of = |label: &str| -> String {
        dot.lines()
            .find(|l| l.contains(&format!("label=\"{label}\\n")))
            .unwrap_or_else(|| panic!("{label} not in {dot}"))
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let inferred = node_of("~stacks_merge::untraced_probe");
    assert!(dot.contains(&format!("{inferred} [shape=box")), "{dot}");
    assert!(dot
        .lines()
        .any(|l| l.contains(&format!("{inferred} [")) && l.contains("style=dashed")));
    let getppid = node_of("getppid");
    assert!(
        dot.contains(&format!("{inferred} -> {getppid} [label=\"2\"]")),
        "{dot}"
    );
    assert!(
        dot.contains(&format!("n0 -> {inferred} [label=\"2\"]")),
        "{dot}"
    );

    // Report per line.
    let mut rep = vec!["report", "--syscalls", "--by-line"];
    rep.extend(files.iter().map(String::as_str));
    let report = text(&ruchytrace(&rep));
    let row = report
        .lines()
        .find(|l| l.starts_with(&format!("~{src}:{}", line_of("probe"))))
        .unwrap_or_else(|| panic!("{report}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], "~stacks_merge::untraced_probe", "{row}");
    assert_eq!(cols[2], "2", "two calls: {row}");
    assert_eq!(cols[3], "0", "no errors: {row}");
    assert!(row.ends_with("getppid×2"), "{row}");
    assert!(report
        .lines()
        .any(|l| l.starts_with(&format!("{src}:{}", line_of("write")))));
}
