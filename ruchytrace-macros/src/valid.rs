//! Checks of the options against the item they annotate. Each check returns an error spanned at the user's
//! offending token; callers collect them so one compile reports every mistake.

use quote::ToTokens;
use syn::{FnArg, Item, Pat, Signature};

use crate::attr::{push_error, Options};

/// What the attribute sits on when it is not a single function.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Container {
    Impl,
    Trait,
    Mod,
}

impl Container {
    fn describe(self) -> &'static str {
        match self {
            Container::Impl => "an impl block",
            Container::Trait => "a trait",
            Container::Mod => "a module",
        }
    }
}

/// The error for an item `#[trace]` cannot instrument, spanned at its keyword.
pub fn unsupported_item(item: &Item) -> syn::Error {
    let what = "#[trace] can only be applied to a fn, an impl block, a trait or an inline mod";
    let at: &dyn ToTokens = match item {
        Item::Struct(i) => &i.struct_token,
        Item::Enum(i) => &i.enum_token,
        Item::Union(i) => &i.union_token,
        Item::Const(i) => &i.const_token,
        Item::Static(i) => &i.static_token,
        Item::Type(i) => &i.type_token,
        Item::Use(i) => &i.use_token,
        Item::ExternCrate(i) => &i.extern_token,
        Item::ForeignMod(i) => &i.abi,
        Item::TraitAlias(i) => &i.trait_token,
        Item::Macro(i) => &i.mac.path,
        other => other,
    };
    syn::Error::new_spanned(at, what)
}

/// The error for an out-of-line `mod foo;`, whose items the attribute cannot see.
pub fn out_of_line_mod(item: &syn::ItemMod) -> syn::Error {
    syn::Error::new_spanned(
        item.mod_token,
        "#[trace] cannot instrument an out-of-line module (`mod name;`): its items are in another file; \
         put #[trace] on the items in that file instead",
    )
}

/// Every identifier a parameter binds, and the receiver as `self`.
pub fn bound_names(arg: &FnArg) -> Vec<String> {
    fn walk(pat: &Pat, out: &mut Vec<String>) {
        match pat {
            Pat::Ident(p) => {
                out.push(p.ident.to_string());
                if let Some((_, sub)) = &p.subpat {
                    walk(sub, out);
                }
            }
            Pat::Tuple(t) => t.elems.iter().for_each(|p| walk(p, out)),
            Pat::TupleStruct(t) => t.elems.iter().for_each(|p| walk(p, out)),
            Pat::Struct(s) => s.fields.iter().for_each(|f| walk(&f.pat, out)),
            Pat::Slice(s) => s.elems.iter().for_each(|p| walk(p, out)),
            Pat::Reference(r) => walk(&r.pat, out),
            Pat::Paren(p) => walk(&p.pat, out),
            Pat::Type(t) => walk(&t.pat, out),
            Pat::Or(o) => o.cases.iter().for_each(|p| walk(p, out)),
            _ => {}
        }
    }
    match arg {
        FnArg::Receiver(_) => vec!["self".to_owned()],
        FnArg::Typed(t) => {
            let mut out = Vec::new();
            walk(&t.pat, &mut out);
            out
        }
    }
}

/// Checks the options of a function that is about to be instrumented. `explicit` is false when the function
/// is only reached through a container attribute: then a `const fn` is silently left alone by the caller, and
/// this is never called for it.
pub fn check_fn(opts: &Options, sig: &Signature, errors: &mut Option<syn::Error>) {
    if let Some(const_token) = &sig.constness {
        push_error(
            errors,
            syn::Error::new_spanned(
                const_token,
                "#[trace] cannot instrument a `const fn`: recording a call is not possible at compile time",
            ),
        );
    }
    if let Some((_, args)) = &opts.skip_args {
        let names: Vec<String> = sig.inputs.iter().flat_map(bound_names).collect();
        for arg in args {
            if !names.iter().any(|n| arg == n) {
                let list = if names.is_empty() {
                    "it has none".to_owned()
                } else {
                    names.join(", ")
                };
                push_error(
                    errors,
                    syn::Error::new_spanned(
                        arg,
                        format!(
                            "`skip({arg})`: `{}` has no argument named `{arg}` ({list})",
                            sig.ident
                        ),
                    ),
                );
            }
        }
    }
}

/// Rejects the options that only make sense on a single function when they annotate a container.
pub fn check_container(opts: &Options, container: Container, errors: &mut Option<syn::Error>) {
    let per_fn = |span: &dyn ToTokens, what: &str| {
        syn::Error::new_spanned(
            span,
            format!(
                "`{what}` applies to one function, not to {}; put `#[trace({what} ...)]` on the function inside",
                container.describe()
            ),
        )
    };
    if let Some(lit) = &opts.name {
        push_error(errors, per_fn(lit, "name"));
    }
    if let Some((kw, _)) = &opts.skip_args {
        push_error(errors, per_fn(kw, "skip"));
    }
    if let Some((lit, _)) = &opts.location {
        push_error(errors, per_fn(lit, "location"));
    }
}
