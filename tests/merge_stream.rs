//! The streamed text timeline (`merge::stream`) against the merged tree's (`merge::text`): the
//! same bytes on the fixtures and on a generated trace with nesting, lost exits, open calls,
//! instants and system calls on several threads; ties and straddles fall back to the tree, and
//! straddles are still refused.

mod merge_support;

use std::path::Path;

use merge_support::*;
use ruchytrace::merge::{self, stream, MergeError, MergeOptions};
use ruchytrace_runtime::format::Format;
use ruchytrace_runtime::model::*;
use serde_json::Value as Json;

fn load(paths: &[&Path]) -> Vec<merge::Input> {
    paths
        .iter()
        .map(|p| merge::load(p, true).unwrap())
        .collect()
}

/// (streamed?, streamed text, tree text) for both `show_tracer` settings; the folded stacks
/// must agree too.
fn both(paths: &[&Path], force: bool) -> Vec<(bool, String, String)> {
    let opts = MergeOptions {
        force,
        ..MergeOptions::default()
    };
    // The syscall trace in the tracer's line layout is indexed in place, not read whole: the
    // same timeline either way.
    let lines_dir = tempfile::tempdir().unwrap();
    let lines: Vec<std::path::PathBuf> = paths
        .iter()
        .map(|p| match merge::load(p, true).unwrap() {
            merge::Input::Syscalls { trace, in_file, .. } => {
                assert!(in_file.is_none());
                let doc = serde_json::to_value(&*trace).unwrap();
                let copy = lines_dir.path().join("sys-lines.json");
                write_sys_lines(&doc, &copy);
                let again = merge::load(&copy, true).unwrap();
                assert!(matches!(
                    again,
                    merge::Input::Syscalls {
                        in_file: Some(_),
                        ..
                    }
                ));
                copy
            }
            _ => p.to_path_buf(),
        })
        .collect();
    let lines: Vec<&Path> = lines.iter().map(|p| p.as_path()).collect();
    [false, true]
        .into_iter()
        .map(|show| {
            let plan = stream::plan_text(load(paths), &opts).unwrap();
            let mut a = Vec::new();
            plan.write(show, &mut a).unwrap();
            let indexed = stream::plan_text(load(&lines), &opts).unwrap();
            let mut c = Vec::new();
            indexed.write(show, &mut c).unwrap();
            assert_eq!(
                String::from_utf8(c).unwrap(),
                String::from_utf8(a.clone()).unwrap()
            );
            assert_eq!(indexed.is_streamed(), plan.is_streamed());
            let mut tree_of_indexed = Vec::new();
            merge::text::write(
                &merge::merge(load(&lines), &opts).unwrap(),
                show,
                &mut tree_of_indexed,
            )
            .unwrap();
            let m = merge::merge(load(paths), &opts).unwrap();
            let mut b = Vec::new();
            merge::text::write(&m, show, &mut b).unwrap();
            // The flame graphs' folded stacks are the same streamed or from the tree.
            let folded = merge::flame::folded(&m, show);
            assert!(!folded.is_empty());
            assert_eq!(plan.folded(show).unwrap(), folded);
            // So is the merged JSON document, but for the numbering of the call graph's nodes.
            let mut streamed_json = Vec::new();
            plan.write_json(show, &mut streamed_json).unwrap();
            let mut tree_json = Vec::new();
            merge::json::write(&m, show, &mut tree_json).unwrap();
            let mut sj: Json = serde_json::from_slice(&streamed_json).unwrap();
            let mut tj: Json = serde_json::from_slice(&tree_json).unwrap();
            assert_eq!(sj["callgraph"]["total_ns"], tj["callgraph"]["total_ns"]);
            sj["callgraph"] = Json::Null;
            tj["callgraph"] = Json::Null;
            assert_eq!(sj, tj);
            // So are the Chrome trace's events, up to their order across threads.
            let events = |write: &dyn Fn(&mut Vec<u8>)| {
                let mut out = Vec::new();
                write(&mut out);
                let doc: Json = serde_json::from_slice(&out).unwrap();
                let mut evs: Vec<String> = doc["traceEvents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(Json::to_string)
                    .collect();
                evs.sort();
                evs
            };
            let streamed_chrome = events(&|o| plan.write_chrome(show, o).unwrap());
            assert!(streamed_chrome.len() > 3);
            assert_eq!(
                streamed_chrome,
                events(&|o| merge::chrome::write(&m, show, o).unwrap())
            );
            // So is the OTLP request, up to the order of the spans across threads.
            for syscall_spans in [false, true] {
                let opts = merge::otlp::OtlpOptions {
                    show_tracer: show,
                    syscall_spans,
                };
                let spans = |write: &dyn Fn(&mut Vec<u8>)| {
                    let mut out = Vec::new();
                    write(&mut out);
                    let mut doc: Json = serde_json::from_slice(&out).unwrap();
                    for r in doc["resourceSpans"].as_array_mut().unwrap() {
                        let list = r["scopeSpans"][0]["spans"].as_array_mut().unwrap();
                        list.sort_by_key(|s| s["spanId"].as_str().unwrap().to_string());
                    }
                    doc
                };
                let streamed = spans(&|o| plan.write_otlp(opts, o).unwrap());
                assert!(streamed["resourceSpans"][0]["scopeSpans"][0]["spans"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty()));
                assert_eq!(
                    streamed,
                    spans(&|o| merge::otlp::write(&m, opts, o).unwrap())
                );
            }
            // So are the report's tables and the diff's profile.
            let streamed = plan.report_tables(show).unwrap();
            let tree = merge::report::Tables::of_tree(&m, show);
            assert!(streamed.callgraph_text().lines().count() > 2);
            assert!(!streamed.syscalls.is_empty() && !streamed.io.is_empty());
            assert_eq!(streamed.callgraph_text(), tree.callgraph_text());
            for sort in [
                merge::report::SortKey::SelfTime,
                merge::report::SortKey::Total,
                merge::report::SortKey::Calls,
                merge::report::SortKey::Avg,
                merge::report::SortKey::Max,
            ] {
                assert_eq!(
                    streamed.hotspots_text(10, sort),
                    tree.hotspots_text(10, sort)
                );
            }
            assert_eq!(streamed.syscalls_text(), tree.syscalls_text());
            assert_eq!(streamed.by_line_text(), tree.by_line_text());
            assert_eq!(streamed.io_text(), tree.io_text());
            assert_eq!(
                merge::diff::profile_of(&plan.call_graph(show).unwrap(), &plan.processes()),
                merge::diff::profile(&m, show)
            );
            // So is the call graph (`dot`), up to the numbering of its nodes.
            assert_eq!(
                canonical(&plan.call_graph(show).unwrap()),
                canonical(&merge::report::call_graph(&m, show))
            );
            assert_eq!(tree_of_indexed, b);
            (
                plan.is_streamed(),
                String::from_utf8(a).unwrap(),
                String::from_utf8(b).unwrap(),
            )
        })
        .collect()
}

/// A call graph's nodes and edges by name, sorted (the streamed graph numbers its nodes in
/// the order it meets them across threads).
fn canonical(g: &merge::report::CallGraph) -> (Vec<String>, Vec<String>) {
    let key = |i: usize| {
        let n = &g.nodes[i];
        format!("{:?} {} {:?}", n.kind, n.name, n.location)
    };
    let mut nodes: Vec<String> = (0..g.nodes.len())
        .map(|i| {
            let n = &g.nodes[i];
            format!(
                "{} calls={} inclusive={} self={} errors={}",
                key(i),
                n.calls,
                n.inclusive_ns,
                n.self_ns,
                n.errors
            )
        })
        .collect();
    nodes.sort();
    let mut edges: Vec<String> = g
        .edges
        .iter()
        .map(|&(a, b, c)| format!("{} -> {} x{c}", key(a), key(b)))
        .collect();
    edges.sort();
    assert!(g.nodes.len() > 2);
    (nodes, edges)
}

fn write_all(dir: &Path, trace: &Trace, sys: Vec<Json>) -> [std::path::PathBuf; 3] {
    let b = dir.join("fn.rtrace");
    let j = dir.join("fn.json");
    let s = dir.join("sys.json");
    write_fn(trace, &b, Format::Binary);
    write_fn(trace, &j, Format::Json);
    write_sys(&sys_doc(PID, REALTIME, sys), &s);
    [b, j, s]
}

#[test]
fn fixture_is_streamed_with_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let [b, j, s] = write_all(dir.path(), &fn_trace(), default_syscalls());
    for f in [&b, &j] {
        for (streamed, a, t) in both(&[f, &s], false) {
            assert!(streamed, "the fixture needs no tree");
            assert_eq!(a, t);
            assert!(a.contains("openat("), "{a}");
        }
    }
}

