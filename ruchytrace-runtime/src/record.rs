//! The in-memory record layout of a thread buffer, and its (safe, bounds-checked) decoder.
//!
//! Every record starts with a 17-byte [`Header`]: kind (u8), total length (u32), site id or aux
//! (u32), raw clock ticks (u64); then a kind-specific payload. The recorder writes records
//! (`recorder::ThreadState::record`), values in them are encoded by
//! [`crate::capture::ArgWriter`]. Records never leave the process in this form: the collector
//! decodes them ([`decode`], [`decode_slice`]) into [`crate::model::Event`]s, or transcodes them
//! straight into the binary format, and the file formats encode those.

use crate::capture::tag;
use crate::model::{Category, Event, LossReason, Return, Value};
use crate::ring::{Ring, PAD};

/// Header size in bytes.
pub const HEADER: usize = Header::LEN;

/// The header every record starts with. This type owns the header's byte layout: every reader
/// and writer of records goes through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Record kind (see [`kind`]).
    pub kind: u8,
    /// Total record length in bytes, header included.
    pub len: u32,
    /// Site id, or a kind-specific value (category, loss reason).
    pub aux: u32,
    /// Raw clock ticks (TSC or `CLOCK_MONOTONIC` nanoseconds).
    pub ticks: u64,
}

impl Header {
    /// Header size in bytes.
    pub const LEN: usize = 17;
    /// Offset of the kind byte.
    pub const KIND_AT: usize = 0;
    /// Offset of the total length (u32, little-endian).
    pub const LEN_AT: usize = 1;
    /// Offset of the site id / aux value (u32, little-endian).
    pub const AUX_AT: usize = 5;
    /// Offset of the clock ticks (u64, little-endian).
    pub const TICKS_AT: usize = 9;

    /// The header bytes of a record whose length is not known yet (0 at [`Header::LEN_AT`],
    /// patched once the payload is written).
    #[inline(always)]
    pub fn bytes(kind: u8, aux: u32, ticks: u64) -> [u8; Header::LEN] {
        let mut b = [0u8; Header::LEN];
        b[Self::KIND_AT] = kind;
        b[Self::AUX_AT..Self::TICKS_AT].copy_from_slice(&aux.to_le_bytes());
        b[Self::TICKS_AT..Self::LEN].copy_from_slice(&ticks.to_le_bytes());
        b
    }

    /// Reads the header at the start of `b`; `None` when `b` is shorter than a header.
    #[inline]
    pub fn parse(b: &[u8]) -> Option<Header> {
        let b: &[u8; Header::LEN] = b.get(..Header::LEN)?.try_into().ok()?;
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let mut ticks = [0u8; 8];
        ticks.copy_from_slice(&b[Self::TICKS_AT..Self::LEN]);
        Some(Header {
            kind: b[Self::KIND_AT],
            len: u32_at(Self::LEN_AT),
            aux: u32_at(Self::AUX_AT),
            ticks: u64::from_le_bytes(ticks),
        })
    }
}

/// Record kinds.
pub mod kind {
    /// Sync call entry: payload = argument values.
    pub const ENTER: u8 = 1;
    /// Sync call exit: payload = return encoding (see `ret`).
    pub const EXIT: u8 = 2;
    /// Async call first poll: payload = call id (u64), argument values.
    pub const ENTER_ASYNC: u8 = 3;
    /// Async call completion: payload = call id (u64), return encoding.
    pub const EXIT_ASYNC: u8 = 4;
    /// Async poll returned Pending: payload = call id.
    pub const SUSPEND: u8 = 5;
    /// Async poll began again: payload = call id.
    pub const RESUME: u8 = 6;
    /// Instant event: aux = category index; payload = name (str value), detail (str value).
    pub const INSTANT: u8 = 7;
    /// Lost events: aux = reason (0 buffer full, 1 evicted, 2 unflushed); payload = count (u64).
    pub const LOSS: u8 = 8;
    /// Blocked waiting for space: payload = waited ticks (u64).
    pub const STALL: u8 = 9;
    /// Thread name: payload = name (str value) or nothing.
    pub const THREAD: u8 = 10;
}

