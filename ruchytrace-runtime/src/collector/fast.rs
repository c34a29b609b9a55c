//! The collector's binary fast path: with the binary format (and no flight recorder), a cycle
//! copies the records out of the rings and transcodes the sync enter/exit records straight
//! from the capture encoding into the binary format's encoding, without building [`crate::model::Event`]s.

use super::sink::{lost_at_exit, Output, Sink};
use crate::capture;
use crate::format::binary;
use crate::global::Runtime;
use crate::record::{self, kind, ret, DecodeError, Header};
use std::sync::atomic::Ordering::*;

/// The binary fast path: copies each thread's pending records out of its ring (releasing
/// the space at once), orders them by time across threads, and transcodes the sync
/// enter/exit records — nearly all of them — straight into the binary encoding: no
/// [`crate::model::Event`], no allocation per event, statistics from the collector's own per-thread call
/// stacks. Every other record kind goes through the event model ([`Sink::emit`]); async
/// frames live in [`crate::format::Nesting`], sync frames in `FastBuf::stacks`, and the binary writer does
/// not use the nesting context, so the two never need each other.
pub(super) fn cycle(sink: &mut Sink, fb: &mut FastBuf, rt: &Runtime) {
    fb.bytes.clear();
    fb.recs.clear();
    let mut sources = 0;
    let mut retired = Vec::new();
    let mut retired_slots = Vec::new();
    {
        let mut threads = rt.threads.lock().unwrap_or_else(|e| e.into_inner());
        threads.retain(|t| {
            if t.is_private() {
                return true;
            }
            let closed = t.ring.closed.load(Acquire);
            let slot = fb.slot(t.tid);
            let before = fb.recs.len();
            let mut err = None;
            t.ring.consume(|s| {
                if err.is_none() {
                    err = fb.split(s, slot).err();
                }
            });
            if let Some(e) = err {
                eprintln!(
                    "ruchytrace: warning: thread {}: damaged buffer record: {}",
                    t.tid, e.0
                );
            }
            if fb.recs.len() > before {
                sources += 1;
            }
            let retire = closed && t.ring.pending() == 0;
            if retire {
                retired_slots.push(slot);
                if let Some(ev) = lost_at_exit(rt.pid, t) {
                    retired.push(ev);
                }
            }
            !retire
        });
    }
    sink.drained = fb.bytes.len();
    if sources > 1 {
        // Each thread's records are in time order; a stable sort interleaves threads.
        fb.recs.sort_by_key(|r| r.ticks);
    }
    for i in 0..fb.recs.len() {
        let r = fb.recs[i];
        let ts = sink.conv.to_ns(r.ticks);
        if let Err(e) = one(sink, fb, r, ts) {
            eprintln!(
                "ruchytrace: warning: thread {}: damaged buffer record: {}",
                fb.stacks[r.slot as usize].0, e.0
            );
        }
    }
    // An exited thread's calls that never returned are forgotten, so that a new thread that
    // gets the same id (the kernel reuses them) starts with an empty stack.
    for slot in retired_slots {
        fb.stacks[slot as usize].1.clear();
    }
    for ev in &retired {
        sink.emit(ev);
    }
}

