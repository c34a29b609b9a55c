//! Unit tests of the formats: value round trips, whole-trace round trips, truncation and damage,
//! nesting.

use super::binary::{self, BinaryWriter};
use super::json::JsonWriter;
use super::value_json::{node_to_value, to_node_string};
use super::*;
use crate::model::*;

/// Deterministic xorshift generator (no dependency, same sequence on every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn string(&mut self) -> String {
        const POOL: &[&str] = &[
            "",
            "a",
            "abc",
            "héllo",
            "\"quoted\"",
            "back\\slash",
            "new\nline",
            "\t",
            "\u{0}",
            "\u{1f}",
            "日本",
            "🦀",
            "\u{7f}",
            "{\"json\":1}",
            "</script>",
        ];
        let n = self.below(4);
        (0..n)
            .map(|_| POOL[self.below(POOL.len() as u64) as usize])
            .collect()
    }
    fn f64(&mut self) -> f64 {
        match self.below(6) {
            0 => f64::from_bits(self.next()),
            1 => [
                0.0,
                -0.0,
                1.0,
                0.1,
                1e-300,
                5e-324,
                f64::MAX,
                f64::MIN_POSITIVE,
            ][self.below(8) as usize],
            2 => [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][self.below(3) as usize],
            _ => (self.next() as i64 as f64) / 1000.0,
        }
    }
    fn f32(&mut self) -> f32 {
        match self.below(4) {
            0 => f32::from_bits(self.next() as u32),
            1 => [
                0.0f32,
                -0.0,
                0.1,
                1e-45,
                f32::MAX,
                f32::MIN_POSITIVE,
                16777217.0,
            ][self.below(7) as usize],
            2 => [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][self.below(3) as usize],
            _ => (self.next() as i32 as f32) / 7.0,
        }
    }
    fn int(&mut self) -> u128 {
        match self.below(4) {
            0 => u128::from(self.below(300)),
            1 => u128::from(self.next()) << 64 | u128::from(self.next()),
            2 => [0, 1, u128::MAX, u128::MAX / 2, u128::MAX / 2 + 1][self.below(5) as usize],
            _ => u128::from(self.next()),
        }
    }

    fn value(&mut self, depth: u32) -> Value {
        let leaf = depth >= 3;
        let n = if leaf { 19 } else { 27 };
        let x = self.int();
        match self.below(n) {
            0 => Value::Unit,
            1 => Value::Bool(x & 1 == 1),
            2 => Value::Char(char::from_u32((x % 0x11_0000) as u32).unwrap_or('\u{fffd}')),
            3 => Value::I8(x as i8),
            4 => Value::I16(x as i16),
            5 => Value::I32(x as i32),
            6 => Value::I64(x as i64),
            7 => Value::I128(x as i128),
            8 => Value::U8(x as u8),
            9 => Value::U16(x as u16),
            10 => Value::U32(x as u32),
            11 => Value::U64(x as u64),
            12 => Value::U128(x),
            13 => Value::F32(self.f32()),
            14 => Value::F64(self.f64()),
            15 => Value::Str {
                text: self.string(),
                truncated_from: (x & 1 == 1).then_some(x as u64 >> 1),
            },
            16 => Value::Debug {
                text: self.string(),
                truncated_from: (x & 1 == 1).then_some(x as u64 % 1000),
            },
            17 => Value::Opaque(self.string()),
            18 => Value::None,
            19 => Value::Some(Box::new(self.value(depth + 1))),
            20 => Value::Ok(Box::new(self.value(depth + 1))),
            21 => Value::Err(Box::new(self.value(depth + 1))),
            22 => Value::Tuple((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            23 | 24 => {
                let items: Vec<_> = (0..self.below(4)).map(|_| self.value(depth + 1)).collect();
                Value::Seq {
                    len: items.len() as u64 + self.below(3) * 1000,
                    items,
                }
            }
            _ => Value::Struct {
                name: self.string(),
                fields: (0..self.below(4))
                    .map(|i| {
                        let name = if x & 1 == 1 {
                            i.to_string()
                        } else {
                            self.string()
                        };
                        (name, self.value(depth + 1))
                    })
                    .collect(),
            },
        }
    }
}

/// Equality that treats every NaN as equal to every NaN (JSON keeps no NaN payload) and
/// otherwise compares floats bit for bit (so `0.0` and `-0.0` differ).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
        (Value::Some(x), Value::Some(y))
        | (Value::Ok(x), Value::Ok(y))
        | (Value::Err(x), Value::Err(y)) => same(x, y),
        (Value::Tuple(x), Value::Tuple(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Seq { len: l1, items: x }, Value::Seq { len: l2, items: y }) => {
            l1 == l2 && x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (
            Value::Struct {
                name: n1,
                fields: f1,
            },
            Value::Struct {
                name: n2,
                fields: f2,
            },
        ) => {
            n1 == n2
                && f1.len() == f2.len()
                && f1
                    .iter()
                    .zip(f2)
                    .all(|((a, x), (b, y))| a == b && same(x, y))
        }
        _ => a == b,
    }
}

#[test]
fn value_json_round_trip_many() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for i in 0..20_000 {
        let v = rng.value(0);
        let text = to_node_string(&v);
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("#{i}: {text}: {e}"));
        let back = node_to_value(&json).unwrap_or_else(|e| panic!("#{i}: {text}: {e}"));
        assert!(same(&v, &back), "#{i}: {v:?}\n -> {text}\n -> {back:?}");
    }
}

