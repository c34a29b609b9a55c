//! The record encoding, written by the recording threads straight into their trace-file
//! segments (see `segment`), and its safe, bounds-checked decoder.
//!
//! A record is one header byte — kind in bits 0-3, the size class of `aux` in bits 4-5 and of
//! `dt` in bits 6-7 (classes 0-3 mean 1, 2, 4, 8 bytes) — then `aux` (a site id, category,
//! reason or thread id), then `dt` (clock ticks since the previous record of the segment, or
//! since the segment's base), then a kind-specific payload of values encoded by
//! [`crate::capture::ArgWriter`]. The header byte is never 0, and 0 follows the last record.

use crate::capture::tag;
use crate::model::{Category, Event, LossReason, Return, Value};

/// The largest header: one byte, 8 bytes of `aux`, 8 of `dt`.
pub const MAX_HEADER: usize = 17;

/// Writes a record's `aux` and time delta (each in its size class), and for a call entry a
/// placeholder byte for its number of values, at the start of `w`'s region, and returns the
/// record's header byte, which the caller stores in front of them (the recorder stores it last).
#[inline(always)]
pub(crate) fn put_aux_dt(
    w: &mut crate::capture::ArgWriter,
    k: u8,
    aux: u32,
    dt: u64,
    count: bool,
) -> u8 {
    let (ac, dc) = w.put_head(u64::from(aux), dt, count);
    header(k, ac, dc)
}

