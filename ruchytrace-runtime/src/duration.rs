//! The one way every ruchytrace output renders a duration: a number with three decimals and
//! its unit, as uftrace prints them (`850ns`, `4.123us`, `1.222ms`, `2.500s`).
//!
//! Integer arithmetic only (no float rounding surprises, identical on every platform).
//!
//! ```
//! use ruchytrace_runtime::duration::fmt_duration;
//! assert_eq!(fmt_duration(850), "850ns");
//! assert_eq!(fmt_duration(4_123), "4.123us");
//! assert_eq!(fmt_duration(1_222_000), "1.222ms");
//! assert_eq!(fmt_duration(2_500_000_000), "2.500s");
//! ```

use std::fmt::{self, Write};

/// Writes `ns` nanoseconds as `850ns`, `4.123us`, `1.222ms` or `2.500s`.
pub fn write_duration<W: Write + ?Sized>(out: &mut W, ns: u64) -> fmt::Result {
    let (unit, div) = match ns {
        0..=999 => return write!(out, "{ns}ns"),
        1_000..=999_999 => ("us", 1_000),
        1_000_000..=999_999_999 => ("ms", 1_000_000),
        _ => ("s", 1_000_000_000),
    };
    let frac = (ns % div) / (div / 1_000);
    write!(out, "{}.{frac:03}{unit}", ns / div)
}

/// [`write_duration`] into a new `String`.
pub fn fmt_duration(ns: u64) -> String {
    let mut s = String::with_capacity(12);
    let _ = write_duration(&mut s, ns);
    s
}

#[cfg(test)]
mod tests {
    use super::fmt_duration;

    #[test]
    fn unit_boundaries() {
        assert_eq!(fmt_duration(0), "0ns");
        assert_eq!(fmt_duration(999), "999ns");
        assert_eq!(fmt_duration(1_000), "1.000us");
        assert_eq!(fmt_duration(999_999), "999.999us");
        assert_eq!(fmt_duration(1_000_000), "1.000ms");
        assert_eq!(fmt_duration(1_000_999), "1.000ms");
        assert_eq!(fmt_duration(999_999_999), "999.999ms");
        assert_eq!(fmt_duration(1_000_000_000), "1.000s");
        assert_eq!(fmt_duration(61_234_000_000), "61.234s");
        assert_eq!(fmt_duration(u64::MAX), "18446744073.709s");
    }
}
