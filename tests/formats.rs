//! Function-trace formats end to end: JSON output checked against the published JSON Schema,
//! the exact text output, and `ruchytrace convert` on good, truncated and malformed inputs.

#[path = "support/schema.rs"]
mod schema;
#[path = "support/sys.rs"]
mod support;

use ruchytrace::cli::convert::{self, ConvertArgs};
use ruchytrace_runtime::format::{
    self, binary::BinaryWriter, json::JsonWriter, text::TextWriter, Format, Nesting, SiteTable,
    TraceWriter,
};
use ruchytrace_runtime::model::*;
use schema::Validator;
use serde_json::Value as Json;
use std::path::Path;

// ---------------------------------------------------------------------------------------------
// Fixtures

fn metadata() -> Metadata {
    Metadata {
        format: FN_TRACE_FORMAT.into(),
        version: SCHEMA_VERSION,
        ruchytrace_version: "0.1.0".into(),
        program: "/tmp/fibonacci".into(),
        args: vec!["fibonacci".into()],
        pid: 4242,
        collector_tid: Some(4244),
        clock: ClockInfo {
            domain: "CLOCK_MONOTONIC".into(),
            source: "CLOCK_MONOTONIC".into(),
            realtime_ns: 1_761_761_183_000_000_000,
            monotonic_ns: 1_000_000_000,
            tsc_hz: None,
        },
        settings: RecordSettings {
            sample: 1,
            filter: None,
            overflow: "block".into(),
            buffer_bytes: 1 << 20,
            strsize: 64,
            max_items: 16,
        },
    }
}

fn site(
    id: u32,
    name: &str,
    file: &str,
    line: u32,
    col: u32,
    args: &[(&str, &str)],
    ret: &str,
) -> Site {
    Site {
        id,
        name: name.into(),
        qualified_name: format!("demo::{name}"),
        location: Location {
            file: file.into(),
            line,
            column: col,
        },
        args: args
            .iter()
            .map(|(n, t)| ArgInfo {
                name: (*n).into(),
                type_name: (*t).into(),
            })
            .collect(),
        return_type: ret.into(),
        kind: if name == "fetch" {
            SiteKind::Async
        } else {
            SiteKind::Fn
        },
    }
}

fn sites() -> Vec<Site> {
    vec![
        site(
            0,
            "fibonacci",
            "examples/fibonacci.rs",
            3,
            1,
            &[("n", "u64")],
            "u64",
        ),
        site(
            1,
            "greet",
            "src/lib.rs",
            10,
            5,
            &[("name", "&str"), ("opt", "Option<i32>")],
            "()",
        ),
        site(2, "fail", "src/lib.rs", 20, 1, &[], "()"),
        site(
            3,
            "fetch",
            "src/net.rs",
            1,
            1,
            &[("url", "String")],
            "Result<String, String>",
        ),
        site(
            4,
            "shapes",
            "src/lib.rs",
            30,
            1,
            &[("u", "User"), ("v", "Vec<f64>"), ("t", "(i128, char)")],
            "u128",
        ),
    ]
}

/// `[1761761183.<micros>]` in the text output is monotonic `1_000_000_000 + micros * 1000`.
fn us(micros: u64) -> u64 {
    1_000_000_000 + micros * 1000
}

fn s(v: &str) -> Value {
    Value::Str {
        text: v.into(),
        truncated_from: None,
    }
}

