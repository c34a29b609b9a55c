//! `--format perfetto` on synthetic traces, decoded by Perfetto's own message types (Python's
//! `perfetto` package, see `tests/merge_support/setup-python.sh`): tracks, balanced slices,
//! system calls inside the function that made them, argument and return annotations, interning,
//! async tracks with flows across threads, and loss records with their counter.

mod merge_support;
#[path = "support/sys.rs"]
mod support;

use std::path::Path;
use std::process::Command;

use merge_support::*;
use ruchytrace_runtime::format::Format;
use ruchytrace_runtime::model::{Event, LossReason, Trailer};
use serde_json::Value as Json;

fn run_merge(inputs: &[&Path], out: &Path) {
    let res = Command::new(support::ruchytrace())
        .arg("merge")
        .args(inputs)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// The slice of `doc` named `name` on the thread track of `tid`.
fn slices_named<'a>(doc: &'a Json, tid: u64, name: &str) -> Vec<&'a Json> {
    let track = thread_track(doc, tid);
    doc["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["track"].as_u64() == Some(track) && s["name"] == name)
        .collect()
}

fn thread_track(doc: &Json, tid: u64) -> u64 {
    doc["tracks"]
        .as_object()
        .unwrap()
        .values()
        .find(|t| t["kind"] == "thread" && t["tid"] == tid)
        .unwrap_or_else(|| panic!("a thread track for tid {tid}"))["uuid"]
        .as_u64()
        .unwrap()
}

fn parent<'a>(doc: &'a Json, s: &Json) -> Option<&'a Json> {
    s["parent"].as_u64().map(|i| &doc["slices"][i as usize])
}

