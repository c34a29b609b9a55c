//! [`Capture`] for the standard types, and the probe that picks structural capture, `Debug` or
//! the type name without any trait bound on the user's type.

use super::ArgWriter;

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
        let mut m = w.seq_begin(self.len());
        for v in self {
            if !w.seq_item(&mut m) {
                break;
            }
            v.capture(w);
        }
        w.seq_end(m);
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
        let mut m = w.seq_begin(self.len());
        for v in self {
            if !w.seq_item(&mut m) {
                break;
            }
            v.capture(w);
        }
        w.seq_end(m);
    }
}

macro_rules! tuples {
    ($( ($($n:tt $t:ident),+) )*) => {$(
        impl<$($t: Capture),+> Capture for ($($t,)+) {
            fn capture(&self, w: &mut ArgWriter) {
                if w.tuple([$($n),+].len() as u8) {
                    $( self.$n.capture(w); )+
                    w.tuple_end();
                }
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
