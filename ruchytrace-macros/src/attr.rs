//! Parsing of the `#[trace(...)]` options.
//!
//! Each comma-separated option is parsed on its own so that several mistakes in one attribute are all reported
//! at once; duplicates are rejected at the second occurrence.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, LitInt, LitStr, Path, Token};

mod kw {
    syn::custom_keyword!(name);
    syn::custom_keyword!(skip);
    syn::custom_keyword!(skip_all);
    syn::custom_keyword!(skip_return);
    syn::custom_keyword!(location);
    syn::custom_keyword!(sample);
}

/// A source location given with `location = "file:LINE:COL"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

/// The options of one `#[trace(...)]` attribute. Every field remembers the token that set it so later checks
/// (duplicates, unknown arguments) can point at it.
#[derive(Clone, Default)]
pub struct Options {
    /// `name = "..."`.
    pub name: Option<LitStr>,
    /// `skip(a, b)`: the keyword and the listed arguments.
    pub skip_args: Option<(kw::skip, Vec<Ident>)>,
    /// `skip_all`.
    pub skip_all: Option<kw::skip_all>,
    /// `skip_return`.
    pub skip_return: Option<kw::skip_return>,
    /// Bare `skip`: leave this item out of an instrumented impl block, trait or module.
    pub skip_item: Option<kw::skip>,
    /// `crate = path`.
    pub krate: Option<(Token![crate], Path)>,
    /// `location = "file:LINE:COL"`.
    pub location: Option<(LitStr, SourceLocation)>,
    /// `sample = N`.
    pub sample: Option<(LitInt, u32)>,
}

/// One parsed option.
enum Opt {
    Name(LitStr),
    SkipArgs(kw::skip, Vec<Ident>),
    SkipItem(kw::skip),
    SkipAll(kw::skip_all),
    SkipReturn(kw::skip_return),
    Crate(Token![crate], Path),
    Location(LitStr, SourceLocation),
    Sample(LitInt, u32),
}

impl Parse for Opt {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let lookahead = input.lookahead1();
        let opt = if lookahead.peek(kw::name) {
            input.parse::<kw::name>()?;
            input.parse::<Token![=]>()?;
            Opt::Name(input.parse()?)
        } else if lookahead.peek(kw::skip_all) {
            Opt::SkipAll(input.parse()?)
        } else if lookahead.peek(kw::skip_return) {
            Opt::SkipReturn(input.parse()?)
        } else if lookahead.peek(kw::skip) {
            let kw: kw::skip = input.parse()?;
            if input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in input);
                // `parse_any` so that `skip(self)` can name the receiver.
                let args = Punctuated::<Ident, Token![,]>::parse_terminated_with(
                    &content,
                    Ident::parse_any,
                )?;
                Opt::SkipArgs(kw, args.into_iter().collect())
            } else {
                Opt::SkipItem(kw)
            }
        } else if lookahead.peek(Token![crate]) {
            let kw: Token![crate] = input.parse()?;
            input.parse::<Token![=]>()?;
            Opt::Crate(kw, input.call(Path::parse_mod_style)?)
        } else if lookahead.peek(kw::location) {
            input.parse::<kw::location>()?;
            input.parse::<Token![=]>()?;
            let lit: LitStr = input.parse()?;
            let loc = parse_location(&lit)?;
            Opt::Location(lit, loc)
        } else if lookahead.peek(kw::sample) {
            input.parse::<kw::sample>()?;
            input.parse::<Token![=]>()?;
            let lit: LitInt = input.parse()?;
            let n: u32 = lit.base10_parse().map_err(|_| {
                syn::Error::new_spanned(
                    &lit,
                    "`sample` must be a whole number from 1 to 4294967295",
                )
            })?;
            if n == 0 {
                return Err(syn::Error::new_spanned(
                    &lit,
                    "`sample = 0` would never record a call; use `sample = 1` to record every call",
                ));
            }
            Opt::Sample(lit, n)
        } else if input.peek(Ident::peek_any) {
            let unknown = input.call(Ident::parse_any)?;
            return Err(syn::Error::new_spanned(
                &unknown,
                format!(
                    "unknown #[trace] option `{unknown}`; expected one of: name, skip, skip(...), skip_all, \
                     skip_return, crate, location, sample"
                ),
            ));
        } else {
            return Err(lookahead.error());
        };
        if !input.is_empty() {
            return Err(input
                .error("unexpected tokens after this #[trace] option; separate options with `,`"));
        }
        Ok(opt)
    }
}

