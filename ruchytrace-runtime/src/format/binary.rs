//! The binary function trace (`.rtrace`): compact, streamable, crash-tolerant.
//!
//! ```text
//! file    = header frame*
//! header  = "RUCHYTR\0" (8 bytes) version:u32le flags:u32le(0)
//! frame   = len:u32le crc32:u32le payload[len]      (crc32/IEEE of the payload)
//! payload = record*                                 (records never span frames)
//! ```
//!
//! Records start with a tag byte; integers are LEB128 varints (signed ones zigzag-encoded).
//! Events refer to threads by a small index declared by a `THREAD_DEF` record, and carry their
//! timestamp as a zigzag delta from the previous event of the same thread. The metadata and site
//! records hold JSON. The last record of a complete file is the `TRAILER`. The full record table
//! is in `docs/trace-format.md`.
//!
//! A frame is written whenever the writer is flushed (or its buffer passes 64 KiB), so a
//! `SIGKILL` keeps every flushed frame. The reader checks every complete frame's checksum; it
//! stops at the first damaged frame and, for a frame cut short by the end of the file, keeps
//! every record that is complete in it (records are self-delimiting, so a cut record never
//! decodes).

use super::{EventCtx, ReadError, TraceWriter};
use crate::model::{
    Category, Event, LossReason, Metadata, Return, Site, Trace, Trailer, SCHEMA_VERSION,
};
use std::io::{self, Read, Write};

/// The first 8 bytes of every binary trace.
pub const MAGIC: [u8; 8] = *b"RUCHYTR\0";
/// Header size: magic, version, flags.
pub const HEADER_LEN: usize = 16;
/// Frame header size: length and checksum.
pub const FRAME_HEADER_LEN: usize = 8;
/// Largest payload a reader accepts (a larger length field is damage).
pub const MAX_FRAME: usize = 16 << 20;
/// The writer closes a frame once its buffer reaches this size, even without a flush.
pub const FRAME_TARGET: usize = 64 << 10;

/// Record tags.
pub(crate) mod tag {
    pub const METADATA: u8 = 0x01;
    pub const SITE: u8 = 0x02;
    pub const THREAD_DEF: u8 = 0x03;
    pub const ENTER: u8 = 0x10;
    pub const ENTER_ASYNC: u8 = 0x11;
    /// Exit tags: `EXIT | kind`, plus `EXIT_ASYNC_BIT` when a call id follows.
    pub const EXIT_VALUE: u8 = 0x20;
    pub const EXIT_NOT_CAPTURED: u8 = 0x21;
    pub const EXIT_PANIC: u8 = 0x22;
    pub const EXIT_PANIC_MSG: u8 = 0x23;
    pub const EXIT_CANCELLED: u8 = 0x24;
    pub const EXIT_ASYNC_BIT: u8 = 0x08;
    pub const SUSPEND: u8 = 0x30;
    pub const RESUME: u8 = 0x31;
    pub const INSTANT: u8 = 0x32;
    pub const THREAD: u8 = 0x33;
    pub const THREAD_NAMED: u8 = 0x34;
    pub const LOSS: u8 = 0x35;
    pub const STALL: u8 = 0x36;
    pub const SOURCE_TRUNCATED: u8 = 0x7E;
    pub const TRAILER: u8 = 0x7F;
}

/// Value tags.
pub(crate) mod vtag {
    pub const UNIT: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const CHAR: u8 = 3;
    pub const I8: u8 = 4;
    pub const I16: u8 = 5;
    pub const I32: u8 = 6;
    pub const I64: u8 = 7;
    pub const I128: u8 = 8;
    pub const U8: u8 = 9;
    pub const U16: u8 = 10;
    pub const U32: u8 = 11;
    pub const U64: u8 = 12;
    pub const U128: u8 = 13;
    pub const F32: u8 = 14;
    pub const F64: u8 = 15;
    pub const STR: u8 = 16;
    pub const STR_CUT: u8 = 17;
    pub const NONE: u8 = 18;
    pub const SOME: u8 = 19;
    pub const OK: u8 = 20;
    pub const ERR: u8 = 21;
    pub const TUPLE: u8 = 22;
    pub const SEQ: u8 = 23;
    pub const STRUCT: u8 = 24;
    pub const DEBUG: u8 = 25;
    pub const DEBUG_CUT: u8 = 26;
    pub const OPAQUE: u8 = 27;
}

/// Values nested deeper than this are rejected by the decoder (guards the stack against
/// hostile input; captured values are far shallower).
pub const MAX_VALUE_DEPTH: usize = 128;