fn events() -> Vec<Event> {
    let (p, w) = (4242, 4243);
    vec![
        Event::Enter {
            site: 0,
            ts: us(405_413),
            pid: p,
            tid: p,
            args: vec![Value::U64(2)],
            call_id: None,
        },
        Event::Enter {
            site: 0,
            ts: us(405_420),
            pid: p,
            tid: p,
            args: vec![Value::U64(1)],
            call_id: None,
        },
        Event::Exit {
            site: 0,
            ts: us(405_431),
            pid: p,
            tid: p,
            ret: Return::Value(Value::U64(1)),
            call_id: None,
        },
        Event::Instant {
            ts: us(405_432),
            pid: p,
            tid: p,
            category: Category::Custom,
            name: "checkpoint".into(),
            detail: "x=1".into(),
        },
        Event::Exit {
            site: 0,
            ts: us(405_439),
            pid: p,
            tid: p,
            ret: Return::Value(Value::U64(1)),
            call_id: None,
        },
        Event::Thread {
            ts: us(405_500),
            pid: p,
            tid: w,
            name: Some("worker-1".into()),
        },
        Event::Enter {
            site: 1,
            ts: us(405_510),
            pid: p,
            tid: w,
            args: vec![s("Alice"), Value::Some(Box::new(Value::I32(3)))],
            call_id: None,
        },
        Event::Enter {
            site: 2,
            ts: us(405_520),
            pid: p,
            tid: w,
            args: vec![],
            call_id: None,
        },
        Event::Exit {
            site: 2,
            ts: us(405_530),
            pid: p,
            tid: w,
            ret: Return::Panic {
                message: Some("boom".into()),
            },
            call_id: None,
        },
        Event::Exit {
            site: 1,
            ts: us(405_540),
            pid: p,
            tid: w,
            ret: Return::Value(Value::Unit),
            call_id: None,
        },
        Event::Loss {
            ts: us(405_550),
            pid: p,
            tid: w,
            count: 123,
            reason: LossReason::BufferFull,
        },
        Event::Stall {
            ts: us(405_560),
            pid: p,
            tid: p,
            waited_ns: 1_200_000,
        },
        Event::Enter {
            site: 3,
            ts: us(405_570),
            pid: p,
            tid: p,
            args: vec![s("http://x")],
            call_id: Some(1),
        },
        Event::Suspend {
            site: 3,
            ts: us(405_580),
            pid: p,
            tid: p,
            call_id: 1,
        },
        Event::Resume {
            site: 3,
            ts: us(405_590),
            pid: p,
            tid: w,
            call_id: 1,
        },
        Event::Exit {
            site: 3,
            ts: us(406_590),
            pid: p,
            tid: w,
            ret: Return::Value(Value::Err(Box::new(s("404")))),
            call_id: Some(1),
        },
        Event::Enter {
            site: 4,
            ts: us(406_600),
            pid: p,
            tid: p,
            args: vec![
                Value::Struct {
                    name: "User".into(),
                    fields: vec![
                        ("id".into(), Value::U32(42)),
                        (
                            "name".into(),
                            Value::Str {
                                text: "Ali".into(),
                                truncated_from: Some(5),
                            },
                        ),
                    ],
                },
                Value::Seq {
                    len: 10,
                    items: vec![Value::F64(1.5), Value::F64(f64::NAN)],
                },
                Value::Tuple(vec![Value::I128(-(1 << 80)), Value::Char('x')]),
            ],
            call_id: None,
        },
        Event::Exit {
            site: 4,
            ts: us(406_610),
            pid: p,
            tid: p,
            ret: Return::NotCaptured,
            call_id: None,
        },
        Event::Enter {
            site: 4,
            ts: us(406_620),
            pid: p,
            tid: p,
            args: vec![
                Value::Opaque("User".into()),
                Value::Debug {
                    text: "[..]".into(),
                    truncated_from: None,
                },
                Value::Tuple(vec![]),
            ],
            call_id: None,
        },
        Event::Exit {
            site: 4,
            ts: us(406_630),
            pid: p,
            tid: p,
            ret: Return::Value(Value::U128(u128::MAX)),
            call_id: None,
        },
    ]
}

fn trailer() -> Trailer {
    Trailer {
        events: events().len() as u64,
        lost: 123,
        end_ns: us(406_700),
    }
}