/// Parses `"file:LINE:COL"`; the file part may itself contain `:`.
fn parse_location(lit: &LitStr) -> syn::Result<SourceLocation> {
    let value = lit.value();
    let err = |why: &str| {
        syn::Error::new_spanned(
            lit,
            format!("malformed `location` {value:?}: {why}; expected \"file:LINE:COLUMN\", e.g. \"src/main.ruchy:12:5\""),
        )
    };
    let mut parts = value.rsplitn(3, ':');
    let column = parts.next().unwrap_or_default();
    let line = parts.next().ok_or_else(|| err("missing line and column"))?;
    let file = parts.next().ok_or_else(|| err("missing column"))?;
    if file.is_empty() {
        return Err(err("the file name is empty"));
    }
    let number = |s: &str, what: &str| -> syn::Result<u32> {
        match s.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(err(&format!("the {what} `{s}` is not a number from 1 up"))),
        }
    };
    Ok(SourceLocation {
        file: file.to_owned(),
        line: number(line, "line")?,
        column: number(column, "column")?,
    })
}

/// Splits the attribute's tokens at top-level commas.
fn split_commas(tokens: TokenStream) -> Vec<TokenStream> {
    let mut chunks = vec![TokenStream::new()];
    for tt in tokens {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => chunks.push(TokenStream::new()),
            _ => {
                if let Some(chunk) = chunks.last_mut() {
                    chunk.extend([tt]);
                }
            }
        }
    }
    // A trailing comma leaves one empty chunk at the end; empty chunks elsewhere are `,,` mistakes.
    if chunks.last().is_some_and(|c| c.is_empty()) {
        chunks.pop();
    }
    chunks
}

/// Adds `err` to an error accumulator.
pub fn push_error(acc: &mut Option<syn::Error>, err: syn::Error) {
    match acc {
        Some(e) => e.combine(err),
        None => *acc = Some(err),
    }
}

fn duplicate(span_of: &impl quote::ToTokens, what: &str) -> syn::Error {
    syn::Error::new_spanned(span_of, format!("duplicate #[trace] option `{what}`"))
}

impl Options {
    /// Parses the tokens inside `#[trace(...)]`: the options that are well-formed, and an error reporting every
    /// bad one.
    pub fn parse_partial(tokens: TokenStream) -> (Options, Option<syn::Error>) {
        let mut opts = Options::default();
        let mut errors = None;
        for chunk in split_commas(tokens) {
            if chunk.is_empty() {
                push_error(
                    &mut errors,
                    syn::Error::new(Span::call_site(), "empty #[trace] option (stray `,`)"),
                );
                continue;
            }
            match syn::parse2::<Opt>(chunk) {
                Ok(opt) => {
                    if let Err(e) = opts.set(opt) {
                        push_error(&mut errors, e);
                    }
                }
                Err(e) => push_error(&mut errors, e),
            }
        }
        (opts, errors)
    }

    /// Records one option, rejecting a second occurrence of the same option.
    fn set(&mut self, opt: Opt) -> syn::Result<()> {
        match opt {
            Opt::Name(lit) => {
                if self.name.is_some() {
                    return Err(duplicate(&lit, "name"));
                }
                self.name = Some(lit);
            }
            Opt::SkipArgs(kw, args) => {
                if self.skip_args.is_some() {
                    return Err(duplicate(&kw, "skip(...)"));
                }
                self.skip_args = Some((kw, args));
            }
            Opt::SkipItem(kw) => {
                if self.skip_item.is_some() {
                    return Err(duplicate(&kw, "skip"));
                }
                self.skip_item = Some(kw);
            }
            Opt::SkipAll(kw) => {
                if self.skip_all.is_some() {
                    return Err(duplicate(&kw, "skip_all"));
                }
                self.skip_all = Some(kw);
            }
            Opt::SkipReturn(kw) => {
                if self.skip_return.is_some() {
                    return Err(duplicate(&kw, "skip_return"));
                }
                self.skip_return = Some(kw);
            }
            Opt::Crate(kw, path) => {
                if self.krate.is_some() {
                    return Err(duplicate(&kw, "crate"));
                }
                self.krate = Some((kw, path));
            }
            Opt::Location(lit, loc) => {
                if self.location.is_some() {
                    return Err(duplicate(&lit, "location"));
                }
                self.location = Some((lit, loc));
            }
            Opt::Sample(lit, n) => {
                if self.sample.is_some() {
                    return Err(duplicate(&lit, "sample"));
                }
                self.sample = Some((lit, n));
            }
        }
        Ok(())
    }

    /// The options of an item nested in an instrumented impl/trait/mod: the item's own options win, the
    /// container's fill the gaps (`name`, `skip(...)` and `location` never come from a container).
    pub fn merged_over(&self, outer: &Options) -> Options {
        Options {
            name: self.name.clone(),
            skip_args: self.skip_args.clone(),
            skip_all: self.skip_all.or(outer.skip_all),
            skip_return: self.skip_return.or(outer.skip_return),
            skip_item: self.skip_item,
            krate: self.krate.clone().or_else(|| outer.krate.clone()),
            location: self.location.clone(),
            sample: self.sample.clone().or_else(|| outer.sample.clone()),
        }
    }

    /// The path generated code uses to reach the runtime.
    pub fn crate_path(&self) -> TokenStream {
        match &self.krate {
            Some((_, path)) => quote::quote!(#path),
            None => quote::quote!(::ruchytrace),
        }
    }
}
