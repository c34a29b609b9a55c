//! Tests of the trace-file reader on files written record by record.

use super::*;
use crate::capture::{ArgWriter, SLACK};
use crate::model::{Return, Value};
use crate::output::encode;
use crate::record::{kind, ret};
use crate::segment::{FileInfo, SegmentInfo, TraceFile, SEG_META, SEG_THREAD};

/// Appends encoded records to a segment mapping, as the recorder and the metadata writer do.
struct Writer {
    map: crate::segment::Mapping,
    pos: usize,
    prev: u64,
}

impl Writer {
    fn rec(&mut self, k: u8, aux: u32, t: u64, payload: &dyn Fn(&mut ArgWriter)) {
        let mut buf = Vec::new();
        let n = encode(&mut buf, k, aux, t - self.prev, payload);
        self.map.write(self.pos + 1, &buf[1..n]);
        self.map.write(self.pos + n, &[0]);
        self.map.store_u8(self.pos, buf[0]);
        self.pos += n;
        self.prev = t;
        assert!(buf.len() == n + SLACK);
    }
}

fn seg(tf: &TraceFile, kind: u32, tid: u32, seq: u32, base: u64, evicted: u64) -> Writer {
    let map = tf
        .new_segment(&SegmentInfo {
            kind,
            pid: 7,
            tid,
            seq,
            anchor: (base, base),
            evicted,
        })
        .unwrap();
    Writer {
        map,
        pos: SEG_HEADER,
        prev: base,
    }
}

/// A finished trace of two threads: `f(n=1) = 2` on tid 10 and `f(n=3)` still open on 11.
fn sample_file(finish: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.rtrace");
    let meta = Metadata {
        format: FN_TRACE_FORMAT.into(),
        version: SCHEMA_VERSION,
        ruchytrace_version: "0.1.0".into(),
        program: "/bin/prog".into(),
        args: vec!["prog".into(), "x y".into()],
        pid: 7,
        collector_tid: None,
        clock: ClockInfo {
            domain: "CLOCK_MONOTONIC".into(),
            source: "CLOCK_MONOTONIC".into(),
            realtime_ns: 5,
            monotonic_ns: 6,
            tsc_hz: None,
        },
        settings: RecordSettings {
            sample: 1,
            filter: Some("f*".into()),
            overflow: "block".into(),
            buffer_bytes: 4096,
            strsize: 64,
            max_items: 16,
        },
    };
    let tf = TraceFile::create(
        &path,
        FileInfo {
            seg_size: 4096,
            flags: 0,
            pid: 7,
            anchor: (1000, 1000),
            clock_pair: (5, 6),
            meta: encode_metadata(&meta),
        },
    )
    .unwrap();
    let mut m = seg(&tf, SEG_META, 0, 0, 1000, 0);
    m.rec(kind::SITE, 1, 1000, &|w| {
        w.str("f");
        w.str("app");
        w.str("src/f.rs");
        w.put(3u32.to_le_bytes());
        w.put(1u32.to_le_bytes());
        w.put([0u8]);
        w.put(0u32.to_le_bytes());
        w.str("i64");
        w.put([1u8]);
        w.str("n");
        w.str("i64");
    });
    m.rec(kind::THREAD, 10, 1001, &|w| w.str("main"));
    let mut a = seg(&tf, SEG_THREAD, 10, 0, 2000, 0);
    a.rec(kind::ENTER, 1, 2100, &|w| {
        w.put([1u8]);
        w.i64(1)
    });
    a.rec(kind::EXIT, 1, 2300, &|w| {
        w.put([ret::VALUE]);
        w.i64(2)
    });
    let mut b = seg(&tf, SEG_THREAD, 11, 0, 2000, 0);
    b.rec(kind::ENTER, 1, 2200, &|w| {
        w.put([1u8]);
        w.i64(3)
    });
    if finish {
        tf.finish();
    }
    std::fs::read(&path).unwrap()
}

#[test]
fn reads_sites_threads_and_events_in_time_order() {
    let bytes = sample_file(true);
    let r = SegmentedReader::new(bytes).unwrap();
    assert!(r.truncation().is_none());
    assert_eq!(r.metadata().args, ["prog", "x y"]);
    assert_eq!(r.metadata().settings.filter.as_deref(), Some("f*"));
    let recs: Vec<Record> = r.collect();
    let Record::Site(s) = &recs[0] else {
        panic!("{:?}", recs[0])
    };
    assert_eq!(
        (
            s.qualified_name.as_str(),
            s.location.line,
            s.args[0].name.as_str()
        ),
        ("app::f", 3, "n")
    );
    let evs: Vec<(u64, u32, String)> = recs
        .iter()
        .filter_map(|r| match r {
            Record::Event(e) => Some((e.ts(), e.pid_tid().1, format!("{e:?}"))),
            _ => None,
        })
        .collect();
    let ts: Vec<(u64, u32)> = evs.iter().map(|(t, tid, _)| (*t, *tid)).collect();
    assert_eq!(ts, [(1001, 10), (2100, 10), (2200, 11), (2300, 10)]);
    assert!(evs[1].2.contains("I64(1)"));
    assert!(matches!(
        &recs[4],
        Record::Event(Event::Exit {
            ret: Return::Value(Value::I64(2)),
            ..
        })
    ));
    assert!(matches!(recs.last(), Some(Record::Trailer(t)) if t.events == 4));
}

