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
//!
//! * `writer`: [`BinaryWriter`];
//! * `reader`: [`BinaryReader`] and [`read_all`];
//! * `value`: the value encoding, both ways ([`encode_value`], [`decode_value_exact`]).

mod reader;
mod value;
mod writer;

pub use reader::{is_segmented, read_all, BinaryReader, FileBytes, Record};
pub use value::{decode_value_exact, encode_value};
pub use writer::BinaryWriter;

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
    pub const CUT: u8 = 28;
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
// Integer and string encodings shared by the writer, the reader and the collector's fast path.

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

pub(super) fn zigzag(v: i128) -> u128 {
    ((v << 1) ^ (v >> 127)) as u128
}

pub(super) fn unzigzag(v: u128) -> i128 {
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
