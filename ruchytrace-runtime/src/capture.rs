//! Typed value capture: [`ArgWriter`] encodes values into a thread's buffer, [`Capture`] says how
//! a type is encoded structurally, and [`probe`] picks, without any trait bound on the user's
//! type, the best available capture: structural, else `Debug`, else the type name.
//!
//! Encoding (little-endian, read back by [`crate::record::decode`] and transcoded by the
//! collector's binary fast path): one tag byte, then the payload.
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
}

/// Bytes past the end of every region an [`ArgWriter`] gets that are valid to write (and
/// whose content is ignored): fixed-size values are stored without a branch, at `min(len,
/// cap)`, and the overflow is checked once per record.
pub(crate) const SLACK: usize = 64;

/// Encodes captured values into a bounded byte region.
///
/// Nothing is ever stored past the region plus `SLACK` bytes: a value that does not fit marks the
/// writer overflowed, and the runtime retries the whole record on its slow path with enough
/// room.
pub struct ArgWriter {
    ptr: *mut u8,
    len: usize,
    cap: usize,
    overflow: bool,
    strsize: u32,
    max_items: u32,
}

impl ArgWriter {
    /// # Safety
    /// `ptr` must be valid for writes of `cap + SLACK` bytes for the lifetime of the writer.
    pub(crate) unsafe fn new(ptr: *mut u8, cap: usize, strsize: u32, max_items: u32) -> ArgWriter {
        ArgWriter {
            ptr,
            len: 0,
            cap,
            overflow: false,
            strsize,
            max_items,
        }
    }

    pub(crate) fn written(&self) -> usize {
        self.len
    }

    pub(crate) fn overflowed(&self) -> bool {
        self.overflow || self.len > self.cap
    }

    /// Position for a later [`ArgWriter::patch_u32`].
    pub(crate) fn mark(&self) -> usize {
        self.len
    }