#[test]
fn an_unfinished_file_reads_as_truncated_with_every_record() {
    let bytes = sample_file(false);
    let r = SegmentedReader::new(bytes).unwrap();
    assert!(r.truncation().unwrap().contains("did not finish"));
    let n = r.filter(|r| matches!(r, Record::Event(_))).count();
    assert_eq!(n, 4);
}

#[test]
fn a_cut_or_damaged_file_never_panics_and_keeps_a_prefix() {
    let bytes = sample_file(true);
    // Cut anywhere: the header must be whole, then every cut keeps what precedes it.
    for cut in (0..bytes.len()).step_by(61) {
        match SegmentedReader::new(&bytes[..cut]) {
            Err(e) => assert!(cut < FILE_HEADER, "{cut}: {e}"),
            Ok(r) => {
                let _ = r.count();
            }
        }
    }
    // Flip every byte of the records area of thread 10's segment, one at a time.
    let start = FILE_HEADER + 4096 + SEG_HEADER;
    for i in start..start + 40 {
        let mut b = bytes.clone();
        b[i] ^= 0xA5;
        if let Ok(r) = SegmentedReader::new(b) {
            let _ = r.count();
        }
    }
}

#[test]
fn a_finished_file_cut_afterwards_reads_as_truncated() {
    let bytes = sample_file(true);
    let r = SegmentedReader::new(&bytes[..FILE_HEADER + 4096 + 100]).unwrap();
    assert!(!r.is_complete());
    assert!(
        r.truncation().unwrap().contains("ends inside a segment"),
        "{:?}",
        r.truncation()
    );
    assert!(!r.into_iter().any(|r| matches!(r, Record::Trailer(_))));
}

#[test]
fn bad_headers_are_clear_errors() {
    let mut bytes = sample_file(true);
    bytes[8] = 9;
    let e = SegmentedReader::new(&bytes[..]).err().unwrap();
    assert!(
        e.message.contains("unsupported trace file version 9"),
        "{e}"
    );
    bytes[0] = b'X';
    let e = SegmentedReader::new(&bytes[..]).err().unwrap();
    assert!(e.message.contains("bad magic"), "{e}");
    let e = SegmentedReader::new(&bytes[..100]).err().unwrap();
    assert!(
        e.message.contains("truncated inside the file header"),
        "{e}"
    );
}

#[test]
fn the_binary_reader_reads_bytes_at_hand_in_place() {
    use crate::format::binary::{is_segmented, BinaryReader, FileBytes};
    let bytes = sample_file(true);
    assert!(is_segmented(&bytes));
    assert!(!is_segmented(b"RUCHYTR\0"));
    assert!(!is_segmented(&bytes[..4]));
    let copied: Vec<String> = BinaryReader::new(&bytes[..])
        .unwrap()
        .map(|r| format!("{r:?}"))
        .collect();
    let mut held = BinaryReader::<std::io::Empty>::segmented(FileBytes::new(bytes)).unwrap();
    let in_place: Vec<String> = held.by_ref().map(|r| format!("{r:?}")).collect();
    assert_eq!(
        in_place.len(),
        1 + 4 + 1,
        "a site, four events, the trailer"
    );
    assert_eq!(in_place, copied);
    assert!(held.is_complete());
    assert_eq!(held.events_read(), 4);
    // Both threads' segments were read to their end, once each.
    let mut finished = held.take_finished();
    finished.sort_unstable();
    assert_eq!(finished.len(), 2, "{finished:?}");
    assert!(finished
        .iter()
        .all(|&(off, len)| off >= FILE_HEADER && len > 0));
    assert_ne!(finished[0].0, finished[1].0);
    assert!(held.take_finished().is_empty());
}

#[test]
fn remembered_tick_segments_convert_as_the_converter_does() {
    // Anchors with uneven rates, one too close to its predecessor and one going back (both
    // dropped by the converter), and ticks before, between, on and after them, in and out of
    // order (the remembered segment must be left when the ticks leave it).
    let anchors = [
        Anchor {
            tsc: 1_000,
            ns: 5_000_000,
        },
        Anchor {
            tsc: 400_000,
            ns: 5_150_000,
        },
        Anchor {
            tsc: 401_000,
            ns: 5_160_000,
        },
        Anchor {
            tsc: 900_000,
            ns: 5_400_000,
        },
        Anchor {
            tsc: 800_000,
            ns: 5_500_000,
        },
        Anchor {
            tsc: 3_000_000,
            ns: 6_900_000,
        },
    ];
    let mut sorted = anchors.to_vec();
    sorted.sort_by_key(|a| a.tsc);
    for tsc in [true, false] {
        let conv = Converter::from_anchors(tsc, sorted.clone());
        let mut cache = TickCache::default();
        let mut ticks: Vec<u64> = (0..4_000_000u64).step_by(997).collect();
        ticks.extend([
            0,
            1_000,
            399_999,
            400_000,
            900_000,
            2_999_999,
            3_000_000,
            u64::MAX / 4,
        ]);
        ticks.extend((0..4_000_000u64).rev().step_by(15_331));
        for t in ticks {
            assert_eq!(cache.ns_of(&conv, t), conv.to_ns(t), "tsc {tsc}, ticks {t}");
        }
    }
    // One anchor (or none): the converter's own rule.
    let conv = Converter::from_anchors(true, vec![Anchor { tsc: 10, ns: 20 }]);
    let mut cache = TickCache::default();
    assert_eq!(cache.ns_of(&conv, 1_000), conv.to_ns(1_000));
}
