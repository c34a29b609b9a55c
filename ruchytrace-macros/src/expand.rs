//! Code generation: walks the annotated item, instruments each function through the public hook API
//! (`<crate>::hooks`, documented in docs/codegen-hooks.md) and re-emits everything else exactly.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
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

/// Walks containers, strips our inner attributes and (when enabled) instruments the functions it finds.
struct Walker {
    enabled: bool,
    errors: Option<syn::Error>,
    /// Whether an inner `#[trace(...)]` attribute was removed (so the item must be re-emitted).
    stripped: bool,
}

impl Walker {
    /// Removes our attributes from `attrs` and returns the options they carry (None when there was none).
    fn take_own(&mut self, attrs: &mut Vec<Attribute>, outer: &Options) -> Option<Options> {
        let mut own: Option<Options> = None;
        let mut kept = Vec::with_capacity(attrs.len());
        for attr in attrs.drain(..) {
            if !is_trace_attr(&attr, outer) {
                kept.push(attr);
                continue;
            }
            self.stripped = true;
            let parsed = match &attr.meta {
                syn::Meta::Path(_) => Ok(Options::default()),
                syn::Meta::List(list) => match Options::parse_partial(list.tokens.clone()) {
                    (opts, None) => Ok(opts),
                    (_, Some(e)) => Err(e),
                },
                syn::Meta::NameValue(nv) => Err(syn::Error::new_spanned(
                    nv.eq_token,
                    "expected `#[trace]` or `#[trace(options)]`",
                )),
            };
            if own.is_some() {
                push_error(
                    &mut self.errors,
                    syn::Error::new_spanned(&attr, "duplicate #[trace] attribute"),
                );
                continue;
            }
            match parsed {
                Ok(o) => own = Some(o),
                Err(e) => {
                    push_error(&mut self.errors, e);
                    // Treat it as opted out so no further error is derived from it.
                    own = Some(Options {
                        skip_item: Some(Default::default()),
                        ..Options::default()
                    });
                }
            }
        }
        *attrs = kept;
        own
    }

    /// Handles one function found inside a container. `outer_skip` is true when the container itself is opted
    /// out: the function is then instrumented only if it carries its own attribute.
    fn nested_fn(
        &mut self,
        attrs: &mut Vec<Attribute>,
        sig: &mut Signature,
        block: &mut Block,
        ctx: &FnCtx,
    ) {
        let own = self.take_own(attrs, ctx.outer);
        if own.as_ref().is_some_and(|o| o.skip_item.is_some()) {
            return;
        }
        if own.is_none() && (ctx.outer.skip_item.is_some() || sig.constness.is_some()) {
            // A const fn reached only through a container is left alone: it cannot record anything.
            return;
        }
        let opts = match &own {
            Some(own) => {
                valid::check_fn(own, sig, &mut self.errors);
                own.merged_over(ctx.outer)
            }
            None => ctx.outer.merged_over(&Options::default()),
        };
        if self.enabled && self.errors.is_none() {
            let name = match ctx.prefix {
                None => sig.ident.to_string(),
                Some(prefix) => format!("{prefix}::{}", sig.ident),
            };
            instrument(sig, block, name, &opts, keeps_body_in_place(attrs));
        }
    }

    fn impl_block(&mut self, imp: &mut syn::ItemImpl, outer: &Options) {
        let self_ty = render_tokens(imp.self_ty.to_token_stream());
        let ctx = FnCtx {
            outer,
            prefix: Some(&self_ty),
        };
        for item in &mut imp.items {
            if let ImplItem::Fn(f) = item {
                self.nested_fn(&mut f.attrs, &mut f.sig, &mut f.block, &ctx);
            }
        }
    }

    fn trait_def(&mut self, tr: &mut syn::ItemTrait, outer: &Options) {
        let trait_name = tr.ident.to_string();
        let ctx = FnCtx {
            outer,
            prefix: Some(&trait_name),
        };
        for item in &mut tr.items {
            if let TraitItem::Fn(f) = item {
                match &mut f.default {
                    Some(block) => self.nested_fn(&mut f.attrs, &mut f.sig, block, &ctx),
                    None => {
                        // A required method has nothing to instrument; an explicit attribute on it is a mistake.
                        if self
                            .take_own(&mut f.attrs, outer)
                            .is_some_and(|o| o.skip_item.is_none())
                        {
                            push_error(&mut self.errors, no_body(&f.sig));
                        }
                    }
                }
            }
        }
    }