/// The header byte of a record.
#[inline(always)]
pub fn header(kind: u8, aux_class: u8, dt_class: u8) -> u8 {
    kind | (aux_class << 4) | (dt_class << 6)
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
    /// Thread name (metadata segment): aux = tid; payload = name (str value) or unit.
    pub const THREAD: u8 = 10;
    /// Clock anchor (metadata segment): payload = TSC ticks (u64), `CLOCK_MONOTONIC` ns (u64).
    pub const ANCHOR: u8 = 11;
    /// Call site (metadata segment): aux = site id; payload = see `decode_site`.
    pub const SITE: u8 = 12;
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

/// Decoding failed: the bytes are not what this encoder writes (damage, or a bug), reported
/// rather than trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

/// A bounds-checked reader over a byte slice.
pub(crate) struct Cursor<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &'a [u8], pos: usize) -> Self {
        Cursor { b, pos }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.b.len().saturating_sub(self.pos) {
            return Err(DecodeError(format!(
                "record runs past the end of its segment ({} + {n} > {})",
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
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    /// An unsigned integer of size class `c` (1, 2, 4 or 8 bytes).
    pub(crate) fn class(&mut self, c: u8) -> Result<u64, DecodeError> {
        let b = self.take(1 << c)?;
        let mut v = [0u8; 8];
        v[..b.len()].copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    }
    fn text(&mut self, c: u8) -> Result<(String, Option<u64>), DecodeError> {
        let full = self.class(c)?;
        let kept = self.class(c)?;
        if kept > full && full != 0 {
            return Err(DecodeError(format!("text keeps {kept} of {full} bytes")));
        }
        let bytes = self.take(kept as usize)?;
        let text = String::from_utf8_lossy(bytes).into_owned();
        // A `Debug` text cut while formatting has an unknown full length, stored as 0.
        let truncated = (kept < full || (full == 0 && kept > 0)).then_some(full);
        Ok((text, truncated))
    }
    fn name(&mut self) -> Result<String, DecodeError> {
        let n = self.u8()? as usize;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// Decodes one value.
pub(crate) fn value(c: &mut Cursor<'_>, depth: u32) -> Result<Value, DecodeError> {
    if depth > 64 {
        return Err(DecodeError("value nested deeper than 64 levels".into()));
    }
    let byte = c.u8()?;
    let t = byte & tag::MASK;
    let cl = byte >> tag::CLASS_SHIFT;
    if cl > 3 {
        return Err(DecodeError(format!("bad value tag byte {byte:#x}")));
    }
    Ok(match t {
        tag::UNIT => Value::Unit,
        tag::BOOL => Value::Bool(c.u8()? != 0),
        tag::CHAR => {
            Value::Char(char::from_u32(c.class(cl)? as u32).unwrap_or(char::REPLACEMENT_CHARACTER))
        }
        tag::I8 => Value::I8(c.u8()? as i8),
        tag::I16 => Value::I16(unzigzag(c.class(cl)?) as i16),
        tag::I32 => Value::I32(unzigzag(c.class(cl)?) as i32),
        tag::I64 => Value::I64(unzigzag(c.class(cl)?)),
        tag::I128 => Value::I128(i128::from_le_bytes(c.arr()?)),
        tag::U8 => Value::U8(c.u8()?),
        tag::U16 => Value::U16(c.class(cl)? as u16),
        tag::U32 => Value::U32(c.class(cl)? as u32),
        tag::U64 => Value::U64(c.class(cl)?),
        tag::U128 => Value::U128(u128::from_le_bytes(c.arr()?)),
        tag::F32 => Value::F32(f32::from_le_bytes(c.arr()?)),
        tag::F64 => Value::F64(f64::from_le_bytes(c.arr()?)),
        tag::STR => {
            let (text, truncated_from) = c.text(cl)?;
            Value::Str {
                text,
                truncated_from,
            }
        }
        tag::DEBUG => {
            let (text, truncated_from) = c.text(cl)?;
            Value::Debug {
                text,
                truncated_from,
            }
        }
        tag::OPAQUE => Value::Opaque(c.text(cl)?.0),
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
            let len = c.class(cl)?;
            let kept = c.class(cl)?;
            if kept > len {
                return Err(DecodeError(format!("sequence keeps {kept} of {len} items")));
            }
            let mut items = Vec::with_capacity(kept.min(1024) as usize);
            for _ in 0..kept {
                items.push(value(c, depth + 1)?);
            }
            Value::Seq { len, items }
        }
        tag::STRUCT => {
            let name = c.name()?;
            let n = c.u8()?;
            let mut fields = Vec::with_capacity(n as usize);
            for _ in 0..n {
                if c.u8()? != tag::FIELD {
                    return Err(DecodeError(format!("struct {name}: field name expected")));
                }
                let fname = c.name()?;
                fields.push((fname, value(c, depth + 1)?));
            }
            Value::Struct { name, fields }
        }
        tag::CUT => Value::Cut,
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

/// A call site as the metadata segment stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteRecord {
    /// Site id.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// `module_path!()`.
    pub module_path: String,
    /// Source file.
    pub file: String,
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
    /// `SiteKind` as 0 fn, 1 method, 2 async.
    pub kind: u8,
    /// The site's own sample rate (0 = the global rate).
    pub sample: u32,
    /// Return type as written.
    pub return_type: String,
    /// (name, type) of each captured argument.
    pub args: Vec<(String, String)>,
}

/// What one record decodes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// A function event (ts, pid and tid still 0).
    Event(Event),
    /// A thread name (metadata segment).
    Thread {
        /// Thread id.
        tid: u32,
        /// Its name, if it has one.
        name: Option<String>,
    },
    /// A clock anchor (metadata segment).
    Anchor {
        /// TSC ticks.
        tsc: u64,
        /// `CLOCK_MONOTONIC` ns.
        ns: u64,
    },
    /// A call site (metadata segment).
    Site(SiteRecord),
}

/// One decoded record: what it holds, its time delta and where the next record starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Ticks since the previous record of the segment.
    pub dt: u64,
    /// The content.
    pub decoded: Decoded,
    /// Offset of the next record's header byte.
    pub next: usize,
}

fn str_value(c: &mut Cursor<'_>, what: &str) -> Result<String, DecodeError> {
    match value(c, 0)? {
        Value::Str { text, .. } => Ok(text),
        _ => Err(DecodeError(format!("{what} must be a string"))),
    }
}

/// Decodes the record starting at `b[pos]`; `Ok(None)` at the terminating 0 byte.
pub fn decode_at(b: &[u8], pos: usize) -> Result<Option<Record>, DecodeError> {
    let Some(&h) = b.get(pos) else {
        return Err(DecodeError("segment ends without a terminator".into()));
    };
    if h == 0 {
        return Ok(None);
    }
    let k = h & 0x0F;
    let mut c = Cursor::new(b, pos + 1);
    let aux64 = c.class((h >> 4) & 3)?;
    let dt = c.class(h >> 6)?;
    let aux = u32::try_from(aux64).map_err(|_| DecodeError(format!("aux {aux64} too large")))?;
    let (ts, pid, tid) = (0, 0, 0);
    let args = |c: &mut Cursor<'_>| -> Result<Vec<Value>, DecodeError> {
        let n = c.u8()?;
        (0..n).map(|_| value(c, 0)).collect()
    };
    let event = match k {
        kind::ENTER => Event::Enter {
            site: aux,
            ts,
            pid,
            tid,
            args: args(&mut c)?,
            call_id: None,
        },
        kind::ENTER_ASYNC => {
            // The value count comes first, then the call id, then the values.
            let n = c.u8()?;
            let call_id = Some(c.u64()?);
            Event::Enter {
                site: aux,
                ts,
                pid,
                tid,
                args: (0..n).map(|_| value(&mut c, 0)).collect::<Result<_, _>>()?,
                call_id,
            }
        }
        kind::EXIT | kind::EXIT_ASYNC => {
            let call_id = if k == kind::EXIT_ASYNC {
                Some(c.u64()?)
            } else {
                None
            };
            Event::Exit {
                site: aux,
                ts,
                pid,
                tid,
                ret: decode_return(&mut c)?,
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
            let name = str_value(&mut c, "instant name")?;
            let detail = str_value(&mut c, "instant detail")?;
            Event::Instant {
                ts,
                pid,
                tid,
                category,
                name,
                detail,
            }
        }
        kind::LOSS => Event::Loss {
            ts,
            pid,
            tid,
            reason: match aux {
                0 => LossReason::BufferFull,
                1 => LossReason::Evicted,
                _ => LossReason::Unflushed,
            },
            count: c.u64()?,
        },
        kind::STALL => Event::Stall {
            ts,
            pid,
            tid,
            waited_ns: c.u64()?,
        },
        kind::THREAD => {
            let name = match value(&mut c, 0)? {
                Value::Str { text, .. } => Some(text),
                _ => None,
            };
            return Ok(Some(Record {
                dt,
                decoded: Decoded::Thread { tid: aux, name },
                next: c.pos,
            }));
        }
        kind::ANCHOR => {
            let tsc = c.u64()?;
            let ns = c.u64()?;
            return Ok(Some(Record {
                dt,
                decoded: Decoded::Anchor { tsc, ns },
                next: c.pos,
            }));
        }
        kind::SITE => {
            let name = str_value(&mut c, "site name")?;
            let module_path = str_value(&mut c, "module path")?;
            let file = str_value(&mut c, "file")?;
            let line = c.u32()?;
            let column = c.u32()?;
            let kind = c.u8()?;
            let sample = c.u32()?;
            let return_type = str_value(&mut c, "return type")?;
            let n = c.u8()?;
            let mut args = Vec::with_capacity(n as usize);
            for _ in 0..n {
                args.push((
                    str_value(&mut c, "arg name")?,
                    str_value(&mut c, "arg type")?,
                ));
            }
            return Ok(Some(Record {
                dt,
                decoded: Decoded::Site(SiteRecord {
                    id: aux,
                    name,
                    module_path,
                    file,
                    line,
                    column,
                    kind,
                    sample,
                    return_type,
                    args,
                }),
                next: c.pos,
            }));
        }
        other => return Err(DecodeError(format!("unknown record kind {other}"))),
    };
    Ok(Some(Record {
        dt,
        decoded: Decoded::Event(event),
        next: c.pos,
    }))
}