/// CRC-32/IEEE of `data` (as in zlib/PNG; `crc32(b"123456789") == 0xCBF43926`), by
/// `crc32fast`: every written byte goes through here, so this is on the collector's critical
/// path.
pub fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

// ---------------------------------------------------------------------------------------------
// Encoding

pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub(crate) fn put_u(buf: &mut Vec<u8>, mut v: u64) {
    // The common case (ids, small counts, short deltas) without 128-bit arithmetic.
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn zigzag(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)) as u128
}

fn unzigzag(v: u128) -> i128 {
    ((v >> 1) as i128) ^ -((v & 1) as i128)
}

pub(crate) fn put_i(buf: &mut Vec<u8>, v: i128) {
    put_varint(buf, zigzag(v));
}

/// `put_i` for values that fit an `i64` (same bytes, 64-bit arithmetic).
pub(crate) fn put_i64(buf: &mut Vec<u8>, v: i64) {
    put_u(buf, ((v << 1) ^ (v >> 63)) as u64);
}

pub(crate) fn put_str(buf: &mut Vec<u8>, s: &str) {
    put_u(buf, s.len() as u64);
    buf.extend_from_slice(s.as_bytes());
}

/// Appends the encoding of `v`.
pub fn encode_value(buf: &mut Vec<u8>, v: &crate::model::Value) {
    use crate::model::Value as V;
    match v {
        V::Unit => buf.push(vtag::UNIT),
        V::Bool(b) => buf.push(if *b { vtag::TRUE } else { vtag::FALSE }),
        V::Char(c) => {
            buf.push(vtag::CHAR);
            put_u(buf, u64::from(*c as u32));
        }
        V::I8(x) => {
            buf.push(vtag::I8);
            put_i(buf, i128::from(*x));
        }
        V::I16(x) => {
            buf.push(vtag::I16);
            put_i(buf, i128::from(*x));
        }
        V::I32(x) => {
            buf.push(vtag::I32);
            put_i(buf, i128::from(*x));
        }
        V::I64(x) => {
            buf.push(vtag::I64);
            put_i(buf, i128::from(*x));
        }
        V::I128(x) => {
            buf.push(vtag::I128);
            put_i(buf, *x);
        }
        V::U8(x) => {
            buf.push(vtag::U8);
            put_u(buf, u64::from(*x));
        }
        V::U16(x) => {
            buf.push(vtag::U16);
            put_u(buf, u64::from(*x));
        }
        V::U32(x) => {
            buf.push(vtag::U32);
            put_u(buf, u64::from(*x));
        }
        V::U64(x) => {
            buf.push(vtag::U64);
            put_u(buf, *x);
        }
        V::U128(x) => {
            buf.push(vtag::U128);
            put_varint(buf, *x);
        }
        V::F32(x) => {
            buf.push(vtag::F32);
            buf.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        V::F64(x) => {
            buf.push(vtag::F64);
            buf.extend_from_slice(&x.to_bits().to_le_bytes());
        }
        V::Str {
            text,
            truncated_from,
        }
        | V::Debug {
            text,
            truncated_from,
        } => {
            let is_str = matches!(v, V::Str { .. });
            let t = match (is_str, truncated_from.is_some()) {
                (true, false) => vtag::STR,
                (true, true) => vtag::STR_CUT,
                (false, false) => vtag::DEBUG,
                (false, true) => vtag::DEBUG_CUT,
            };
            buf.push(t);
            put_str(buf, text);
            if let Some(n) = truncated_from {
                put_u(buf, *n);
            }
        }
        V::None => buf.push(vtag::NONE),
        V::Some(x) => {
            buf.push(vtag::SOME);
            encode_value(buf, x);
        }
        V::Ok(x) => {
            buf.push(vtag::OK);
            encode_value(buf, x);
        }
        V::Err(x) => {
            buf.push(vtag::ERR);
            encode_value(buf, x);
        }
        V::Tuple(items) => {
            buf.push(vtag::TUPLE);
            put_u(buf, items.len() as u64);
            items.iter().for_each(|i| encode_value(buf, i));
        }
        V::Seq { len, items } => {
            buf.push(vtag::SEQ);
            put_u(buf, *len);
            put_u(buf, items.len() as u64);
            items.iter().for_each(|i| encode_value(buf, i));
        }
        V::Struct { name, fields } => {
            buf.push(vtag::STRUCT);
            put_str(buf, name);
            put_u(buf, fields.len() as u64);
            for (n, f) in fields {
                put_str(buf, n);
                encode_value(buf, f);
            }
        }
        V::Opaque(name) => {
            buf.push(vtag::OPAQUE);
            put_str(buf, name);
        }
    }
}

/// Streams a trace in the binary format.
pub struct BinaryWriter<W: Write + Send> {
    out: W,
    /// Records of the frame being built.
    buf: Vec<u8>,
    /// Thread index by (pid, tid); `last_ts[index]` is the thread's previous timestamp.
    threads: super::FxMap<(u32, u32), usize>,
    last_ts: Vec<u64>,
    /// The thread of the previous event: consecutive events of one thread skip the map.
    last_thread: Option<((u32, u32), usize)>,
    /// `declared[id]`: the site's record is already in the file.
    declared: Vec<bool>,
    header_written: bool,
}

impl<W: Write + Send> BinaryWriter<W> {
    /// A writer on `out`.
    pub fn new(out: W) -> Self {
        BinaryWriter {
            out,
            buf: Vec::with_capacity(FRAME_TARGET + 1024),
            threads: Default::default(),
            last_ts: Vec::new(),
            last_thread: None,
            declared: Vec::new(),
            header_written: false,
        }
    }

    /// Gives the output back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes the buffered records as one frame (no-op when empty).
    fn emit_frame(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut head = [0u8; FRAME_HEADER_LEN];
        head[..4].copy_from_slice(&(self.buf.len() as u32).to_le_bytes());
        head[4..].copy_from_slice(&crc32(&self.buf).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Tag, thread index and timestamp delta of an event (declaring the thread first if new).
    fn event_head(&mut self, tag: u8, pid: u32, tid: u32, ts: u64) {
        let key = (pid, tid);
        let index = match self.last_thread {
            Some((k, i)) if k == key => i,
            _ => self.thread_index(key),
        };
        self.buf.push(tag);
        put_u(&mut self.buf, index as u64);
        let delta = i128::from(ts) - i128::from(self.last_ts[index]);
        match i64::try_from(delta) {
            // Same bytes as `put_i`, without 128-bit arithmetic.
            Ok(d) => put_i64(&mut self.buf, d),
            Err(_) => put_i(&mut self.buf, delta),
        }
        self.last_ts[index] = ts;
    }

    /// The index of a thread, declaring it (`THREAD_DEF`) the first time.
    #[inline(never)]
    fn thread_index(&mut self, key: (u32, u32)) -> usize {
        let next = self.last_ts.len();
        let index = *self.threads.entry(key).or_insert_with(|| {
            self.buf.push(tag::THREAD_DEF);
            put_u(&mut self.buf, next as u64);
            put_u(&mut self.buf, u64::from(key.0));
            put_u(&mut self.buf, u64::from(key.1));
            next
        });
        if index == next {
            self.last_ts.push(0);
        }
        self.last_thread = Some((key, index));
        index
    }

    /// Collector fast path: appends the head of an event record (as [`TraceWriter::event`]
    /// would) and returns the frame buffer, for the caller to append the payload.
    pub(crate) fn raw_event(&mut self, tag: u8, pid: u32, tid: u32, ts: u64) -> &mut Vec<u8> {
        self.event_head(tag, pid, tid, ts);
        &mut self.buf
    }

    /// Collector fast path: closes the frame once it is large enough (as after an event).
    pub(crate) fn end_raw_event(&mut self) -> io::Result<()> {
        if self.buf.len() >= FRAME_TARGET {
            self.emit_frame()?;
        }
        Ok(())
    }

    fn close(&mut self, trailer: &Trailer, truncation: Option<&str>) -> io::Result<()> {
        if let Some(t) = truncation {
            self.buf.push(tag::SOURCE_TRUNCATED);
            put_str(&mut self.buf, t);
        }
        self.buf.push(tag::TRAILER);
        put_u(&mut self.buf, trailer.events);
        put_u(&mut self.buf, trailer.lost);
        put_u(&mut self.buf, trailer.end_ns);
        self.flush()
    }
}

impl<W: Write + Send> TraceWriter for BinaryWriter<W> {
    fn begin(&mut self, meta: &Metadata) -> io::Result<()> {
        let mut head = Vec::with_capacity(HEADER_LEN);
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        self.out.write_all(&head)?;
        self.header_written = true;
        let json = serde_json::to_string(meta).map_err(io::Error::other)?;
        self.buf.push(tag::METADATA);
        put_str(&mut self.buf, &json);
        // The metadata gets a frame of its own so that even a trace killed before its first
        // flush of events identifies itself.
        self.emit_frame()
    }

    fn site(&mut self, site: &Site) -> io::Result<()> {
        let json = serde_json::to_string(site).map_err(io::Error::other)?;
        self.buf.push(tag::SITE);
        put_str(&mut self.buf, &json);
        let i = site.id as usize;
        if self.declared.len() <= i {
            self.declared.resize(i + 1, false);
        }
        self.declared[i] = true;
        Ok(())
    }

    fn event(&mut self, ev: &Event, ctx: &EventCtx<'_>) -> io::Result<()> {
        // A site the caller did not declare but the context knows is declared now, so a reader
        // always meets a site before its first event.
        if let Some(s) = ctx.site {
            if !self.declared.get(s.id as usize).copied().unwrap_or(false) {
                self.site(s)?;
            }
        }
        match ev {
            Event::Enter {
                site,
                ts,
                pid,
                tid,
                args,
                call_id,
            } => {
                let t = if call_id.is_some() {
                    tag::ENTER_ASYNC
                } else {
                    tag::ENTER
                };
                self.event_head(t, *pid, *tid, *ts);
                put_u(&mut self.buf, u64::from(*site));
                put_u(&mut self.buf, args.len() as u64);
                for a in args {
                    encode_value(&mut self.buf, a);
                }
                if let Some(id) = call_id {
                    put_u(&mut self.buf, *id);
                }
            }
            Event::Exit {
                site,
                ts,
                pid,
                tid,
                ret,
                call_id,
            } => {
                let mut t = match ret {
                    Return::Value(_) => tag::EXIT_VALUE,
                    Return::NotCaptured => tag::EXIT_NOT_CAPTURED,
                    Return::Panic { message: None } => tag::EXIT_PANIC,
                    Return::Panic { message: Some(_) } => tag::EXIT_PANIC_MSG,
                    Return::Cancelled => tag::EXIT_CANCELLED,
                };
                if call_id.is_some() {
                    t |= tag::EXIT_ASYNC_BIT;
                }
                self.event_head(t, *pid, *tid, *ts);
                put_u(&mut self.buf, u64::from(*site));
                match ret {
                    Return::Value(v) => encode_value(&mut self.buf, v),
                    Return::Panic { message: Some(m) } => put_str(&mut self.buf, m),
                    _ => {}
                }
                if let Some(id) = call_id {
                    put_u(&mut self.buf, *id);
                }
            }
            Event::Suspend {
                site,
                ts,
                pid,
                tid,
                call_id,
            }
            | Event::Resume {
                site,
                ts,
                pid,
                tid,
                call_id,
            } => {
                let t = if matches!(ev, Event::Suspend { .. }) {
                    tag::SUSPEND
                } else {
                    tag::RESUME
                };
                self.event_head(t, *pid, *tid, *ts);
                put_u(&mut self.buf, u64::from(*site));
                put_u(&mut self.buf, *call_id);
            }
            Event::Instant {
                ts,
                pid,
                tid,
                category,
                name,
                detail,
            } => {
                self.event_head(tag::INSTANT, *pid, *tid, *ts);
                self.buf.push(*category as u8);
                put_str(&mut self.buf, name);
                put_str(&mut self.buf, detail);
            }
            Event::Thread { ts, pid, tid, name } => {
                let t = if name.is_some() {
                    tag::THREAD_NAMED
                } else {
                    tag::THREAD
                };
                self.event_head(t, *pid, *tid, *ts);
                if let Some(n) = name {
                    put_str(&mut self.buf, n);
                }
            }
            Event::Loss {
                ts,
                pid,
                tid,
                count,
                reason,
            } => {
                self.event_head(tag::LOSS, *pid, *tid, *ts);
                put_u(&mut self.buf, *count);
                self.buf.push(match reason {
                    LossReason::BufferFull => 0,
                    LossReason::Evicted => 1,
                    LossReason::Unflushed => 2,
                });
            }
            Event::Stall {
                ts,
                pid,
                tid,
                waited_ns,
            } => {
                self.event_head(tag::STALL, *pid, *tid, *ts);
                put_u(&mut self.buf, *waited_ns);
            }
        }
        if self.buf.len() >= FRAME_TARGET {
            self.emit_frame()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.emit_frame()?;
        self.out.flush()
    }

    fn finish(&mut self, trailer: &Trailer) -> io::Result<()> {
        self.close(trailer, None)
    }

    fn finish_incomplete(&mut self, trailer: &Trailer, truncation: &str) -> io::Result<()> {
        self.close(trailer, Some(truncation))
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// A decoding failure inside a payload: what, and where (offset within the payload).
#[derive(Debug)]
struct Bad(&'static str);

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Result<u8, Bad> {
        let b = *self.data.get(self.pos).ok_or(Bad("record cut short"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u128, Bad> {
        let mut v = 0u128;
        let mut shift = 0;
        loop {
            let b = self.u8()?;
            if shift >= 128 || (shift == 126 && b > 0x03) {
                return Err(Bad("varint overflow"));
            }
            v |= u128::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    fn u64(&mut self) -> Result<u64, Bad> {
        u64::try_from(self.varint()?).map_err(|_| Bad("integer out of range"))
    }

    fn u32(&mut self) -> Result<u32, Bad> {
        u32::try_from(self.varint()?).map_err(|_| Bad("integer out of range"))
    }

    fn int<T: TryFrom<i128>>(&mut self) -> Result<T, Bad> {
        T::try_from(unzigzag(self.varint()?)).map_err(|_| Bad("integer out of range"))
    }

    fn uint<T: TryFrom<u128>>(&mut self) -> Result<T, Bad> {
        T::try_from(self.varint()?).map_err(|_| Bad("integer out of range"))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Bad> {
        let end = self.pos.checked_add(n).ok_or(Bad("length overflow"))?;
        let s = self
            .data
            .get(self.pos..end)
            .ok_or(Bad("record cut short"))?;
        self.pos = end;
        Ok(s)
    }

    fn str(&mut self) -> Result<String, Bad> {
        let n = usize::try_from(self.u64()?).map_err(|_| Bad("length overflow"))?;
        let b = self.bytes(n)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Bad("string is not UTF-8"))
    }

    /// A count of items that each take at least one byte (bounded by what is left, so garbage
    /// never makes us allocate much).
    fn count(&mut self) -> Result<usize, Bad> {
        let n = self.u64()?;
        if n > (self.data.len() - self.pos) as u64 {
            return Err(Bad("record cut short"));
        }
        Ok(n as usize)
    }
}

fn decode_value(c: &mut Cursor<'_>, depth: usize) -> Result<crate::model::Value, Bad> {
    use crate::model::Value as V;
    if depth > MAX_VALUE_DEPTH {
        return Err(Bad("value nested too deeply"));
    }
    let d = depth + 1;
    Ok(match c.u8()? {
        vtag::UNIT => V::Unit,
        vtag::FALSE => V::Bool(false),
        vtag::TRUE => V::Bool(true),
        vtag::CHAR => V::Char(char::from_u32(c.u32()?).ok_or(Bad("invalid char"))?),
        vtag::I8 => V::I8(c.int()?),
        vtag::I16 => V::I16(c.int()?),
        vtag::I32 => V::I32(c.int()?),
        vtag::I64 => V::I64(c.int()?),
        vtag::I128 => V::I128(unzigzag(c.varint()?)),
        vtag::U8 => V::U8(c.uint()?),
        vtag::U16 => V::U16(c.uint()?),
        vtag::U32 => V::U32(c.uint()?),
        vtag::U64 => V::U64(c.uint()?),
        vtag::U128 => V::U128(c.varint()?),
        vtag::F32 => {
            let b = c.bytes(4)?;
            V::F32(f32::from_bits(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        }
        vtag::F64 => {
            let b = c.bytes(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            V::F64(f64::from_bits(u64::from_le_bytes(a)))
        }
        t @ (vtag::STR | vtag::STR_CUT | vtag::DEBUG | vtag::DEBUG_CUT) => {
            let text = c.str()?;
            let truncated_from = if t == vtag::STR_CUT || t == vtag::DEBUG_CUT {
                Some(c.u64()?)
            } else {
                None
            };
            if t == vtag::STR || t == vtag::STR_CUT {
                V::Str {
                    text,
                    truncated_from,
                }
            } else {
                V::Debug {
                    text,
                    truncated_from,
                }
            }
        }
        vtag::NONE => V::None,
        vtag::SOME => V::Some(Box::new(decode_value(c, d)?)),
        vtag::OK => V::Ok(Box::new(decode_value(c, d)?)),
        vtag::ERR => V::Err(Box::new(decode_value(c, d)?)),
        vtag::TUPLE => {
            let n = c.count()?;
            V::Tuple(
                (0..n)
                    .map(|_| decode_value(c, d))
                    .collect::<Result<_, _>>()?,
            )
        }
        vtag::SEQ => {
            let len = c.u64()?;
            let n = c.count()?;
            let items = (0..n)
                .map(|_| decode_value(c, d))
                .collect::<Result<_, _>>()?;
            V::Seq { len, items }
        }
        vtag::STRUCT => {
            let name = c.str()?;
            let n = c.count()?;
            let fields = (0..n)
                .map(|_| Ok((c.str()?, decode_value(c, d)?)))
                .collect::<Result<_, Bad>>()?;
            V::Struct { name, fields }
        }
        vtag::OPAQUE => V::Opaque(c.str()?),
        _ => return Err(Bad("unknown value tag")),
    })
}

/// Decodes one value from `bytes` (which must hold exactly one encoded value).
pub fn decode_value_exact(bytes: &[u8]) -> Option<crate::model::Value> {
    let mut c = Cursor {
        data: bytes,
        pos: 0,
    };
    let v = decode_value(&mut c, 0).ok()?;
    (c.pos == bytes.len()).then_some(v)
}

/// One record of a binary trace, as yielded by [`BinaryReader`] (the metadata record is read by
/// [`BinaryReader::new`]: see [`BinaryReader::metadata`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A site definition (before the first event that uses it).
    Site(Site),
    /// An event.
    Event(Event),
    /// The file was converted from an incomplete source: why.
    SourceTruncated(String),
    /// The trailer: the file is complete.
    Trailer(Trailer),
}

struct ThreadIn {
    pid: u32,
    tid: u32,
    last_ts: u64,
}

/// Streams the records of a binary trace with bounded memory (one frame at a time).
///
/// Iteration stops at the trailer, at the end of the input, or at the first damage; then
/// [`BinaryReader::truncation`] tells whether (and where) the input was cut or damaged, and
/// [`BinaryReader::is_complete`] whether the trailer was seen.
pub struct BinaryReader<R: Read> {
    input: R,
    metadata: Metadata,
    /// Byte offset in the file of `payload[0]`.
    payload_start: u64,
    payload: Vec<u8>,
    pos: usize,
    /// The current payload was cut by the end of the file (its checksum could not be checked).
    partial: Option<String>,
    threads: Vec<ThreadIn>,
    done: bool,
    complete: bool,
    truncation: Option<String>,
    /// The reason part of `truncation`.
    stop_what: String,
    events: u64,
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> BinaryReader<R> {
    /// Reads the header and the metadata record. Errors when the input is not a binary trace, is
    /// of an unsupported version, or ends (or is damaged) before its metadata is complete.
    pub fn new(mut input: R) -> Result<Self, ReadError> {
        let io_err = |e: io::Error| ReadError {
            offset: None,
            message: format!("cannot read: {e}"),
        };
        let mut head = [0u8; HEADER_LEN];
        let n = read_full(&mut input, &mut head).map_err(io_err)?;
        let m = n.min(MAGIC.len());
        if head[..m] != MAGIC[..m] || n == 0 {
            return Err(ReadError::at(
                0,
                "not a binary ruchytrace trace (bad magic)",
            ));
        }
        if n < HEADER_LEN {
            return Err(ReadError::at(
                n as u64,
                "truncated inside the file header (no metadata)",
            ));
        }
        let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        if version == 0 || version > SCHEMA_VERSION {
            return Err(ReadError::at(
                8,
                format!("unsupported binary trace version {version} (this reader supports 1 to {SCHEMA_VERSION})"),
            ));
        }
        let mut r = BinaryReader {
            input,
            metadata: placeholder_metadata(),
            payload_start: HEADER_LEN as u64,
            payload: Vec::new(),
            pos: 0,
            partial: None,
            threads: Vec::new(),
            done: false,
            complete: false,
            truncation: None,
            stop_what: String::new(),
            events: 0,
        };
        r.next_frame().map_err(io_err)?;
        let at = r.payload_start;
        let first = r
            .decode_record()
            .map_err(|b| ReadError::at(at, format!("no readable metadata: {}", b.0)))?;
        match first {
            Some(Decoded::Metadata(meta)) => {
                super::json::check_metadata(&meta).map_err(|m| ReadError::at(at, m))?;
                r.metadata = meta;
                Ok(r)
            }
            None => Err(ReadError::at(
                at,
                format!("no readable metadata: {}", r.stop_what),
            )),
            Some(_) => Err(ReadError::at(at, "the first record is not the metadata")),
        }
    }

    /// The trace's metadata.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// When iteration stopped early: `truncated at byte N: <what>`.
    pub fn truncation(&self) -> Option<&str> {
        self.truncation.as_deref()
    }

    /// True once the trailer has been read.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Events yielded so far.
    pub fn events_read(&self) -> u64 {
        self.events
    }

    fn stop(&mut self, at: u64, what: &str) {
        self.done = true;
        self.stop_what = what.to_owned();
        self.truncation = Some(format!("truncated at byte {at}: {what}"));
    }

    /// Loads the next frame into `payload`. On damage or end of input it sets `done` (and
    /// `truncation` unless the end is clean after a trailer).
    fn next_frame(&mut self) -> io::Result<()> {
        let frame_at = self.payload_start + self.payload.len() as u64;
        self.payload.clear();
        self.pos = 0;
        let mut head = [0u8; FRAME_HEADER_LEN];
        let n = read_full(&mut self.input, &mut head)?;
        if n == 0 {
            self.payload_start = frame_at;
            self.stop(frame_at, "the file ends without a trailer");
            return Ok(());
        }
        if n < FRAME_HEADER_LEN {
            self.payload_start = frame_at;
            self.stop(frame_at, "incomplete frame header");
            return Ok(());
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        self.payload_start = frame_at + FRAME_HEADER_LEN as u64;
        if len == 0 || len > MAX_FRAME {
            self.payload_start = frame_at;
            self.stop(frame_at, &format!("invalid frame length {len}"));
            return Ok(());
        }
        self.payload.resize(len, 0);
        let got = read_full(&mut self.input, &mut self.payload)?;
        if got < len {
            self.payload.truncate(got);
            self.partial = Some(format!("incomplete frame ({got} of {len} bytes)"));
        } else if crc32(&self.payload) != crc {
            self.payload.clear();
            self.payload_start = frame_at;
            self.stop(frame_at, "frame checksum mismatch");
        }
        Ok(())
    }

    /// Decodes the record at `pos`. `Ok(None)` when the input is exhausted or damaged (see
    /// `done`/`truncation`).
    fn decode_record(&mut self) -> Result<Option<Decoded>, Bad> {
        loop {
            if self.done {
                return Ok(None);
            }
            if self.pos < self.payload.len() {
                break;
            }
            if let Some(p) = self.partial.take() {
                let at = self.payload_start + self.payload.len() as u64;
                self.stop(at, &p);
                return Ok(None);
            }
            if let Err(e) = self.next_frame() {
                let at = self.payload_start;
                self.stop(at, &format!("read error: {e}"));
                return Ok(None);
            }
        }
        let start = self.pos;
        let mut c = Cursor {
            data: &self.payload,
            pos: start,
        };
        match decode_one(&mut c, &mut self.threads) {
            // The placeholder metadata has version 0: a real one was already read.
            Ok(Decoded::Metadata(_)) if self.metadata.version != 0 => {
                let at = self.payload_start + start as u64;
                self.stop(at, "malformed record (a second metadata record)");
                Ok(None)
            }
            Ok(rec) => {
                self.pos = c.pos;
                Ok(Some(rec))
            }
            Err(b) => {
                let at = self.payload_start + start as u64;
                match self.partial.take() {
                    Some(p) => self.stop(at, &p),
                    None => self.stop(at, &format!("malformed record ({})", b.0)),
                }
                Err(b)
            }
        }
    }
}

impl<R: Read> Iterator for BinaryReader<R> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let rec = match self.decode_record().ok().flatten()? {
            Decoded::Record(rec) => rec,
            // `decode_record` stops at a second metadata record.
            Decoded::Metadata(_) => return None,
        };
        match &rec {
            Record::Trailer(_) => {
                self.complete = true;
                // Nothing after the trailer is part of the trace.
                self.done = true;
            }
            Record::Event(_) => self.events += 1,
            _ => {}
        }
        Some(rec)
    }
}

fn placeholder_metadata() -> Metadata {
    Metadata {
        format: String::new(),
        version: 0,
        ruchytrace_version: String::new(),
        program: String::new(),
        args: Vec::new(),
        pid: 0,
        collector_tid: None,
        clock: crate::model::ClockInfo {
            domain: String::new(),
            source: String::new(),
            realtime_ns: 0,
            monotonic_ns: 0,
            tsc_hz: None,
        },
        settings: Default::default(),
    }
}

/// What a record decodes to: the metadata (only valid first) or a record for the iterator.
enum Decoded {
    Metadata(Metadata),
    Record(Record),
}

/// Decodes one record; `THREAD_DEF` records are consumed internally (they yield the next one).
fn decode_one(c: &mut Cursor<'_>, threads: &mut Vec<ThreadIn>) -> Result<Decoded, Bad> {
    loop {
        let t = c.u8()?;
        let rec = match t {
            tag::METADATA => {
                let s = c.str()?;
                return Ok(Decoded::Metadata(
                    serde_json::from_str(&s).map_err(|_| Bad("invalid metadata"))?,
                ));
            }
            tag::SITE => {
                let s = c.str()?;
                Record::Site(serde_json::from_str(&s).map_err(|_| Bad("invalid site"))?)
            }
            tag::THREAD_DEF => {
                let index = c.u64()?;
                let pid = c.u32()?;
                let tid = c.u32()?;
                if index != threads.len() as u64 {
                    return Err(Bad("thread index out of sequence"));
                }
                threads.push(ThreadIn {
                    pid,
                    tid,
                    last_ts: 0,
                });
                continue;
            }
            tag::SOURCE_TRUNCATED => Record::SourceTruncated(c.str()?),
            tag::TRAILER => Record::Trailer(Trailer {
                events: c.u64()?,
                lost: c.u64()?,
                end_ns: c.u64()?,
            }),
            _ => Record::Event(decode_event(t, c, threads)?),
        };
        return Ok(Decoded::Record(rec));
    }
}

fn decode_event(t: u8, c: &mut Cursor<'_>, threads: &mut [ThreadIn]) -> Result<Event, Bad> {
    let index = usize::try_from(c.u64()?).map_err(|_| Bad("unknown thread index"))?;
    let delta = unzigzag(c.varint()?);
    let th = threads.get_mut(index).ok_or(Bad("unknown thread index"))?;
    let ts =
        u64::try_from(i128::from(th.last_ts) + delta).map_err(|_| Bad("timestamp out of range"))?;
    let (pid, tid) = (th.pid, th.tid);
    let ev = match t {
        tag::ENTER | tag::ENTER_ASYNC => {
            let site = c.u32()?;
            let n = c.count()?;
            let args = (0..n)
                .map(|_| decode_value(c, 0))
                .collect::<Result<_, _>>()?;
            let call_id = if t == tag::ENTER_ASYNC {
                Some(c.u64()?)
            } else {
                None
            };
            Event::Enter {
                site,
                ts,
                pid,
                tid,
                args,
                call_id,
            }
        }
        0x20..=0x24 | 0x28..=0x2C => {
            let site = c.u32()?;
            let ret = match t & !tag::EXIT_ASYNC_BIT {
                tag::EXIT_VALUE => Return::Value(decode_value(c, 0)?),
                tag::EXIT_NOT_CAPTURED => Return::NotCaptured,
                tag::EXIT_PANIC => Return::Panic { message: None },
                tag::EXIT_PANIC_MSG => Return::Panic {
                    message: Some(c.str()?),
                },
                _ => Return::Cancelled,
            };
            let call_id = if t & tag::EXIT_ASYNC_BIT != 0 {
                Some(c.u64()?)
            } else {
                None
            };
            Event::Exit {
                site,
                ts,
                pid,
                tid,
                ret,
                call_id,
            }
        }
        tag::SUSPEND | tag::RESUME => {
            let site = c.u32()?;
            let call_id = c.u64()?;
            if t == tag::SUSPEND {
                Event::Suspend {
                    site,
                    ts,
                    pid,
                    tid,
                    call_id,
                }
            } else {
                Event::Resume {
                    site,
                    ts,
                    pid,
                    tid,
                    call_id,
                }
            }
        }
        tag::INSTANT => {
            let category = *Category::ALL
                .get(usize::from(c.u8()?))
                .ok_or(Bad("unknown category"))?;
            Event::Instant {
                ts,
                pid,
                tid,
                category,
                name: c.str()?,
                detail: c.str()?,
            }
        }
        tag::THREAD => Event::Thread {
            ts,
            pid,
            tid,
            name: None,
        },
        tag::THREAD_NAMED => Event::Thread {
            ts,
            pid,
            tid,
            name: Some(c.str()?),
        },
        tag::LOSS => Event::Loss {
            ts,
            pid,
            tid,
            count: c.u64()?,
            reason: match c.u8()? {
                0 => LossReason::BufferFull,
                1 => LossReason::Evicted,
                2 => LossReason::Unflushed,
                _ => return Err(Bad("unknown loss reason")),
            },
        },
        tag::STALL => Event::Stall {
            ts,
            pid,
            tid,
            waited_ns: c.u64()?,
        },
        _ => return Err(Bad("unknown record tag")),
    };
    // Only a fully decoded event moves the thread's clock (a failed decode leaves no trace).
    th_commit(threads, index, ts);
    Ok(ev)
}

fn th_commit(threads: &mut [ThreadIn], index: usize, ts: u64) {
    threads[index].last_ts = ts;
}

/// Reads a whole binary trace (from memory, a file, a pipe...).
pub fn read_all(input: impl Read) -> Result<Trace, ReadError> {
    let mut reader = BinaryReader::new(input)?;
    let mut sites = super::SiteTable::new();
    let mut events = Vec::new();
    let mut trailer = None;
    let mut source_truncated = None;
    for rec in reader.by_ref() {
        match rec {
            Record::Site(s) => sites.insert(s),
            Record::Event(e) => events.push(e),
            Record::Trailer(t) => trailer = Some(t),
            Record::SourceTruncated(s) => source_truncated = Some(s),
        }
    }
    let truncation = reader.truncation().map(str::to_owned).or(source_truncated);
    Ok(Trace {
        metadata: reader.metadata.clone(),
        sites: sites.iter().cloned().collect(),
        events,
        trailer,
        truncation,
    })
}
