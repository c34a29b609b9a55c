//! Source-to-source instrumentation of generated Rust (what `ruchytrace instrument` does).
//!
//! The file is parsed with `syn` only to find *where* to insert text; the output is the input with a few
//! attributes inserted at byte offsets, so the formatting and comments of everything else are preserved exactly
//! (no reprinting). Inserted:
//!
//! * `#[ruchytrace::trace]` before every function and method with a body (trait default methods included),
//!   except `const fn`, items of `extern` blocks (they have no body), `#[test]`/`#[cfg(test)]` items (and
//!   everything inside a `#[cfg(test)]` module), and items already instrumented (a `trace` attribute on the item
//!   or on its `impl` block, trait or module). Methods get `name = "Type::method"` (`"Trait::method"` for default
//!   methods); with a [`LocationMap`] entry they also get `location = "file.ruchy:L:C"`.
//! * `#[derive(ruchytrace::Traceable)]` on every struct and enum (added to an existing `derive(...)` list when
//!   there is one), unless it already derives `Traceable`.
//!
//! Running it twice gives the same text as running it once.

mod location;

pub use location::{LocationMap, SourceLocation};

use proc_macro2::{LineColumn, Span, TokenTree};
use std::fmt;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Attribute, Meta};

/// What the rewrite did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrumented {
    /// The rewritten source.
    pub source: String,
    /// Functions and methods that received `#[ruchytrace::trace]`.
    pub functions: usize,
    /// Structs and enums that received the `Traceable` derive.
    pub types: usize,
}

/// A source file that is not valid Rust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// syn's message.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: not valid Rust: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

/// Rewrites `source` (the text of one `.rs` file). `map` gives original source locations by function name.
pub fn instrument_source(
    source: &str,
    map: Option<&LocationMap>,
) -> Result<Instrumented, ParseError> {
    let file = syn::parse_file(source).map_err(|e| {
        let start = e.span().start();
        ParseError {
            line: start.line,
            column: start.column + 1,
            message: e.to_string(),
        }
    })?;
    let index = LineIndex::new(source);
    let mut finder = Finder {
        map,
        index: &index,
        inserts: Vec::new(),
        functions: 0,
        types: 0,
        self_type: None,
    };
    finder.visit_file(&file);
    let mut inserts = finder.inserts;
    // Stable sort: two insertions at one offset keep their discovery order.
    inserts.sort_by_key(|(at, _)| *at);
    let mut out =
        String::with_capacity(source.len() + inserts.iter().map(|(_, t)| t.len()).sum::<usize>());
    let mut last = 0;
    for (at, text) in inserts {
        out.push_str(&source[last..at]);
        out.push_str(&text);
        last = at;
    }
    out.push_str(&source[last..]);
    Ok(Instrumented {
        source: out,
        functions: finder.functions,
        types: finder.types,
    })
}

/// Converts proc-macro2 line/column positions (1-based lines, 0-based character columns) to byte offsets.
struct LineIndex<'a> {
    source: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(source: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(source.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex {
            source,
            line_starts,
        }
    }

    fn offset(&self, pos: LineColumn) -> usize {
        let start = self.line_starts[pos.line.saturating_sub(1).min(self.line_starts.len() - 1)];
        let line = &self.source[start..];
        start
            + line
                .char_indices()
                .nth(pos.column)
                .map_or(line.len(), |(i, _)| i)
    }

    /// The whitespace before `at` when `at` is the first non-blank character of its line.
    fn indent_before(&self, at: usize) -> Option<&'a str> {
        let line_start = self.source[..at].rfind('\n').map_or(0, |i| i + 1);
        let indent = &self.source[line_start..at];
        indent
            .chars()
            .all(|c| c == ' ' || c == '\t')
            .then_some(indent)
    }
}

struct Finder<'a> {
    map: Option<&'a LocationMap>,
    index: &'a LineIndex<'a>,
    inserts: Vec<(usize, String)>,
    functions: usize,
    types: usize,
    /// The `Self` type name of the impl block being visited, for method names.
    self_type: Option<String>,
}

impl Finder<'_> {
    /// Inserts `text` as an attribute line right before the token at `span` (after the item's own attributes,
    /// so doc comments stay first), reusing the line's indentation.
    fn insert_attr_before(&mut self, span: Span, text: &str) {
        let at = self.index.offset(span.start());
        let insertion = match self.index.indent_before(at) {
            Some(indent) => format!("{text}\n{indent}"),
            None => format!("{text} "),
        };
        self.inserts.push((at, insertion));
    }

    fn trace_fn(&mut self, attrs: &[Attribute], first_token: Span, name: &str, is_const: bool) {
        if is_const || has_trace(attrs) || is_test_only(attrs) {
            return;
        }
        let qualified = match &self.self_type {
            Some(ty) => format!("{ty}::{name}"),
            None => name.to_string(),
        };
        let mut options = Vec::new();
        if self.self_type.is_some() {
            options.push(format!("name = {qualified:?}"));
        }
        if let Some(loc) = self.map.and_then(|m| m.lookup(&qualified, name)) {
            options.push(format!("location = {:?}", loc.to_string()));
        }
        let attr = if options.is_empty() {
            "#[ruchytrace::trace]".to_string()
        } else {
            format!("#[ruchytrace::trace({})]", options.join(", "))
        };
        self.insert_attr_before(first_token, &attr);
        self.functions += 1;
    }

    fn derive_traceable(&mut self, attrs: &[Attribute], first_token: Span) {
        if is_test_only(attrs) {
            return;
        }
        let derives: Vec<&Attribute> = attrs
            .iter()
            .filter(|a| a.path().is_ident("derive"))
            .collect();
        let already = derives.iter().any(|a| {
            let Meta::List(list) = &a.meta else {
                return false;
            };
            list.tokens
                .clone()
                .into_iter()
                .any(|t| matches!(t, TokenTree::Ident(i) if i == "Traceable"))
        });
        if already {
            return;
        }
        self.types += 1;
        if let Some(Meta::List(list)) = derives.first().map(|a| &a.meta) {
            let tokens: Vec<TokenTree> = list.tokens.clone().into_iter().collect();
            let text = match tokens.last() {
                None => "ruchytrace::Traceable",
                Some(TokenTree::Punct(p)) if p.as_char() == ',' => " ruchytrace::Traceable",
                Some(_) => ", ruchytrace::Traceable",
            };
            let at = self.index.offset(list.delimiter.span().close().start());
            self.inserts.push((at, text.to_string()));
        } else {
            self.insert_attr_before(first_token, "#[derive(ruchytrace::Traceable)]");
        }
    }
}

