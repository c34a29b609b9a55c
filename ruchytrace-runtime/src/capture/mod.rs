//! Typed value capture: [`ArgWriter`] encodes values into a thread's buffer, [`Capture`] says how
//! a type is encoded structurally, and [`probe`] picks, without any trait bound on the user's
//! type, the best available capture: structural, else `Debug`, else the type name.
//!
//! Encoding (little-endian, read back by `record`'s decoder): one tag byte — for integers and
//! lengths with the size class (1, 2, 4 or 8 bytes) of what follows in bits 5-6 — then the
//! payload.
//! Primitives are stored as themselves — no formatting on the hot path.

use std::fmt;

pub(crate) mod tag {
    pub const UNIT: u8 = 0;
    pub const BOOL: u8 = 1;
    pub const CHAR: u8 = 2;
    pub const I8: u8 = 3;
    pub const I16: u8 = 4;
    pub const I32: u8 = 5;
    pub const I64: u8 = 6;
    pub const I128: u8 = 7;
    pub const U8: u8 = 8;
    pub const U16: u8 = 9;
    pub const U32: u8 = 10;
    pub const U64: u8 = 11;
    pub const U128: u8 = 12;
    pub const F32: u8 = 13;
    pub const F64: u8 = 14;
    pub const STR: u8 = 15;
    pub const NONE: u8 = 16;
    pub const SOME: u8 = 17;
    pub const OK: u8 = 18;
    pub const ERR: u8 = 19;
    pub const TUPLE: u8 = 20;
    pub const SEQ: u8 = 21;
    pub const STRUCT: u8 = 22;
    pub const DEBUG: u8 = 23;
    pub const OPAQUE: u8 = 24;
    pub const FIELD: u8 = 25;
    /// The rest of a value was cut by the byte or depth budget.
    pub const CUT: u8 = 26;
    /// Bits 5-6 of a tag byte: the size class of the integer or length that follows
    /// (1, 2, 4 or 8 bytes).
    pub const CLASS_SHIFT: u8 = 5;
    /// Mask of the tag proper.
    pub const MASK: u8 = 0x1F;
}

/// Size class of an unsigned value: 0, 1, 2, 3 for 1, 2, 4, 8 bytes. The class is the bit
/// length of the index of the highest non-zero byte (0-7), so two bit scans and no branch: half
/// the instructions of three compares, and this runs for every integer and every record header.
#[inline(always)]
pub(crate) fn class(v: u64) -> u8 {
    // (v | 1).ilog2() >> 3 is the byte index b; (b << 1 | 1).ilog2() its bit length, and
    // (ilog2 >> 2) | 1 == b << 1 | 1.
    (((v | 1).ilog2() >> 2) | 1).ilog2() as u8
}

/// Bytes of a size class (`1 << class`, by table: one load instead of a variable shift).
#[inline(always)]
fn width(class: u8) -> usize {
    const WIDTH: [u8; 4] = [1, 2, 4, 8];
    WIDTH[(class & 3) as usize] as usize
}

/// Copies `src` to `dst`. Names and most captured strings are a few bytes long, and a call of
/// `memcpy` for each (the only code the compiler emits for a copy of unknown length) costs more
/// than the copy: up to 16 bytes are moved with two loads and two stores that may overlap
/// (never reading outside `src`), longer ones by `memcpy`.
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes and not overlap `src`.
#[inline(always)]
unsafe fn copy_small(src: &[u8], dst: *mut u8) {
    let n = src.len();
    let s = src.as_ptr();
    // SAFETY: each load below reads inside `src` (offsets `0..n`) and each store writes
    // inside `dst..dst + n`, which the caller made writable.
    unsafe {
        if n >= 8 {
            if n > 16 {
                std::ptr::copy_nonoverlapping(s, dst, n);
                return;
            }
            let a = std::ptr::read_unaligned(s as *const u64);
            let b = std::ptr::read_unaligned(s.add(n - 8) as *const u64);
            std::ptr::write_unaligned(dst as *mut u64, a);
            std::ptr::write_unaligned(dst.add(n - 8) as *mut u64, b);
        } else if n >= 4 {
            let a = std::ptr::read_unaligned(s as *const u32);
            let b = std::ptr::read_unaligned(s.add(n - 4) as *const u32);
            std::ptr::write_unaligned(dst as *mut u32, a);
            std::ptr::write_unaligned(dst.add(n - 4) as *mut u32, b);
        } else if n > 0 {
            // 1-3 bytes: first, middle, last (the same byte when n is 1).
            *dst = *s;
            *dst.add(n / 2) = *s.add(n / 2);
            *dst.add(n - 1) = *s.add(n - 1);
        }
    }
}