fn one(sink: &mut Sink, fb: &mut FastBuf, r: Rec, ts: u64) -> Result<(), DecodeError> {
    let rec = &fb.bytes[r.off as usize..(r.off + r.len) as usize];
    // `split` checked the header.
    let Some(Header {
        kind: k, aux: site, ..
    }) = Header::parse(rec)
    else {
        return Err(short("header"));
    };
    let (pid, tid) = (sink.meta.pid, fb.stacks[r.slot as usize].0);
    let mut pos = Header::LEN;
    let tag;
    match k {
        kind::ENTER => {
            fb.vals.clear();
            let mut n = 0u64;
            while pos < rec.len() {
                transcode_value(rec, &mut pos, &mut fb.vals, 0)?;
                n += 1;
            }
            sink.ensure_site(site);
            fb.stacks[r.slot as usize].1.push((site, ts));
            tag = binary::tag::ENTER;
            fb.head.clear();
            binary::put_u(&mut fb.head, u64::from(site));
            binary::put_u(&mut fb.head, n);
        }
        kind::EXIT => {
            fb.vals.clear();
            let ret = *rec.get(pos).ok_or_else(|| short("return"))?;
            pos += 1;
            let error;
            (tag, error) = match ret {
                ret::VALUE => (
                    binary::tag::EXIT_VALUE,
                    transcode_value(rec, &mut pos, &mut fb.vals, 0)?,
                ),
                ret::NOT_CAPTURED => (binary::tag::EXIT_NOT_CAPTURED, false),
                ret::CANCELLED => (binary::tag::EXIT_CANCELLED, false),
                ret::PANIC => match rec.get(pos) {
                    Some(&capture::tag::STR) => {
                        pos += 1;
                        let (text, _) = take_text(rec, &mut pos)?;
                        binary::put_str(&mut fb.vals, &String::from_utf8_lossy(text));
                        (binary::tag::EXIT_PANIC_MSG, true)
                    }
                    _ => {
                        pos += 1;
                        (binary::tag::EXIT_PANIC, true)
                    }
                },
                other => return Err(DecodeError(format!("unknown return encoding {other}"))),
            };
            if pos != rec.len() {
                return Err(DecodeError(format!(
                    "trailing bytes in exit of site {site}"
                )));
            }
            sink.ensure_site(site);
            let stack = &mut fb.stacks[r.slot as usize].1;
            // The innermost open call of this site; calls above it lost their exits.
            let duration = match stack.iter().rposition(|f| f.0 == site) {
                Some(i) => {
                    let enter = stack[i].1;
                    stack.truncate(i);
                    Some(ts.saturating_sub(enter))
                }
                None => None,
            };
            sink.stats.count_exit(site, duration, error);
            fb.head.clear();
            binary::put_u(&mut fb.head, u64::from(site));
        }
        _ => {
            // Rare kinds (async, instants, thread names, losses, stalls): the event model.
            let ev = record::decode(rec)?.finish(ts, pid, tid);
            sink.emit(&ev);
            return Ok(());
        }
    }
    sink.stats.events += 1;
    if sink.write_failed {
        sink.stats.lost += 1;
        return Ok(());
    }
    if let Some(Output::Binary(w)) = &mut sink.writer {
        let buf = w.raw_event(tag, pid, tid, ts);
        buf.extend_from_slice(&fb.head);
        buf.extend_from_slice(&fb.vals);
        let r = w.end_raw_event();
        sink.check(r);
    }
    Ok(())
}

/// One record copied out of a ring by the fast path.
#[derive(Debug, Clone, Copy)]
struct Rec {
    ticks: u64,
    off: u32,
    len: u32,
    slot: u32,
}

/// The fast path's buffers, reused from cycle to cycle (no allocation in the steady state).
#[derive(Default)]
pub(super) struct FastBuf {
    /// This cycle's records, copied out of the rings.
    bytes: Vec<u8>,
    recs: Vec<Rec>,
    /// Per thread (tid): the open sync calls (site, enter timestamp).
    stacks: Vec<(u32, Vec<(u32, u64)>)>,
    /// Payload being built: site, argument count / transcoded values.
    head: Vec<u8>,
    vals: Vec<u8>,
}

impl FastBuf {
    fn slot(&mut self, tid: u32) -> u32 {
        match self.stacks.iter().position(|s| s.0 == tid) {
            Some(i) => i as u32,
            None => {
                self.stacks.push((tid, Vec::new()));
                (self.stacks.len() - 1) as u32
            }
        }
    }

    /// Splits one contiguous ring slice into records (stopping at lap padding) and copies them.
    fn split(&mut self, s: &[u8], slot: u32) -> Result<(), DecodeError> {
        let base = self.bytes.len();
        let mut at = 0usize;
        let result = loop {
            let h = match record::next_header(&s[at..]) {
                Ok(Some(h)) => h,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            self.recs.push(Rec {
                ticks: h.ticks,
                off: (base + at) as u32,
                len: h.len,
                slot,
            });
            at += h.len as usize;
        };
        self.bytes.extend_from_slice(&s[..at]);
        result
    }
}

fn short(what: &str) -> DecodeError {
    DecodeError(format!("{what} runs past its record"))
}

fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], DecodeError> {
    let s = b.get(*pos..*pos + n).ok_or_else(|| short("value"))?;
    *pos += n;
    Ok(s)
}

fn take_arr<const N: usize>(b: &[u8], pos: &mut usize) -> Result<[u8; N], DecodeError> {
    Ok(take(b, pos, N)?.try_into().expect("length checked"))
}

/// A captured text: (kept bytes, full length).
fn take_text<'a>(b: &'a [u8], pos: &mut usize) -> Result<(&'a [u8], u64), DecodeError> {
    let full = u32::from_le_bytes(take_arr(b, pos)?) as u64;
    let kept = u32::from_le_bytes(take_arr(b, pos)?) as usize;
    Ok((take(b, pos, kept)?, full))
}

