//! Integration tests of `ruchytrace syscalls -k`: every system call made by an untraced function
//! carries that function and its line — directly, through std, from a second thread, from a
//! `dlopen`ed library — in a debug build and in an optimized build with debug info; the text
//! layout agrees with `strace -k`. Tests skip (with a message) only when ptrace is not permitted.

#[path = "support/schema.rs"]
mod schema;
#[path = "support/sys.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const PROGRAM: &str = include_str!("programs/stacks.rs");
const LIBRARY: &str = "#include <unistd.h>\n\
int lib_getppid(void) {\n\
    volatile int r = getppid(); /* LINE:lib */\n\
    return r;\n\
}\n";

/// Line of the `LINE:tag` marker in `src`.
fn line_of(src: &str, tag: &str) -> u64 {
    let marker = format!("LINE:{tag} ");
    let marker_end = format!("LINE:{tag}");
    src.lines()
        .position(|l| l.contains(&marker) || l.trim_end().ends_with(&marker_end))
        .unwrap_or_else(|| panic!("no LINE:{tag}")) as u64
        + 1
}

/// Builds the test program with `flags` and the C library with gcc, into `dir`.
fn build(dir: &Path, flags: &[&str]) -> (PathBuf, PathBuf) {
    let exe = dir.join("stacks");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs/stacks.rs");
    let ok = Command::new("rustc")
        .args(["--edition", "2021", "--crate-name", "stacks"])
        .args(flags)
        .arg("-o")
        .arg(&exe)
        .arg(&src)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run rustc")
        .success();
    assert!(ok, "rustc {flags:?} failed");
    std::fs::write(dir.join("lib.c"), LIBRARY).unwrap();
    let lib = dir.join("libstk.so");
    let ok = Command::new("gcc")
        .args(["-g", "-O1", "-shared", "-fPIC", "-o", "libstk.so", "lib.c"])
        .current_dir(dir)
        .status()
        .expect("run gcc")
        .success();
    assert!(ok, "gcc failed");
    (exe, lib)
}

fn gcc_available() -> bool {
    let ok = Command::new("gcc").arg("--version").output().is_ok();
    if !ok {
        support::skip("gcc is not installed (needed for the dlopen library)");
    }
    ok
}

fn trace_json(dir: &Path, exe: &Path, lib: &Path) -> Vec<Value> {
    let json = dir.join("sys.json");
    let out = Command::new(support::ruchytrace())
        .args([
            "syscalls",
            "-f",
            "-k",
            "-e",
            "trace=getppid,openat,write",
            "-o",
        ])
        .arg(&json)
        .arg("--")
        .arg(exe)
        .arg(dir.join("stacks-out.txt"))
        .arg(lib)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    validate_sys_json(&doc, &json);
    doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "syscall")
        .cloned()
        .collect()
}