/// Feeds the fixture to a writer the way the collector does: sites before first use, contexts
/// from `Nesting`.
fn feed(w: &mut dyn TraceWriter, evs: &[Event]) {
    let all = sites();
    let table = SiteTable::from_sites(&all);
    let mut declared = SiteTable::new();
    let mut nesting = Nesting::new();
    w.begin(&metadata()).unwrap();
    for ev in evs {
        if let Event::Enter { site, .. } = ev {
            if !declared.contains(*site) {
                let s = table.get(*site).unwrap();
                w.site(s).unwrap();
                declared.insert(s.clone());
            }
        }
        let ctx = nesting.observe(ev, &table);
        w.event(ev, &ctx).unwrap();
    }
}

fn text_of(evs: &[Event], close: bool) -> String {
    let mut w = TextWriter::new(Vec::new());
    feed(&mut w, evs);
    if close {
        w.finish(&trailer()).unwrap();
    }
    String::from_utf8(w.into_inner()).unwrap()
}

fn json_bytes() -> Vec<u8> {
    let mut w = JsonWriter::new(Vec::new());
    feed(&mut w, &events());
    w.finish(&trailer()).unwrap();
    w.into_inner()
}

fn binary_bytes() -> Vec<u8> {
    let mut w = BinaryWriter::new(Vec::new());
    feed(&mut w, &events());
    w.finish(&trailer()).unwrap();
    w.into_inner()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn json_output_matches_the_schema() {
    let doc: Json = serde_json::from_slice(&json_bytes()).unwrap();
    let errs = Validator::load("fn-trace.schema.json").errors(&doc);
    assert!(errs.is_empty(), "{errs:#?}");
    // The shapes the issue spells out.
    let enter = &doc["events"][0];
    assert_eq!(enter["type"], "function_enter");
    assert_eq!(enter["name"], "fibonacci");
    assert_eq!(enter["args"][0]["name"], "n");
    assert_eq!(enter["args"][0]["type_info"]["name"], "u64");
    assert_eq!(enter["args"][0]["value"], 2);
    assert_eq!(enter["location"]["file"], "examples/fibonacci.rs");
    assert_eq!(enter["pid"], 4242);
    let exit = &doc["events"][4];
    assert_eq!(exit["type"], "function_exit");
    assert_eq!(exit["return"]["value"], 1);
    assert_eq!(exit["duration_ns"], 26_000);
    assert_eq!(exit["depth"], 0);
    assert_eq!(doc["events"][8]["panic"]["message"], "boom");
    assert_eq!(doc["events"][8]["error"], true);
    assert_eq!(doc["events"][15]["error"], true);
    assert_eq!(doc["events"][15]["call_id"], 1);
    assert_eq!(doc["end"]["complete"], true);
    assert_eq!(doc["metadata"]["version"], 1);
}

#[test]
fn schema_rejects_broken_documents() {
    let v = Validator::load("fn-trace.schema.json");
    let doc: Json = serde_json::from_slice(&json_bytes()).unwrap();
    type Mutation = Box<dyn Fn(&mut Json)>;
    let mutations: Vec<(&str, Mutation)> = vec![
        (
            "missing pid",
            Box::new(|d| {
                d["events"][0].as_object_mut().unwrap().remove("pid");
            }),
        ),
        (
            "unknown event type",
            Box::new(|d| d["events"][3]["type"] = "mystery".into()),
        ),
        (
            "value of the wrong kind",
            Box::new(|d| d["events"][0]["args"][0]["value"] = "two".into()),
        ),
        (
            "u8 out of range",
            Box::new(|d| {
                d["events"][0]["args"][0]["type_info"]["kind"] = "u8".into();
                d["events"][0]["args"][0]["value"] = 256.into();
            }),
        ),
        (
            "extra member",
            Box::new(|d| d["end"]["surprise"] = true.into()),
        ),
        (
            "bad overflow policy",
            Box::new(|d| d["metadata"]["settings"]["overflow"] = "maybe".into()),
        ),
        (
            "future version",
            Box::new(|d| d["metadata"]["version"] = 2.into()),
        ),
    ];
    for (what, mutate) in mutations {
        let mut d = doc.clone();
        mutate(&mut d);
        assert!(!v.errors(&d).is_empty(), "schema accepted: {what}");
    }
}

#[test]
fn converted_and_incomplete_json_matches_the_schema() {
    let bytes = binary_bytes();
    let cut = &bytes[..bytes.len() - 30];
    let trace = format::read_trace_from(cut).unwrap();
    assert!(trace.truncation.is_some());
    let mut w = JsonWriter::new(Vec::new());
    format::write_trace(&trace, &mut w).unwrap();
    let out = w.into_inner();
    let doc: Json = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        Validator::load("fn-trace.schema.json").errors(&doc),
        Vec::<String>::new()
    );
    assert_eq!(doc["end"]["complete"], false);
    assert!(doc["end"]["truncation"]
        .as_str()
        .unwrap()
        .starts_with("truncated at byte "));
    // Reading the converted file still reports the truncation.
    let again = format::read_trace_from(&out).unwrap();
    assert_eq!(again.truncation, trace.truncation);
    assert!(!again.is_complete());
}