/// The span of the first token after the attributes: the visibility if any, else the signature's first token.
fn first_token(vis: &syn::Visibility, sig: &syn::Signature) -> Span {
    match vis {
        syn::Visibility::Inherited => sig.span(),
        v => v.span(),
    }
}

fn item_first_token(vis: &syn::Visibility, keyword: Span) -> Span {
    match vis {
        syn::Visibility::Inherited => keyword,
        v => v.span(),
    }
}

/// `#[trace]`, `#[ruchytrace::trace]`, `#[ruchytrace::trace(...)]`, or any path ending in `trace`.
fn has_trace(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().segments.last().is_some_and(|s| s.ident == "trace"))
}

/// `#[test]` (also `#[tokio::test]` and the like), `#[bench]`, or `#[cfg(test)]`.
fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        let last = a.path().segments.last().map(|s| s.ident.to_string());
        match last.as_deref() {
            Some("test") | Some("bench") => true,
            Some("cfg") if a.path().is_ident("cfg") => match &a.meta {
                Meta::List(l) => l
                    .tokens
                    .clone()
                    .into_iter()
                    .any(|t| matches!(t, TokenTree::Ident(i) if i == "test")),
                _ => false,
            },
            _ => false,
        }
    })
}

fn type_name(ty: &syn::Type) -> Option<String> {
    match ty {
        syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        syn::Type::Reference(r) => type_name(&r.elem),
        syn::Type::Paren(p) => type_name(&p.elem),
        _ => None,
    }
}

impl<'ast> Visit<'ast> for Finder<'_> {
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if is_test_only(&f.attrs) {
            return;
        }
        // A free function nested in a method is not a method of the impl's type.
        let outer = self.self_type.take();
        self.trace_fn(
            &f.attrs,
            first_token(&f.vis, &f.sig),
            &f.sig.ident.to_string(),
            f.sig.constness.is_some(),
        );
        syn::visit::visit_item_fn(self, f);
        self.self_type = outer;
    }

    fn visit_item_impl(&mut self, imp: &'ast syn::ItemImpl) {
        // An instrumented impl block instruments its methods itself.
        if is_test_only(&imp.attrs) || has_trace(&imp.attrs) {
            return;
        }
        let outer = self
            .self_type
            .replace(type_name(&imp.self_ty).unwrap_or_else(|| "_".into()));
        syn::visit::visit_item_impl(self, imp);
        self.self_type = outer;
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if is_test_only(&f.attrs) {
            return;
        }
        self.trace_fn(
            &f.attrs,
            first_token(&f.vis, &f.sig),
            &f.sig.ident.to_string(),
            f.sig.constness.is_some(),
        );
        let outer = self.self_type.take();
        syn::visit::visit_impl_item_fn(self, f);
        self.self_type = outer;
    }

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test_only(&m.attrs) || has_trace(&m.attrs) {
            return;
        }
        let outer = self.self_type.take();
        syn::visit::visit_item_mod(self, m);
        self.self_type = outer;
    }

    fn visit_item_trait(&mut self, tr: &'ast syn::ItemTrait) {
        if is_test_only(&tr.attrs) || has_trace(&tr.attrs) {
            return;
        }
        let outer = self.self_type.replace(tr.ident.to_string());
        syn::visit::visit_item_trait(self, tr);
        self.self_type = outer;
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        // Only default methods have a body to instrument; `Trait::method` names them.
        if f.default.is_none() || is_test_only(&f.attrs) {
            return;
        }
        self.trace_fn(
            &f.attrs,
            f.sig.span(),
            &f.sig.ident.to_string(),
            f.sig.constness.is_some(),
        );
        let outer = self.self_type.take();
        syn::visit::visit_trait_item_fn(self, f);
        self.self_type = outer;
    }

    fn visit_item_foreign_mod(&mut self, _: &'ast syn::ItemForeignMod) {
        // Declarations only: nothing to instrument.
    }

    fn visit_item_struct(&mut self, s: &'ast syn::ItemStruct) {
        self.derive_traceable(&s.attrs, item_first_token(&s.vis, s.struct_token.span));
    }

    fn visit_item_enum(&mut self, e: &'ast syn::ItemEnum) {
        self.derive_traceable(&e.attrs, item_first_token(&e.vis, e.enum_token.span));
    }
}

#[cfg(test)]
mod tests;
