//! Expansion tests: feature gating, the generated code, option parsing and every diagnostic rule.

use super::*;

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn expanded(attr: TokenStream, item: TokenStream) -> String {
    trace(attr, item, true).to_string()
}

/// The messages of every error the attribute reports (checked with tracing both on and off: validation never
/// depends on the feature).
fn errors(attr: TokenStream, item: TokenStream) -> Vec<String> {
    let on = match expand(attr.clone(), item.clone(), true) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    };
    let off = match expand(attr, item, false) {
        Ok(_) => Vec::new(),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>(),
    };
    assert_eq!(on, off, "validation must not depend on the trace feature");
    on
}

fn one_error(attr: TokenStream, item: TokenStream) -> String {
    let errs = errors(attr, item);
    assert_eq!(errs.len(), 1, "expected exactly one error, got {errs:?}");
    errs.into_iter().next().unwrap_or_default()
}

fn add() -> TokenStream {
    quote! {
        /// Adds.
        #[inline]
        pub fn add(a: i64, mut b: i64) -> i64 { b += 1; a + b }
    }
}

#[test]
fn feature_off_returns_a_fn_exactly() {
    let item = add();
    let out = trace(TokenStream::new(), item.clone(), false);
    assert_eq!(out.to_string(), item.to_string());
    let with_opts = trace(
        quote!(name = "x", skip(b), skip_return, sample = 3),
        item.clone(),
        false,
    );
    assert_eq!(with_opts.to_string(), item.to_string());
}