#[test]
fn value_json_shapes_are_the_documented_ones() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::I64(5), r#"{"kind":"i64","value":5}"#),
        (Value::Unit, r#"{"kind":"unit","value":null}"#),
        (
            Value::I128(-(1i128 << 70)),
            r#"{"kind":"i128","value":"-1180591620717411303424"}"#,
        ),
        (Value::I128(-3), r#"{"kind":"i128","value":-3}"#),
        (
            Value::U128(u128::from(u64::MAX)),
            r#"{"kind":"u128","value":18446744073709551615}"#,
        ),
        (
            Value::F64(f64::NEG_INFINITY),
            r#"{"kind":"f64","value":"-inf"}"#,
        ),
        (Value::F32(0.1), r#"{"kind":"f32","value":0.1}"#),
        (Value::Char('é'), r#"{"kind":"char","value":"é"}"#),
        (
            Value::Str {
                text: "ab".into(),
                truncated_from: Some(10),
            },
            r#"{"kind":"str","value":"ab","truncated_from":10}"#,
        ),
        (Value::None, r#"{"kind":"option","value":null}"#),
        (
            Value::Some(Box::new(Value::Bool(true))),
            r#"{"kind":"option","value":{"kind":"bool","value":true}}"#,
        ),
        (
            Value::Err(Box::new(Value::Opaque("E".into()))),
            r#"{"kind":"result","value":{"err":{"kind":"opaque","value":"E"}}}"#,
        ),
        (
            Value::Seq {
                len: 9,
                items: vec![Value::U8(1)],
            },
            r#"{"kind":"seq","value":{"len":9,"items":[{"kind":"u8","value":1}]}}"#,
        ),
        (
            Value::Struct {
                name: "User".into(),
                fields: vec![("id".into(), Value::U32(7))],
            },
            r#"{"kind":"struct","value":{"name":"User","fields":[{"name":"id","kind":"u32","value":7}]}}"#,
        ),
        (
            Value::Tuple(vec![Value::I8(-1), Value::Unit]),
            r#"{"kind":"tuple","value":[{"kind":"i8","value":-1},{"kind":"unit","value":null}]}"#,
        ),
    ];
    for (v, want) in cases {
        assert_eq!(to_node_string(&v), want);
    }
}

#[test]
fn value_json_rejects_bad_nodes() {
    for bad in [
        r#"{"kind":"i8","value":300}"#,
        r#"{"kind":"u8","value":-1}"#,
        r#"{"kind":"char","value":"ab"}"#,
        r#"{"kind":"bool","value":1}"#,
        r#"{"kind":"result","value":{"ok":{"kind":"unit","value":null},"err":{"kind":"unit","value":null}}}"#,
        r#"{"kind":"nope","value":1}"#,
        r#"{"value":1}"#,
        r#"{"kind":"f64","value":"nan"}"#,
        r#"{"kind":"str","value":"x","truncated_from":-1}"#,
    ] {
        let j: serde_json::Value = serde_json::from_str(bad).unwrap();
        assert!(node_to_value(&j).is_err(), "{bad} should be rejected");
    }
}

#[test]
fn value_binary_round_trip_many() {
    let mut rng = Rng(42);
    for i in 0..20_000 {
        let v = rng.value(0);
        let mut buf = Vec::new();
        binary::encode_value(&mut buf, &v);
        let back = binary::decode_value_exact(&buf).unwrap_or_else(|| panic!("#{i}: {v:?}"));
        // The binary format keeps NaN payloads too.
        assert_eq!(format!("{v:?}"), format!("{back:?}"), "#{i}");
        assert!(same(&v, &back));
        // Every strict prefix fails to decode (values are self-delimiting).
        for cut in 0..buf.len() {
            assert!(
                binary::decode_value_exact(&buf[..cut]).is_none(),
                "#{i} cut {cut}"
            );
        }
    }
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(binary::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(binary::crc32(b""), 0);
}

pub(crate) fn metadata() -> Metadata {
    Metadata {
        format: FN_TRACE_FORMAT.into(),
        version: SCHEMA_VERSION,
        ruchytrace_version: "0.1.0".into(),
        program: "/tmp/prog".into(),
        args: vec!["prog".into(), "--x".into()],
        pid: 100,
        collector_tid: Some(102),
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

pub(crate) fn site(id: u32, name: &str, args: &[(&str, &str)], ret: &str, kind: SiteKind) -> Site {
    Site {
        id,
        name: name.into(),
        qualified_name: format!("prog::{name}"),
        location: Location {
            file: "src/main.rs".into(),
            line: 3 + id,
            column: 1,
        },
        args: args
            .iter()
            .map(|(n, t)| ArgInfo {
                name: (*n).into(),
                type_name: (*t).into(),
            })
            .collect(),
        return_type: ret.into(),
        kind,
    }
}

fn sites() -> Vec<Site> {
    vec![
        site(0, "fib", &[("n", "u64")], "u64", SiteKind::Fn),
        site(
            1,
            "fetch",
            &[("url", "&str")],
            "Result<String, Error>",
            SiteKind::Async,
        ),
        site(2, "boom", &[], "()", SiteKind::Fn),
    ]
}

/// A trace exercising every event type, two threads and an async call.
fn events() -> Vec<Event> {
    let (p, t2) = (100, 101);
    let s = |v: &str| Value::Str {
        text: v.into(),
        truncated_from: None,
    };
    vec![
        Event::Thread {
            ts: 1_000_000_000,
            pid: p,
            tid: p,
            name: Some("main".into()),
        },
        Event::Enter {
            site: 0,
            ts: 1_000_001_000,
            pid: p,
            tid: p,
            args: vec![Value::U64(2)],
            call_id: None,
        },
        Event::Enter {
            site: 0,
            ts: 1_000_001_500,
            pid: p,
            tid: p,
            args: vec![Value::U64(1)],
            call_id: None,
        },
        Event::Exit {
            site: 0,
            ts: 1_000_002_000,
            pid: p,
            tid: p,
            ret: Return::Value(Value::U64(1)),
            call_id: None,
        },
        Event::Instant {
            ts: 1_000_002_100,
            pid: p,
            tid: p,
            category: Category::Custom,
            name: "mark".into(),
            detail: "x=1".into(),
        },
        Event::Exit {
            site: 0,
            ts: 1_000_003_000,
            pid: p,
            tid: p,
            ret: Return::Value(Value::U64(1)),
            call_id: None,
        },
        Event::Thread {
            ts: 1_000_004_000,
            pid: p,
            tid: t2,
            name: None,
        },
        Event::Enter {
            site: 1,
            ts: 1_000_005_000,
            pid: p,
            tid: t2,
            args: vec![s("http://x")],
            call_id: Some(7),
        },
        Event::Suspend {
            site: 1,
            ts: 1_000_006_000,
            pid: p,
            tid: t2,
            call_id: 7,
        },
        Event::Resume {
            site: 1,
            ts: 1_000_008_000,
            pid: p,
            tid: p,
            call_id: 7,
        },
        Event::Exit {
            site: 1,
            ts: 1_000_009_000,
            pid: p,
            tid: p,
            ret: Return::Value(Value::Err(Box::new(s("404")))),
            call_id: Some(7),
        },
        Event::Enter {
            site: 2,
            ts: 1_000_010_000,
            pid: p,
            tid: t2,
            args: vec![],
            call_id: None,
        },
        Event::Exit {
            site: 2,
            ts: 1_000_011_000,
            pid: p,
            tid: t2,
            ret: Return::Panic {
                message: Some("boom".into()),
            },
            call_id: None,
        },
        Event::Loss {
            ts: 1_000_012_000,
            pid: p,
            tid: t2,
            count: 12,
            reason: LossReason::BufferFull,
        },
        Event::Stall {
            ts: 1_000_013_000,
            pid: p,
            tid: p,
            waited_ns: 1_200_000,
        },
        Event::Enter {
            site: 2,
            ts: 1_000_014_000,
            pid: p,
            tid: p,
            args: vec![],
            call_id: None,
        },
        Event::Exit {
            site: 2,
            ts: 1_000_015_000,
            pid: p,
            tid: p,
            ret: Return::NotCaptured,
            call_id: None,
        },
        Event::Enter {
            site: 1,
            ts: 1_000_016_000,
            pid: p,
            tid: p,
            args: vec![s("y")],
            call_id: Some(8),
        },
        Event::Suspend {
            site: 1,
            ts: 1_000_017_000,
            pid: p,
            tid: p,
            call_id: 8,
        },
        Event::Exit {
            site: 1,
            ts: 1_000_018_000,
            pid: p,
            tid: p,
            ret: Return::Cancelled,
            call_id: Some(8),
        },
        Event::Exit {
            site: 2,
            ts: 1_000_019_000,
            pid: p,
            tid: p,
            ret: Return::Panic { message: None },
            call_id: None,
        },
    ]
}

fn trailer(evs: &[Event]) -> Trailer {
    Trailer {
        events: evs.len() as u64,
        lost: 12,
        end_ns: 1_000_020_000,
    }
}

/// Writes the sample through `w`, flushing after every `flush_every` events.
fn write_sample(w: &mut dyn TraceWriter, flush_every: usize) {
    let sites = sites();
    let table = SiteTable::from_sites(&sites);
    let evs = events();
    w.begin(&metadata()).unwrap();
    let mut nesting = Nesting::new();
    let mut declared = std::collections::HashSet::new();
    for (i, ev) in evs.iter().enumerate() {
        let site_id = match ev {
            Event::Enter { site, .. } => Some(*site),
            _ => None,
        };
        if let Some(id) = site_id {
            if declared.insert(id) {
                w.site(table.get(id).unwrap()).unwrap();
            }
        }
        let ctx = nesting.observe(ev, &table);
        w.event(ev, &ctx).unwrap();
        if (i + 1) % flush_every == 0 {
            w.flush().unwrap();
        }
    }
    w.finish(&trailer(&evs)).unwrap();
}

fn binary_sample(flush_every: usize) -> Vec<u8> {
    let mut w = BinaryWriter::new(Vec::new());
    write_sample(&mut w, flush_every);
    w.into_inner()
}

fn json_sample() -> Vec<u8> {
    let mut w = JsonWriter::new(Vec::new());
    write_sample(&mut w, 1000);
    w.into_inner()
}

fn assert_whole(trace: &Trace) {
    assert_eq!(trace.metadata, metadata());
    assert_eq!(trace.sites, sites());
    assert_eq!(trace.events, events());
    assert_eq!(trace.trailer, Some(trailer(&events())));
    assert_eq!(trace.truncation, None);
    assert!(trace.is_complete());
}

#[test]
fn binary_round_trip() {
    for flush_every in [1, 4, 1000] {
        let bytes = binary_sample(flush_every);
        assert_whole(&read_trace_from(&bytes).unwrap());
    }
}

#[test]
fn json_round_trip() {
    let bytes = json_sample();
    assert_whole(&read_trace_from(&bytes).unwrap());
    // Any other layout of the same document reads the same.
    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let pretty = serde_json::to_vec_pretty(&doc).unwrap();
    assert_whole(&read_trace_from(&pretty).unwrap());
}

#[test]
fn json_to_binary_to_json_is_stable() {
    let trace = read_trace_from(&json_sample()).unwrap();
    let mut bw = BinaryWriter::new(Vec::new());
    write_trace(&trace, &mut bw).unwrap();
    let back = read_trace_from(&bw.into_inner()).unwrap();
    assert_eq!(back, trace);
    let mut jw = JsonWriter::new(Vec::new());
    write_trace(&back, &mut jw).unwrap();
    assert_eq!(read_trace_from(&jw.into_inner()).unwrap(), trace);
}

/// Checks a read of a cut file: the events are a prefix of the originals and the trace says it
/// is truncated (unless nothing was cut).
fn check_prefix(trace: &Trace, cut: usize, full: usize) -> usize {
    let all = events();
    let n = trace.events.len();
    assert_eq!(&trace.events[..], &all[..n], "cut at {cut}");
    if cut < full {
        let t = trace
            .truncation
            .as_deref()
            .unwrap_or_else(|| panic!("cut at {cut}: not marked truncated"));
        assert!(t.starts_with("truncated at byte "), "{t}");
        assert!(!trace.is_complete());
    } else {
        assert!(trace.is_complete());
    }
    n
}

#[test]
fn binary_truncation_at_every_byte_keeps_a_prefix() {
    for flush_every in [1, 3, 1000] {
        let bytes = binary_sample(flush_every);
        let mut last = 0;
        let mut readable_from = None;
        for cut in 0..=bytes.len() {
            match read_trace_from(&bytes[..cut]) {
                Ok(trace) => {
                    readable_from.get_or_insert(cut);
                    let n = check_prefix(&trace, cut, bytes.len());
                    assert!(n >= last, "cut {cut}: fewer events than a shorter cut");
                    last = n;
                    // The reported byte is inside the kept part of the file.
                    if let Some(t) = &trace.truncation {
                        let at: usize = t["truncated at byte ".len()..]
                            .split(':')
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap();
                        assert!(at <= cut, "{t} (cut {cut})");
                    }
                }
                Err(e) => {
                    assert!(
                        readable_from.is_none(),
                        "cut {cut}: {e} after readable cuts"
                    );
                    assert!(e.offset.is_some());
                }
            }
        }
        assert_eq!(last, events().len());
        // The trace is readable exactly from the end of the metadata frame on.
        let meta_len = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
        assert_eq!(readable_from, Some(16 + 8 + meta_len));
    }
}

#[test]
fn binary_partial_frame_keeps_complete_records() {
    // One frame holds all events: cutting inside it still keeps every complete record.
    let bytes = binary_sample(1000);
    let trace = read_trace_from(&bytes[..bytes.len() - 20]).unwrap();
    assert!(
        trace.events.len() >= events().len() - 3,
        "{}",
        trace.events.len()
    );
    assert!(trace.truncation.unwrap().contains("incomplete frame"));
}

#[test]
fn binary_corruption_never_panics_and_is_detected() {
    let bytes = binary_sample(2);
    for i in 16..bytes.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut bad = bytes.clone();
            bad[i] ^= flip;
            match read_trace_from(&bad) {
                // A damaged frame is never read as a complete trace.
                Ok(trace) => assert!(!trace.is_complete() || trace.events == events(), "byte {i}"),
                Err(e) => assert!(e.offset.is_some()),
            }
        }
    }
}

#[test]
fn binary_checksum_mismatch_is_reported_at_the_frame() {
    let bytes = binary_sample(1);
    let mut bad = bytes.clone();
    let last = bad.len() - 2;
    bad[last] ^= 0x55;
    let trace = read_trace_from(&bad).unwrap();
    let t = trace.truncation.clone().unwrap();
    assert!(t.contains("checksum mismatch"), "{t}");
    assert_eq!(trace.events, events());
    assert!(trace.trailer.is_none());
}

#[test]
fn json_truncation_at_every_byte_keeps_a_prefix() {
    let bytes = json_sample();
    let first_line = bytes.iter().position(|&b| b == b'\n').unwrap();
    let mut last = 0;
    for cut in 0..=bytes.len() {
        match read_trace_from(&bytes[..cut]) {
            Ok(trace) => {
                assert!(cut >= first_line, "cut {cut}");
                // The final newline is optional.
                let n = check_prefix(&trace, cut, bytes.len() - 1);
                assert!(n >= last);
                last = n;
                // Sites are known (from the table or rebuilt from the enters) for every enter.
                for ev in &trace.events {
                    if let Event::Enter { site, .. } = ev {
                        assert!(trace.site(*site).is_some());
                    }
                }
            }
            Err(e) => {
                assert!(cut < first_line, "cut {cut}: {e}");
                assert!(e.offset.is_some() || cut == 0);
            }
        }
    }
    assert_eq!(last, events().len());
}

#[test]
fn garbage_is_an_error_with_a_position() {
    let mut rng = Rng(7);
    let random: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
    let cases: Vec<(&[u8], &str)> = vec![
        (b"", "empty"),
        (b"   \n", "blank"),
        (b"hello world", "not a ruchytrace trace"),
        (&random, "not a ruchytrace trace"),
        (b"{\"foo\": 1}", "no \"metadata\""),
        (b"{\"metadata\": 1", "unexpected end of JSON"),
        (b"RUCHYTR", "truncated inside the file header"),
        (
            b"RUCHYTR\0\x63\0\0\0\0\0\0\0",
            "unsupported binary trace version 99",
        ),
        (b"RUCHYTR\0\x01\0\0\0\0\0\0\0", "no readable metadata"),
    ];
    for (input, want) in cases {
        let e = read_trace_from(input).unwrap_err();
        assert!(
            e.to_string().contains(want),
            "{:?}: {e}",
            String::from_utf8_lossy(input)
        );
    }
    // Unsupported JSON version.
    let text =
        String::from_utf8(json_sample())
            .unwrap()
            .replacen("\"version\":1", "\"version\":9", 1);
    let e = read_trace_from(text.as_bytes()).unwrap_err();
    assert!(
        e.to_string().contains("unsupported schema version 9"),
        "{e}"
    );
}

#[test]
fn random_payloads_in_valid_frames_never_panic() {
    let head = binary_sample(1000);
    // Keep the header and the metadata frame, then append frames of random records with valid
    // checksums: the decoder must reject them gracefully.
    let meta_end = {
        let len = u32::from_le_bytes(head[16..20].try_into().unwrap()) as usize;
        16 + 8 + len
    };
    let mut rng = Rng(99);
    for _ in 0..2000 {
        let n = 1 + rng.below(64) as usize;
        let payload: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let mut file = head[..meta_end].to_vec();
        file.extend_from_slice(&(n as u32).to_le_bytes());
        file.extend_from_slice(&binary::crc32(&payload).to_le_bytes());
        file.extend_from_slice(&payload);
        let trace = read_trace_from(&file).unwrap();
        assert!(trace.truncation.is_some() || trace.trailer.is_some());
    }
}

fn enter(site: u32, ts: u64, tid: u32) -> Event {
    Event::Enter {
        site,
        ts,
        pid: 1,
        tid,
        args: vec![],
        call_id: None,
    }
}

fn exit(site: u32, ts: u64, tid: u32) -> Event {
    Event::Exit {
        site,
        ts,
        pid: 1,
        tid,
        ret: Return::NotCaptured,
        call_id: None,
    }
}

#[test]
fn nesting_depths_and_durations() {
    let table = SiteTable::from_sites(&sites());
    let mut n = Nesting::new();
    let ctx = n.observe(&enter(0, 10, 1), &table);
    assert_eq!(
        (ctx.depth, ctx.duration_ns, ctx.site.map(|s| s.id)),
        (0, None, Some(0))
    );
    assert_eq!(n.observe(&enter(2, 20, 1), &table).depth, 1);
    // Another thread has its own stack.
    let other = n.observe(&enter(0, 25, 2), &table);
    assert_eq!(other.depth, 0);
    assert!(other.multi_thread);
    let ctx = n.observe(&exit(2, 50, 1), &table);
    assert_eq!((ctx.depth, ctx.duration_ns), (1, Some(30)));
    let ctx = n.observe(&exit(0, 100, 1), &table);
    assert_eq!((ctx.depth, ctx.duration_ns), (0, Some(90)));
    assert_eq!(n.depth(1, 2), 1);
    let open = n.open_calls();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].tid, open[0].site, open[0].enter_ts),
        (2, 0, Some(25))
    );
}

#[test]
fn nesting_async_suspend_resume_across_threads() {
    let table = SiteTable::from_sites(&sites());
    let mut n = Nesting::new();
    let a = |ev: Event, n: &mut Nesting| {
        let c = n.observe(&ev, &table);
        (c.depth, c.duration_ns)
    };
    assert_eq!(a(enter(0, 0, 1), &mut n), (0, None));
    let fut_enter = Event::Enter {
        site: 1,
        ts: 10,
        pid: 1,
        tid: 1,
        args: vec![],
        call_id: Some(5),
    };
    assert_eq!(a(fut_enter, &mut n), (1, None));
    let suspend = Event::Suspend {
        site: 1,
        ts: 20,
        pid: 1,
        tid: 1,
        call_id: 5,
    };
    assert_eq!(a(suspend, &mut n), (1, None));
    // The suspended future is off the stack: the outer call returns normally.
    assert_eq!(a(exit(0, 30, 1), &mut n), (0, Some(30)));
    assert!(n.open_calls()[0].suspended);
    // Resumed on thread 2 inside another call.
    a(enter(2, 35, 2), &mut n);
    let resume = Event::Resume {
        site: 1,
        ts: 40,
        pid: 1,
        tid: 2,
        call_id: 5,
    };
    assert_eq!(a(resume, &mut n), (1, None));
    let fut_exit = Event::Exit {
        site: 1,
        ts: 70,
        pid: 1,
        tid: 2,
        ret: Return::NotCaptured,
        call_id: Some(5),
    };
    // Duration from the first poll on thread 1.
    assert_eq!(a(fut_exit, &mut n), (1, Some(60)));
    assert_eq!(a(exit(2, 80, 2), &mut n), (0, Some(45)));
    assert!(n.open_calls().is_empty());
    assert_eq!(n.exits_lost(), 0);
}

#[test]
fn nesting_recovers_after_loss() {
    let table = SiteTable::from_sites(&sites());
    let mut n = Nesting::new();
    n.observe(&enter(0, 0, 1), &table);
    n.observe(&enter(1, 1, 1), &table);
    n.observe(&enter(2, 2, 1), &table);
    n.observe(
        &Event::Loss {
            ts: 3,
            pid: 1,
            tid: 1,
            count: 4,
            reason: LossReason::BufferFull,
        },
        &table,
    );
    // The exits of sites 2 and 1 were lost: the exit of 0 pops them.
    let ctx = n.observe(&exit(0, 10, 1), &table);
    assert_eq!((ctx.depth, ctx.duration_ns), (0, Some(10)));
    assert_eq!(n.exits_lost(), 2);
    // An exit whose enter was lost: no duration, stack untouched.
    let ctx = n.observe(&exit(2, 11, 1), &table);
    assert_eq!((ctx.depth, ctx.duration_ns), (0, None));
    assert_eq!(n.unmatched_exits(), 1);
}

#[test]
fn add_costs_at_most_24_bytes_per_call() {
    let add = site(0, "add", &[("a", "i64"), ("b", "i64")], "i64", SiteKind::Fn);
    let table = SiteTable::from_sites([&add]);
    let size = |calls: u64| {
        let mut w = BinaryWriter::new(Vec::new());
        w.begin(&metadata()).unwrap();
        w.site(&add).unwrap();
        let mut n = Nesting::new();
        let mut ts = 5_000_000_000u64;
        for i in 0..calls {
            let a = (i % 100) as i64;
            for ev in [
                Event::Enter {
                    site: 0,
                    ts,
                    pid: 9,
                    tid: 9,
                    args: vec![Value::I64(a), Value::I64(2)],
                    call_id: None,
                },
                Event::Exit {
                    site: 0,
                    ts: ts + 40,
                    pid: 9,
                    tid: 9,
                    ret: Return::Value(Value::I64(a + 2)),
                    call_id: None,
                },
            ] {
                let ctx = n.observe(&ev, &table);
                w.event(&ev, &ctx).unwrap();
            }
            ts += 100;
        }
        w.finish(&Trailer {
            events: calls * 2,
            lost: 0,
            end_ns: ts,
        })
        .unwrap();
        w.into_inner().len() as f64
    };
    let per_call = (size(100_000) - size(1)) / 99_999.0;
    eprintln!("binary: {per_call:.2} bytes per add(a, b) call (enter + exit)");
    assert!(per_call <= 24.0, "{per_call}");
}

/// Hands out its bytes a few at a time, like a pipe.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.step = self.step % 7 + 1;
        Ok(n)
    }
}

