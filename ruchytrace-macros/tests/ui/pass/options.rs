//! Every option, on a crate that denies missing docs: attributes, docs and visibility survive.
#![deny(missing_docs)]

/// Documented, public and `#[must_use]`: all preserved.
#[ruchytrace::trace(name = "renamed", skip(secret), skip_return, sample = 4)]
#[must_use]
pub fn with_options(x: u32, secret: &str) -> u32 {
    x + secret.len() as u32
}

/// Code generators point sites at their own sources.
#[ruchytrace::trace(location = "src/main.ruchy:3:1", skip_all)]
pub fn generated(a: i64, (b, c): (i64, i64)) -> i64 {
    a + b + c
}

/// Re-exporters name the runtime path.
#[ruchytrace::trace(crate = ::ruchytrace)]
pub fn through_crate_path() {}

/// `skip` on a lone function leaves it alone.
#[ruchytrace::trace(skip)]
pub fn opted_out() -> u8 {
    1
}

fn main() {
    assert_eq!(with_options(1, "ab"), 3);
    assert_eq!(generated(1, (2, 3)), 6);
    through_crate_path();
    assert_eq!(opted_out(), 1);
}