    pub(crate) fn patch_u32(&mut self, at: usize, v: u32) {
        if at + 4 <= self.len.min(self.cap) {
            // SAFETY: at + 4 <= cap, inside the region given to `new`.
            unsafe { std::ptr::write_unaligned(self.ptr.add(at) as *mut [u8; 4], v.to_le_bytes()) }
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

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        if self.len <= self.cap && bytes.len() <= self.cap - self.len {
            // SAFETY: len + bytes.len() <= cap, inside the region; `bytes` is not in the region
            // (it is a user value or a static string).
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(self.len), bytes.len())
            };
            self.len += bytes.len();
        } else {
            self.overflow = true;
        }
    }

    #[inline(always)]
    fn tagged<const N: usize>(&mut self, t: u8, payload: [u8; N]) {
        self.put([t]);
        self.put(payload);
    }

    /// `()`.
    #[inline(always)]
    pub fn unit(&mut self) {
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
        self.tagged(tag::CHAR, (v as u32).to_le_bytes());
    }
    /// An `i8`.
    #[inline(always)]
    pub fn i8(&mut self, v: i8) {
        self.tagged(tag::I8, v.to_le_bytes());
    }
    /// An `i16`.
    #[inline(always)]
    pub fn i16(&mut self, v: i16) {
        self.tagged(tag::I16, v.to_le_bytes());
    }
    /// An `i32`.
    #[inline(always)]
    pub fn i32(&mut self, v: i32) {
        self.tagged(tag::I32, v.to_le_bytes());
    }
    /// An `i64` (also `isize`).
    #[inline(always)]
    pub fn i64(&mut self, v: i64) {
        self.tagged(tag::I64, v.to_le_bytes());
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
        self.tagged(tag::U16, v.to_le_bytes());
    }
    /// A `u32`.
    #[inline(always)]
    pub fn u32(&mut self, v: u32) {
        self.tagged(tag::U32, v.to_le_bytes());
    }
    /// A `u64` (also `usize`).
    #[inline(always)]
    pub fn u64(&mut self, v: u64) {
        self.tagged(tag::U64, v.to_le_bytes());
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

    fn text(&mut self, t: u8, s: &str) {
        let limit = self.strsize as usize;
        let mut keep = s.len().min(limit);
        while !s.is_char_boundary(keep) {
            keep -= 1;
        }
        self.put([t]);
        self.put((s.len() as u32).to_le_bytes());
        self.put((keep as u32).to_le_bytes());
        self.put_slice(&s.as_bytes()[..keep]);
    }

    /// A string (cut at `RUCHYTRACE_STRSIZE` bytes; the full length is kept).
    #[inline]
    pub fn str(&mut self, s: &str) {
        self.text(tag::STR, s);
    }

    /// A value through its `Debug` implementation (cut like [`ArgWriter::str`]).
    pub fn debug(&mut self, v: &dyn fmt::Debug) {
        struct Sink<'a> {
            w: &'a mut ArgWriter,
            total: usize,
            kept: usize,
            limit: usize,
        }
        impl fmt::Write for Sink<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                if self.kept == self.total && self.kept < self.limit {
                    let mut take = s.len().min(self.limit - self.kept);
                    while !s.is_char_boundary(take) {
                        take -= 1;
                    }
                    self.w.put_slice(&s.as_bytes()[..take]);
                    self.kept += take;
                }
                self.total += s.len();
                Ok(())
            }
        }
        self.put([tag::DEBUG]);
        let at = self.mark();
        self.put([0u8; 8]);
        let limit = self.strsize as usize;
        let mut sink = Sink {
            w: self,
            total: 0,
            kept: 0,
            limit,
        };
        let _ = fmt::write(&mut sink, format_args!("{v:?}"));
        let (total, kept) = (sink.total, sink.kept);
        self.patch_u32(at, total.min(u32::MAX as usize) as u32);
        self.patch_u32(at + 4, kept as u32);
    }

    /// A value that can only be named by its type (`<TypeName>`).
    pub fn opaque(&mut self, type_name: &str) {
        let saved = self.strsize;
        self.strsize = self.strsize.max(256);
        self.text(tag::OPAQUE, type_name);
        self.strsize = saved;
    }

    /// `None`.
    #[inline(always)]
    pub fn none(&mut self) {
        self.put([tag::NONE]);
    }
    /// `Some(_)`: write exactly one value next.
    #[inline(always)]
    pub fn some(&mut self) {
        self.put([tag::SOME]);
    }
    /// `Ok(_)`: write exactly one value next.
    #[inline(always)]
    pub fn ok(&mut self) {
        self.put([tag::OK]);
    }
    /// `Err(_)`: write exactly one value next.
    #[inline(always)]
    pub fn err(&mut self) {
        self.put([tag::ERR]);
    }
    /// A tuple of `n` values: write exactly `n` values next.
    #[inline(always)]
    pub fn tuple(&mut self, n: u8) {
        self.tagged(tag::TUPLE, [n]);
    }
    /// A sequence of `len` elements; returns how many to write next (the first ones, bounded by
    /// `RUCHYTRACE_MAXITEMS`).
    #[inline]
    pub fn seq(&mut self, len: usize) -> usize {
        let keep = len.min(self.max_items as usize);
        self.put([tag::SEQ]);
        self.put((len as u64).to_le_bytes());
        self.put((keep as u32).to_le_bytes());
        keep
    }
    /// A struct (or enum variant) named `name` with `fields` fields: call [`ArgWriter::field`]
    /// and write one value, `fields` times.
    pub fn structure(&mut self, name: &str, fields: u8) {
        let saved = self.strsize;
        self.strsize = self.strsize.max(256);
        self.text(tag::STRUCT, name);
        self.strsize = saved;
        self.put([fields]);
    }
    /// The name of the next field of a [`ArgWriter::structure`].
    pub fn field(&mut self, name: &str) {
        let saved = self.strsize;
        self.strsize = self.strsize.max(256);
        self.text(tag::FIELD, name);
        self.strsize = saved;
    }
}

/// Types captured structurally. Implemented for primitives, strings, `Option`, `Result`, tuples
/// (up to 8), slices, arrays, `Vec`, `VecDeque`, and smart pointers of those; the `Traceable`
/// derive implements it for user structs and enums.
pub trait Capture {
    /// Writes exactly one value.
    fn capture(&self, w: &mut ArgWriter);
}

macro_rules! prim {
    ($($t:ty => $m:ident as $c:ty),* $(,)?) => {$(
        impl Capture for $t {
            #[inline(always)]
            fn capture(&self, w: &mut ArgWriter) { w.$m(*self as $c) }
        }
    )*};
}
prim!(
    i8 => i8 as i8, i16 => i16 as i16, i32 => i32 as i32, i64 => i64 as i64, i128 => i128 as i128,
    isize => i64 as i64, u8 => u8 as u8, u16 => u16 as u16, u32 => u32 as u32, u64 => u64 as u64,
    u128 => u128 as u128, usize => u64 as u64, f32 => f32 as f32, f64 => f64 as f64,
    bool => bool as bool, char => char as char,
);