/// Zigzag: small negative numbers become small unsigned numbers.
#[inline(always)]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Bytes past the end of every region an [`ArgWriter`] gets that are valid to write (and
/// whose content is ignored): fixed-size values are stored without a branch, at `min(len,
/// cap)`, and the overflow is checked once per record.
pub(crate) const SLACK: usize = 64;

/// The per-value budgets (`RUCHYTRACE_STRSIZE`, `RUCHYTRACE_MAXITEMS`, `RUCHYTRACE_VALSIZE`,
/// `RUCHYTRACE_DEPTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes kept of each string or `Debug` text.
    pub strsize: u32,
    /// Elements kept of each sequence.
    pub max_items: u32,
    /// Bytes of encoding per captured argument or return value, nested parts included.
    pub valsize: u32,
    /// Levels of nesting kept (structs, sequences, tuples); deeper values are cut.
    pub depth: u32,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            strsize: 64,
            max_items: 16,
            valsize: 256,
            depth: 3,
        }
    }
}

/// Encodes captured values into a bounded byte region.
///
/// Nothing is ever stored past the region plus `SLACK` bytes: a value that does not fit marks the
/// writer overflowed, and the runtime retries the whole record on its slow path with enough
/// room. Every top-level value (an argument, a return value) has a byte budget and nested
/// values a depth budget: past either, the writer stores a cut marker and the capture code of
/// sequences, structs and `Debug` stops early, so capture cost is bounded by the budget, not
/// by the value.
pub struct ArgWriter {
    ptr: *mut u8,
    len: usize,
    cap: usize,
    overflow: bool,
    budget: Budget,
    /// Nesting depth of the value being written (0 = between top-level values).
    depth: u32,
    /// Where the current top-level value's byte budget ends.
    value_end: usize,
    /// Top-level values written.
    values: u32,
}

/// An open sequence (see [`ArgWriter::seq_begin`]).
#[derive(Debug)]
pub struct SeqMark {
    at: usize,
    left: u32,
    kept: u32,
    cut: bool,
}