#[test]
fn streaming_reader_yields_sites_before_their_events() {
    let bytes = binary_sample(3);
    let mut reader = binary::BinaryReader::new(Trickle {
        data: &bytes,
        step: 1,
    })
    .unwrap();
    assert_eq!(reader.metadata(), &metadata());
    let mut known = SiteTable::new();
    let mut evs = Vec::new();
    let mut trailer = None;
    for rec in reader.by_ref() {
        assert!(trailer.is_none(), "record after the trailer");
        match rec {
            binary::Record::Site(s) => known.insert(s),
            binary::Record::Event(e) => {
                if let Event::Enter { site, .. } = &e {
                    assert!(known.contains(*site));
                }
                evs.push(e);
            }
            binary::Record::Trailer(t) => trailer = Some(t),
            binary::Record::SourceTruncated(s) => panic!("{s}"),
        }
    }
    assert_eq!(evs, events());
    assert_eq!(trailer, Some(trailer_of_sample()));
    assert!(reader.is_complete());
    assert_eq!(reader.truncation(), None);
    assert_eq!(reader.events_read(), events().len() as u64);
}

fn trailer_of_sample() -> Trailer {
    trailer(&events())
}

#[test]
fn a_second_metadata_record_is_damage() {
    let bytes = binary_sample(1000);
    let meta_end = 16 + 8 + u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    let mut doubled = bytes[..meta_end].to_vec();
    doubled.extend_from_slice(&bytes[16..meta_end]);
    doubled.extend_from_slice(&bytes[meta_end..]);
    let trace = read_trace_from(&doubled).unwrap();
    assert!(trace.events.is_empty());
    assert_eq!(
        trace.truncation.as_deref(),
        Some(
            format!(
                "truncated at byte {}: malformed record (a second metadata record)",
                meta_end + 8
            )
            .as_str()
        )
    );
}

