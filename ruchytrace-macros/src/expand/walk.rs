//! Walking `impl` blocks, traits and inline modules: `#[trace]` on a container instruments its
//! functions (and nested containers), honouring `#[trace(skip)]`.

use super::*;

/// Walks containers, strips our inner attributes and (when enabled) instruments the functions it finds.
pub(super) struct Walker {
    pub(super) enabled: bool,
    pub(super) errors: Option<syn::Error>,
    /// Whether an inner `#[trace(...)]` attribute was removed (so the item must be re-emitted).
    pub(super) stripped: bool,
}

impl Walker {
    /// Removes our attributes from `attrs` and returns the options they carry (None when there was none).
    pub(super) fn take_own(
        &mut self,
        attrs: &mut Vec<Attribute>,
        outer: &Options,
    ) -> Option<Options> {
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
    pub(super) fn nested_fn(
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

    pub(super) fn impl_block(&mut self, imp: &mut syn::ItemImpl, outer: &Options) {
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

    pub(super) fn trait_def(&mut self, tr: &mut syn::ItemTrait, outer: &Options) {
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

    pub(super) fn module(&mut self, m: &mut syn::ItemMod, outer: &Options) {
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
    pub(super) fn nested_container(
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