impl ArgWriter {
    /// # Safety
    /// `ptr` must be valid for writes of `cap + SLACK` bytes for the lifetime of the writer.
    pub(crate) unsafe fn new(ptr: *mut u8, cap: usize, budget: Budget) -> ArgWriter {
        ArgWriter {
            ptr,
            len: 0,
            cap,
            overflow: false,
            budget,
            depth: 0,
            value_end: 0,
            values: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn written(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(crate) fn overflowed(&self) -> bool {
        self.overflow || self.len > self.cap
    }

    /// Top-level values written so far.
    #[inline(always)]
    pub(crate) fn values(&self) -> u32 {
        self.values
    }

    /// Position for a later patch.
    #[inline(always)]
    pub(crate) fn mark(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(crate) fn patch_u32(&mut self, at: usize, v: u32) {
        if at + 4 <= self.len.min(self.cap) {
            // SAFETY: at + 4 <= cap, inside the region given to `new`.
            unsafe { std::ptr::write_unaligned(self.ptr.add(at) as *mut [u8; 4], v.to_le_bytes()) }
        }
    }

    #[inline(always)]
    pub(crate) fn patch_u8(&mut self, at: usize, v: u8) {
        if at < self.len.min(self.cap) {
            // SAFETY: at < cap, inside the region given to `new`.
            unsafe { *self.ptr.add(at) = v }
        }
    }

    #[inline(always)]
    pub(crate) fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        const { assert!(N <= SLACK) };
        // No branch: past the end, the bytes land in the slack (and `len > cap` marks the
        // overflow, checked once per record).
        let at = self.len.min(self.cap);
        // SAFETY: at <= cap and N <= SLACK, so at + N <= cap + SLACK, which `new`'s contract
        // makes writable.
        unsafe { std::ptr::write_unaligned(self.ptr.add(at) as *mut [u8; N], bytes) };
        self.len += N;
    }

    /// Stores the low `1 << class` bytes of `v` (all 8 are written; the rest land in what
    /// follows, or in the slack, and are overwritten or ignored).
    #[inline(always)]
    pub(crate) fn put_class(&mut self, v: u64, class: u8) {
        let at = self.len.min(self.cap);
        // SAFETY: as in `put`: at + 8 <= cap + SLACK.
        unsafe { std::ptr::write_unaligned(self.ptr.add(at) as *mut [u8; 8], v.to_le_bytes()) };
        self.len += width(class);
    }

    /// Stores `aux` and `dt` in their size classes, then for a call entry (`count`) one byte
    /// for the number of values, at the start of the region (at most 8 bytes written before):
    /// 17 bytes at most from there, inside the slack whatever the capacity, so without the
    /// clamp every other store pays. Returns the two classes.
    #[inline(always)]
    pub(crate) fn put_head(&mut self, aux: u64, dt: u64, count: bool) -> (u8, u8) {
        debug_assert!(self.len <= 8);
        // `aux` is mostly a site id below 256: a branch that always goes the same way is
        // cheaper than the class computation.
        let ac = if aux <= 0xFF { 0 } else { class(aux) };
        let dc = class(dt);
        // SAFETY: len <= 8, and the stores end at len + (1 << ac) + 8 + 1 <= 8 + 8 + 8 + 1 <
        // SLACK bytes from `ptr`, which `new`'s contract makes writable.
        unsafe {
            let p = self.ptr.add(self.len);
            std::ptr::write_unaligned(p as *mut [u8; 8], aux.to_le_bytes());
            let p = p.add(width(ac));
            std::ptr::write_unaligned(p as *mut [u8; 8], dt.to_le_bytes());
            *p.add(width(dc)) = 0;
        }
        self.len += width(ac) + width(dc) + count as usize;
        (ac, dc)
    }

    #[inline(always)]
    fn put_slice(&mut self, bytes: &[u8]) {
        if self.len <= self.cap && bytes.len() <= self.cap - self.len {
            // SAFETY: len + bytes.len() <= cap, inside the region; `bytes` is not in the region
            // (it is a user value or a static string).
            unsafe { copy_small(bytes, self.ptr.add(self.len)) };
            self.len += bytes.len();
        } else {
            self.overflow = true;
        }
    }

    /// Starts a value: at the top level, opens its byte budget.
    #[inline(always)]
    fn begin(&mut self) {
        if self.depth == 0 {
            self.value_end = self.len + self.budget.valsize as usize;
            self.values += 1;
        }
    }

    /// Bytes left in the current top-level value's budget.
    #[inline]
    fn left(&self) -> usize {
        if self.depth == 0 {
            self.budget.valsize as usize
        } else {
            self.value_end.saturating_sub(self.len)
        }
    }

    /// Starts a value that holds no nested values (a number, a bool): only counted, as the
    /// byte budget is for what nests.
    #[inline(always)]
    fn begin_scalar(&mut self) {
        self.values += (self.depth == 0) as u32;
    }

    #[inline(always)]
    fn tagged<const N: usize>(&mut self, t: u8, payload: [u8; N]) {
        self.begin_scalar();
        self.put([t]);
        self.put(payload);
    }

    #[inline(always)]
    fn int(&mut self, t: u8, v: u64) {
        self.begin_scalar();
        let c = class(v);
        // Tag and value with one clamp: 9 bytes from `min(len, cap)`, as in `put`.
        let at = self.len.min(self.cap);
        // SAFETY: at <= cap and 9 <= SLACK, so the stores end inside `cap + SLACK`.
        unsafe {
            let p = self.ptr.add(at);
            *p = t | (c << tag::CLASS_SHIFT);
            std::ptr::write_unaligned(p.add(1) as *mut [u8; 8], v.to_le_bytes());
        }
        self.len += 1 + width(c);
    }

    /// `()`.
    #[inline(always)]
    pub fn unit(&mut self) {
        self.begin_scalar();
        self.put([tag::UNIT]);
    }
    /// A `bool`.
    #[inline(always)]
    pub fn bool(&mut self, v: bool) {
        self.tagged(tag::BOOL, [v as u8]);
    }
    /// A `char`.
    #[inline(always)]
    pub fn char(&mut self, v: char) {
        self.int(tag::CHAR, v as u64);
    }
    /// An `i8`.
    #[inline(always)]
    pub fn i8(&mut self, v: i8) {
        self.tagged(tag::I8, v.to_le_bytes());
    }
    /// An `i16`.
    #[inline(always)]
    pub fn i16(&mut self, v: i16) {
        self.int(tag::I16, zigzag(v.into()));
    }
    /// An `i32`.
    #[inline(always)]
    pub fn i32(&mut self, v: i32) {
        self.int(tag::I32, zigzag(v.into()));
    }
    /// An `i64` (also `isize`).
    #[inline(always)]
    pub fn i64(&mut self, v: i64) {
        self.int(tag::I64, zigzag(v));
    }
    /// An `i128`.
    #[inline(always)]
    pub fn i128(&mut self, v: i128) {
        self.tagged(tag::I128, v.to_le_bytes());
    }
    /// A `u8`.
    #[inline(always)]
    pub fn u8(&mut self, v: u8) {
        self.tagged(tag::U8, v.to_le_bytes());
    }
    /// A `u16`.
    #[inline(always)]
    pub fn u16(&mut self, v: u16) {
        self.int(tag::U16, v.into());
    }
    /// A `u32`.
    #[inline(always)]
    pub fn u32(&mut self, v: u32) {
        self.int(tag::U32, v.into());
    }
    /// A `u64` (also `usize`).
    #[inline(always)]
    pub fn u64(&mut self, v: u64) {
        self.int(tag::U64, v);
    }
    /// A `u128`.
    #[inline(always)]
    pub fn u128(&mut self, v: u128) {
        self.tagged(tag::U128, v.to_le_bytes());
    }
    /// An `f32`.
    #[inline(always)]
    pub fn f32(&mut self, v: f32) {
        self.tagged(tag::F32, v.to_le_bytes());
    }
    /// An `f64`.
    #[inline(always)]
    pub fn f64(&mut self, v: f64) {
        self.tagged(tag::F64, v.to_le_bytes());
    }

    /// Tag (with the size class of `total`), total length, kept length, then the kept bytes.
    #[inline(always)]
    fn text_header(&mut self, t: u8, total: u64, kept: u64) {
        let c = class(total);
        self.put([t | (c << tag::CLASS_SHIFT)]);
        self.put_class(total, c);
        self.put_class(kept, c);
    }

    #[inline(always)]
    fn text_with_limit(&mut self, t: u8, s: &str, limit: usize) {
        self.begin();
        let limit = limit.min(self.left().saturating_sub(10));
        let mut keep = s.len().min(limit);
        while !s.is_char_boundary(keep) {
            keep -= 1;
        }
        self.text_header(t, s.len() as u64, keep as u64);
        self.put_slice(&s.as_bytes()[..keep]);
    }

    /// A string (cut at `RUCHYTRACE_STRSIZE` bytes and at the value's byte budget; the full
    /// length is kept).
    #[inline(always)]
    pub fn str(&mut self, s: &str) {
        self.text_with_limit(tag::STR, s, self.budget.strsize as usize);
    }

    /// A value through its `Debug` implementation. Formatting stops at the string and value
    /// budgets (the formatter is cut off, not run to the end and truncated); the text then
    /// shows as cut, with its full length unknown (recorded as 0).
    pub fn debug(&mut self, v: &dyn fmt::Debug) {
        struct Sink<'a> {
            w: &'a mut ArgWriter,
            kept: usize,
            limit: usize,
            cut: bool,
        }
        impl fmt::Write for Sink<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let room = self.limit - self.kept;
                if s.len() <= room {
                    self.w.put_slice(s.as_bytes());
                    self.kept += s.len();
                    return Ok(());
                }
                let mut take = room;
                while !s.is_char_boundary(take) {
                    take -= 1;
                }
                self.w.put_slice(&s.as_bytes()[..take]);
                self.kept += take;
                self.cut = true;
                // Stops the formatter: nothing past the budget is formatted.
                Err(fmt::Error)
            }
        }
        self.begin();
        let limit = (self.budget.strsize as usize).min(self.left().saturating_sub(10));
        // Lengths are patched once known: class 2 (4 bytes each) holds any budget.
        self.put([tag::DEBUG | (2 << tag::CLASS_SHIFT)]);
        let at = self.mark();
        self.put([0u8; 8]);
        let mut sink = Sink {
            w: self,
            kept: 0,
            limit,
            cut: false,
        };
        let _ = fmt::write(&mut sink, format_args!("{v:?}"));
        let (kept, cut) = (sink.kept, sink.cut);
        self.patch_u32(at, if cut { 0 } else { kept as u32 });
        self.patch_u32(at + 4, kept as u32);
    }

