//! Ground truth for the merge: `examples/ground_truth` (four threads, traced functions making
//! known system calls, nested and recursive) runs under `ruchytrace run --syscalls`; every one
//! of its known system calls must land under the right function — with the right recursion
//! level — in every output format. Skips (with a message) when ptrace is not permitted.
#![cfg(feature = "trace")]

mod merge_support;
#[path = "support/sys.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

const THREADS: u32 = 4;

/// The example binary, next to this test's directory (cargo builds the root package's examples
/// for `cargo test`).
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/ground_truth");
    assert!(p.exists(), "{} not built", p.display());
    p
}

struct Run {
    _tmp: tempfile::TempDir,
    out: PathBuf,
    data: PathBuf,
    inputs: Vec<PathBuf>,
}

/// Runs the example once under `ruchytrace run --syscalls -o OUT`; `None` (the calling test
/// reported as skipped) when ptrace is not permitted.
#[track_caller]
fn traced() -> Option<&'static Run> {
    if !support::ptrace_or_skip() {
        return None;
    }
    static RUN: OnceLock<Run> = OnceLock::new();
    Some(RUN.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let data = tmp.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let res = Command::new(support::ruchytrace())
            .args(["run", "--syscalls", "-o"])
            .arg(&out)
            .arg("--")
            .arg(example())
            .arg(&data)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(0), "{stderr}");
        // The program's stdout passes through untouched.
        assert_eq!(String::from_utf8_lossy(&res.stdout), "ground truth done\n");
        assert!(stderr.contains("merged trace in"), "{stderr}");
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_str().unwrap();
                n.starts_with("fn-") && n.ends_with(".rtrace")
            })
            .collect();
        assert_eq!(inputs.len(), 1, "one function trace expected: {inputs:?}");
        inputs.push(out.join("sys.json"));
        assert!(out.join("merged.txt").exists());
        Run {
            _tmp: tmp,
            out,
            data,
            inputs,
        }
    }))
}

fn merge(run: &Run, extra: &[&str]) -> String {
    let res = Command::new(support::ruchytrace())
        .arg("merge")
        .args(&run.inputs)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "merge {extra:?} failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    String::from_utf8(res.stdout).unwrap()
}

/// One system call as seen in some output: its thread, name, argument text and the chain of
/// enclosing functions (outermost first) with their argument text.
#[derive(Debug, Clone)]
struct Seen {
    thread: String,
    name: String,
    args: String,
    ret: String,
    chain: Vec<(String, String)>,
}

/// What the ground truth says: for thread `gt-N`, each known syscall (identified by name and a
/// piece of its arguments) and the function chain it must be under (name, and a piece of the
/// innermost function's arguments).
fn expected(data: &Path, n: u32) -> Vec<(&'static str, String, Vec<&'static str>, String)> {
    let path = format!("{}/gt-{n}.txt", data.display());
    let mut v = vec![
        (
            "openat",
            format!("\"{path}\", O_WRONLY|O_CREAT|O_TRUNC"),
            vec!["worker", "write_file"],
            format!("path=\"{path}\""),
        ),
        (
            "write",
            format!("\"{}\", {}", "x".repeat(16 + n as usize), 16 + n),
            vec!["worker", "write_file", "write_chunk"],
            format!("n={}", 16 + n),
        ),
        (
            "openat",
            format!("\"{path}\", O_RDONLY"),
            vec!["worker", "read_file"],
            format!("path=\"{path}\""),
        ),
        (
            "read",
            format!("\"{}\", 64", "x".repeat(16 + n as usize)),
            vec!["worker", "read_file", "read_chunk"],
            "fd=".into(),
        ),
        (
            "getpid",
            String::new(),
            vec!["worker", "whoami"],
            String::new(),
        ),
    ];
    for level in (0..=3u32).rev() {
        let mut chain = vec!["worker"];
        chain.extend(std::iter::repeat_n("nap", (4 - level) as usize));
        v.push((
            "nanosleep",
            format!("tv_nsec={}}}", (level + 1) * 100_000 + n * 1_000),
            chain,
            format!("level={level}, worker={n}"),
        ));
    }
    v
}