/// The whole document, stacks included, against `docs/schema/sys-trace.schema.json`: with our
/// validator always, and with Python's `jsonschema` (the reference implementation of the
/// draft) when python3 has it.
fn validate_sys_json(doc: &Value, path: &Path) {
    let errs = schema::Validator::load("sys-trace.schema.json").errors(doc);
    assert!(errs.is_empty(), "{errs:#?}");
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/sys-trace.schema.json");
    let check = r#"
import json, sys, jsonschema
s = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(s)
doc = json.load(open(sys.argv[2]))
errs = [e.message for e in jsonschema.Draft202012Validator(s).iter_errors(doc)]
print("\n".join(errs[:5]))
sys.exit(1 if errs else 0)
"#;
    let has = Command::new("python3")
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        eprintln!("SKIPPED (second validator): python3 has no jsonschema");
        return;
    }
    let out = Command::new("python3")
        .args(["-c", check])
        .arg(&schema)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "jsonschema: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn schema_requires_the_documented_frame_fields() {
    // The schema is not vacuous: a frame missing a field, with a wrong type or an unknown
    // member is rejected.
    let v = schema::Validator::load("sys-trace.schema.json");
    let frame = serde_json::json!({"pc": "0x1", "module": "/bin/x", "function": "f",
        "file": null, "line": null, "inlined": false, "unwound": "cfi"});
    let doc = |f: Value| {
        serde_json::json!({
            "metadata": {"format": "ruchytrace-syscalls", "version": 2, "ruchytrace_version": "0",
                "program": "/bin/x", "args": [], "pid": 1, "arch": "x86_64",
                "clock": {"domain": "CLOCK_MONOTONIC", "source": "CLOCK_MONOTONIC",
                    "realtime_ns": 1, "monotonic_ns": 1},
                "options": {"follow_forks": false, "filter": null, "strsize": 32}, "images": []},
            "events": [{"type": "syscall", "name": "getppid", "nr": 110, "pid": 1, "tid": 1,
                "timestamp_ns": 1, "duration_ns": 1, "args": [], "raw_args": [], "return": 1,
                "errno": null, "stack": [f], "stack_truncated": "no CFI for pc"}],
            "end": {"complete": true, "events": 1}
        })
    };
    assert_eq!(v.errors(&doc(frame.clone())), Vec::<String>::new());
    let broken: Vec<(&str, Value)> = vec![
        ("missing unwound", {
            let mut f = frame.clone();
            f.as_object_mut().unwrap().remove("unwound");
            f
        }),
        ("unknown unwound", {
            let mut f = frame.clone();
            f["unwound"] = "guess".into();
            f
        }),
        ("line as a string", {
            let mut f = frame.clone();
            f["line"] = "42".into();
            f
        }),
        ("pc as a number", {
            let mut f = frame.clone();
            f["pc"] = 1.into();
            f
        }),
        ("unknown member", {
            let mut f = frame.clone();
            f["address"] = "0x1".into();
            f
        }),
    ];
    for (what, f) in broken {
        assert!(!v.errors(&doc(f)).is_empty(), "{what} was accepted");
    }
}

/// Every frame has exactly the documented fields and types.
fn check_frame_schema(f: &Value) {
    let o = f.as_object().expect("frame is an object");
    let hex = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.starts_with("0x") && s.len() > 2)
    };
    assert!(hex(&o["pc"]), "{f}");
    for k in o.keys() {
        assert!(
            [
                "pc",
                "module",
                "module_address",
                "function",
                "symbol",
                "symbol_offset",
                "file",
                "line",
                "inlined",
                "unwound"
            ]
            .contains(&k.as_str()),
            "unexpected field {k} in {f}"
        );
    }
    assert!(o["module"].is_string() || o["module"].is_null());
    assert!(o["function"].is_string() || o["function"].is_null());
    assert!(o["file"].is_string() || o["file"].is_null());
    assert!(o["line"].is_u64() || o["line"].is_null());
    assert!(o["inlined"].is_boolean());
    assert!(["regs", "cfi", "fp"].contains(&o["unwound"].as_str().unwrap()));
    if let Some(a) = o.get("module_address") {
        assert!(hex(a), "{f}");
    }
}

/// The innermost frame of the program's own crate (`stacks::…`).
fn own_frame(ev: &Value) -> &Value {
    ev["stack"]
        .as_array()
        .unwrap_or_else(|| panic!("no stack: {ev}"))
        .iter()
        .find(|f| {
            f["function"]
                .as_str()
                .is_some_and(|n| n.starts_with("stacks::"))
        })
        .unwrap_or_else(|| panic!("no stacks:: frame in {:#}", ev["stack"]))
}