    /// A value that can only be named by its type (`<TypeName>`).
    pub fn opaque(&mut self, type_name: &str) {
        self.text_with_limit(tag::OPAQUE, type_name, 256);
    }

    /// `None`.
    #[inline(always)]
    pub fn none(&mut self) {
        self.begin();
        self.put([tag::NONE]);
    }
    /// `Some(_)`: write exactly one value next.
    #[inline(always)]
    pub fn some(&mut self) {
        self.wrapper(tag::SOME);
    }
    /// `Ok(_)`: write exactly one value next.
    #[inline(always)]
    pub fn ok(&mut self) {
        self.wrapper(tag::OK);
    }
    /// `Err(_)`: write exactly one value next.
    #[inline(always)]
    pub fn err(&mut self) {
        self.wrapper(tag::ERR);
    }

    /// `Some`/`Ok`/`Err`: the wrapped value belongs to the same top-level value (its budget).
    #[inline(always)]
    fn wrapper(&mut self, t: u8) {
        self.begin();
        self.put([t]);
        if self.depth == 0 {
            // The payload is not a new top-level value.
            self.values -= 1;
        }
    }

    /// Whether a nested value may be written at the current depth; else writes the cut marker.
    #[inline]
    fn descend(&mut self) -> bool {
        if self.depth >= self.budget.depth || (self.depth > 0 && self.left() == 0) {
            self.put([tag::CUT]);
            return false;
        }
        true
    }