/// Appends a captured text as the binary format's string (UTF-8 as the capture guarantees;
/// anything else is replaced like the model's decoder does).
fn put_text(dst: &mut Vec<u8>, text: &[u8]) {
    match std::str::from_utf8(text) {
        Ok(t) => binary::put_str(dst, t),
        Err(_) => binary::put_str(dst, &String::from_utf8_lossy(text)),
    }
}

/// Transcodes one captured value (`capture` encoding, at `b[*pos..]`) into the binary format's
/// value encoding — the bytes `binary::encode_value` writes for the decoded value. Returns
/// whether the value is an `Err`.
fn transcode_value(
    b: &[u8],
    pos: &mut usize,
    dst: &mut Vec<u8>,
    depth: u32,
) -> Result<bool, DecodeError> {
    use binary::vtag as v;
    use capture::tag as c;
    if depth > 64 {
        return Err(DecodeError("value nested deeper than 64 levels".into()));
    }
    let t = take_arr::<1>(b, pos)?[0];
    match t {
        c::UNIT => dst.push(v::UNIT),
        c::BOOL => dst.push(if take_arr::<1>(b, pos)?[0] != 0 {
            v::TRUE
        } else {
            v::FALSE
        }),
        c::CHAR => {
            let ch = char::from_u32(u32::from_le_bytes(take_arr(b, pos)?))
                .unwrap_or(char::REPLACEMENT_CHARACTER);
            dst.push(v::CHAR);
            binary::put_u(dst, u64::from(ch as u32));
        }
        c::I8 => {
            dst.push(v::I8);
            binary::put_i64(dst, i64::from(i8::from_le_bytes(take_arr(b, pos)?)));
        }
        c::I16 => {
            dst.push(v::I16);
            binary::put_i64(dst, i64::from(i16::from_le_bytes(take_arr(b, pos)?)));
        }
        c::I32 => {
            dst.push(v::I32);
            binary::put_i64(dst, i64::from(i32::from_le_bytes(take_arr(b, pos)?)));
        }
        c::I64 => {
            dst.push(v::I64);
            binary::put_i64(dst, i64::from_le_bytes(take_arr(b, pos)?));
        }
        c::I128 => {
            dst.push(v::I128);
            binary::put_i(dst, i128::from_le_bytes(take_arr(b, pos)?));
        }
        c::U8 => {
            dst.push(v::U8);
            binary::put_u(dst, u64::from(take_arr::<1>(b, pos)?[0]));
        }
        c::U16 => {
            dst.push(v::U16);
            binary::put_u(dst, u64::from(u16::from_le_bytes(take_arr(b, pos)?)));
        }
        c::U32 => {
            dst.push(v::U32);
            binary::put_u(dst, u64::from(u32::from_le_bytes(take_arr(b, pos)?)));
        }
        c::U64 => {
            dst.push(v::U64);
            binary::put_u(dst, u64::from_le_bytes(take_arr(b, pos)?));
        }
        c::U128 => {
            dst.push(v::U128);
            binary::put_varint(dst, u128::from_le_bytes(take_arr(b, pos)?));
        }
        c::F32 => {
            dst.push(v::F32);
            dst.extend_from_slice(&take_arr::<4>(b, pos)?);
        }
        c::F64 => {
            dst.push(v::F64);
            dst.extend_from_slice(&take_arr::<8>(b, pos)?);
        }
        c::STR | c::DEBUG => {
            let (text, full) = take_text(b, pos)?;
            let cut = (text.len() as u64) < full;
            dst.push(match (t == c::STR, cut) {
                (true, false) => v::STR,
                (true, true) => v::STR_CUT,
                (false, false) => v::DEBUG,
                (false, true) => v::DEBUG_CUT,
            });
            put_text(dst, text);
            if cut {
                binary::put_u(dst, full);
            }
        }
        c::OPAQUE => {
            let (text, _) = take_text(b, pos)?;
            dst.push(v::OPAQUE);
            put_text(dst, text);
        }
        c::NONE => dst.push(v::NONE),
        c::SOME | c::OK | c::ERR => {
            dst.push(match t {
                c::SOME => v::SOME,
                c::OK => v::OK,
                _ => v::ERR,
            });
            transcode_value(b, pos, dst, depth + 1)?;
            return Ok(t == c::ERR);
        }
        c::TUPLE => {
            let n = take_arr::<1>(b, pos)?[0];
            dst.push(v::TUPLE);
            binary::put_u(dst, u64::from(n));
            for _ in 0..n {
                transcode_value(b, pos, dst, depth + 1)?;
            }
        }
        c::SEQ => {
            let len = u64::from_le_bytes(take_arr(b, pos)?);
            let kept = u32::from_le_bytes(take_arr(b, pos)?);
            dst.push(v::SEQ);
            binary::put_u(dst, len);
            binary::put_u(dst, u64::from(kept));
            for _ in 0..kept {
                transcode_value(b, pos, dst, depth + 1)?;
            }
        }
        c::STRUCT => {
            let (name, _) = take_text(b, pos)?;
            let n = take_arr::<1>(b, pos)?[0];
            dst.push(v::STRUCT);
            put_text(dst, name);
            binary::put_u(dst, u64::from(n));
            for _ in 0..n {
                if take_arr::<1>(b, pos)?[0] != c::FIELD {
                    return Err(DecodeError("struct: field name expected".into()));
                }
                let (fname, _) = take_text(b, pos)?;
                put_text(dst, fname);
                transcode_value(b, pos, dst, depth + 1)?;
            }
        }
        other => return Err(DecodeError(format!("unknown value tag {other}"))),
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{ArgWriter, Capture};
    use crate::model::{Event, Value};

    /// An ENTER record holding the values `write` captures.
    fn record_with(strsize: u32, write: impl Fn(&mut ArgWriter)) -> Vec<u8> {
        let mut buf = vec![0u8; 4096];
        let cap = buf.len() - crate::capture::SLACK;
        // SAFETY: `buf` has cap + SLACK writable bytes and outlives the writer.
        let mut w = unsafe { ArgWriter::new(buf.as_mut_ptr(), cap, strsize, 4) };
        w.put(Header::bytes(kind::ENTER, 7, 99));
        write(&mut w);
        assert!(!w.overflowed());
        let n = w.written();
        w.patch_u32(Header::LEN_AT, n as u32);
        buf.truncate(n);
        buf
    }

    /// The fast path's bytes equal what the event model's encoder writes for the decoded
    /// values, for every value kind.
    #[test]
    fn transcoding_matches_the_model_encoder() {
        let rec = record_with(5, |w| {
            ().capture(w);
            true.capture(w);
            'λ'.capture(w);
            (-3i8).capture(w);
            (-300i16).capture(w);
            i32::MIN.capture(w);
            i64::MAX.capture(w);
            (-(1i128 << 100)).capture(w);
            200u8.capture(w);
            60_000u16.capture(w);
            u32::MAX.capture(w);
            u64::MAX.capture(w);
            (u128::MAX - 1).capture(w);
            1.5f32.capture(w);
            (-2.25f64).capture(w);
            "short".capture(w);
            "truncated text".capture(w);
            "héé".capture(w);
            Some(Ok::<u8, String>(1)).capture(w);
            None::<u8>.capture(w);
            Err::<u8, &str>("bad").capture(w);
            (1u8, "x", (2i64,)).capture(w);
            vec![1u16, 2, 3, 4, 5, 6].capture(w);
            w.structure("Point", 2);
            w.field("x");
            w.i32(3);
            w.field("y");
            w.debug(&vec!["debugged"; 3]);
            w.opaque("my::Opaque");
        });
        let decoded = record::decode(&rec).expect("decode");
        let Event::Enter { args, .. } = decoded.event else {
            panic!("not an enter")
        };
        let mut want = Vec::new();
        for a in &args {
            binary::encode_value(&mut want, a);
        }
        let mut got = Vec::new();
        let mut pos = Header::LEN;
        let mut n = 0;
        let mut errs = Vec::new();
        while pos < rec.len() {
            errs.push(transcode_value(&rec, &mut pos, &mut got, 0).expect("transcode"));
            n += 1;
        }
        assert_eq!(n, args.len());
        assert_eq!(got, want);
        let model_errs: Vec<bool> = args.iter().map(Value::is_err).collect();
        assert_eq!(errs, model_errs);
    }

    #[test]
    fn damaged_values_are_errors_not_panics() {
        let rec = record_with(64, |w| "abc".capture(w));
        for cut in Header::LEN..rec.len() {
            let mut pos = Header::LEN;
            let r = transcode_value(&rec[..cut], &mut pos, &mut Vec::new(), 0);
            assert!(r.is_err(), "cut at {cut}");
        }
        let mut bad = rec.clone();
        bad[Header::LEN] = 200;
        let mut pos = Header::LEN;
        assert!(transcode_value(&bad, &mut pos, &mut Vec::new(), 0).is_err());
    }
}
