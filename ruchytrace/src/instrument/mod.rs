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
//!
//! [`instrument_source_with`] takes [`Options`] for whole crates (what `ruchytrace cargo --instrument` uses):
//! attributes inserted on the item's own line so every line keeps its number (compiler errors and `line!()`
//! stay right), a body-size threshold below which trivial functions are left alone, and line exclusions.
//! `#[repr(packed)]` types never get the derive (a derive cannot borrow their fields).

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
    /// Functions left alone because their body is under [`Options::min_body_tokens`].
    pub small: usize,
    /// Every insertion, in source order (to map positions in the output back to the input).
    pub insertions: Vec<Insertion>,
    /// Every function and method with a body (instrumented or not), in source order.
    pub items: Vec<FnItem>,
}

/// Text inserted into the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insertion {
    /// 1-based line of the input where the text went.
    pub line: usize,
    /// 0-based character column of the input where the text went.
    pub column: usize,
    /// Characters inserted.
    pub chars: usize,
    /// Newlines inserted (0 with [`Options::same_line`]).
    pub newlines: usize,
}

/// A function or method with a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FnItem {
    /// `name`, or `Type::name` for methods.
    pub name: String,
    /// 1-based first line of the item (its `fn`, visibility or first attribute).
    pub first_line: usize,
    /// 1-based last line of the item.
    pub last_line: usize,
}

impl Instrumented {
    /// Maps a 1-based line and column of the *output* back to the input's.
    pub fn original_position(&self, line: usize, column: usize) -> (usize, usize) {
        // Newlines inserted before `line` shift it down; same-line insertions shift the column right.
        let mut shift_lines = 0usize;
        for ins in &self.insertions {
            if ins.line + shift_lines >= line {
                break;
            }
            shift_lines += ins.newlines;
        }
        let original_line = line.saturating_sub(shift_lines).max(1);
        let shift_cols: usize = self
            .insertions
            .iter()
            .filter(|i| i.newlines == 0 && i.line == original_line && i.column < column)
            .map(|i| i.chars)
            .sum();
        (original_line, column.saturating_sub(shift_cols).max(1))
    }

    /// The innermost function whose lines contain `line` (a 1-based input line).
    pub fn function_at(&self, line: usize) -> Option<&FnItem> {
        self.items
            .iter()
            .filter(|f| f.first_line <= line && line <= f.last_line)
            .min_by_key(|f| f.last_line - f.first_line)
    }
}

/// How [`instrument_source_with`] rewrites a file.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// Original source locations by function name.
    pub map: Option<&'a LocationMap>,
    /// Insert attributes on the item's own line (every line keeps its number) instead of on a line of their own.
    pub same_line: bool,
    /// Leave out the `Traceable` derives.
    pub no_derive: bool,
    /// Leave alone functions whose body has fewer tokens than this (0: instrument all). Tokens are
    /// identifiers, literals and punctuation inside the braces; `self.len` is 3, `self.items.len() == 0` is 8 (`==` counts as two).
    pub min_body_tokens: usize,
    /// 1-based lines: a function whose lines contain one of them is left alone.
    pub exclude_lines: &'a [usize],
    /// Add `extern crate ruchytrace;` at the start of the line after the inner attributes (a crate root of the
    /// 2015 edition, where the expansion's `::ruchytrace` paths need it), without a line of its own.
    pub extern_crate: bool,
    /// The file name to put in `location = "FILE:LINE:COL"` (the position of each `fn` keyword in the input)
    /// when the map has no entry: sites then name the user's file and line even when the compiled file is a
    /// rewritten copy.
    pub location_file: Option<&'a str>,
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
    instrument_source_with(
        source,
        &Options {
            map,
            ..Options::default()
        },
    )
}

