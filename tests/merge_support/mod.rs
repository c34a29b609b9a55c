//! Helpers shared by the merge tests: synthetic traces and the Chrome trace validator.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use ruchytrace_runtime::format::{self, Format};
use ruchytrace_runtime::model::*;
use serde_json::{json, Value as Json};

pub const PID: u32 = 100;
pub const COLLECTOR: u32 = 102;
pub const REALTIME: u64 = 1_700_000_000_000_000_000;
pub const MONO: u64 = 1_000_000;

pub fn clock() -> ClockInfo {
    ClockInfo {
        domain: "CLOCK_MONOTONIC".into(),
        source: "CLOCK_MONOTONIC".into(),
        realtime_ns: REALTIME,
        monotonic_ns: MONO,
        tsc_hz: None,
    }
}

fn site(id: u32, name: &str, args: &[(&str, &str)], ret: &str) -> Site {
    Site {
        id,
        name: name.into(),
        qualified_name: format!("demo::{name}"),
        location: Location {
            file: "src/main.rs".into(),
            line: 10 + id,
            column: 5,
        },
        args: args
            .iter()
            .map(|(n, t)| ArgInfo {
                name: n.to_string(),
                type_name: t.to_string(),
            })
            .collect(),
        return_type: ret.into(),
        kind: SiteKind::Fn,
    }
}

pub fn enter(site: u32, ts: u64, tid: u32, args: Vec<Value>) -> Event {
    Event::Enter {
        site,
        ts: MONO + ts,
        pid: PID,
        tid,
        args,
        call_id: None,
    }
}

pub fn exit(site: u32, ts: u64, tid: u32, ret: Value) -> Event {
    Event::Exit {
        site,
        ts: MONO + ts,
        pid: PID,
        tid,
        ret: Return::Value(ret),
        call_id: None,
    }
}

/// A function trace of pid 100: main thread `compute(x=42, y=100)` from 2000 to 9000 ns
/// calling `load()` from 3000 to 5000; thread 101 `load()` from 2500 to 2600. Times are ns after
/// `MONO`.
pub fn fn_trace() -> Trace {
    let events = vec![
        Event::Thread {
            ts: MONO + 1000,
            pid: PID,
            tid: PID,
            name: Some("main".into()),
        },
        enter(0, 2000, PID, vec![Value::I64(42), Value::I64(100)]),
        enter(1, 3000, PID, vec![]),
        exit(1, 5000, PID, Value::Unit),
        exit(0, 9000, PID, Value::I64(4255)),
        Event::Thread {
            ts: MONO + 2400,
            pid: PID,
            tid: 101,
            name: Some("worker".into()),
        },
        enter(1, 2500, 101, vec![]),
        exit(1, 2600, 101, Value::Unit),
    ];
    Trace {
        metadata: Metadata {
            format: FN_TRACE_FORMAT.into(),
            version: SCHEMA_VERSION,
            ruchytrace_version: "0.1.0".into(),
            program: "/bin/demo".into(),
            args: vec!["demo".into()],
            pid: PID,
            collector_tid: Some(COLLECTOR),
            clock: clock(),
            settings: RecordSettings {
                sample: 1,
                filter: None,
                overflow: "block".into(),
                buffer_bytes: 1 << 20,
                strsize: 64,
                max_items: 16,
            },
        },
        sites: vec![
            site(0, "compute", &[("x", "i64"), ("y", "i64")], "i64"),
            site(1, "load", &[], "()"),
        ],
        trailer: Some(Trailer {
            events: events.len() as u64,
            lost: 0,
            end_ns: MONO + 10_000,
        }),
        events,
        truncation: None,
    }
}

pub fn write_fn(trace: &Trace, path: &Path, fmt: Format) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = format::writer(fmt, Box::new(std::io::BufWriter::new(file)));
    format::write_trace(trace, &mut *w).unwrap();
}

/// One syscall of the sys.json; times in ns after `MONO`.
pub fn syscall(name: &str, tid: u32, ts: u64, dur: u64, args: &[&str], ret: i64) -> Json {
    json!({"type": "syscall", "name": name, "nr": 0, "pid": PID, "tid": tid,
           "timestamp_ns": MONO + ts, "duration_ns": dur, "args": args, "raw_args": [],
           "return": ret, "errno": null})
}