    fn module(&mut self, m: &mut syn::ItemMod, outer: &Options) {
        let Some((_, items)) = &mut m.content else {
            push_error(&mut self.errors, valid::out_of_line_mod(m));
            return;
        };
        let ctx = FnCtx {
            outer,
            prefix: None,
        };
        for item in items {
            match item {
                Item::Fn(f) => self.nested_fn(&mut f.attrs, &mut f.sig, &mut f.block, &ctx),
                Item::Impl(imp) => {
                    if let Some(opts) =
                        self.nested_container(&mut imp.attrs, outer, Container::Impl)
                    {
                        self.impl_block(imp, &opts);
                    }
                }
                Item::Trait(tr) => {
                    if let Some(opts) =
                        self.nested_container(&mut tr.attrs, outer, Container::Trait)
                    {
                        self.trait_def(tr, &opts);
                    }
                }
                Item::Mod(inner) => {
                    if let Some(opts) =
                        self.nested_container(&mut inner.attrs, outer, Container::Mod)
                    {
                        self.module(inner, &opts);
                    }
                }
                _ => {}
            }
        }
    }

    /// The options of a container nested in a module; its own attribute (if any) is merged over the outer one.
    fn nested_container(
        &mut self,
        attrs: &mut Vec<Attribute>,
        outer: &Options,
        kind: Container,
    ) -> Option<Options> {
        match self.take_own(attrs, outer) {
            None => Some(outer.clone()),
            Some(own) => {
                valid::check_container(&own, kind, &mut self.errors);
                let mut merged = own.merged_over(outer);
                // An opted-out outer module does not opt out a container that asks for tracing itself.
                merged.skip_item = own.skip_item;
                Some(merged)
            }
        }
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

/// Renders tokens the way people write Rust (`Vec<u8>`, `&'a mut T`, `impl Iterator<Item = u32>`), not the
/// token-spaced form of `to_string()` (`Vec < u8 >`), for type and pattern names in the trace.
pub fn render_tokens(tokens: TokenStream) -> String {
    let mut out = String::new();
    render_into(tokens, &mut out);
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Prev {
    Start,
    Word,
    /// `mut`, `dyn`, `impl`, `const`, `ref`, `as`: always followed by a space.
    Keyword,
    /// A punctuation character, and whether it is joined to the next one.
    Punct(char, bool),
    Group,
}

fn render_into(tokens: TokenStream, out: &mut String) {
    let mut prev = Prev::Start;
    // Set by tokens that are followed by a space: `,`, `;`, `=`, `+`, the `>` of `->`, a single `:`.
    let mut space_after = false;
    for tt in tokens {
        let space_before = match (&tt, prev) {
            (_, Prev::Start) | (_, Prev::Punct('\'', _)) => false,
            _ if space_after => true,
            (_, Prev::Keyword) => true,
            (TokenTree::Ident(_) | TokenTree::Literal(_), p) => {
                matches!(p, Prev::Word) || matches!(p, Prev::Punct('>', false))
            }
            (TokenTree::Punct(pu), p) => match pu.as_char() {
                '=' | '+' => true,
                '-' => pu.spacing() == proc_macro2::Spacing::Joint,
                '\'' | '&' | '*' => matches!(p, Prev::Word),
                _ => false,
            },
            (TokenTree::Group(g), _) => g.delimiter() == Delimiter::Brace,
        };
        if space_before {
            out.push(' ');
        }
        space_after = false;
        match tt {
            TokenTree::Ident(ident) => {
                let word = ident.to_string();
                prev = match word.as_str() {
                    "mut" | "dyn" | "impl" | "const" | "ref" | "as" => Prev::Keyword,
                    _ => Prev::Word,
                };
                out.push_str(&word);
            }
            TokenTree::Literal(lit) => {
                out.push_str(&lit.to_string());
                prev = Prev::Word;
            }
            TokenTree::Punct(p) => {
                let c = p.as_char();
                let joint = p.spacing() == proc_macro2::Spacing::Joint;
                out.push(c);
                space_after = match c {
                    ',' | ';' | '=' | '+' => true,
                    '>' => prev == Prev::Punct('-', true),
                    ':' => !joint && prev != Prev::Punct(':', true),
                    _ => false,
                };
                prev = Prev::Punct(c, joint);
            }
            TokenTree::Group(g) => {
                let (open, close) = match g.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{ ", " }"),
                    Delimiter::None => ("", ""),
                };
                out.push_str(open);
                render_into(g.stream(), out);
                out.push_str(close);
                prev = Prev::Group;
            }
        }
    }
}

#[cfg(test)]
mod tests;