/// Return encodings (first payload byte of EXIT / after the call id of EXIT_ASYNC).
pub mod ret {
    /// A value follows.
    pub const VALUE: u8 = 0;
    /// Not captured.
    pub const NOT_CAPTURED: u8 = 1;
    /// Panic; a str value (the message) or UNIT follows.
    pub const PANIC: u8 = 2;
    /// Future dropped before completion.
    pub const CANCELLED: u8 = 3;
}

/// A decoded record before timestamp conversion and pid/tid assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    /// Raw ticks.
    pub ticks: u64,
    /// The event with `ts` = 0, pid/tid = 0 (filled in by [`RawEvent::finish`]).
    pub event: Event,
}

impl RawEvent {
    /// Fills in the converted timestamp and the thread identity.
    pub fn finish(mut self, ts_ns: u64, pid: u32, tid: u32) -> Event {
        match &mut self.event {
            Event::Enter {
                ts, pid: p, tid: t, ..
            }
            | Event::Exit {
                ts, pid: p, tid: t, ..
            }
            | Event::Suspend {
                ts, pid: p, tid: t, ..
            }
            | Event::Resume {
                ts, pid: p, tid: t, ..
            }
            | Event::Instant {
                ts, pid: p, tid: t, ..
            }
            | Event::Thread {
                ts, pid: p, tid: t, ..
            }
            | Event::Loss {
                ts, pid: p, tid: t, ..
            }
            | Event::Stall {
                ts, pid: p, tid: t, ..
            } => {
                *ts = ts_ns;
                *p = pid;
                *t = tid;
            }
        }
        self.event
    }
}

/// Decoding failed: the buffer holds something this decoder did not write (a bug, reported
/// rather than trusted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.pos + n > self.b.len() {
            return Err(DecodeError(format!(
                "value runs past its record ({} + {n} > {})",
                self.pos,
                self.b.len()
            )));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }
    fn text(&mut self) -> Result<(String, Option<u64>), DecodeError> {
        let full = self.u32()? as u64;
        let kept = self.u32()? as usize;
        let bytes = self.take(kept)?;
        let text = String::from_utf8_lossy(bytes).into_owned();
        let truncated = if (kept as u64) < full {
            Some(full)
        } else {
            None
        };
        Ok((text, truncated))
    }
}