const GOLDEN: &str = r#"# ruchytrace function trace v1: /tmp/fibonacci (pid 4242), clock CLOCK_MONOTONIC
[1761761183.405413] -> fibonacci(n=2) <examples/fibonacci.rs:3:1>
[1761761183.405420]   -> fibonacci(n=1) <examples/fibonacci.rs:3:1>
[1761761183.405431]   <- fibonacci() = 1 [11.000us]
[1761761183.405432]   ** custom checkpoint: x=1
[1761761183.405439] <- fibonacci() = 1 [26.000us]
[1761761183.405500] [tid 4243] ++ thread 4243 "worker-1"
[1761761183.405510] [tid 4243] -> greet(name="Alice", opt=Some(3)) <src/lib.rs:10:5>
[1761761183.405520] [tid 4243]   -> fail() <src/lib.rs:20:1>
[1761761183.405530] [tid 4243]   <- fail() = <panic: "boom"> [10.000us]
[1761761183.405540] [tid 4243] <- greet() [30.000us]
[1761761183.405550] [tid 4243] !! 123 events lost (buffer full)
[1761761183.405560] !! stalled 1.200ms waiting for buffer space
[1761761183.405570] -> fetch(url="http://x") <src/net.rs:1:1>
[1761761183.405580] <~ fetch() suspended
[1761761183.405590] [tid 4243] ~> fetch() resumed
[1761761183.406590] [tid 4243] <- fetch() = Err("404") [1.020ms]
[1761761183.406600] -> shapes(u=User { id: 42, name: "Ali"... }, v=[1.5, NaN, ...(10)], t=(-1208925819614629174706176, 'x')) <src/lib.rs:30:1>
[1761761183.406610] <- shapes() [10.000us]
[1761761183.406620] -> shapes(u=<User>, v=[..], t=()) <src/lib.rs:30:1>
[1761761183.406630] <- shapes() = 340282366920938463463374607431768211455 [10.000us]
# end: 20 events, 123 lost
"#;

#[test]
fn text_output_is_exact() {
    assert_eq!(text_of(&events(), true), GOLDEN);
}

#[test]
fn text_from_converted_binary_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("t.rtrace");
    std::fs::write(&input, binary_bytes()).unwrap();
    let out = dir.path().join("t.txt");
    let code = convert::run(ConvertArgs {
        input: input.clone(),
        output: Some(out.clone()),
        format: None,
    })
    .unwrap();
    assert_eq!(code, 0);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), GOLDEN);
}

fn convert_args(input: &Path, output: &Path, format: Option<&str>) -> ConvertArgs {
    ConvertArgs {
        input: input.to_owned(),
        output: Some(output.to_owned()),
        format: format.map(str::to_owned),
    }
}