/// The default syscalls: openat in compute, read in load, write at top level, getpid in
/// thread 101's load, a collector write.
pub fn default_syscalls() -> Vec<Json> {
    vec![
        syscall("write", COLLECTOR, 1500, 5, &["3", "\"...\"", "40"], 40),
        syscall(
            "openat",
            PID,
            2100,
            800,
            &["AT_FDCWD", "\"/etc/passwd\"", "O_RDONLY"],
            3,
        ),
        syscall("getpid", 101, 2550, 10, &[], 100),
        syscall(
            "read",
            PID,
            3500,
            500,
            &["3", "\"root:x:0:0\"...", "4096"],
            1234,
        ),
        syscall("write", PID, 9500, 10, &["1", "\"done\\n\"", "5"], 5),
    ]
}

pub fn sys_doc(pid: u32, realtime: u64, events: Vec<Json>) -> Json {
    let n = events.len();
    json!({
        "metadata": {"format": "ruchytrace-syscalls", "version": 1, "ruchytrace_version": "0.1.0",
            "program": "/bin/demo", "args": ["demo"], "pid": pid, "arch": "x86_64",
            "clock": {"domain": "CLOCK_MONOTONIC", "source": "CLOCK_MONOTONIC",
                      "realtime_ns": realtime, "monotonic_ns": MONO},
            "options": {"follow_forks": true, "filter": null, "strsize": 32}, "images": []},
        "events": events,
        "end": {"complete": true, "events": n}
    })
}

pub fn write_sys(doc: &Json, path: &Path) {
    std::fs::write(path, serde_json::to_vec(doc).unwrap()).unwrap();
}

/// Writes a `sys.json` document in the tracer's streaming line layout (version 2: a metadata
/// line, one event per line, the end record), the layout a merge indexes in place.
pub fn write_sys_lines(doc: &Json, path: &Path) {
    let mut meta = doc["metadata"].clone();
    meta["version"] = json!(2);
    let events: Vec<String> = doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(Json::to_string)
        .collect();
    let mut text = format!("{{\"metadata\":{meta},\n\"events\":[\n");
    text.push_str(&events.join(",\n"));
    if !events.is_empty() {
        text.push('\n');
    }
    text.push_str(&format!("],\n\"end\":{}}}\n", doc["end"]));
    std::fs::write(path, text).unwrap();
}

/// (pid, tid).
type Track = (u64, u64);
/// (start, end, name) of a slice that may still contain later ones.
type OpenSlice = (f64, f64, String);