    /// Opens a tuple of `n` values: when it returns true, write exactly `n` values next, then
    /// call [`ArgWriter::tuple_end`]; false means the depth budget is spent (a cut marker was
    /// written; write nothing more for it).
    #[inline]
    pub fn tuple(&mut self, n: u8) -> bool {
        self.begin();
        if !self.descend() {
            return false;
        }
        self.put([tag::TUPLE, n]);
        self.depth += 1;
        true
    }

    /// Closes a tuple opened by [`ArgWriter::tuple`] (when it returned true).
    #[inline]
    pub fn tuple_end(&mut self) {
        self.depth -= 1;
    }

    /// Opens a sequence of `len` elements. Call [`ArgWriter::seq_item`] before each element
    /// and stop when it returns false, then [`ArgWriter::seq_end`].
    pub fn seq_begin(&mut self, len: usize) -> SeqMark {
        self.begin();
        if !self.descend() {
            return SeqMark {
                at: usize::MAX,
                left: 0,
                kept: 0,
                cut: true,
            };
        }
        let c = class(len as u64).max(2);
        self.put([tag::SEQ | (c << tag::CLASS_SHIFT)]);
        self.put_class(len as u64, c);
        let at = self.mark();
        self.put_class(0, c);
        self.depth += 1;
        SeqMark {
            at,
            left: len.min(self.budget.max_items as usize) as u32,
            kept: 0,
            cut: false,
        }
    }

    /// True when the next element is to be written; false at the item or byte budget.
    #[inline]
    pub fn seq_item(&mut self, m: &mut SeqMark) -> bool {
        if m.cut || m.left == 0 {
            return false;
        }
        if self.left() == 0 || self.overflowed() {
            m.cut = true;
            return false;
        }
        m.left -= 1;
        m.kept += 1;
        true
    }

    /// Closes a sequence opened by [`ArgWriter::seq_begin`].
    pub fn seq_end(&mut self, m: SeqMark) {
        if m.at == usize::MAX {
            return;
        }
        self.depth -= 1;
        self.patch_u32(m.at, m.kept);
    }