#[test]
fn ties_fall_back_to_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let sys = vec![
        syscall("read", PID, 3000, 2000, &["3", "\"\"", "1"], 0),
        syscall("close", PID, 9000, 0, &["3"], 0),
    ];
    let [b, _, s] = write_all(dir.path(), &fn_trace(), sys);
    for (streamed, a, t) in both(&[&b, &s], false) {
        assert!(!streamed);
        assert_eq!(a, t);
    }
}

#[test]
fn straddles_are_still_refused_or_forced() {
    let dir = tempfile::tempdir().unwrap();
    // read() starts in load() (3000..5000) and returns after it.
    let sys = vec![syscall("read", PID, 4000, 2000, &["3", "\"\"", "1"], 0)];
    let [b, _, s] = write_all(dir.path(), &fn_trace(), sys);
    match stream::plan_text(load(&[&b, &s]), &MergeOptions::default()) {
        Err(MergeError::Straddle(list)) => assert!(list[0].contains("read"), "{list:?}"),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a straddle was accepted"),
    }
    for (streamed, a, t) in both(&[&b, &s], true) {
        assert!(!streamed);
        assert_eq!(a, t);
        assert!(a.contains("# warning: --force"), "{a}");
    }
}

/// A deterministic pseudo-random trace: 3 threads, nested calls up to depth 5, some exits lost,
/// some calls open at the end, instants, and system calls in the gaps between function events.
fn generated() -> (Trace, Vec<Json>) {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut trace = fn_trace();
    trace.events.clear();
    let mut sys = Vec::new();
    for tid in [PID, 101, 103] {
        let mut ts = 10_000u64 + u64::from(tid);
        let mut stack: Vec<u32> = Vec::new();
        for _ in 0..400 {
            ts += 10 + rnd(50) * 10;
            match rnd(10) {
                0..=3 if stack.len() < 5 => {
                    let site = rnd(2) as u32;
                    let args = if site == 0 {
                        vec![Value::I64(rnd(100) as i64), Value::I64(7)]
                    } else {
                        vec![]
                    };
                    trace.events.push(enter(site, ts, tid, args));
                    stack.push(site);
                }
                4..=6 if !stack.is_empty() => {
                    let site = stack.pop().unwrap();
                    trace
                        .events
                        .push(exit(site, ts, tid, Value::I64(ts as i64)));
                }
                7 if stack.len() >= 2 => {
                    // The innermost exit is lost: the caller's exit closes both.
                    stack.pop();
                    let site = stack.pop().unwrap();
                    trace.events.push(exit(site, ts, tid, Value::Unit));
                }
                8 => trace.events.push(Event::Instant {
                    ts: MONO + ts,
                    pid: PID,
                    tid,
                    category: Category::Timer,
                    name: "tick".into(),
                    detail: format!("{ts}"),
                }),
                _ => {
                    // A system call strictly inside the gap before the next function event.
                    sys.push(syscall("getpid", tid, ts + 1, 3, &[], i64::from(tid)));
                    ts += 5;
                }
            }
        }
        // Some calls stay open; a last system call after every function event.
        sys.push(syscall("close", tid, ts + 100, 0, &["3"], 0));
    }
    // The writer and the merge expect events in time order across threads.
    trace.events.sort_by_key(Event::ts);
    sys.sort_by_key(|s| s["timestamp_ns"].as_u64());
    (trace, sys)
}

#[test]
fn generated_trace_is_streamed_with_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (trace, sys) = generated();
    let [b, j, s] = write_all(dir.path(), &trace, sys);
    for f in [&b, &j] {
        for (streamed, a, t) in both(&[f, &s], false) {
            assert!(streamed);
            assert_eq!(a, t);
            assert!(a.matches("getpid(").count() > 50, "{a}");
            assert!(a.contains("<exit lost>"), "{a}");
            assert!(a.contains("<unfinished at end of trace>"), "{a}");
        }
    }
}
