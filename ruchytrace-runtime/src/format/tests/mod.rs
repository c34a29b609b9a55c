//! Unit tests of the formats: value round trips, whole-trace round trips, truncation and damage,
//! nesting.
//!
//! This file holds the shared fixtures; the tests are in `values`, `traces` and `nesting`.

use super::binary::{self, BinaryWriter};
use super::json::JsonWriter;
use super::value_json::{node_to_value, to_node_string};
use super::*;
use crate::model::*;

mod nesting;
mod traces;
mod values;

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

fn trailer_of_sample() -> Trailer {
    trailer(&events())
}
