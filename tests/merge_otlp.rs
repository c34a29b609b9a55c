//! `--format otlp-json` parsed by OpenTelemetry's own message types (the `opentelemetry-proto`
//! Python package, google.protobuf.json_format): one trace per process, a span per call under
//! its caller, arguments and return as attributes, error status on `Err` and panics, system
//! calls as span events or (`--otlp-syscall-spans`) child spans, times in Unix nanoseconds.

mod merge_support;
#[path = "support/sys.rs"]
mod support;

use std::process::Command;

use merge_support::*;
use ruchytrace_runtime::format::Format;
use ruchytrace_runtime::model::{Event, Return, Trailer, Value};
use serde_json::Value as Json;

/// [`fn_trace`] with thread 101's `load()` returning `Err("404")` and a panicking `load()` on
/// thread 101 at 3000..3100.
fn trace() -> ruchytrace_runtime::model::Trace {
    let mut t = fn_trace();
    for ev in &mut t.events {
        if let Event::Exit { tid: 101, ret, .. } = ev {
            *ret = Return::Value(Value::Err(Box::new(Value::Str {
                text: "404".into(),
                truncated_from: None,
            })));
        }
    }
    t.events.push(enter(1, 3000, 101, vec![]));
    t.events.push(Event::Exit {
        site: 1,
        ts: MONO + 3100,
        pid: PID,
        tid: 101,
        ret: Return::Panic {
            message: Some("boom".into()),
        },
        call_id: None,
    });
    t.trailer = Some(Trailer {
        events: t.events.len() as u64,
        lost: 0,
        end_ns: MONO + 10_000,
    });
    t
}

fn export(extra: &[&str]) -> Option<Json> {
    let dir = tempfile::tempdir().unwrap();
    let fn_path = dir.path().join("fn.rtrace");
    let sys_path = dir.path().join("sys.json");
    write_fn(&trace(), &fn_path, Format::Binary);
    write_sys(&sys_doc(PID, REALTIME, default_syscalls()), &sys_path);
    let out = dir.path().join("trace.otlp.json");
    let res = Command::new(support::ruchytrace())
        .arg("merge")
        .args([&fn_path, &sys_path])
        .arg("-o")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        res.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let doc = check_otlp(&out)?;
    assert_eq!(doc["errors"], Json::Array(vec![]), "{:#}", doc["errors"]);
    Some(doc)
}

fn span<'a>(spans: &'a [Json], name: &str, start_after_mono: u64) -> &'a Json {
    spans
        .iter()
        .find(|s| s["name"] == name && s["start"] == REALTIME + start_after_mono)
        .unwrap_or_else(|| panic!("span {name} at {start_after_mono}"))
}

#[test]
fn spans_events_and_status() {
    let Some(doc) = export(&[]) else { return };
    let resources = doc["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1, "one process");
    let r = &resources[0];
    assert_eq!(r["resource"]["service.name"], "demo");
    assert_eq!(r["resource"]["process.pid"], 100);
    let spans = r["spans"].as_array().unwrap();
    // Two thread spans, compute, load (main), load and the panicking load (worker).
    assert_eq!(spans.len(), 6, "{spans:#?}");
    let compute = span(spans, "compute", 2000);
    assert_eq!(
        compute["end"],
        REALTIME + 9000,
        "Unix ns from the clock pair"
    );
    assert_eq!(compute["attributes"]["arg.x"], 42);
    assert_eq!(compute["attributes"]["arg.y"], 100);
    assert_eq!(compute["attributes"]["return"], 4255);
    assert_eq!(compute["attributes"]["code.function"], "demo::compute");
    assert_eq!(compute["attributes"]["code.lineno"], 10);
    assert_eq!(compute["status"]["code"], 0);
    let main = spans.iter().find(|s| s["name"] == "thread main").unwrap();
    assert_eq!(compute["parent"], main["id"]);
    assert!(main["parent"].is_null());
    // openat is an event of compute, read of load, the top-level write of the thread span.
    let names = |s: &Json| -> Vec<String> {
        s["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(compute), ["openat"]);
    assert_eq!(compute["events"][0]["attributes"]["syscall.return"], "3");
    assert_eq!(
        compute["events"][0]["attributes"]["syscall.duration_ns"],
        800
    );
    let load = span(spans, "load", 3000);
    assert_eq!(load["parent"], compute["id"]);
    assert_eq!(names(load), ["read"]);
    assert_eq!(names(main), ["write"]);
    // Errors: an `Err` return and a panic.
    let err = span(spans, "load", 2500);
    assert_eq!(err["status"]["code"], 2);
    assert_eq!(err["status"]["message"], "Err(\"404\")");
    assert_eq!(names(err), ["getpid"]);
    let panic = spans
        .iter()
        .find(|s| s["name"] == "load" && s["status"]["message"] == "panic: boom")
        .unwrap();
    assert_eq!(panic["status"]["code"], 2);
    // One trace for the process: every span shares the thread spans' trace (checked by the
    // parser), and distinct span ids.
    let mut ids: Vec<&str> = spans.iter().map(|s| s["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), spans.len());
}

#[test]
fn syscalls_as_child_spans() {
    let Some(doc) = export(&["--otlp-syscall-spans"]) else {
        return;
    };
    let spans = doc["resources"][0]["spans"].as_array().unwrap();
    assert_eq!(
        spans.len(),
        10,
        "6 call and thread spans + 4 syscalls (the collector thread is hidden)"
    );
    let compute = span(spans, "compute", 2000);
    let openat = span(spans, "openat", 2100);
    assert_eq!(openat["parent"], compute["id"]);
    assert_eq!(openat["kind"], 3, "SPAN_KIND_CLIENT");
    assert_eq!(openat["end"], REALTIME + 2900);
    assert_eq!(
        openat["attributes"]["syscall.args"],
        "AT_FDCWD, \"/etc/passwd\", O_RDONLY"
    );
    assert!(compute["events"].as_array().unwrap().is_empty());
}