#[test]
fn text_lines_stay_single_lines() {
    let ev = Event::Instant {
        ts: 1_000_000_000,
        pid: 1,
        tid: 1,
        category: Category::File,
        name: "open\tx".into(),
        detail: "two\nlines\u{1b}[0m".into(),
    };
    let mut line = String::new();
    text::write_event_line(&mut line, Some(&metadata().clock), &ev, &EventCtx::EMPTY);
    assert_eq!(
        line,
        "[1761761183.000000] ** file open\\tx: two\\nlines\\x1b[0m"
    );
}

#[test]
fn json_damage_in_the_middle_keeps_the_events_before_it() {
    let text = String::from_utf8(json_sample()).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[5] = "{\"type\":\"function_enter\",\"oops\":true},";
    let damaged = lines.join("\n");
    let at = lines[..5].iter().map(|l| l.len() + 1).sum::<usize>();
    let trace = read_trace_from(damaged.as_bytes()).unwrap();
    assert_eq!(trace.events, events()[..3]);
    let t = trace.truncation.unwrap();
    assert!(
        t.starts_with(&format!("truncated at byte {at}: damaged event")),
        "{t}"
    );
    assert!(trace.trailer.is_none());
}

/// What a `SIGKILL` leaves: the writer is never finished (nor dropped); everything before the
/// last `flush` must be readable, and the trace must say it is truncated.
#[test]
fn killed_writer_keeps_everything_flushed() {
    for format in [Format::Binary, Format::Json] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("killed");
        let file = std::fs::File::create(&path).unwrap();
        let mut w = writer(format, Box::new(file));
        let table = SiteTable::from_sites(&sites());
        w.begin(&metadata()).unwrap();
        for s in table.iter() {
            w.site(s).unwrap();
        }
        let mut nesting = Nesting::new();
        let evs = events();
        for (i, ev) in evs.iter().enumerate() {
            let ctx = nesting.observe(ev, &table);
            w.event(ev, &ctx).unwrap();
            if i == 9 {
                w.flush().unwrap();
            }
        }
        // The process dies here: no finish, no destructor.
        std::mem::forget(w);
        let trace = read_trace(&path).unwrap();
        assert_eq!(trace.events, evs[..10], "{format}");
        assert!(!trace.is_complete());
        let t = trace.truncation.unwrap();
        assert!(t.starts_with("truncated at byte "), "{t}");
    }
}

#[test]
fn undeclared_sites_known_to_the_context_are_written() {
    for format in [Format::Binary, Format::Json] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        let mut w = writer(format, Box::new(std::fs::File::create(&path).unwrap()));
        let table = SiteTable::from_sites(&sites());
        w.begin(&metadata()).unwrap();
        let mut nesting = Nesting::new();
        for ev in &events() {
            let ctx = nesting.observe(ev, &table);
            w.event(ev, &ctx).unwrap();
        }
        w.finish(&trailer(&events())).unwrap();
        drop(w);
        assert_whole(&read_trace(&path).unwrap());
    }
}

/// The frame checksum is CRC-32/IEEE: the standard check value, and the bytewise definition.
#[test]
fn crc32_matches_the_reference() {
    assert_eq!(binary::crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(binary::crc32(b""), 0);
    let data: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for len in [1, 7, 8, 9, 15, 16, 17, 63, 64, 999, 1000] {
        let mut c = !0u32;
        for &b in &data[..len] {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        assert_eq!(binary::crc32(&data[..len]), !c, "length {len}");
    }
}
