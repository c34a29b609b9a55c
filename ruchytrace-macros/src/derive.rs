//! `#[derive(Traceable)]`: implements the runtime's structural `Capture` trait for a struct or enum, field by
//! field, so traced arguments and return values show as `User { id: 42, name: "Alice" }` even when the type has
//! no `Debug` (generated code from transpilers often has none).
//!
//! Each field goes through the same autoref probe as `#[trace]` arguments
//! (`(&&&Probe(&field)).__rt_capture(w)`), which picks structural capture, else `Debug`, else the type name at
//! compile time. That is why the impl needs no bounds: a field of any type compiles. In a generic type the
//! choice is made for the generic definition, so a field of type `T` is shown by its type name, while fields of
//! concrete types are shown by value.
//!
//! Without the `trace` feature the derive expands to nothing: no code, no dependency on the runtime's items.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, LitStr};

/// The derive's whole job; `enabled` is the crate's `trace` feature.
pub fn traceable(input: TokenStream, enabled: bool) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    match expand(&input) {
        // Checked even when disabled, so a build without the feature rejects what a traced build would.
        Ok(out) if enabled => out,
        Ok(_) => TokenStream::new(),
        Err(e) => e.to_compile_error(),
    }
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let ident = &input.ident;
    let type_name = ident.to_string();
    let body =
        match &input.data {
            Data::Struct(s) => {
                let name = LitStr::new(&type_name, ident.span());
                let (pattern, captures) = destructure(&s.fields, &name)?;
                quote! {
                    #[allow(unused_variables)]
                    let #ident #pattern = self;
                    #captures
                }
            }
            Data::Enum(e) => {
                let mut arms = Vec::new();
                for v in &e.variants {
                    let vident = &v.ident;
                    let name = LitStr::new(&format!("{type_name}::{vident}"), vident.span());
                    let (pattern, captures) = destructure(&v.fields, &name)?;
                    arms.push(quote! { #ident::#vident #pattern => { #captures } });
                }
                quote! {
                    #[allow(unused_variables)]
                    match self { #(#arms)* }
                }
            }
            Data::Union(u) => return Err(syn::Error::new(
                u.union_token.span,
                "#[derive(Traceable)] does not support unions: which field is live is not known",
            )),
        };
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::ruchytrace::hooks::Capture for #ident #ty_generics #where_clause {
            fn capture(&self, __rt_w: &mut ::ruchytrace::hooks::Writer) {
                #[allow(unused_imports)]
                use ::ruchytrace::hooks::capture::{CaptureDebug as _, CaptureOpaque as _, CaptureStructural as _};
                #body
            }
        }
    })
}

/// A pattern binding every field (by reference, through default binding modes) and the statements that write
/// the structure header and each field.
fn destructure(fields: &Fields, name: &LitStr) -> syn::Result<(TokenStream, TokenStream)> {
    let count = fields.len();
    let Ok(count) = u8::try_from(count) else {
        return Err(syn::Error::new(
            name.span(),
            format!("#[derive(Traceable)] supports at most 255 fields; {count} found"),
        ));
    };
    let mut bindings = Vec::new();
    let mut names = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let (binding, field_name) = match &f.ident {
            Some(id) => (format_ident!("__rt_f_{}", id), id.unraw().to_string()),
            None => (format_ident!("__rt_f{}", i), i.to_string()),
        };
        bindings.push(binding);
        names.push(LitStr::new(&field_name, Span::call_site()));
    }
    let pattern = match fields {
        Fields::Named(named) => {
            let idents = named.named.iter().map(|f| f.ident.as_ref());
            quote! { { #(#idents: #bindings),* } }
        }
        Fields::Unnamed(_) => quote! { ( #(#bindings),* ) },
        Fields::Unit => quote! {},
    };
    // The runtime writes the header and decides whether to descend (its depth budget), so the fields are
    // handed to it as a closure rather than written here.
    let captures = quote! {
        ::ruchytrace::hooks::structure(__rt_w, #name, #count, |__rt_w| {
            #(
                __rt_w.field(#names);
                (&&&::ruchytrace::hooks::capture::Probe(#bindings)).__rt_capture(__rt_w);
            )*
        });
    };
    Ok((pattern, captures))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(src: &str) -> String {
        traceable(src.parse().unwrap(), true).to_string()
    }

    #[test]
    fn struct_fields_in_order() {
        let out = expand_str("struct User { id: u64, name: String }");
        assert!(
            out.contains(
                ":: ruchytrace :: hooks :: structure (__rt_w , \"User\" , 2u8 , | __rt_w |"
            ),
            "{out}"
        );
        let id = out.find("field (\"id\")").unwrap();
        let name = out.find("field (\"name\")").unwrap();
        assert!(id < name, "{out}");
        assert!(
            out.contains("let User { id : __rt_f_id , name : __rt_f_name } = self"),
            "{out}"
        );
    }

    #[test]
    fn enum_variants_are_qualified() {
        let out = expand_str("enum Shape { Circle(f64), Rect { w: f64, h: f64 }, Empty }");
        assert!(out.contains("Shape :: Circle (__rt_f0) =>"), "{out}");
        assert!(
            out.contains("structure (__rt_w , \"Shape::Rect\" , 2u8"),
            "{out}"
        );
        assert!(out.contains("Shape :: Empty =>"), "{out}");
        assert!(
            out.contains("structure (__rt_w , \"Shape::Empty\" , 0u8"),
            "{out}"
        );
    }

    #[test]
    fn generics_are_kept_without_new_bounds() {
        let out = expand_str("struct W<'a, T: Clone> where T: Copy { x: &'a T }");
        assert!(
            out.contains("impl < 'a , T : Clone > :: ruchytrace :: hooks :: Capture for W < 'a , T > where T : Copy"),
            "{out}"
        );
    }

    #[test]
    fn disabled_expands_to_nothing_but_still_checks() {
        assert!(traceable("struct A { x: i32 }".parse().unwrap(), false).is_empty());
        let err = traceable("union U { a: u32 }".parse().unwrap(), false).to_string();
        assert!(err.contains("does not support unions"), "{err}");
    }
}