/// Asserts that every known syscall appears exactly once in `seen` with the right chain, that
/// both `close` calls sit in `write_file` and `read_file`, that no other open/read/write/close/
/// nanosleep/getpid is attributed to the traced functions, and that the main thread's final
/// write is top level. With `args_known == false` (formats without argument text) only the
/// chains of names are compared, as multisets.
fn check(run: &Run, seen: &[Seen], format: &str) {
    let mut total = 0;
    for n in 0..THREADS {
        let thread = format!("gt-{n}");
        let mine: Vec<&Seen> = seen.iter().filter(|s| s.thread == thread).collect();
        assert!(!mine.is_empty(), "{format}: no system calls on {thread}");
        for (name, arg_piece, chain, inner_args) in expected(&run.data, n) {
            let mut hits: Vec<&&Seen> = mine
                .iter()
                .filter(|s| s.name == name && s.args.contains(&arg_piece))
                .collect();
            if name == "getpid" {
                // The runtime asks for its pid when a thread first records: whoami's getpid is
                // the thread's last one (all formats list a thread's calls in time order).
                hits.drain(..hits.len().saturating_sub(1));
            }
            assert_eq!(
                hits.len(),
                1,
                "{format}: {thread}: {name}(..{arg_piece}..) expected once, seen {hits:?}"
            );
            let s = hits[0];
            let names: Vec<&str> = s.chain.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names, chain,
                "{format}: {thread}: {name}(..{arg_piece}..) is under the wrong function"
            );
            let inner = &s.chain.last().unwrap().1;
            assert!(
                inner.contains(&inner_args),
                "{format}: {thread}: {name}(..{arg_piece}..) under {inner:?}, expected args with {inner_args:?}"
            );
            total += 1;
        }
        let closes: Vec<Vec<&str>> = mine
            .iter()
            .filter(|s| s.name == "close" && !s.chain.is_empty())
            .map(|s| s.chain.iter().map(|(n, _)| n.as_str()).collect())
            .collect();
        assert_eq!(
            closes,
            vec![vec!["worker", "write_file"], vec!["worker", "read_file"]],
            "{format}: {thread}: close calls"
        );
        total += 2;
        let known = ["openat", "read", "write", "close", "nanosleep", "getpid"];
        let attributed = mine
            .iter()
            .filter(|s| known.contains(&s.name.as_str()) && !s.chain.is_empty())
            .count();
        assert_eq!(
            attributed,
            expected(&run.data, n).len() + 2,
            "{format}: {thread}: unexpected syscalls under traced functions: {mine:?}"
        );
    }
    assert_eq!(total, THREADS as usize * 11);
    let done: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.thread == "main" && s.name == "write" && s.args.contains("ground truth done"))
        .collect();
    assert_eq!(done.len(), 1, "{format}: the main thread's final write");
    assert!(
        done[0].chain.is_empty(),
        "{format}: untraced write must stay top level"
    );
    assert!(done[0].ret == "18" || done[0].ret.is_empty());
}

fn walk_json(node: &Value, thread: &str, chain: &mut Vec<(String, String)>, out: &mut Vec<Seen>) {
    match node["type"].as_str().unwrap() {
        "call" => {
            let args: Vec<String> = node["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    format!(
                        "{}={}",
                        a["name"].as_str().unwrap(),
                        a["text"].as_str().unwrap()
                    )
                })
                .collect();
            chain.push((node["name"].as_str().unwrap().into(), args.join(", ")));
            for c in node["children"].as_array().unwrap() {
                walk_json(c, thread, chain, out);
            }
            chain.pop();
        }
        "syscall" => out.push(Seen {
            thread: thread.into(),
            name: node["name"].as_str().unwrap().into(),
            args: node["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect::<Vec<_>>()
                .join(", "),
            ret: node["return"].to_string(),
            chain: chain.clone(),
        }),
        _ => {}
    }
}