fn check_build(flags: &[&str]) {
    require_ptrace!();
    if !gcc_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (exe, lib) = build(dir.path(), flags);
    let events = trace_json(dir.path(), &exe, &lib);
    for e in &events {
        let stack = e["stack"].as_array().unwrap_or_else(|| panic!("-k: {e}"));
        assert!(!stack.is_empty());
        stack.iter().for_each(check_frame_schema);
    }
    let main_pid = events[0]["pid"].as_i64().unwrap();
    let getppid: Vec<&Value> = events.iter().filter(|e| e["name"] == "getppid").collect();
    assert_eq!(getppid.len(), 3, "{getppid:#?}");
    let expect = |ev: &Value, function: &str, tag: &str| {
        let f = own_frame(ev);
        assert_eq!(f["function"], function, "{:#}", ev["stack"]);
        assert_eq!(f["file"], "tests/programs/stacks.rs");
        assert_eq!(f["line"], line_of(PROGRAM, tag), "{tag}: {:#}", ev["stack"]);
        assert_eq!(f["inlined"], false);
        assert!(ev.get("stack_truncated").is_none(), "{ev:#}");
    };
    // Directly.
    assert_eq!(getppid[0]["tid"], main_pid);
    expect(getppid[0], "stacks::direct", "direct");
    // From a second thread (its stack ends at the thread start, complete).
    assert_ne!(getppid[1]["tid"], main_pid);
    expect(getppid[1], "stacks::on_thread", "thread");
    // From the dlopen'ed library: its frame is symbolized with its own debug info.
    let stack = getppid[2]["stack"].as_array().unwrap();
    let lib_frame = stack
        .iter()
        .find(|f| {
            f["module"]
                .as_str()
                .is_some_and(|m| m.ends_with("libstk.so"))
        })
        .unwrap_or_else(|| panic!("no library frame: {stack:#?}"));
    assert_eq!(lib_frame["function"], "lib_getppid");
    assert_eq!(lib_frame["file"], "lib.c");
    assert_eq!(lib_frame["line"], line_of(LIBRARY, "lib"));
    expect(getppid[2], "stacks::from_library", "library");
    // Through std: the open of our file and the write to it.
    let out_path = dir.path().join("stacks-out.txt");
    let open = events
        .iter()
        .find(|e| {
            e["name"] == "openat"
                && e["args"][1]
                    .as_str()
                    .is_some_and(|a| a.contains(out_path.to_str().unwrap()))
        })
        .expect("openat of the output file");
    expect(open, "stacks::through_std", "create");
    let fd = open["return"].as_i64().unwrap();
    let write = events
        .iter()
        .find(|e| e["name"] == "write" && e["raw_args"][0].as_i64() == Some(fd))
        .expect("write to the output file");
    expect(write, "stacks::through_std", "write");
}

#[test]
fn untraced_calls_carry_function_and_line_debug_build() {
    check_build(&["-g"]);
}

#[test]
fn untraced_calls_carry_function_and_line_release_with_debug_info() {
    check_build(&["-Copt-level=3", "-g"]);
}

