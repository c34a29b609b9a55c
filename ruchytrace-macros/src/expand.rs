//! Code generation: walks the annotated item, instruments each function through the public hook API
//! (`<crate>::hooks`, documented in docs/codegen-hooks.md) and re-emits everything else exactly.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::visit_mut::VisitMut;
use syn::{Attribute, Block, FnArg, ImplItem, Item, Pat, ReturnType, Signature, TraitItem, Type};

use crate::attr::{push_error, Options};
use crate::valid::{self, Container};

/// The attribute's whole job. `enabled` is the crate's `trace` feature: when off the options are still
/// checked, but functions come back untouched (a lone `fn` comes back as the very same tokens).
pub fn trace(attr: TokenStream, item: TokenStream, enabled: bool) -> TokenStream {
    match expand(attr, item.clone(), enabled) {
        Ok(out) => out,
        Err(err) => {
            // One mistake, one message: the item goes out as written (minus our own inner attributes, which
            // would otherwise be expanded on their own and repeat the same error) so no cascade of
            // "cannot find function" errors follows.
            let mut out = err.to_compile_error();
            out.extend(strip_only(item));
            out
        }
    }
}

fn expand(attr: TokenStream, item_tokens: TokenStream, enabled: bool) -> syn::Result<TokenStream> {
    // The options that did parse are still checked against the item, so every mistake shows up at once.
    let (opts, mut errors) = Options::parse_partial(attr);
    let mut item: Item = match syn::parse2(item_tokens.clone()) {
        Ok(item) => item,
        Err(e) => {
            let item_error = match syn::parse2::<syn::TraitItemFn>(item_tokens.clone()) {
                Ok(f) => no_body(&f.sig),
                Err(_) => e,
            };
            push_error(&mut errors, item_error.clone());
            return Err(errors.unwrap_or(item_error));
        }
    };
    let mut walker = Walker {
        enabled,
        errors,
        stripped: false,
    };
    let instrument_lone_fn = match &mut item {
        Item::Fn(f) => {
            valid::check_fn(&opts, &f.sig, &mut walker.errors);
            opts.skip_item.is_none()
        }
        Item::Impl(imp) => {
            valid::check_container(&opts, Container::Impl, &mut walker.errors);
            walker.impl_block(imp, &opts);
            false
        }
        Item::Trait(tr) => {
            valid::check_container(&opts, Container::Trait, &mut walker.errors);
            walker.trait_def(tr, &opts);
            false
        }
        Item::Mod(m) => {
            valid::check_container(&opts, Container::Mod, &mut walker.errors);
            walker.module(m, &opts);
            false
        }
        Item::Verbatim(tokens) if syn::parse2::<syn::TraitItemFn>(tokens.clone()).is_ok() => {
            // syn keeps a body-less `fn f();` as verbatim tokens.
            if let Ok(f) = syn::parse2::<syn::TraitItemFn>(tokens.clone()) {
                push_error(&mut walker.errors, no_body(&f.sig));
            }
            false
        }
        other => {
            push_error(&mut walker.errors, valid::unsupported_item(other));
            false
        }
    };
    if let Some(e) = walker.errors {
        return Err(e);
    }
    if let Item::Fn(f) = &mut item {
        if !enabled || !instrument_lone_fn {
            return Ok(item_tokens);
        }
        let name = f.sig.ident.to_string();
        let keep = keeps_body_in_place(&f.attrs);
        instrument(&mut f.sig, &mut f.block, name, &opts, keep);
        return Ok(item.into_token_stream());
    }
    if walker.stripped || enabled {
        Ok(item.into_token_stream())
    } else {
        Ok(item_tokens)
    }
}

/// The item with our inner attributes removed and nothing else changed (used on the error path).
fn strip_only(item: TokenStream) -> TokenStream {
    let Ok(mut parsed) = syn::parse2::<Item>(item.clone()) else {
        return item;
    };
    let mut walker = Walker {
        enabled: false,
        errors: None,
        stripped: false,
    };
    let opts = Options::default();
    match &mut parsed {
        Item::Impl(imp) => walker.impl_block(imp, &opts),
        Item::Trait(tr) => walker.trait_def(tr, &opts),
        Item::Mod(m) => walker.module(m, &opts),
        _ => return item,
    }
    if walker.stripped {
        parsed.into_token_stream()
    } else {
        item
    }
}