#[test]
fn convert_round_trips_binary_json_binary() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("a.rtrace");
    std::fs::write(&bin, binary_bytes()).unwrap();
    let json = dir.path().join("a.json");
    assert_eq!(convert::run(convert_args(&bin, &json, None)).unwrap(), 0);
    let bin2 = dir.path().join("b.data");
    assert_eq!(
        convert::run(convert_args(&json, &bin2, Some("binary"))).unwrap(),
        0
    );
    let original = format::read_trace(&bin).unwrap();
    let via_json = format::read_trace(&json).unwrap();
    let back = format::read_trace(&bin2).unwrap();
    assert!(original.is_complete());
    // NaN != NaN, so compare the debug text of the events.
    assert_eq!(
        format!("{:?}", via_json.events),
        format!("{:?}", original.events)
    );
    assert_eq!(format!("{:?}", back), format!("{:?}", original));
    assert_eq!(original.sites, sites());
}

#[test]
fn convert_truncated_input_keeps_the_prefix_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = binary_bytes();
    let cut = dir.path().join("cut.rtrace");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    let out = dir.path().join("cut.txt");
    assert_eq!(convert::run(convert_args(&cut, &out, None)).unwrap(), 0);
    let text = std::fs::read_to_string(&out).unwrap();
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("# INCOMPLETE: truncated at byte "),
        "{last}"
    );
    // Every line but the closing one is a line of the complete output.
    let kept: Vec<&str> = text.lines().collect();
    let golden: Vec<&str> = GOLDEN.lines().collect();
    assert_eq!(&kept[..kept.len() - 1], &golden[..kept.len() - 1]);
    assert!(kept.len() > 10);
    // The warning names the file, the byte and the count.
    let summary = format::convert(&cut, Format::Json, || Ok(Box::new(std::io::sink()))).unwrap();
    let warning = convert::truncation_warning(&cut, &summary).unwrap();
    assert!(
        warning.starts_with(&format!("warning: {} is truncated at byte ", cut.display())),
        "{warning}"
    );
    assert!(
        warning.ends_with(&format!("; {} events kept", kept.len() - 2)),
        "{warning}"
    );
}

#[test]
fn convert_rejects_malformed_input_without_creating_output() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rtrace");
    std::fs::write(&bad, b"this is not a trace").unwrap();
    let out = dir.path().join("out.json");
    let err = convert::run(convert_args(&bad, &out, None))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: not a ruchytrace trace (neither the binary magic nor a JSON object) at byte 0",
            bad.display()
        )
    );
    assert!(!out.exists());
    // Damaged JSON that is not in the streaming layout: the parser's position.
    std::fs::write(&bad, b"{\"metadata\": {\"format\": 12}, ]").unwrap();
    let err = convert::run(convert_args(&bad, &out, None))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "{}: invalid JSON: key must be a string at byte 29",
            bad.display()
        )
    );
    // Missing input and unknown output format.
    assert!(convert::run(convert_args(&dir.path().join("nope"), &out, None)).is_err());
    assert!(convert::run(convert_args(&bad, &dir.path().join("x.dat"), None)).is_err());
}