/// The `-k` text layout: every stack line has strace's shape, and the innermost two frames of
/// each `getppid` are the very lines `strace -k` prints (its symbol+offset and file offset),
/// before our ` at file:line`.
#[test]
fn text_layout_and_first_frames_agree_with_strace() {
    require_ptrace!();
    if !gcc_available() || !support::strace_or_skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (exe, lib) = build(dir.path(), &["-Copt-level=2", "-g"]);
    let out_file = dir.path().join("stacks-out.txt");
    let ours_out = Command::new(support::ruchytrace())
        .args(["syscalls", "-f", "-k", "-e", "trace=getppid", "--"])
        .arg(&exe)
        .arg(&out_file)
        .arg(&lib)
        .output()
        .unwrap();
    let ours = String::from_utf8_lossy(&ours_out.stderr).into_owned();
    let strace_log = dir.path().join("strace.txt");
    let st = Command::new("strace")
        .args(["-f", "-k", "-qq", "-e", "trace=getppid", "-o"])
        .arg(&strace_log)
        .arg(&exe)
        .arg(&out_file)
        .arg(&lib)
        .output()
        .unwrap();
    assert!(st.status.success());
    let theirs = std::fs::read_to_string(&strace_log).unwrap();
    if !theirs.contains(" > ") {
        eprintln!("SKIPPED comparison: this strace has no -k support");
        return;
    }
    let shape = |l: &str| {
        let Some(rest) = l.strip_prefix(" > ") else {
            return false;
        };
        rest.starts_with('/')
            || rest.starts_with('[')
            || rest.starts_with('?')
            || rest.starts_with('(')
    };
    for l in ours.lines().filter(|l| l.starts_with(" >")) {
        assert!(shape(l), "bad stack line: {l}");
        assert!(
            l.contains(" [0x") || l.starts_with(" > (stack truncated"),
            "{l}"
        );
    }
    // Per getppid, the first two frames. A stack follows the line that completes its call
    // (threads may interleave `<unfinished ...>` / `resumed` pairs); the order of threads may
    // differ between the two runs, so the stacks are compared as sorted lists.
    let firsts = |text: &str, strip_at: bool| -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut cur: Option<Vec<String>> = None;
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix(" > ") {
                if let Some(c) = &mut cur {
                    if !rest.ends_with("(inlined)") && c.len() < 2 {
                        let l = if strip_at {
                            l.split(" at ").next().unwrap()
                        } else {
                            l
                        };
                        c.push(l.to_string());
                    }
                }
                continue;
            }
            out.extend(cur.take());
            if l.contains("getppid") && l.contains(" = ") {
                cur = Some(Vec::new());
            }
        }
        out.extend(cur);
        out.sort();
        out
    };
    let ours_first = firsts(&ours, true);
    let theirs_first = firsts(&theirs, false);
    assert_eq!(ours_first.len(), 3, "{ours}");
    assert_eq!(ours_first, theirs_first, "ours:\n{ours}\nstrace:\n{theirs}");
}

/// Full tracing of every thread with `-k`: the first stacks through libc and the program are
/// taken while their modules' debug info is still being parsed (the tracee is not kept waiting;
/// the output is held back in order): every stack block must still follow the very line that
/// completes its call, and every completed call but the initial `execve` has one.
#[test]
fn every_stack_follows_its_own_call_line_in_a_full_multi_thread_trace() {
    require_ptrace!();
    if !gcc_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (exe, lib) = build(dir.path(), &["-Copt-level=2", "-g"]);
    let text_file = dir.path().join("trace.txt");
    let out = Command::new(support::ruchytrace())
        .args(["syscalls", "-f", "-k", "-o"])
        .arg(&text_file)
        .arg("--")
        .arg(&exe)
        .arg(dir.path().join("stacks-out.txt"))
        .arg(&lib)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&text_file).unwrap();
    let completes = |l: &str| {
        let body = l.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
        !body.starts_with("---")
            && !body.starts_with("+++")
            && !body.ends_with("<unfinished ...>")
            && body.contains(" = ")
    };
    let lines: Vec<&str> = text.lines().collect();
    let (mut calls, mut blocks) = (0, 0);
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with(" > ") {
            let prev = lines[..i]
                .iter()
                .rev()
                .find(|p| !p.starts_with(" > "))
                .unwrap_or_else(|| panic!("stack before any call:\n{text}"));
            assert!(completes(prev), "stack after `{prev}`:\n{text}");
            if !lines[i - 1].starts_with(" > ") {
                blocks += 1;
            }
        } else if completes(l) {
            calls += 1;
            let has_block = lines.get(i + 1).is_some_and(|n| n.starts_with(" > "));
            let execve = l.contains("execve(");
            assert!(has_block || execve, "no stack after `{l}`:\n{text}");
        }
    }
    assert!(
        calls > 50,
        "a full trace of the program: {calls} calls\n{text}"
    );
    assert!(blocks >= calls - 1, "{blocks} stacks for {calls} calls");
    // The second thread's getppid is there, with its stack.
    assert!(
        text.contains("stacks::on_thread"),
        "no frame of the second thread:\n{text}"
    );
}