    /// A sequence of `len` elements, the old way: returns how many elements to write next
    /// (bounded by `RUCHYTRACE_MAXITEMS` only). Prefer [`ArgWriter::seq_begin`], which also
    /// keeps the byte and depth budgets.
    pub fn seq(&mut self, len: usize) -> usize {
        self.begin();
        let keep = len.min(self.budget.max_items as usize);
        self.put([tag::SEQ | (3 << tag::CLASS_SHIFT)]);
        self.put((len as u64).to_le_bytes());
        self.put((keep as u64).to_le_bytes());
        keep
    }

    /// Opens a struct (or enum variant) named `name` with `fields` fields. When it returns
    /// true, write each field with [`ArgWriter::field`] and one value, then call
    /// [`ArgWriter::struct_end`]; false means the depth budget is spent: a cut marker was
    /// written and nothing more may be written for this struct. (Fields past the byte budget
    /// are still named, but their values come out as cut markers: strings, `Debug` text and
    /// sequences check the budget themselves.)
    #[inline]
    pub fn struct_begin(&mut self, name: &str, fields: u8) -> bool {
        self.begin();
        if !self.descend() {
            return false;
        }
        self.depth += 1;
        self.name(tag::STRUCT, name);
        self.put([fields]);
        true
    }

    /// Closes a struct opened by [`ArgWriter::struct_begin`] (when it returned true).
    #[inline]
    pub fn struct_end(&mut self) {
        self.depth -= 1;
    }

    /// A struct, the old way (no budgets): call [`ArgWriter::field`] and write one value,
    /// `fields` times.
    #[inline]
    pub fn structure(&mut self, name: &str, fields: u8) {
        self.begin();
        self.name(tag::STRUCT, name);
        self.put([fields]);
    }

    /// The name of the next field of a [`ArgWriter::structure`].
    #[inline]
    pub fn field(&mut self, name: &str) {
        self.name(tag::FIELD, name);
    }

    #[inline(always)]
    fn name(&mut self, t: u8, name: &str) {
        let keep = name.len().min(255);
        self.put([t, keep as u8]);
        self.put_slice(&name.as_bytes()[..keep]);
    }
}

mod impls;
pub use impls::{probe, Capture};

#[cfg(test)]
mod tests {
    use super::*;

    /// The class is the smallest of 1, 2, 4, 8 bytes that holds the value, at every boundary.
    #[test]
    fn size_class_is_the_smallest_width_that_holds_the_value() {
        let expect = |v: u64| match v {
            0..=0xFF => 0,
            0x100..=0xFFFF => 1,
            0x1_0000..=0xFFFF_FFFF => 2,
            _ => 3,
        };
        for shift in 0..64 {
            for d in 0..3u64 {
                for v in [
                    (1u64 << shift).wrapping_sub(d),
                    (1u64 << shift) + d,
                    u64::MAX - d,
                ] {
                    assert_eq!(class(v), expect(v), "{v:#x}");
                }
            }
        }
    }

    /// Every length, short (overlapping loads and stores) or long (memcpy), copies exactly
    /// the source and writes nothing past it.
    #[test]
    fn small_copies_are_exact() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut dst = [0u8; 48];
            // SAFETY: dst has 48 >= n bytes and does not overlap src.
            unsafe { copy_small(&src[..n], dst.as_mut_ptr()) };
            assert_eq!(&dst[..n], &src[..n], "n = {n}");
            assert!(
                dst[n..].iter().all(|&b| b == 0),
                "n = {n}: wrote past the end"
            );
        }
    }

    /// The head (aux, dt, count placeholder) takes exactly the bytes of its classes, and the
    /// values after it start right behind it.
    #[test]
    fn head_is_aux_then_dt_in_their_classes() {
        let mut buf = [0xAAu8; 4 + SLACK];
        // SAFETY: `buf` has 4 + SLACK bytes.
        let mut w = unsafe { ArgWriter::new(buf.as_mut_ptr(), 4, Budget::default()) };
        let (ac, dc) = w.put_head(0x1234, 7, true);
        assert_eq!((ac, dc), (1, 0));
        assert_eq!(w.written(), 4);
        assert_eq!(&buf[..4], &[0x34, 0x12, 7, 0]);
        assert!(!w.overflowed());
        w.u8(9);
        assert!(
            w.overflowed(),
            "a value past the capacity marks the overflow"
        );
    }
}