#[test]
fn json_attribution_is_exact() {
    let Some(run) = traced() else { return };
    let doc: Value = serde_json::from_str(&merge(run, &["--format", "json"])).unwrap();
    assert_eq!(doc["metadata"]["format"], "ruchytrace-merged");
    let mut seen = Vec::new();
    for t in doc["threads"].as_array().unwrap() {
        assert_eq!(
            t["tracer"], false,
            "the collector thread is hidden by default"
        );
        let name = t["name"].as_str().unwrap_or("main").to_string();
        for e in t["events"].as_array().unwrap() {
            walk_json(e, &name, &mut Vec::new(), &mut seen);
        }
    }
    check(run, &seen, "json");
    // The call graph counts the recursion: nap -> nap three times per thread.
    let g = &doc["callgraph"];
    let id = |name: &str| {
        g["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("{name} in the call graph"))["id"]
            .clone()
    };
    let edge = |a: &str, b: &str| {
        g["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["from"] == id(a) && e["to"] == id(b))
            .map_or(0, |e| e["calls"].as_u64().unwrap())
    };
    assert_eq!(edge("nap", "nap"), 3 * THREADS as u64);
    assert_eq!(edge("nap", "nanosleep"), 4 * THREADS as u64);
    assert_eq!(edge("whoami", "getpid"), THREADS as u64);
}

#[test]
fn tracer_thread_is_shown_only_on_request() {
    let Some(run) = traced() else { return };
    let doc: Value =
        serde_json::from_str(&merge(run, &["--format", "json", "--show-tracer"])).unwrap();
    let threads = doc["threads"].as_array().unwrap();
    // A binary function trace is written through memory the trace file owns: no collector
    // thread runs, and nobody calls write() for it (the kernel writes the pages back). The one
    // runtime thread maps segments ahead of need; it is shown only on request, and makes no
    // write() either.
    let tracer: Vec<&Value> = threads.iter().filter(|t| t["tracer"] == true).collect();
    assert_eq!(tracer.len(), 1, "the prefault thread, and only it");
    let hidden: Value = serde_json::from_str(&merge(run, &["--format", "json"])).unwrap();
    assert!(
        !hidden["threads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["tid"] == tracer[0]["tid"]),
        "the prefault thread without --show-tracer"
    );
    let fn_trace = run.inputs[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    for t in threads {
        for e in t["events"].as_array().unwrap() {
            if e["type"] == "syscall" && e["name"] == "write" {
                let args = e["args"].to_string();
                assert!(!args.contains(&fn_trace), "write to the trace file: {e}");
            }
        }
    }
}

/// Parses the text timeline back into syscalls with their chains (from the indentation and
/// the `->`/`<-` lines).
fn parse_text(text: &str) -> Vec<Seen> {
    let mut out = Vec::new();
    let mut thread = String::new();
    let mut stack: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("== thread ") {
            thread = rest.split('"').nth(1).unwrap().to_string();
            stack.clear();
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let body = line.split_once("] ").expect("a timestamped line").1;
        let indent = body.len() - body.trim_start().len();
        assert_eq!(indent % 2, 0, "indentation of {line:?}");
        let depth = indent / 2;
        let body = body.trim_start();
        if let Some(call) = body.strip_prefix("-> ") {
            assert_eq!(depth, stack.len() + 1, "enter depth: {line:?}");
            let (name, args) = call.split_once('(').unwrap();
            let args = args.rsplit_once(") <").unwrap().0;
            stack.push((name.to_string(), args.to_string()));
        } else if let Some(ret) = body.strip_prefix("<- ") {
            let (name, _) = stack.pop().expect("exit without enter");
            assert!(ret.starts_with(&format!("{name}(")), "{line:?}");
            assert_eq!(depth, stack.len() + 1, "exit depth: {line:?}");
        } else if let Some((name, rest)) = body.split_once('(') {
            if name.contains(' ') {
                continue;
            }
            assert_eq!(depth, stack.len() + 1, "syscall depth: {line:?}");
            let (args, ret) = rest.rsplit_once(") = ").unwrap();
            out.push(Seen {
                thread: thread.clone(),
                name: name.to_string(),
                args: args.to_string(),
                ret: ret.split(' ').next().unwrap().to_string(),
                chain: stack.clone(),
            });
        }
    }
    out
}

#[test]
fn text_attribution_is_exact() {
    let Some(run) = traced() else { return };
    let text = merge(run, &[]);
    check(run, &parse_text(&text), "text");
    // The file `run -o` left is the same timeline.
    let kept = std::fs::read_to_string(run.out.join("merged.txt")).unwrap();
    check(run, &parse_text(&kept), "merged.txt");
    assert!(
        text.starts_with("== thread "),
        "{}",
        &text[..200.min(text.len())]
    );
    let first = text.lines().nth(1).unwrap();
    assert!(
        first.starts_with("[0.000000] "),
        "times count from the first event: {first}"
    );
}

#[test]
fn chrome_attribution_is_exact() {
    let Some(run) = traced() else { return };
    let doc: Value = serde_json::from_str(&merge(run, &["--format", "chrome"])).unwrap();
    // Well-formed, monotonic per track, nested, named — on a real multi-threaded trace.
    assert!(merge_support::validate_chrome(&doc) > 100);
    let events = doc["traceEvents"].as_array().unwrap();
    let mut names: BTreeMap<u64, String> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
    {
        names.insert(
            e["tid"].as_u64().unwrap(),
            e["args"]["name"].as_str().unwrap().to_string(),
        );
    }
    let ns = |v: &Value| (v.as_f64().unwrap() * 1000.0).round() as i64;
    let slices: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    let mut seen = Vec::new();
    for s in slices.iter().filter(|s| s["cat"] == "syscall") {
        let tid = s["tid"].as_u64().unwrap();
        let (ts, end) = (ns(&s["ts"]), ns(&s["ts"]) + ns(&s["dur"]));
        let mut chain: Vec<(i64, String, String)> = slices
            .iter()
            .filter(|f| {
                f["cat"] == "function"
                    && f["tid"].as_u64() == Some(tid)
                    && ns(&f["ts"]) <= ts
                    && ns(&f["ts"]) + ns(&f["dur"]) >= end
            })
            .map(|f| {
                let args: Vec<String> = f["args"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(k, _)| *k != "location" && *k != "return" && *k != "end")
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                    .collect();
                (
                    ns(&f["ts"]),
                    f["name"].as_str().unwrap().to_string(),
                    args.join(", "),
                )
            })
            .collect();
        chain.sort_by_key(|c| c.0);
        seen.push(Seen {
            thread: names[&tid].clone(),
            name: s["name"].as_str().unwrap().into(),
            args: s["args"]["args"].as_str().unwrap().into(),
            ret: s["args"]["return"].as_str().unwrap().into(),
            chain: chain.into_iter().map(|(_, n, a)| (n, a)).collect(),
        });
    }
    // serde_json's map is sorted by key: "level" before "worker" — as in the source.
    check(run, &seen, "chrome");
}

#[test]
fn collapsed_and_dot_have_every_stack() {
    let Some(run) = traced() else { return };
    let folded = merge(run, &["--format", "collapsed"]);
    for n in 0..THREADS {
        let prefix = format!("gt-{n} [");
        let stacks: Vec<&str> = folded
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .map(|l| {
                l.split_once(';')
                    .map_or("", |(_, s)| s)
                    .rsplit_once(' ')
                    .unwrap()
                    .0
            })
            .collect();
        for want in [
            "worker;write_file;syscall::openat",
            "worker;write_file;write_chunk;syscall::write",
            "worker;write_file;syscall::close",
            "worker;read_file;syscall::openat",
            "worker;read_file;read_chunk;syscall::read",
            "worker;read_file;syscall::close",
            "worker;nap;syscall::nanosleep",
            "worker;nap;nap;syscall::nanosleep",
            "worker;nap;nap;nap;syscall::nanosleep",
            "worker;nap;nap;nap;nap;syscall::nanosleep",
            "worker;whoami;syscall::getpid",
        ] {
            assert!(
                stacks.contains(&want),
                "gt-{n}: {want} missing in {stacks:?}"
            );
        }
    }
    for line in folded.lines() {
        let w: u64 = line.rsplit_once(' ').unwrap().1.parse().unwrap();
        assert!(w > 0, "{line}");
    }
    let dot = merge(run, &["--format", "dot"]);
    assert!(dot.starts_with("digraph ruchytrace {"));
    assert!(dot.contains("whoami\\n4 calls"), "{dot}");
    assert!(dot.contains("write_chunk\\n4 calls"));
    let svg = merge(run, &["--format", "svg"]);
    assert!(svg.contains("<svg") && svg.contains("write_chunk"));
}

#[test]
fn report_tables() {
    let Some(run) = traced() else { return };
    let res = Command::new(support::ruchytrace())
        .arg("report")
        .arg(&run.out)
        .args(["--syscalls", "--hotspots", "3", "--io", "--callgraph"])
        .output()
        .unwrap();
    assert!(res.status.success());
    let text = String::from_utf8(res.stdout).unwrap();
    let row = |f: &str, s: &str| {
        text.lines()
            .find(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some(f) && w.next() == Some(s)
            })
            .unwrap_or_else(|| panic!("no {f} {s} row in\n{text}"))
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(row("nap", "nanosleep"), 16);
    assert_eq!(row("whoami", "getpid"), 4);
    assert_eq!(row("write_chunk", "write"), 4);
    assert_eq!(row("read_file", "close"), 4);
    // --io: each gt file opened twice, 16+N bytes written and read.
    for n in 0..THREADS {
        let path = format!("{}/gt-{n}.txt", run.data.display());
        let line = text
            .lines()
            .find(|l| l.ends_with(&path))
            .unwrap_or_else(|| panic!("{path} in\n{text}"));
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols[0], "2", "opens: {line}");
        assert_eq!(cols[2], (16 + n).to_string(), "read bytes: {line}");
        assert_eq!(cols[4], (16 + n).to_string(), "written: {line}");
    }
    // --hotspots 3: a header, then exactly three rows of traced functions with their exact call
    // counts, ordered by self time, each self time within its inclusive time.
    let calls_of: HashMap<&str, u64> = [
        ("nap", 16),
        ("write_file", 4),
        ("read_file", 4),
        ("whoami", 4),
        ("write_chunk", 4),
        ("read_chunk", 4),
        ("worker", 4),
    ]
    .into_iter()
    .collect();
    let section: Vec<&str> = text
        .lines()
        .skip_while(|l| *l != "## hotspots (top 3 by self time)")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(
        section
            .first()
            .map(|h| h.split_whitespace().collect::<Vec<_>>()),
        Some(vec![
            "self",
            "%",
            "inclusive",
            "calls",
            "avg",
            "max",
            "function"
        ]),
        "{text}"
    );
    let rows: Vec<(u64, u64, &str)> = section[1..]
        .iter()
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            let (own, incl, calls, avg, max, name) = (
                duration_ns(c[0]),
                duration_ns(c[2]),
                c[3],
                duration_ns(c[4]),
                duration_ns(c[5]),
                c[6],
            );
            assert!(avg <= max && max <= incl, "{l}");
            let want = calls_of
                .get(name)
                .unwrap_or_else(|| panic!("{name} in {l}"));
            assert_eq!(calls, want.to_string(), "{l}");
            assert!(own <= incl, "{l}");
            (own, incl, name)
        })
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(rows.windows(2).all(|w| w[0].0 >= w[1].0), "{rows:?}");
}

/// Nanoseconds of a report duration (`609us`, `6.773ms`, `1.5s`, `870ns`).
fn duration_ns(text: &str) -> u64 {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap();
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        other => panic!("unit {other} in {text}"),
    };
    (number.parse::<f64>().unwrap() * scale).round() as u64
}

