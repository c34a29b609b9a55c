//! Whole traces: round trips, truncation, damage, streaming.

use super::*;

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