fn no_body(sig: &Signature) -> syn::Error {
    syn::Error::new_spanned(
        &sig.ident,
        "#[trace] needs a function body to instrument; put it on the implementations of this trait method",
    )
}

/// Is this attribute one of ours (`trace`, `ruchytrace::trace`, `::ruchytrace::trace` or `<crate>::trace`)?
fn is_trace_attr(attr: &Attribute, opts: &Options) -> bool {
    let path = attr.path();
    let segs: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    match segs.as_slice() {
        [only] => only == "trace" && path.leading_colon.is_none(),
        [first, .., last] if last == "trace" => {
            first == "ruchytrace"
                || opts.krate.as_ref().is_some_and(|(_, k)| {
                    let k: Vec<String> = k.segments.iter().map(|s| s.ident.to_string()).collect();
                    k.as_slice() == &segs[..segs.len() - 1]
                })
        }
        _ => false,
    }
}

/// Where a nested function sits.
struct FnCtx<'a> {
    outer: &'a Options,
    /// `Type` or `Trait`, prefixed to the site name as `Type::method`.
    prefix: Option<&'a str>,
}

/// Rewrites one function in place: pattern parameters are renamed (and re-bound at the top of the body), and
/// the body is replaced by the instrumented one. Everything else in the signature is left exactly as written.
/// `default_name` is the site name unless the options say `name = "..."`.
fn instrument(
    sig: &mut Signature,
    block: &mut Block,
    default_name: String,
    opts: &Options,
    keep_in_place: bool,
) {
    let name = opts.name.as_ref().map_or(default_name, |lit| lit.value());
    let krate = opts.crate_path();
    let hooks = quote!(#krate::hooks);
    let skip_all = opts.skip_all.is_some();
    let skipped: Vec<String> = opts
        .skip_args
        .iter()
        .flat_map(|(_, a)| a.iter().map(|i| i.to_string()))
        .collect();

    let mut metas = Vec::new();
    let mut captures = Vec::new();
    let mut rebinds = Vec::new();
    for (index, input) in sig.inputs.iter_mut().enumerate() {
        let is_skipped = skip_all
            || valid::bound_names(input)
                .iter()
                .any(|n| skipped.contains(n));
        match input {
            FnArg::Receiver(recv) => {
                if is_skipped {
                    continue;
                }
                let type_name = match &recv.colon_token {
                    Some(_) => render_tokens(recv.ty.to_token_stream()),
                    None => {
                        let reference = recv.reference.as_ref().map(|(_, lt)| match lt {
                            Some(lt) => format!("&{lt} "),
                            None => "&".to_owned(),
                        });
                        let mutability = if recv.reference.is_some() && recv.mutability.is_some() {
                            "mut "
                        } else {
                            ""
                        };
                        format!("{}{mutability}Self", reference.unwrap_or_default())
                    }
                };
                let self_token = &recv.self_token;
                metas.push(arg_meta(&hooks, "self", &type_name));
                let shared_ref = match &recv.colon_token {
                    Some(_) => is_copied_for_capture(&recv.ty),
                    None => recv.reference.is_some() && recv.mutability.is_none(),
                };
                captures.push((quote!(#self_token), shared_ref));
            }
            FnArg::Typed(pt) => {
                if is_skipped {
                    continue;
                }
                let type_name = render_tokens(pt.ty.to_token_stream());
                match &*pt.pat {
                    Pat::Ident(pi) if pi.subpat.is_none() => {
                        let ident = &pi.ident;
                        metas.push(arg_meta(&hooks, &ident.to_string(), &type_name));
                        captures.push((quote!(#ident), is_copied_for_capture(&pt.ty)));
                    }
                    pat => {
                        // A pattern binds no single name to capture: take the whole value under a fresh name
                        // and destructure it again at the top of the body.
                        let display = render_tokens(pat.to_token_stream());
                        let fresh = format_ident!("__rt_arg{}", index);
                        rebinds.push(quote!(let #pat = #fresh;));
                        metas.push(arg_meta(&hooks, &display, &type_name));
                        captures.push((quote!(#fresh), is_copied_for_capture(&pt.ty)));
                        *pt.pat = Pat::Ident(syn::PatIdent {
                            attrs: Vec::new(),
                            by_ref: None,
                            mutability: None,
                            ident: fresh,
                            subpat: None,
                        });
                    }
                }
            }
        }
    }

    // `impl Trait` in the return type cannot be named inside the body, and the body's inference may need it (a
    // returned closure takes its parameter types from `impl Fn(&T) -> U`): such bodies stay where they are.
    let (return_type, ret_ty, never) = match &sig.output {
        ReturnType::Default => ("()".to_owned(), Some(quote!(())), false),
        ReturnType::Type(_, ty) => {
            let never = matches!(**ty, Type::Never(_));
            let tokens = (!mentions_impl_trait(ty)).then(|| ty.to_token_stream());
            (render_tokens(ty.to_token_stream()), tokens, never)
        }
    };
    let is_async = sig.asyncness.is_some();
    let kind = if is_async {
        quote!(Async)
    } else if sig.receiver().is_some() {
        quote!(Method)
    } else {
        quote!(Fn)
    };
    let sample = opts.sample.as_ref().map_or(0, |(_, n)| *n);
    let fn_span = sig.fn_token.span();
    let (file, line, column) = match &opts.location {
        Some((_, loc)) => {
            let (file, line, column) = (&loc.file, loc.line, loc.column);
            (quote!(#file), quote!(#line), quote!(#column))
        }
        // Spanned at the user's `fn` token so they report it, and therefore resolved with the user's edition:
        // a leading-`::` path means `crate::...` in a 2015-edition crate, so the macros are named through the
        // prelude instead.
        None => (
            quote_spanned!(fn_span=> file!()),
            quote_spanned!(fn_span=> line!()),
            quote_spanned!(fn_span=> column!()),
        ),
    };
    let site = quote! {
        static __RT_SITE: #hooks::CallSite = #hooks::CallSite::new(#hooks::SiteMeta {
            name: #name,
            module_path: ::core::module_path!(),
            file: #file,
            line: #line,
            column: #column,
            args: &[#(#metas),*],
            return_type: #return_type,
            kind: #hooks::SiteKind::#kind,
            sample: #sample,
        });
    };
    let capture_use = quote!(#[allow(unused_imports)] use #hooks::capture::{CaptureDebug as _, CaptureOpaque as _, CaptureStructural as _};);
    // Each argument is bound (a copy of a primitive or a shared reference, else a reference to the argument)
    // and moved into the capture closure. Built where the closure is, after the gate: a copied argument then
    // needs no stack slot on the path that records nothing.
    let args_closure = if captures.is_empty() {
        quote!(|_| {})
    } else {
        let mut binds = Vec::new();
        let mut probes = Vec::new();
        for (i, (value, copied)) in captures.iter().enumerate() {
            let local = format_ident!("__rt_c{}", i);
            if *copied {
                binds.push(quote!(let #local = #value;));
                probes.push(quote!(&#local));
            } else {
                binds.push(quote!(let #local = &#value;));
                probes.push(quote!(#local));
            }
        }
        quote!({
            #(#binds)*
            move |__rt_w: &mut #hooks::Writer| {
                #capture_use
                #((&&&#hooks::capture::Probe(#probes)).__rt_capture(__rt_w);)*
            }
        })
    };
    let ret_closure = quote!(|__rt_w| {
        #capture_use
        (&&&#hooks::capture::Probe(&__rt_ret)).__rt_capture(__rt_w);
    });
    let stmts = &block.stmts;
    let capture_return = opts.skip_return.is_none() && !never;

    let body = if is_async {
        // An async block takes no expected type from its context, so the declared output is written on a `let`
        // around the tail and on every `return` (both coercion sites, as in the function itself). An output
        // naming `impl Trait` cannot be written: the block is then left to infer it.
        let mut stmts = block.stmts.clone();
        let inner = match &ret_ty {
            Some(ty) => {
                let mut typed = TypedReturns { ty };
                for stmt in &mut stmts {
                    typed.visit_stmt_mut(stmt);
                }
                quote!({
                    #(#rebinds)*
                    let __rt_out: #ty = { #(#stmts)* };
                    __rt_out
                })
            }
            None => quote!({ #(#rebinds)* #(#stmts)* }),
        };
        let out_ty = ret_ty.clone().unwrap_or_else(|| quote!(_));
        let finish = if capture_return {
            quote!(__rt_call.exit_with(#ret_closure);)
        } else {
            // A value-less exit: dropping the call instead would record a cancellation.
            quote!(__rt_call.exit();)
        };
        quote! {
            #site
            let __rt_call = #hooks::enter_async(&__RT_SITE, #args_closure);
            let __rt_ret: #out_ty = #hooks::instrument::<#out_ty, _>(&__rt_call, async move #inner).await;
            #finish
            __rt_ret
        }
    } else {
        // The gate is tested before the capture closure exists: that closure takes the arguments' addresses,
        // which would make the disabled path store them to the stack.
        let enter = quote! {
            let __rt_gate = #hooks::gate(&__RT_SITE);
            let __rt_guard = if __rt_gate.is_open() {
                #hooks::enter_gated(__rt_gate, &__RT_SITE, #args_closure)
            } else {
                #hooks::CallGuard::closed(&__RT_SITE)
            };
        };
        match ret_ty.as_ref().filter(|_| capture_return && !keep_in_place) {
            Some(ty) => quote! {
                #site
                #enter
                // The closure's return type is pinned to the declared one, so the body's tail, its `return`s
                // and its `?`s see the same expected type as in the function itself.
                #[allow(clippy::let_unit_value)]
                let __rt_ret = #hooks::call::<#ty, _>(move || { #(#rebinds)* #(#stmts)* });
                if __rt_guard.is_recording() {
                    __rt_guard.exit_with(#ret_closure);
                }
                __rt_ret
            },
            // The body stays in place, exactly as written; the guard's Drop records the exit (without the value)
            // however the body leaves, or the panic.
            None => quote! {
                #site
                #enter
                #(#rebinds)*
                #(#stmts)*
            },
        }
    };
    let brace = block.brace_token;
    *block = Block {
        brace_token: brace,
        stmts: vec![syn::Stmt::Expr(syn::Expr::Verbatim(body), None)],
    };
}

fn arg_meta(hooks: &TokenStream, name: &str, type_name: &str) -> TokenStream {
    quote!(#hooks::ArgMeta { name: #name, type_name: #type_name })
}

/// Writes the declared output type on every `return` of an async body (`return { let v: T = e; v }`), leaving
/// alone the `return`s that belong to closures, async blocks and nested items.
struct TypedReturns<'a> {
    ty: &'a TokenStream,
}

impl VisitMut for TypedReturns<'_> {
    fn visit_expr_mut(&mut self, expr: &mut syn::Expr) {
        match expr {
            syn::Expr::Closure(_) | syn::Expr::Async(_) | syn::Expr::Const(_) => {}
            syn::Expr::Return(ret) => {
                if let Some(value) = &mut ret.expr {
                    self.visit_expr_mut(value);
                    let ty = self.ty;
                    let span = value.span();
                    let typed = quote_spanned!(span=> { let __rt_out: #ty = #value; __rt_out });
                    **value = syn::Expr::Verbatim(typed);
                }
            }
            _ => syn::visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut Item) {}
}

/// Does the function carry an attribute that a moved body would break (`#[track_caller]`: the body's
/// `Location::caller()` must stay the function's own)?
pub fn keeps_body_in_place(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("track_caller"))
}

/// Is an argument of this type `Copy` for certain, judged from how it is written: the primitives, shared
/// references and raw pointers. Such an argument is copied into the capture closure instead of borrowed.
fn is_copied_for_capture(ty: &Type) -> bool {
    const PRIMITIVES: &[&str] = &[
        "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize",
        "f32", "f64", "bool", "char",
    ];
    match ty {
        Type::Reference(r) => r.mutability.is_none(),
        Type::Ptr(_) => true,
        Type::Paren(p) => is_copied_for_capture(&p.elem),
        Type::Group(g) => is_copied_for_capture(&g.elem),
        Type::Path(p) => {
            p.qself.is_none()
                && p.path.leading_colon.is_none()
                && p.path.segments.len() == 1
                && p.path.segments[0].arguments.is_empty()
                && PRIMITIVES.iter().any(|n| p.path.segments[0].ident == n)
        }
        _ => false,
    }
}

/// Does the type contain `impl Trait` anywhere (which cannot be written inside the function body)?
fn mentions_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

mod render;
mod walk;
pub use render::render_tokens;
use walk::Walker;

#[cfg(test)]
mod tests;