/// The real binary (built on first use): checks the exit statuses and messages end to end.
#[test]
fn convert_command_line_exit_statuses() {
    let bin = support::ruchytrace();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.rtrace");
    std::fs::write(&good, binary_bytes()).unwrap();
    let out = std::process::Command::new(bin)
        .arg("convert")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), GOLDEN);
    let bad = dir.path().join("bad.rtrace");
    std::fs::write(&bad, b"\x00\x01garbage").unwrap();
    let out = std::process::Command::new(bin)
        .arg("convert")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with(&format!("ruchytrace: {}: ", bad.display())),
        "{stderr}"
    );
    assert!(stderr.trim_end().ends_with("at byte 0"), "{stderr}");
    let bytes = binary_bytes();
    let cut = dir.path().join("cut.rtrace");
    std::fs::write(&cut, &bytes[..bytes.len() - 40]).unwrap();
    let json = dir.path().join("cut.json");
    let out = std::process::Command::new(bin)
        .args([
            "convert".as_ref(),
            cut.as_os_str(),
            "-o".as_ref(),
            json.as_os_str(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("is truncated at byte") && stderr.contains("events kept"),
        "{stderr}"
    );
}

/// One value of every kind, at the top level and nested in every container.
fn every_kind() -> Vec<Value> {
    let leaves = vec![
        Value::Unit,
        Value::Bool(false),
        Value::Char('🦀'),
        Value::I8(i8::MIN),
        Value::I16(i16::MAX),
        Value::I32(-7),
        Value::I64(i64::MIN),
        Value::I128(i128::MAX),
        Value::I128(12),
        Value::U8(255),
        Value::U16(65535),
        Value::U32(u32::MAX),
        Value::U64(u64::MAX),
        Value::U128(u128::MAX),
        Value::U128(3),
        Value::F32(f32::MIN_POSITIVE),
        Value::F64(f64::NAN),
        Value::F64(f64::NEG_INFINITY),
        Value::F64(-0.0),
        Value::Str {
            text: "a\"b\\c\n\u{1}".into(),
            truncated_from: None,
        },
        Value::Str {
            text: "abc".into(),
            truncated_from: Some(300),
        },
        Value::Debug {
            text: "Point { x: 1 }".into(),
            truncated_from: None,
        },
        Value::Debug {
            text: "Big".into(),
            truncated_from: Some(9000),
        },
        Value::Opaque("std::fs::File".into()),
        Value::None,
    ];
    let mut all = leaves.clone();
    for leaf in &leaves {
        all.push(Value::Some(Box::new(leaf.clone())));
        all.push(Value::Ok(Box::new(leaf.clone())));
        all.push(Value::Err(Box::new(leaf.clone())));
    }
    all.push(Value::Tuple(leaves.clone()));
    all.push(Value::Tuple(vec![]));
    all.push(Value::Seq {
        len: 1000,
        items: leaves.clone(),
    });
    all.push(Value::Struct {
        name: "Shape::Circle".into(),
        fields: leaves
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v.clone()))
            .collect(),
    });
    all.push(Value::Struct {
        name: "Unit".into(),
        fields: vec![],
    });
    all.push(Value::Some(Box::new(Value::Seq {
        len: 2,
        items: vec![
            Value::Tuple(vec![Value::Ok(Box::new(Value::None))]),
            Value::Unit,
        ],
    })));
    all
}

#[test]
fn every_value_kind_matches_the_schema_and_round_trips() {
    let values = every_kind();
    let generic = Site {
        id: 0,
        name: "take".into(),
        qualified_name: "demo::take".into(),
        location: Location {
            file: "src/lib.rs".into(),
            line: 1,
            column: 1,
        },
        args: vec![ArgInfo {
            name: "x".into(),
            type_name: "T".into(),
        }],
        return_type: "T".into(),
        kind: SiteKind::Fn,
    };
    let table = SiteTable::from_sites([&generic]);
    let mut w = JsonWriter::new(Vec::new());
    w.begin(&metadata()).unwrap();
    w.site(&generic).unwrap();
    let mut nesting = Nesting::new();
    let mut evs = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let ts = 2_000_000_000 + i as u64 * 10;
        evs.push(Event::Enter {
            site: 0,
            ts,
            pid: 1,
            tid: 1,
            args: vec![v.clone()],
            call_id: None,
        });
        evs.push(Event::Exit {
            site: 0,
            ts: ts + 5,
            pid: 1,
            tid: 1,
            ret: Return::Value(v.clone()),
            call_id: None,
        });
    }
    for ev in &evs {
        let ctx = nesting.observe(ev, &table);
        w.event(ev, &ctx).unwrap();
    }
    w.finish(&Trailer {
        events: evs.len() as u64,
        lost: 0,
        end_ns: 3_000_000_000,
    })
    .unwrap();
    let bytes = w.into_inner();
    let doc: Json = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        Validator::load("fn-trace.schema.json").errors(&doc),
        Vec::<String>::new()
    );
    let back = format::read_trace_from(&bytes).unwrap();
    // NaN != NaN: compare the debug text (NaN prints the same).
    assert_eq!(format!("{:?}", back.events), format!("{evs:?}"));
}
