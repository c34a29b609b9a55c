//! The `#[trace]` attribute of ruchytrace (use it as `#[ruchytrace::trace]`; see docs/attribute.md).
//!
//! `lib.rs` only dispatches: [`attr`] parses the options, [`valid`] checks them against the item, [`expand`]
//! generates the calls into the public hook API (`ruchytrace::hooks`). Without the `trace` feature the options
//! are still checked but the item comes back untouched.
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod attr;
mod derive;
mod expand;
mod valid;

/// Records every call of the annotated function — arguments on entry, return value (or panic) on exit — through
/// the ruchytrace runtime.
///
/// Works on a `fn`, on an `impl` block or a trait (every method with a body), and on an inline `mod` (every
/// function, recursively). Options: `name = "..."`, `skip(arg, ...)`, `skip_all`, `skip_return`, bare `skip`
/// (opt an item out inside an instrumented container), `crate = path`, `location = "file:LINE:COL"`,
/// `sample = N`. The full reference is docs/attribute.md.
#[proc_macro_attribute]
pub fn trace(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::trace(attr.into(), item.into(), cfg!(feature = "trace")).into()
}

/// Implements `ruchytrace::hooks::Capture` for a struct or enum, field by field, so traced values show as
/// `User { id: 42, name: "Alice" }` without `Debug`. Fields of any type work (no bounds are added). Expands to
/// nothing without the `trace` feature. See docs/codegen-hooks.md.
#[proc_macro_derive(Traceable)]
pub fn derive_traceable(item: TokenStream) -> TokenStream {
    derive::traceable(item.into(), cfg!(feature = "trace")).into()
}