/// Validates Chrome trace event JSON: every event well-formed, `X` slices with non-negative
/// `dur`, slices properly nested per (pid, tid) track once ordered as the viewers order them
/// (by `ts`, the longer first: complete events may come in any order), a `thread_name` for
/// every track and a `process_name` for every process, every name event before the first
/// slice, syscall slices in category `syscall`. Returns the number of `X` slices.
pub fn validate_chrome(doc: &Json) -> usize {
    let events = doc["traceEvents"].as_array().expect("traceEvents array");
    let mut by_track: BTreeMap<Track, Vec<(f64, f64, &Json)>> = BTreeMap::new();
    let mut named_threads = BTreeSet::new();
    let mut named_procs = BTreeSet::new();
    let mut tracks = BTreeSet::new();
    let mut slices = 0;
    for e in events {
        let ph = e["ph"].as_str().expect("ph");
        let pid = e["pid"].as_u64().expect("pid");
        let tid = e["tid"].as_u64().expect("tid");
        assert!(e["name"].is_string(), "name: {e}");
        match ph {
            "M" => {
                assert!(
                    slices == 0 && tracks.is_empty(),
                    "name event after a slice: {e}"
                );
                match e["name"].as_str().unwrap() {
                    "thread_name" => {
                        assert!(e["args"]["name"].is_string(), "{e}");
                        named_threads.insert((pid, tid));
                    }
                    "process_name" => {
                        assert!(e["args"]["name"].is_string(), "{e}");
                        named_procs.insert(pid);
                    }
                    other => panic!("unexpected metadata event {other}"),
                }
            }
            "X" | "i" => {
                let ts = e["ts"].as_f64().expect("ts");
                assert!(ts >= 0.0, "{e}");
                let key = (pid, tid);
                tracks.insert(key);
                let cat = e["cat"].as_str().expect("cat");
                let dur = if ph == "X" {
                    slices += 1;
                    let dur = e["dur"].as_f64().expect("dur");
                    assert!(dur >= 0.0, "{e}");
                    assert!(cat == "function" || cat == "syscall", "{e}");
                    dur
                } else {
                    -1.0
                };
                by_track.entry(key).or_default().push((ts, dur, e));
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    for list in by_track.values_mut() {
        list.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut stack: Vec<OpenSlice> = Vec::new();
        for &(ts, dur, e) in list.iter().filter(|x| x.1 >= 0.0) {
            // Each slice must fit inside the innermost open one, or start after it ended:
            // slices on a track never partially overlap.
            while let Some((s, end, name)) = stack.last() {
                if ts + dur <= end + 1e-6 {
                    assert!(ts >= *s, "slice {e} starts before its parent {name}");
                    break;
                }
                assert!(
                    *end <= ts + 1e-6,
                    "slice {e} overlaps {name} ({s}..{end}) without nesting"
                );
                stack.pop();
            }
            stack.push((ts, ts + dur, e["name"].as_str().unwrap().to_string()));
        }
    }
    for t in &tracks {
        assert!(named_threads.contains(t), "track {t:?} has no thread_name");
        assert!(
            named_procs.contains(&t.0),
            "process {} has no process_name",
            t.0
        );
    }
    slices
}

/// [`fn_trace`] plus site 2, `async fn job(n: i64) -> i64`, times 20 us later: future 7 polled
/// on thread 100 from 21000 to 21500 ns (suspended), then on thread 101 from 24000 to 25000
/// (returns 204); loss records of 3 events (thread 100, 21800) and 2 (thread 101, 26000).
pub fn async_trace() -> Trace {
    let mut t = fn_trace();
    t.sites.push(Site {
        id: 2,
        name: "job".into(),
        qualified_name: "demo::job".into(),
        location: Location {
            file: "src/main.rs".into(),
            line: 30,
            column: 1,
        },
        args: vec![ArgInfo {
            name: "n".into(),
            type_name: "i64".into(),
        }],
        return_type: "i64".into(),
        kind: SiteKind::Async,
    });
    let at = |ns: u64| MONO + 20_000 + ns;
    t.events.extend([
        Event::Enter {
            site: 2,
            ts: at(1000),
            pid: PID,
            tid: 100,
            args: vec![Value::I64(5)],
            call_id: Some(7),
        },
        Event::Suspend {
            site: 2,
            ts: at(1500),
            pid: PID,
            tid: 100,
            call_id: 7,
        },
        Event::Loss {
            ts: at(1800),
            pid: PID,
            tid: 100,
            count: 3,
            reason: LossReason::BufferFull,
        },
        Event::Resume {
            site: 2,
            ts: at(4000),
            pid: PID,
            tid: 101,
            call_id: 7,
        },
        Event::Exit {
            site: 2,
            ts: at(5000),
            pid: PID,
            tid: 101,
            ret: Return::Value(Value::I64(204)),
            call_id: Some(7),
        },
        Event::Loss {
            ts: at(6000),
            pid: PID,
            tid: 101,
            count: 2,
            reason: LossReason::Evicted,
        },
    ]);
    t.trailer = Some(Trailer {
        events: t.events.len() as u64,
        lost: 5,
        end_ns: at(7000),
    });
    t
}

/// A Python that can import `modules`: `target/pyenv` (made by `setup-python.sh`), else
/// `python3`. `None` (after saying so on stderr) when there is none; under `CI` a missing
/// Python package is a failure, not a skip.
pub fn python_with(modules: &[&str]) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let candidates = [
        target.join("pyenv/bin/python"),
        std::path::PathBuf::from("python3"),
    ];
    let probe = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    for py in candidates {
        let ok = std::process::Command::new(&py)
            .args(["-c", &probe])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py);
        }
    }
    let msg = format!(
        "SKIPPED: no Python with {modules:?}; run `bash tests/merge_support/setup-python.sh`"
    );
    assert!(std::env::var_os("CI").is_none(), "{msg} (CI must have it)");
    eprintln!("{msg}");
    None
}

/// Decodes a `.pftrace` with Perfetto's own message types (`perfetto_decode.py`); `None` when
/// the Python packages are missing (see [`python_with`]).
pub fn decode_perfetto(path: &Path) -> Option<Json> {
    let py = python_with(&["perfetto.protos.perfetto.trace.perfetto_trace_pb2"])?;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/merge_support/perfetto_decode.py");
    let out = std::process::Command::new(py)
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Perfetto decoder failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// Parses an OTLP/JSON file with OpenTelemetry's message types (`otlp_check.py`); `None` when
/// the Python packages are missing (see [`python_with`]).
pub fn check_otlp(path: &Path) -> Option<Json> {
    let py = python_with(&[
        "google.protobuf.json_format",
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
    ])?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/merge_support/otlp_check.py");
    let out = std::process::Command::new(py)
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the OTLP parser refused the file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}