/// Rewrites `source` as [`instrument_source`] does, with the choices of `opts`.
pub fn instrument_source_with(source: &str, opts: &Options) -> Result<Instrumented, ParseError> {
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
        opts,
        index: &index,
        inserts: Vec::new(),
        functions: 0,
        types: 0,
        small: 0,
        items: Vec::new(),
        self_type: None,
    };
    finder.visit_file(&file);
    let mut inserts = finder.inserts;
    if opts.extern_crate {
        // At the start of the line after the last inner attribute (an inner doc comment runs to the end of
        // its line).
        let at = file
            .attrs
            .iter()
            .filter(|a| matches!(a.style, syn::AttrStyle::Inner(_)))
            .map(|a| a.span().end().line)
            .max()
            .map_or(0, |line| {
                index.line_starts.get(line).copied().unwrap_or(source.len())
            });
        // First among insertions at the same offset (the sort below is stable): before an item's attribute.
        inserts.insert(
            0,
            (
                at,
                "#[allow(unused_extern_crates)] extern crate ruchytrace; ".to_string(),
            ),
        );
    }
    // Stable sort: two insertions at one offset keep their discovery order.
    inserts.sort_by_key(|(at, _)| *at);
    let mut out =
        String::with_capacity(source.len() + inserts.iter().map(|(_, t)| t.len()).sum::<usize>());
    let mut insertions = Vec::with_capacity(inserts.len());
    let mut last = 0;
    for (at, text) in inserts {
        out.push_str(&source[last..at]);
        out.push_str(&text);
        let (line, column) = index.position(at);
        insertions.push(Insertion {
            line,
            column,
            chars: text.chars().count(),
            newlines: text.matches('\n').count(),
        });
        last = at;
    }
    out.push_str(&source[last..]);
    Ok(Instrumented {
        source: out,
        functions: finder.functions,
        types: finder.types,
        small: finder.small,
        insertions,
        items: finder.items,
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

    /// 1-based line and 0-based character column of a byte offset.
    fn position(&self, at: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|s| *s <= at);
        let start = self.line_starts[line - 1];
        (line, self.source[start..at].chars().count())
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
    opts: &'a Options<'a>,
    index: &'a LineIndex<'a>,
    inserts: Vec<(usize, String)>,
    functions: usize,
    types: usize,
    small: usize,
    items: Vec<FnItem>,
    /// The `Self` type name of the impl block being visited, for method names.
    self_type: Option<String>,
}

impl Finder<'_> {
    /// Inserts `text` as an attribute line right before the token at `span` (after the item's own attributes,
    /// so doc comments stay first), reusing the line's indentation.
    fn insert_attr_before(&mut self, span: Span, text: &str) {
        let at = self.index.offset(span.start());
        let insertion = match self
            .index
            .indent_before(at)
            .filter(|_| !self.opts.same_line)
        {
            Some(indent) => format!("{text}\n{indent}"),
            None => format!("{text} "),
        };
        self.inserts.push((at, insertion));
    }

    /// `whole` spans the item (attributes included), `body` its block.
    fn trace_fn(
        &mut self,
        attrs: &[Attribute],
        first_token: Span,
        name: &str,
        sig: &syn::Signature,
        whole: Span,
        body: &syn::Block,
    ) {
        let is_const = sig.constness.is_some();
        let qualified = match &self.self_type {
            Some(ty) => format!("{ty}::{name}"),
            None => name.to_string(),
        };
        let (first_line, last_line) = (whole.start().line, whole.end().line);
        self.items.push(FnItem {
            name: qualified.clone(),
            first_line,
            last_line,
        });
        if is_const || has_trace(attrs) || is_test_only(attrs) {
            return;
        }
        if self
            .opts
            .exclude_lines
            .iter()
            .any(|l| (first_line..=last_line).contains(l))
        {
            return;
        }
        if self.opts.min_body_tokens > 0
            && count_tokens(body, self.opts.min_body_tokens) < self.opts.min_body_tokens
        {
            self.small += 1;
            return;
        }
        let mut options = Vec::new();
        if self.self_type.is_some() {
            options.push(format!("name = {qualified:?}"));
        }
        if let Some(loc) = self.opts.map.and_then(|m| m.lookup(&qualified, name)) {
            options.push(format!("location = {:?}", loc.to_string()));
        } else if let Some(file) = self.opts.location_file {
            let at = sig.fn_token.span.start();
            options.push(format!(
                "location = {:?}",
                format!("{file}:{}:{}", at.line, at.column + 1)
            ));
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
        if self.opts.no_derive || is_test_only(attrs) || is_packed(attrs) {
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

/// Tokens inside a body (stops counting at `limit`).
fn count_tokens(body: &syn::Block, limit: usize) -> usize {
    fn walk(ts: proc_macro2::TokenStream, n: &mut usize, limit: usize) {
        for tt in ts {
            if *n >= limit {
                return;
            }
            match tt {
                TokenTree::Group(g) => walk(g.stream(), n, limit),
                _ => *n += 1,
            }
        }
    }
    let mut n = 0;
    for stmt in &body.stmts {
        walk(quote::ToTokens::to_token_stream(stmt), &mut n, limit);
    }
    n
}

/// `#[repr(packed)]` / `#[repr(C, packed(2))]`.
fn is_packed(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("repr")
            && matches!(&a.meta, Meta::List(l) if l.tokens.clone().into_iter().any(
                |t| matches!(t, TokenTree::Ident(i) if i == "packed")))
    })
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
            &f.sig,
            f.span(),
            &f.block,
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
            &f.sig,
            f.span(),
            &f.block,
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
        let Some(body) = &f.default else {
            return;
        };
        if is_test_only(&f.attrs) {
            return;
        }
        self.trace_fn(
            &f.attrs,
            f.sig.span(),
            &f.sig.ident.to_string(),
            &f.sig,
            f.span(),
            body,
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