#[test]
fn functions_and_syscalls_nest_on_thread_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let fn_path = dir.path().join("fn.rtrace");
    let sys_path = dir.path().join("sys.json");
    let out = dir.path().join("trace.pftrace");
    write_fn(&fn_trace(), &fn_path, Format::Binary);
    write_sys(&sys_doc(PID, REALTIME, default_syscalls()), &sys_path);
    run_merge(&[&fn_path, &sys_path], &out);
    let Some(doc) = decode_perfetto(&out) else {
        return;
    };
    assert_eq!(doc["errors"], Json::Array(vec![]), "{:#}", doc["errors"]);
    // The first packet clears the incremental state and is the clock snapshot.
    assert_eq!(doc["first_packet_flags"].as_u64().unwrap() & 1, 1);
    let snap = &doc["clock_snapshot"];
    assert_eq!(snap["primary"], 3, "CLOCK_MONOTONIC is the trace clock");
    assert_eq!(snap["clocks"]["3"], MONO);
    assert_eq!(snap["clocks"]["1"], REALTIME);
    // One process track, two thread tracks; the collector thread is hidden by default.
    let tracks: Vec<&Json> = doc["tracks"].as_object().unwrap().values().collect();
    let procs: Vec<&&Json> = tracks.iter().filter(|t| t["kind"] == "process").collect();
    assert_eq!(procs.len(), 1);
    assert_eq!(procs[0]["pid"], PID);
    assert_eq!(procs[0]["name"], "demo");
    let mut threads: Vec<(u64, String)> = tracks
        .iter()
        .filter(|t| t["kind"] == "thread")
        .map(|t| {
            assert_eq!(t["pid"], PID);
            assert_eq!(t["parent"], procs[0]["uuid"]);
            (
                t["tid"].as_u64().unwrap(),
                t["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    threads.sort();
    assert_eq!(
        threads,
        vec![(100, "main".to_owned()), (101, "worker".to_owned())]
    );

    let compute = slices_named(&doc, 100, "compute");
    assert_eq!(compute.len(), 1);
    let c = compute[0];
    assert_eq!(c["category"], "function");
    assert_eq!(c["ts"], MONO + 2000, "absolute CLOCK_MONOTONIC ns");
    assert_eq!(c["dur"], 7000);
    assert_eq!(c["depth"], 0);
    assert_eq!(c["args"]["x"], 42);
    assert_eq!(c["args"]["y"], 100);
    assert_eq!(c["args"]["return"], "4255");
    assert_eq!(c["args"]["end"], "returned");
    assert_eq!(c["args"]["location"], "src/main.rs:10:5");

    let openat = &slices_named(&doc, 100, "openat")[0];
    assert_eq!(openat["category"], "syscall");
    assert_eq!(parent(&doc, openat).unwrap()["name"], "compute");
    assert_eq!(openat["dur"], 800);
    assert_eq!(
        openat["args"]["args"],
        "AT_FDCWD, \"/etc/passwd\", O_RDONLY"
    );
    assert_eq!(openat["args"]["return"], "3");
    let read = &slices_named(&doc, 100, "read")[0];
    let load = parent(&doc, read).unwrap();
    assert_eq!(load["name"], "load");
    assert_eq!(parent(&doc, load).unwrap()["name"], "compute");
    assert_eq!(read["depth"], 2);
    let write = &slices_named(&doc, 100, "write")[0];
    assert!(write["parent"].is_null(), "untraced write stays top level");
    let getpid = &slices_named(&doc, 101, "getpid")[0];
    assert_eq!(parent(&doc, getpid).unwrap()["name"], "load");
    // compute, openat, load, read, write on main; load, getpid on the worker.
    assert_eq!(doc["slices"].as_array().unwrap().len(), 7);
}

#[test]
fn async_futures_get_a_track_and_flows_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    let fn_path = dir.path().join("fn.json");
    let sys_path = dir.path().join("sys.json");
    let out = dir.path().join("trace.pftrace");
    write_fn(&async_trace(), &fn_path, Format::Json);
    let mut sys = default_syscalls();
    sys.push(syscall("read", 100, 21_200, 100, &["5", "\"x\"", "1"], 1));
    sys.push(syscall("write", 101, 24_100, 100, &["6", "\"y\"", "1"], 1));
    write_sys(&sys_doc(PID, REALTIME, sys), &sys_path);
    run_merge(&[&fn_path, &sys_path], &out);
    let Some(doc) = decode_perfetto(&out) else {
        return;
    };
    assert_eq!(doc["errors"], Json::Array(vec![]), "{:#}", doc["errors"]);

    // Each poll is a slice on the thread that ran it, with the syscall it made inside.
    let poll1 = slices_named(&doc, 100, "job");
    let poll2 = slices_named(&doc, 101, "job");
    assert_eq!((poll1.len(), poll2.len()), (1, 1));
    let (p1, p2) = (poll1[0], poll2[0]);
    assert_eq!(
        (p1["dur"].as_u64(), p2["dur"].as_u64()),
        (Some(500), Some(1000))
    );
    assert_eq!(p1["args"]["end"], "suspended");
    assert_eq!(p2["args"]["return"], "204");
    let at = |tid: u64, name: &str, ts: u64| {
        *slices_named(&doc, tid, name)
            .iter()
            .find(|s| s["ts"] == MONO + ts)
            .unwrap_or_else(|| panic!("{name} at {ts}"))
    };
    assert_eq!(
        parent(&doc, at(100, "read", 21_200)).unwrap()["ts"],
        p1["ts"]
    );
    assert_eq!(
        parent(&doc, at(101, "write", 24_100)).unwrap()["ts"],
        p2["ts"]
    );
    // A flow from the suspended poll to the resumed one, across threads.
    let flow = p1["flows_out"].as_array().unwrap();
    assert_eq!(flow.len(), 1);
    assert_eq!(p2["flows_in"], Json::Array(flow.clone()));
    assert_eq!(p1["flows_in"], Json::Array(vec![]));
    assert_eq!(p2["flows_out"], Json::Array(vec![]));

    // The future's own track: its whole lifetime, busy time, polls and threads.
    let tracks = doc["tracks"].as_object().unwrap();
    let fut: Vec<&Json> = tracks.values().filter(|t| t["kind"] == "async").collect();
    assert_eq!(fut.len(), 1);
    assert_eq!(fut[0]["name"], "job (future 7)");
    let on_fut: Vec<&Json> = doc["slices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["track"] == fut[0]["uuid"])
        .collect();
    assert_eq!(on_fut.len(), 3, "lifetime + two polls");
    let life = on_fut[0];
    assert_eq!(life["name"], "job");
    assert_eq!(life["category"], "async");
    assert_eq!(life["ts"], MONO + 21_000);
    assert_eq!(life["dur"], 4000);
    assert_eq!(life["args"]["lifetime_ns"], 4000);
    assert_eq!(life["args"]["busy_ns"], 1500);
    assert_eq!(life["args"]["polls"], 2);
    assert_eq!(life["args"]["threads"], "100,101");
    assert_eq!(life["args"]["n"], 5);
    assert_eq!(life["args"]["return"], "204");
    let polls: Vec<(u64, u64, u64)> = on_fut[1..]
        .iter()
        .map(|s| {
            assert_eq!(s["name"], "poll");
            assert_eq!(s["depth"], 1);
            (
                s["ts"].as_u64().unwrap() - MONO,
                s["dur"].as_u64().unwrap(),
                s["args"]["tid"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(polls, vec![(21_000, 500, 100), (24_000, 1000, 101)]);

    // Loss records: an instant on their thread and the process's cumulative counter.
    let losses: Vec<(u64, &str)> = doc["instants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["category"] == "loss")
        .map(|i| {
            (
                i["ts"].as_u64().unwrap() - MONO,
                i["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        losses,
        vec![
            (21_800, "3 events lost (buffer full)"),
            (26_000, "2 events lost (evicted by ring buffer)")
        ]
    );
    let counter: Vec<&Json> = tracks.values().filter(|t| t["kind"] == "counter").collect();
    assert_eq!(counter.len(), 1);
    assert_eq!(counter[0]["name"], "lost events");
    let values: Vec<(u64, i64)> = doc["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["track"], counter[0]["uuid"]);
            (
                c["ts"].as_u64().unwrap() - MONO,
                c["value"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(values, vec![(21_800, 3), (26_000, 5)]);
}

#[test]
fn convert_writes_perfetto_and_keeps_a_truncated_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let fn_path = dir.path().join("fn.rtrace");
    write_fn(&fn_trace(), &fn_path, Format::Binary);
    let out = dir.path().join("whole.pftrace");
    let res = Command::new(support::ruchytrace())
        .arg("convert")
        .arg(&fn_path)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    // A cut file: the complete prefix is converted, open calls end with the trace.
    let bytes = std::fs::read(&fn_path).unwrap();
    let cut = dir.path().join("cut.rtrace");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    let cut_out = dir.path().join("cut.pftrace");
    let res = Command::new(support::ruchytrace())
        .args(["convert", "--format", "perfetto"])
        .arg(&cut)
        .arg("-o")
        .arg(&cut_out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning:") && err.contains("incomplete function trace"),
        "{err}"
    );
    // Garbage is refused with the file and the byte.
    let bad = dir.path().join("bad.rtrace");
    std::fs::write(&bad, b"RTRC\x00\x00garbage").unwrap();
    let res = Command::new(support::ruchytrace())
        .args(["convert", "--format", "perfetto"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.rtrace"), "{err}");

    let Some(doc) = decode_perfetto(&out) else {
        return;
    };
    assert_eq!(doc["errors"], Json::Array(vec![]), "{:#}", doc["errors"]);
    let compute = slices_named(&doc, 100, "compute");
    assert_eq!(compute.len(), 1);
    assert_eq!(compute[0]["args"]["return"], "4255");
    let doc = decode_perfetto(&cut_out).unwrap();
    assert_eq!(doc["errors"], Json::Array(vec![]), "{:#}", doc["errors"]);
    assert!(!doc["slices"].as_array().unwrap().is_empty());
}

/// Slices, instants and counters of a decoded trace, in a canonical order (the streamed writer
/// interleaves threads as the function trace does, the tree writer goes thread by thread).
fn canonical(doc: &Json) -> Vec<String> {
    let tracks = doc["tracks"].as_object().unwrap();
    let track = |uuid: &Json| {
        let t = &tracks[&uuid.to_string()];
        format!("{}:{}:{}", t["kind"], t["pid"], t["tid"])
    };
    let slices = doc["slices"].as_array().unwrap();
    let mut out: Vec<String> = slices
        .iter()
        .map(|s| {
            let parent = s["parent"]
                .as_u64()
                .map(|p| slices[p as usize]["name"].to_string());
            format!(
                "slice {} {} {} {} {} {} {:?} {}",
                track(&s["track"]),
                s["ts"],
                s["dur"],
                s["name"],
                s["category"],
                s["depth"],
                parent,
                s["args"]
            )
        })
        .chain(doc["instants"].as_array().unwrap().iter().map(|i| {
            format!(
                "instant {} {} {} {}",
                track(&i["track"]),
                i["ts"],
                i["name"],
                i["category"]
            )
        }))
        .chain(
            doc["counters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| format!("counter {} {} {}", track(&c["track"]), c["ts"], c["value"])),
        )
        .collect();
    out.sort();
    out
}

#[test]
fn streamed_and_tree_writers_agree() {
    let dir = tempfile::tempdir().unwrap();
    let fn_path = dir.path().join("fn.rtrace");
    let sys_path = dir.path().join("sys.json");
    let mut t = fn_trace();
    t.events.push(Event::Loss {
        ts: MONO + 9_800,
        pid: PID,
        tid: 101,
        count: 4,
        reason: LossReason::BufferFull,
    });
    t.trailer = Some(Trailer {
        events: t.events.len() as u64,
        lost: 4,
        end_ns: MONO + 10_000,
    });
    write_fn(&t, &fn_path, Format::Binary);
    write_sys(&sys_doc(PID, REALTIME, default_syscalls()), &sys_path);
    // The library says this input streams.
    let load = |p: &Path| ruchytrace::merge::load(p, false).unwrap();
    let plan = ruchytrace::merge::stream::plan_text(
        vec![load(&fn_path), load(&sys_path)],
        &Default::default(),
    )
    .unwrap();
    assert!(plan.is_streamed());
    let streamed = dir.path().join("streamed.pftrace");
    run_merge(&[&fn_path, &sys_path], &streamed);
    // A replay filter that keeps everything forces the tree.
    let tree = dir.path().join("tree.pftrace");
    let res = Command::new(support::ruchytrace())
        .args(["merge", "--min-duration", "0"])
        .arg(&fn_path)
        .arg(&sys_path)
        .arg("-o")
        .arg(&tree)
        .output()
        .unwrap();
    assert_eq!(res.status.code(), Some(0));
    let Some(a) = decode_perfetto(&streamed) else {
        return;
    };
    let b = decode_perfetto(&tree).unwrap();
    assert_eq!(a["errors"], Json::Array(vec![]), "{:#}", a["errors"]);
    assert_eq!(b["errors"], Json::Array(vec![]), "{:#}", b["errors"]);
    assert_eq!(canonical(&a), canonical(&b));
    assert_eq!(a["counters"].as_array().unwrap().len(), 1);
    assert_eq!(a["tracks"], b["tracks"]);
}