fn value(c: &mut Cursor<'_>, depth: u32) -> Result<Value, DecodeError> {
    if depth > 64 {
        return Err(DecodeError("value nested deeper than 64 levels".into()));
    }
    let t = c.u8()?;
    Ok(match t {
        tag::UNIT => Value::Unit,
        tag::BOOL => Value::Bool(c.u8()? != 0),
        tag::CHAR => Value::Char(char::from_u32(c.u32()?).unwrap_or(char::REPLACEMENT_CHARACTER)),
        tag::I8 => Value::I8(i8::from_le_bytes(c.arr()?)),
        tag::I16 => Value::I16(i16::from_le_bytes(c.arr()?)),
        tag::I32 => Value::I32(i32::from_le_bytes(c.arr()?)),
        tag::I64 => Value::I64(i64::from_le_bytes(c.arr()?)),
        tag::I128 => Value::I128(i128::from_le_bytes(c.arr()?)),
        tag::U8 => Value::U8(c.u8()?),
        tag::U16 => Value::U16(u16::from_le_bytes(c.arr()?)),
        tag::U32 => Value::U32(c.u32()?),
        tag::U64 => Value::U64(c.u64()?),
        tag::U128 => Value::U128(u128::from_le_bytes(c.arr()?)),
        tag::F32 => Value::F32(f32::from_le_bytes(c.arr()?)),
        tag::F64 => Value::F64(f64::from_le_bytes(c.arr()?)),
        tag::STR => {
            let (text, truncated_from) = c.text()?;
            Value::Str {
                text,
                truncated_from,
            }
        }
        tag::DEBUG => {
            let (text, truncated_from) = c.text()?;
            Value::Debug {
                text,
                truncated_from,
            }
        }
        tag::OPAQUE => Value::Opaque(c.text()?.0),
        tag::NONE => Value::None,
        tag::SOME => Value::Some(Box::new(value(c, depth + 1)?)),
        tag::OK => Value::Ok(Box::new(value(c, depth + 1)?)),
        tag::ERR => Value::Err(Box::new(value(c, depth + 1)?)),
        tag::TUPLE => {
            let n = c.u8()?;
            Value::Tuple(
                (0..n)
                    .map(|_| value(c, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        tag::SEQ => {
            let len = c.u64()?;
            let kept = c.u32()?;
            Value::Seq {
                len,
                items: (0..kept)
                    .map(|_| value(c, depth + 1))
                    .collect::<Result<_, _>>()?,
            }
        }
        tag::STRUCT => {
            let name = c.text()?.0;
            let n = c.u8()?;
            let mut fields = Vec::with_capacity(n as usize);
            for _ in 0..n {
                if c.u8()? != tag::FIELD {
                    return Err(DecodeError(format!("struct {name}: field name expected")));
                }
                let fname = c.text()?.0;
                fields.push((fname, value(c, depth + 1)?));
            }
            Value::Struct { name, fields }
        }
        other => return Err(DecodeError(format!("unknown value tag {other}"))),
    })
}

fn decode_return(c: &mut Cursor<'_>) -> Result<Return, DecodeError> {
    Ok(match c.u8()? {
        ret::VALUE => Return::Value(value(c, 0)?),
        ret::NOT_CAPTURED => Return::NotCaptured,
        ret::PANIC => Return::Panic {
            message: match value(c, 0)? {
                Value::Str { text, .. } => Some(text),
                _ => None,
            },
        },
        ret::CANCELLED => Return::Cancelled,
        other => return Err(DecodeError(format!("unknown return encoding {other}"))),
    })
}

/// Decodes one record (`rec` is exactly the record's bytes).
pub fn decode(rec: &[u8]) -> Result<RawEvent, DecodeError> {
    let Some(Header {
        kind: k,
        aux,
        ticks,
        ..
    }) = Header::parse(rec)
    else {
        return Err(DecodeError(format!(
            "record of {} bytes is shorter than its header",
            rec.len()
        )));
    };
    let mut c = Cursor {
        b: rec,
        pos: HEADER,
    };
    let (ts, pid, tid) = (0, 0, 0);
    let event = match k {
        kind::ENTER | kind::ENTER_ASYNC => {
            let call_id = if k == kind::ENTER_ASYNC {
                Some(c.u64()?)
            } else {
                None
            };
            let mut args = Vec::new();
            while !c.done() {
                args.push(value(&mut c, 0)?);
            }
            Event::Enter {
                site: aux,
                ts,
                pid,
                tid,
                args,
                call_id,
            }
        }
        kind::EXIT | kind::EXIT_ASYNC => {
            let call_id = if k == kind::EXIT_ASYNC {
                Some(c.u64()?)
            } else {
                None
            };
            let ret = decode_return(&mut c)?;
            Event::Exit {
                site: aux,
                ts,
                pid,
                tid,
                ret,
                call_id,
            }
        }
        kind::SUSPEND => Event::Suspend {
            site: aux,
            ts,
            pid,
            tid,
            call_id: c.u64()?,
        },
        kind::RESUME => Event::Resume {
            site: aux,
            ts,
            pid,
            tid,
            call_id: c.u64()?,
        },
        kind::INSTANT => {
            let category = *Category::ALL
                .get(aux as usize)
                .ok_or_else(|| DecodeError(format!("unknown category {aux}")))?;
            let name = match value(&mut c, 0)? {
                Value::Str { text, .. } => text,
                _ => return Err(DecodeError("instant name must be a string".into())),
            };
            let detail = match value(&mut c, 0)? {
                Value::Str { text, .. } => text,
                _ => return Err(DecodeError("instant detail must be a string".into())),
            };
            Event::Instant {
                ts,
                pid,
                tid,
                category,
                name,
                detail,
            }
        }
        kind::LOSS => {
            let reason = match aux {
                0 => LossReason::BufferFull,
                1 => LossReason::Evicted,
                _ => LossReason::Unflushed,
            };
            Event::Loss {
                ts,
                pid,
                tid,
                count: c.u64()?,
                reason,
            }
        }
        kind::STALL => Event::Stall {
            ts,
            pid,
            tid,
            waited_ns: c.u64()?,
        },
        kind::THREAD => {
            let name = if c.done() {
                None
            } else {
                match value(&mut c, 0)? {
                    Value::Str { text, .. } => Some(text),
                    _ => None,
                }
            };
            Event::Thread { ts, pid, tid, name }
        }
        other => return Err(DecodeError(format!("unknown record kind {other}"))),
    };
    if !c.done() {
        return Err(DecodeError(format!(
            "{} trailing bytes in record kind {k}",
            rec.len() - c.pos
        )));
    }
    Ok(RawEvent { ticks, event })
}

/// The header of the next record of a contiguous ring slice: `Ok(None)` at lap padding or the
/// end of the slice, an error when the header is cut or its length is out of range.
#[inline]
pub fn next_header(s: &[u8]) -> Result<Option<Header>, DecodeError> {
    match s.first() {
        None | Some(&PAD) => return Ok(None),
        Some(_) => {}
    }
    let h =
        Header::parse(s).ok_or_else(|| DecodeError("record header cut at end of slice".into()))?;
    let len = h.len as usize;
    if len < HEADER || len > s.len() {
        return Err(DecodeError(format!("record length {len} out of range")));
    }
    Ok(Some(h))
}

/// Splits a contiguous ring slice into records (stopping at padding) and decodes each one.
/// A damaged record ends the slice: the error is returned after the records before it.
pub fn decode_slice(mut s: &[u8], out: &mut Vec<RawEvent>) -> Result<(), DecodeError> {
    while let Some(h) = next_header(s)? {
        let len = h.len as usize;
        out.push(decode(&s[..len])?);
        s = &s[len..];
    }
    Ok(())
}

/// Decodes everything pending in `ring` (used by the collector and by `testing`).
pub(crate) fn drain_ring(ring: &Ring, out: &mut Vec<RawEvent>) -> Result<(), DecodeError> {
    let mut err = None;
    ring.consume(|s| {
        if err.is_none() {
            if let Err(e) = decode_slice(s, out) {
                err = Some(e);
            }
        }
    });
    err.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header's layout: kind at 0, length at 1, aux at 5, ticks at 9, 17 bytes in all.
    #[test]
    fn header_bytes_and_parse_agree_on_the_layout() {
        let mut b = Header::bytes(kind::EXIT, 0x0403_0201, 0x0C0B_0A09_0807_0605).to_vec();
        assert_eq!(
            b,
            [2, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            "length left 0 to be patched"
        );
        b[Header::LEN_AT..Header::AUX_AT].copy_from_slice(&20u32.to_le_bytes());
        b.extend_from_slice(&[ret::NOT_CAPTURED, 0, 0]);
        let h = Header::parse(&b).expect("header");
        assert_eq!(
            h,
            Header {
                kind: kind::EXIT,
                len: 20,
                aux: 0x0403_0201,
                ticks: 0x0C0B_0A09_0807_0605,
            }
        );
        assert_eq!(Header::parse(&b[..Header::LEN - 1]), None);
        assert_eq!(next_header(&b), Ok(Some(h)));
        assert_eq!(next_header(&[PAD, 1, 2]), Ok(None));
        assert_eq!(next_header(&[]), Ok(None));
        assert!(next_header(&b[..19]).is_err(), "length past the slice");
        assert!(next_header(&b[..10]).is_err(), "cut header");
    }
}
