//! The `#[trace]` attribute of ruchytrace.
use proc_macro::TokenStream;

/// Instruments a function (placeholder until the macro lands).
#[proc_macro_attribute]
pub fn trace(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