/// The syscalls of a decoded Perfetto trace with their chains of enclosing function slices.
fn perfetto_seen(doc: &Value) -> Vec<Seen> {
    let tracks = doc["tracks"].as_object().unwrap();
    let slices = doc["slices"].as_array().unwrap();
    let mut out = Vec::new();
    for s in slices.iter().filter(|s| s["category"] == "syscall") {
        let track = &tracks[&s["track"].to_string()];
        assert_eq!(track["kind"], "thread", "syscalls sit on thread tracks");
        let mut chain = Vec::new();
        let mut at = s["parent"].as_u64();
        while let Some(i) = at {
            let p = &slices[i as usize];
            assert_eq!(
                p["category"], "function",
                "a syscall's ancestors are functions"
            );
            assert_eq!(p["track"], s["track"], "nested on the same thread track");
            let args: Vec<String> = p["args"]
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "location" | "return" | "end"))
                .map(|(k, v)| match v {
                    Value::String(t) => format!("{k}={t}"),
                    other => format!("{k}={other}"),
                })
                .collect();
            chain.push((p["name"].as_str().unwrap().to_owned(), args.join(", ")));
            at = p["parent"].as_u64();
        }
        chain.reverse();
        out.push(Seen {
            thread: track["name"].as_str().unwrap().to_owned(),
            name: s["name"].as_str().unwrap().to_owned(),
            args: s["args"]["args"].as_str().unwrap_or("").to_owned(),
            ret: s["args"]["return"].as_str().unwrap_or("").to_owned(),
            chain,
        });
    }
    out
}

#[test]
fn perfetto_attribution_is_exact() {
    let Some(run) = traced() else { return };
    let path = run.out.join("check.pftrace");
    merge(run, &["-o", path.to_str().unwrap()]);
    let Some(doc) = merge_support::decode_perfetto(&path) else {
        return;
    };
    assert_eq!(doc["errors"], Value::Array(vec![]), "{:#}", doc["errors"]);
    check(run, &perfetto_seen(&doc), "perfetto");
}