#[test]
fn feature_off_returns_containers_exactly_or_only_strips_inner_attributes() {
    let imp = quote! { impl P { fn a(&self) -> i32 { 1 } const fn b() -> i32 { 2 } } };
    assert_eq!(
        trace(TokenStream::new(), imp.clone(), false).to_string(),
        imp.to_string()
    );
    let m = quote! { mod m { pub fn f() {} impl S { fn g(self) {} } } };
    assert_eq!(
        trace(TokenStream::new(), m.clone(), false).to_string(),
        m.to_string()
    );

    let with_inner =
        quote! { impl P { #[trace(skip)] fn a(&self) -> i32 { 1 } #[inline] fn b(&self) {} } };
    let stripped = quote! { impl P { fn a(&self) -> i32 { 1 } #[inline] fn b(&self) {} } };
    assert_eq!(
        trace(TokenStream::new(), with_inner, false).to_string(),
        stripped.to_string()
    );
}

#[test]
fn feature_on_expands_add_to_the_canonical_shape() {
    let out = expanded(TokenStream::new(), add());
    let expected = r#"
        #[doc = r" Adds."]
        #[inline]
        pub fn add(a: i64, mut b: i64) -> i64 {
            static __RT_SITE: ::ruchytrace::hooks::CallSite = ::ruchytrace::hooks::CallSite::new(::ruchytrace::hooks::SiteMeta {
                name: "add", module_path: ::core::module_path!(), file: file!(), line: line!(),
                column: column!(),
                args: &[::ruchytrace::hooks::ArgMeta { name: "a", type_name: "i64" },
                        ::ruchytrace::hooks::ArgMeta { name: "b", type_name: "i64" }],
                return_type: "i64", kind: ::ruchytrace::hooks::SiteKind::Fn, sample: 0u32,
            });
            let __rt_gate = ::ruchytrace::hooks::gate(&__RT_SITE);
            let __rt_guard = if __rt_gate.is_open() {
                ::ruchytrace::hooks::enter_gated(__rt_gate, &__RT_SITE, {
                    let __rt_c0 = a;
                    let __rt_c1 = b;
                    move |__rt_w: &mut ::ruchytrace::hooks::Writer| {
                        #[allow(unused_imports)] use ::ruchytrace::hooks::capture::{CaptureDebug as _, CaptureOpaque as _, CaptureStructural as _};
                        (&&&::ruchytrace::hooks::capture::Probe(&__rt_c0)).__rt_capture(__rt_w);
                        (&&&::ruchytrace::hooks::capture::Probe(&__rt_c1)).__rt_capture(__rt_w);
                    }
                })
            } else {
                ::ruchytrace::hooks::CallGuard::closed(&__RT_SITE)
            };
            #[allow(clippy::let_unit_value)]
            let __rt_ret = ::ruchytrace::hooks::call::<i64, _>(move || { b += 1; a + b });
            if __rt_guard.is_recording() {
                __rt_guard.exit_with(|__rt_w| {
                    #[allow(unused_imports)] use ::ruchytrace::hooks::capture::{CaptureDebug as _, CaptureOpaque as _, CaptureStructural as _};
                    (&&&::ruchytrace::hooks::capture::Probe(&__rt_ret)).__rt_capture(__rt_w);
                });
            }
            __rt_ret
        }
    "#;
    assert_eq!(squash(&out), squash(expected));
}

#[test]
fn every_option_parses_and_reaches_the_site() {
    let out = expanded(
        quote!(
            name = "custom",
            skip(b),
            skip_return,
            crate = ::my::rt,
            location = "src/a.ruchy:12:5",
            sample = 7
        ),
        add(),
    );
    let s = squash(&out);
    assert!(s.contains(r#"name:"custom""#), "{out}");
    assert!(
        s.contains(r#"file:"src/a.ruchy",line:12u32,column:5u32"#),
        "{out}"
    );
    assert!(s.contains("sample:7u32"), "{out}");
    assert!(
        s.contains("::my::rt::hooks::gate(") && !s.contains("::ruchytrace::"),
        "{out}"
    );
    assert!(
        s.contains(r#"args:&[::my::rt::hooks::ArgMeta{name:"a",type_name:"i64"}]"#),
        "{out}"
    );
    // skip_return: the body stays inline and the guard's Drop records the exit.
    assert!(!s.contains("exit_with") && !s.contains("call::<"), "{out}");
    assert!(
        s.ends_with("else{::my::rt::hooks::CallGuard::closed(&__RT_SITE)};b+=1;a+b}"),
        "{out}"
    );
}

#[test]
fn skip_all_captures_no_argument() {
    let s = squash(&expanded(quote!(skip_all), add()));
    assert!(s.contains("args:&[]"), "{s}");
    assert!(s.contains("enter_gated(__rt_gate,&__RT_SITE,|_|{})"), "{s}");
}

#[test]
fn track_caller_and_impl_trait_keep_the_body_in_place() {
    let s = squash(&expanded(
        TokenStream::new(),
        quote! { #[track_caller] fn f(x: u32) -> u32 { if x == 0 { return 1; } x } },
    ));
    assert!(!s.contains("call::<") && !s.contains("exit_with"), "{s}");
    assert!(
        s.ends_with("CallGuard::closed(&__RT_SITE)};ifx==0{return1;}x}"),
        "{s}"
    );
    let s = squash(&expanded(
        TokenStream::new(),
        quote! { fn g(v: &[u8]) -> Result<impl Iterator<Item = &u8> + '_, ()> { Ok(v.iter()) } },
    ));
    assert!(
        !s.contains("call::<") && s.ends_with("CallGuard::closed(&__RT_SITE)};Ok(v.iter())}"),
        "{s}"
    );
}

#[test]
fn bare_skip_on_a_lone_fn_leaves_it_untouched() {
    assert_eq!(expanded(quote!(skip), add()), add().to_string());
}

#[test]
fn receivers_patterns_and_types_are_named_as_written() {
    let s = squash(&expanded(
        TokenStream::new(),
        quote! { fn f<'a>(&'a mut self, (x, mut y): (i32, Vec<u8>), it: impl Iterator<Item = &'a str>) -> impl Fn(u8) -> u8 { |v| v } },
    ));
    assert!(
        s.contains(r#"ArgMeta{name:"self",type_name:"&'amutSelf"}"#),
        "{s}"
    );
    assert!(
        s.contains(r#"ArgMeta{name:"(x,muty)",type_name:"(i32,Vec<u8>)"}"#),
        "{s}"
    );
    assert!(
        !s.contains("(x,muty):(i32,Vec<u8>)"),
        "pattern parameter must be renamed: {s}"
    );
    assert!(s.contains("__rt_arg1:(i32,Vec<u8>)"), "{s}");
    assert!(s.contains("let(x,muty)=__rt_arg1;"), "{s}");
    // Primitives and shared references are copied into the capture closure, anything else is borrowed.
    assert!(
        s.contains("{let__rt_c0=&self;let__rt_c1=&__rt_arg1;let__rt_c2=&it;move|"),
        "{s}"
    );
    let g = squash(&expanded(
        TokenStream::new(),
        quote! { fn g(&self, a: &str, b: *const u8, c: (u8,), d: &mut u32, e: usize, f: Vec<u8>) {} },
    ));
    assert!(
        g.contains("{let__rt_c0=self;let__rt_c1=a;let__rt_c2=b;let__rt_c3=&c;let__rt_c4=&d;let__rt_c5=e;let__rt_c6=&f;move|"),
        "{g}"
    );
    assert!(
        s.contains("kind:::ruchytrace::hooks::SiteKind::Method"),
        "{s}"
    );
    // An `impl Trait` return keeps the body in place (its inference may need the return type).
    assert!(
        !s.contains("call::<") && s.ends_with("let(x,muty)=__rt_arg1;|v|v}"),
        "impl Trait return must keep the body in place: {s}"
    );
    assert_eq!(
        render_tokens(quote!(impl Iterator<Item = &'a str>)),
        "impl Iterator<Item = &'a str>"
    );
    assert_eq!(
        render_tokens(quote!(impl Fn(u8) -> u8)),
        "impl Fn(u8) -> u8"
    );
    assert_eq!(render_tokens(quote!(&'a mut [u8; 4])), "&'a mut [u8; 4]");
    assert_eq!(
        render_tokens(quote!(Box<dyn std::error::Error + Send + 'static>)),
        "Box<dyn std::error::Error + Send + 'static>"
    );
    assert_eq!(
        render_tokens(quote!(<T as Iterator>::Item)),
        "<T as Iterator>::Item"
    );
    assert_eq!(
        render_tokens(quote!(Point { x, y: (a, b) })),
        "Point { x, y: (a, b) }"
    );
    assert_eq!(
        render_tokens(quote!(for<'b> fn(&'b u8) -> *const u8)),
        "for<'b> fn(&'b u8) -> *const u8"
    );
}

#[test]
fn async_fns_instrument_the_future() {
    let s = squash(&expanded(
        TokenStream::new(),
        quote! { async fn f(x: u32) -> u32 { x } },
    ));
    assert!(
        s.contains("kind:::ruchytrace::hooks::SiteKind::Async"),
        "{s}"
    );
    assert!(
        s.contains("let__rt_call=::ruchytrace::hooks::enter_async(&__RT_SITE"),
        "{s}"
    );
    assert!(s.contains("let__rt_ret:u32=::ruchytrace::hooks::instrument::<u32,_>(&__rt_call,asyncmove{let__rt_out:u32={x};__rt_out}).await;"), "{s}");
    // Every `return` of the async body carries the declared type; those of closures and async blocks do not.
    let s = squash(&expanded(
        TokenStream::new(),
        quote! { async fn g(x: u32) -> u32 { if x > 1 { return x; } let c = || { return 1u8; }; let d = async { return 2u8; }; x } },
    ));
    assert!(s.contains("return{let__rt_out:u32=x;__rt_out};"), "{s}");
    assert!(
        s.contains("letc=||{return1u8;};letd=async{return2u8;};"),
        "{s}"
    );
    // An `impl Trait` output cannot be named: the block infers it.
    let s = squash(&expanded(
        TokenStream::new(),
        quote! { async fn h() -> impl Fn(u8) -> u8 { |v| v } },
    ));
    assert!(s.contains("let__rt_ret:_=::ruchytrace::hooks::instrument::<_,_>(&__rt_call,asyncmove{|v|v}).await;"), "{s}");
    assert!(s.contains("__rt_call.exit_with("), "{s}");
}

#[test]
fn impl_blocks_name_methods_after_the_self_type_and_honour_inner_options() {
    let out = expanded(
        quote!(sample = 2),
        quote! {
            impl<T: Clone> Wrapper<T> {
                fn get(&self) -> T { self.0.clone() }
                fn new(v: T) -> Self { Wrapper(v) }
                #[trace(skip)]
                fn hidden(&self) {}
                #[ruchytrace::trace(name = "renamed", sample = 5)]
                fn other(&self) {}
                const fn konst() -> u8 { 1 }
            }
        },
    );
    let s = squash(&out);
    assert!(s.contains(r#"name:"Wrapper<T>::get""#), "{s}");
    assert!(s.contains(r#"name:"Wrapper<T>::new""#), "{s}");
    assert!(
        s.contains(r#"name:"renamed""#) && s.contains("sample:5u32"),
        "{s}"
    );
    assert_eq!(
        s.matches("static__RT_SITE").count(),
        3,
        "hidden and konst stay untouched: {s}"
    );
    assert!(
        s.contains("fnhidden(&self){}") && s.contains("constfnkonst()->u8{1}"),
        "{s}"
    );
    assert!(
        !s.contains("#[trace") && !s.contains("ruchytrace::trace"),
        "inner attributes are stripped: {s}"
    );
    assert_eq!(s.matches("sample:2u32").count(), 2, "{s}");
    assert!(
        s.contains("SiteKind::Method") && s.contains("SiteKind::Fn"),
        "{s}"
    );
}

#[test]
fn traits_instrument_default_methods_only() {
    let s = squash(&expanded(
        TokenStream::new(),
        quote! { trait Shape { fn area(&self) -> f64; fn twice(&self) -> f64 { 2.0 * self.area() } } },
    ));
    assert!(s.contains("fnarea(&self)->f64;"), "{s}");
    assert!(s.contains(r#"name:"Shape::twice""#), "{s}");
    assert_eq!(s.matches("static__RT_SITE").count(), 1, "{s}");
}

#[test]
fn inline_mods_recurse_into_fns_impls_and_mods() {
    let s = squash(&expanded(
        TokenStream::new(),
        quote! {
            mod outer {
                pub fn a() {}
                #[trace(skip)] pub fn b() {}
                pub const fn c() {}
                impl S { fn m(&self) {} }
                #[trace(skip)] impl T { fn n(&self) {} #[trace] fn o(&self) {} }
                mod inner { fn d() {} }
                struct S;
            }
        },
    ));
    for name in ["a", "S::m", "T::o", "d"] {
        assert!(
            s.contains(&format!("name:\"{name}\"")),
            "{name} missing in {s}"
        );
    }
    assert_eq!(s.matches("static__RT_SITE").count(), 4, "{s}");
}

#[test]
fn rejects_items_that_are_not_functions() {
    for item in [
        quote!(
            struct S;
        ),
        quote!(
            enum E {
                A,
            }
        ),
        quote!(
            const C: u8 = 1;
        ),
        quote!(
            static S: u8 = 1;
        ),
        quote!(
            type T = u8;
        ),
        quote!(
            use std::fmt;
        ),
        quote!(union U { a: u8 }),
    ] {
        let e = one_error(TokenStream::new(), item.clone());
        assert!(e.contains("can only be applied to a fn"), "{item}: {e}");
    }
}

#[test]
fn rejects_const_fn() {
    let e = one_error(
        TokenStream::new(),
        quote!(
            const fn f() -> u8 {
                1
            }
        ),
    );
    assert!(e.contains("`const fn`"), "{e}");
    // Explicitly marked const fn inside a container is an error too; unmarked ones are skipped silently.
    let e = one_error(
        TokenStream::new(),
        quote!(impl S { #[trace] const fn f() -> u8 { 1 } }),
    );
    assert!(e.contains("`const fn`"), "{e}");
    assert!(errors(
        TokenStream::new(),
        quote!(impl S { const fn f() -> u8 { 1 } })
    )
    .is_empty());
}

#[test]
fn rejects_unknown_options() {
    let e = one_error(quote!(nmae = "x"), add());
    assert!(
        e.starts_with("unknown #[trace] option `nmae`; expected one of: name,"),
        "{e}"
    );
    let e = one_error(quote!("name"), add());
    assert!(e.starts_with("expected one of"), "{e}");
    let e = one_error(quote!(name = 5), add());
    assert!(e.contains("expected string literal"), "{e}");
    let e = one_error(quote!(skip_all extra), add());
    assert!(e.contains("unexpected tokens"), "{e}");
}

#[test]
fn rejects_every_duplicate_option() {
    let cases = [
        (quote!(name = "a", name = "b"), "`name`"),
        (quote!(skip(a), skip(b)), "`skip(...)`"),
        (quote!(skip, skip), "`skip`"),
        (quote!(skip_all, skip_all), "`skip_all`"),
        (quote!(skip_return, skip_return), "`skip_return`"),
        (quote!(crate = a, crate = b), "`crate`"),
        (quote!(location = "a:1:1", location = "b:2:2"), "`location`"),
        (quote!(sample = 1, sample = 2), "`sample`"),
    ];
    for (attr, what) in cases {
        let e = one_error(attr.clone(), add());
        assert_eq!(e, format!("duplicate #[trace] option {what}"), "{attr}");
    }
    let e = one_error(
        TokenStream::new(),
        quote!(impl S { #[trace] #[trace(skip)] fn f() {} }),
    );
    assert_eq!(e, "duplicate #[trace] attribute");
}

#[test]
fn rejects_skipping_an_argument_that_does_not_exist() {
    let e = one_error(quote!(skip(c)), add());
    assert!(e.contains("no argument named `c` (a, b)"), "{e}");
    assert!(errors(quote!(skip(a, b)), add()).is_empty());
    assert!(errors(
        quote!(skip(self, x)),
        quote!(
            fn f(&self, (x, _y): (u8, u8)) {}
        )
    )
    .is_empty());
    let e = one_error(
        quote!(skip(self)),
        quote!(
            fn f() {}
        ),
    );
    assert!(e.contains("has none"), "{e}");
}

#[test]
fn rejects_malformed_locations() {
    for bad in [
        "main.ruchy",
        "main.ruchy:3",
        ":3:4",
        "f:x:1",
        "f:1:y",
        "f:0:1",
        "f:1:0",
        "f:-1:1",
    ] {
        let e = one_error(quote!(location = #bad), add());
        assert!(e.starts_with("malformed `location`"), "{bad}: {e}");
    }
    assert!(errors(quote!(location = "C:/dir/main.ruchy:3:14"), add()).is_empty());
}

#[test]
fn rejects_sample_zero_and_non_numbers() {
    assert!(one_error(quote!(sample = 0), add()).contains("`sample = 0`"));
    assert!(one_error(quote!(sample = 5000000000), add()).contains("whole number"));
    assert!(one_error(quote!(sample = "2"), add()).contains("expected integer literal"));
}

#[test]
fn rejects_per_function_options_on_containers() {
    let errs = errors(
        quote!(name = "n", skip(a), location = "f:1:1"),
        quote!(impl S { fn f(a: u8) {} }),
    );
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(
        errs.iter()
            .all(|e| e.contains("applies to one function, not to an impl block")),
        "{errs:?}"
    );
}

#[test]
fn rejects_out_of_line_mods_and_bodyless_methods() {
    let e = one_error(
        TokenStream::new(),
        quote!(
            mod foo;
        ),
    );
    assert!(e.contains("out-of-line module"), "{e}");
    let e = one_error(
        TokenStream::new(),
        quote!(
            fn f(&self) -> u8;
        ),
    );
    assert!(e.contains("needs a function body"), "{e}");
    let e = one_error(
        TokenStream::new(),
        quote!(
            trait T {
                #[trace]
                fn f(&self);
            }
        ),
    );
    assert!(e.contains("needs a function body"), "{e}");
}

#[test]
fn collects_several_errors_at_once() {
    let errs = errors(
        quote!(bogus, sample = 0, name = "a", name = "b", skip(zz)),
        add(),
    );
    assert_eq!(errs.len(), 4, "{errs:?}");
    let errs = errors(
        quote!(sample = 0),
        quote!(
            const fn f() {}
        ),
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
}

#[test]
fn on_error_the_item_is_emitted_unchanged_after_the_error() {
    let out = trace(quote!(sample = 0), add(), true).to_string();
    assert!(out.starts_with(":: core :: compile_error !"), "{out}");
    assert!(out.ends_with(&add().to_string()), "{out}");
}

#[test]
fn on_error_a_container_loses_only_its_inner_trace_attributes() {
    let item = quote! { impl S { #[trace(skip)] #[inline] fn f(&self) {} } };
    let out = trace(quote!(name = "n"), item, true).to_string();
    assert!(out.contains("compile_error"), "{out}");
    assert!(
        out.ends_with(&quote! { impl S { #[inline] fn f(&self) {} } }.to_string()),
        "{out}"
    );
}