impl Capture for () {
    #[inline(always)]
    fn capture(&self, w: &mut ArgWriter) {
        w.unit()
    }
}
impl Capture for str {
    #[inline]
    fn capture(&self, w: &mut ArgWriter) {
        w.str(self)
    }
}
impl Capture for String {
    #[inline]
    fn capture(&self, w: &mut ArgWriter) {
        w.str(self)
    }
}
impl Capture for std::borrow::Cow<'_, str> {
    fn capture(&self, w: &mut ArgWriter) {
        w.str(self)
    }
}
impl<T: Capture + ?Sized> Capture for &T {
    #[inline(always)]
    fn capture(&self, w: &mut ArgWriter) {
        (**self).capture(w)
    }
}
impl<T: Capture + ?Sized> Capture for &mut T {
    #[inline(always)]
    fn capture(&self, w: &mut ArgWriter) {
        (**self).capture(w)
    }
}
impl<T: Capture + ?Sized> Capture for Box<T> {
    #[inline(always)]
    fn capture(&self, w: &mut ArgWriter) {
        (**self).capture(w)
    }
}
impl<T: Capture + ?Sized> Capture for std::rc::Rc<T> {
    fn capture(&self, w: &mut ArgWriter) {
        (**self).capture(w)
    }
}
impl<T: Capture + ?Sized> Capture for std::sync::Arc<T> {
    fn capture(&self, w: &mut ArgWriter) {
        (**self).capture(w)
    }
}
impl<T: Capture> Capture for Option<T> {
    #[inline]
    fn capture(&self, w: &mut ArgWriter) {
        match self {
            None => w.none(),
            Some(v) => {
                w.some();
                v.capture(w)
            }
        }
    }
}
impl<T: Capture, E: Capture> Capture for Result<T, E> {
    #[inline]
    fn capture(&self, w: &mut ArgWriter) {
        match self {
            Ok(v) => {
                w.ok();
                v.capture(w)
            }
            Err(e) => {
                w.err();
                e.capture(w)
            }
        }
    }
}
impl<T: Capture> Capture for [T] {
    fn capture(&self, w: &mut ArgWriter) {
        let n = w.seq(self.len());
        for v in &self[..n] {
            v.capture(w);
        }
    }
}
impl<T: Capture, const N: usize> Capture for [T; N] {
    fn capture(&self, w: &mut ArgWriter) {
        self[..].capture(w)
    }
}
impl<T: Capture> Capture for Vec<T> {
    fn capture(&self, w: &mut ArgWriter) {
        self[..].capture(w)
    }
}
impl<T: Capture> Capture for std::collections::VecDeque<T> {
    fn capture(&self, w: &mut ArgWriter) {
        let n = w.seq(self.len());
        for v in self.iter().take(n) {
            v.capture(w);
        }
    }
}

macro_rules! tuples {
    ($( ($($n:tt $t:ident),+) )*) => {$(
        impl<$($t: Capture),+> Capture for ($($t,)+) {
            fn capture(&self, w: &mut ArgWriter) {
                w.tuple([$($n),+].len() as u8);
                $( self.$n.capture(w); )+
            }
        }
    )*};
}
tuples!(
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H)
);

/// Autoref specialisation: `(&&&Probe(&value)).__rt_capture(w)` picks [`CaptureStructural`](probe::CaptureStructural) when
/// the type implements [`Capture`], else [`CaptureDebug`](probe::CaptureDebug) when it implements `Debug`, else
/// [`CaptureOpaque`](probe::CaptureOpaque) (the type name). Bring the three traits into scope with
/// `use ::ruchytrace::hooks::capture::{CaptureDebug as _, CaptureOpaque as _, CaptureStructural as _};`.
///
/// Resolution happens where the call is written: inside a generic function, a `T` without
/// bounds is captured as `<T's type name>` (the concrete name, via `std::any::type_name`).
pub mod probe {
    use super::{ArgWriter, Capture};
    use std::fmt::Debug;

    /// Wraps a reference to the value to capture.
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    /// First choice: structural capture.
    pub trait CaptureStructural {
        /// Writes the value.
        fn __rt_capture(&self, w: &mut ArgWriter);
    }
    /// Second choice: `Debug`.
    pub trait CaptureDebug {
        /// Writes the value.
        fn __rt_capture(&self, w: &mut ArgWriter);
    }
    /// Last resort: the type name.
    pub trait CaptureOpaque {
        /// Writes the value.
        fn __rt_capture(&self, w: &mut ArgWriter);
    }

    impl<T: Capture + ?Sized> CaptureStructural for &&Probe<'_, T> {
        #[inline(always)]
        fn __rt_capture(&self, w: &mut ArgWriter) {
            self.0.capture(w)
        }
    }
    impl<T: Debug + ?Sized> CaptureDebug for &Probe<'_, T> {
        #[inline]
        fn __rt_capture(&self, w: &mut ArgWriter) {
            w.debug(&self.0)
        }
    }
    impl<T: ?Sized> CaptureOpaque for Probe<'_, T> {
        #[inline]
        fn __rt_capture(&self, w: &mut ArgWriter) {
            w.opaque(std::any::type_name::<T>())
        }
    }
}
