use super::*;

fn run(src: &str) -> String {
    instrument_source(src, None).unwrap().source
}

#[test]
fn functions_get_the_attribute_with_their_indentation() {
    let src = "/// Doc.\nfn fibonacci(n: i64) -> i64 {\n    // keep me\n    n\n}\n\nmod m {\n    pub(crate) fn inner() {}\n}\n";
    let out = run(src);
    assert_eq!(
        out,
        "/// Doc.\n#[ruchytrace::trace]\nfn fibonacci(n: i64) -> i64 {\n    // keep me\n    n\n}\n\nmod m {\n    #[ruchytrace::trace]\n    pub(crate) fn inner() {}\n}\n"
    );
}

#[test]
fn exclusions() {
    let src = r#"
const fn c() -> i32 { 1 }
extern "C" { fn ext(x: i32) -> i32; }
#[test]
fn t() {}
#[tokio::test]
async fn t2() {}
#[cfg(test)]
mod tests { fn helper() {} struct S; }
#[ruchytrace::trace(name = "x")]
fn done() {}
#[trace]
impl A { fn m(&self) {} }
#[ruchytrace::trace]
trait T { fn d(&self) {} }
trait U { fn no_body(&self); }
"#;
    let out = instrument_source(src, None).unwrap();
    assert_eq!(out.functions, 0, "{}", out.source);
    assert_eq!(out.types, 0);
    assert_eq!(out.source, src);
}

#[test]
fn methods_are_named_by_their_type() {
    let src = "impl Point {\n    pub fn norm(&self) -> f64 { 0.0 }\n    const fn zero() -> i32 { 0 }\n}\nimpl Show for &Point { fn show(&self) { fn helper() {} } }\n";
    let out = run(src);
    assert!(
        out.contains("    #[ruchytrace::trace(name = \"Point::norm\")]\n    pub fn norm"),
        "{out}"
    );
    assert!(out.contains("    const fn zero"), "{out}");
    assert!(!out.contains("Point::zero"), "{out}");
    assert!(
        out.contains("#[ruchytrace::trace(name = \"Point::show\")] fn show"),
        "{out}"
    );
    assert!(out.contains("#[ruchytrace::trace] fn helper"), "{out}");
}

#[test]
fn trait_default_methods() {
    let out = run("trait Greet {\n    fn hi(&self) -> i32 { 1 }\n    fn bye(&self);\n}\n");
    assert_eq!(
        out,
        "trait Greet {\n    #[ruchytrace::trace(name = \"Greet::hi\")]\n    fn hi(&self) -> i32 { 1 }\n    fn bye(&self);\n}\n"
    );
}

#[test]
fn derives_are_added_or_extended() {
    let src = "#[derive(Clone)]\nstruct User { id: u64 }\n#[derive(Debug, Clone,)]\npub enum E { A }\nstruct Unit;\n#[derive(ruchytrace::Traceable)]\nstruct Done;\n";
    let out = instrument_source(src, None).unwrap();
    assert_eq!(out.types, 3);
    assert_eq!(
        out.source,
        "#[derive(Clone, ruchytrace::Traceable)]\nstruct User { id: u64 }\n#[derive(Debug, Clone, ruchytrace::Traceable)]\npub enum E { A }\n#[derive(ruchytrace::Traceable)]\nstruct Unit;\n#[derive(ruchytrace::Traceable)]\nstruct Done;\n"
    );
}

#[test]
fn idempotent() {
    let src = "#[derive(Clone)]\nstruct U { a: i32 }\nimpl U { fn get(&self) -> i32 { self.a } }\nfn main() { let s = \"fn fake() {}\"; }\n";
    let once = run(src);
    assert_eq!(run(&once), once);
    assert_eq!(once.matches("ruchytrace::trace").count(), 2, "{once}");
}

#[test]
fn locations_from_a_map() {
    let map =
        LocationMap::parse("# comment\nfibonacci=fibonacci.ruchy:1:1\nPoint::norm = p.ruchy:7:5\n")
            .unwrap();
    let out = instrument_source(
        "fn fibonacci(n: i64) -> i64 { n }\nimpl Point { fn norm(&self) {} }\nfn other() {}\n",
        Some(&map),
    )
    .unwrap()
    .source;
    assert!(
        out.starts_with("#[ruchytrace::trace(location = \"fibonacci.ruchy:1:1\")]\nfn fibonacci"),
        "{out}"
    );
    assert!(
        out.contains(
            "#[ruchytrace::trace(name = \"Point::norm\", location = \"p.ruchy:7:5\")] fn norm"
        ),
        "{out}"
    );
    assert!(out.contains("#[ruchytrace::trace]\nfn other"), "{out}");
    assert!(LocationMap::parse("x=f.ruchy:0:1")
        .unwrap_err()
        .contains("line 1"));
    assert!(LocationMap::parse("nonsense")
        .unwrap_err()
        .contains("line 1"));
}

#[test]
fn locations_from_ruchy_source() {
    let src = "// fun commented(x)\nfun fibonacci(n: i64) -> i64 {\n    let s = \"fun in_string()\";\n    n\n}\n\nstruct Point { x: f64 }\nimpl Point {\n    fun norm(&self) -> f64 { self.x }\n}\nfun main() { }\n";
    let map = LocationMap::from_ruchy_source("f.ruchy", src);
    assert_eq!(
        map.to_string(),
        "Point::norm=f.ruchy:9:9\nfibonacci=f.ruchy:2:5\nmain=f.ruchy:11:5\nnorm=f.ruchy:9:9\n"
    );
}

#[test]
fn parse_errors_have_line_and_column() {
    let e = instrument_source("fn ok() {}\nfn broken( {\n", None).unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    assert!(e.column >= 1, "{e}");
    assert!(e.to_string().starts_with("2:"), "{e}");
}

#[test]
fn non_ascii_columns() {
    let src = "fn a() { let _s = \"héllo\"; } fn b() {}\n";
    let out = run(src);
    assert_eq!(
        out,
        "#[ruchytrace::trace]\nfn a() { let _s = \"héllo\"; } #[ruchytrace::trace] fn b() {}\n"
    );
}

fn whole_crate(src: &str, min: usize) -> Instrumented {
    instrument_source_with(
        src,
        &Options {
            same_line: true,
            min_body_tokens: min,
            location_file: Some("src/lib.rs"),
            ..Options::default()
        },
    )
    .unwrap()
}

#[test]
fn same_line_insertions_keep_every_line_number() {
    let src = "/// Doc.\npub fn big(a: u32) -> u32 {\n    let b = a * 2;\n    b + 1\n}\n\nimpl S {\n    fn m(&self) -> u32 { self.0 + self.1 * 3 }\n}\n";
    let out = whole_crate(src, 0);
    assert_eq!(out.source.lines().count(), src.lines().count());
    assert_eq!(
        out.source,
        "/// Doc.\n#[ruchytrace::trace(location = \"src/lib.rs:2:5\")] pub fn big(a: u32) -> u32 {\n    let b = a * 2;\n    b + 1\n}\n\nimpl S {\n    #[ruchytrace::trace(name = \"S::m\", location = \"src/lib.rs:8:5\")] fn m(&self) -> u32 { self.0 + self.1 * 3 }\n}\n"
    );
    assert_eq!(out.functions, 2);
    // Positions in the output map back to the input.
    let col = out.source.lines().nth(7).unwrap().find("self.1").unwrap() + 1;
    let orig = src.lines().nth(7).unwrap().find("self.1").unwrap() + 1;
    assert_eq!(out.original_position(8, col), (8, orig));
    assert_eq!(out.original_position(3, 5), (3, 5));
    assert_eq!(out.function_at(3).map(|f| f.name.as_str()), Some("big"));
    assert_eq!(out.function_at(8).map(|f| f.name.as_str()), Some("S::m"));
    assert_eq!(out.function_at(6), None);
}

#[test]
fn own_line_insertions_map_lines_back() {
    let src = "fn a() -> u32 {\n    1 + 2\n}\nfn b() -> u32 {\n    3 + 4\n}\n";
    let out = instrument_source(src, None).unwrap();
    // `3 + 4` is on line 5 of the input and line 7 of the output (two attribute lines above it).
    assert_eq!(out.source.lines().nth(6), Some("    3 + 4"));
    assert_eq!(out.original_position(7, 5), (5, 5));
}

#[test]
fn trivial_bodies_are_left_alone_under_the_threshold() {
    let src = "impl V {\n    fn len(&self) -> usize { self.items.len() }\n    fn is_empty(&self) -> bool { self.items.len() == 0 }\n    fn sum(&self) -> u64 { self.items.iter().map(|x| *x as u64).sum() }\n}\n";
    let out = whole_crate(src, 9);
    // `self.items.len()`: 5 tokens; `self.items.len() == 0`: 8; the iterator chain: more than 9.
    assert_eq!((out.functions, out.small), (1, 2), "{}", out.source);
    assert!(out.source.contains("name = \"V::sum\""), "{}", out.source);
    let all = whole_crate(src, 0);
    assert_eq!((all.functions, all.small), (3, 0));
    let eight = whole_crate(src, 8);
    assert_eq!((eight.functions, eight.small), (2, 1));
}

#[test]
fn excluded_lines_packed_types_and_extern_crate() {
    let src = "#![allow(dead_code)]\n//! Crate.\nfn keep() -> u32 { 1 + 2 + 3 }\nfn drop_me() -> u32 {\n    4 + 5 + 6\n}\n#[repr(C, packed)]\nstruct P { a: u8, b: u32 }\nstruct Q { a: u8 }\n";
    let out = instrument_source_with(
        src,
        &Options {
            same_line: true,
            exclude_lines: &[5],
            extern_crate: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(out.functions, 1, "{}", out.source);
    assert!(
        out.source.contains("fn drop_me() -> u32 {\n    4 + 5 + 6"),
        "{}",
        out.source
    );
    assert!(
        out.source.starts_with("#![allow(dead_code)]\n//! Crate.\n#[allow(unused_extern_crates)] extern crate ruchytrace; #[ruchytrace::trace] fn keep()"),
        "{}",
        out.source
    );
    assert!(
        out.source.contains("#[repr(C, packed)]\nstruct P"),
        "{}",
        out.source
    );
    assert!(
        out.source
            .contains("#[derive(ruchytrace::Traceable)] struct Q"),
        "{}",
        out.source
    );
    assert_eq!(out.types, 1);
    assert_eq!(out.source.lines().count(), src.lines().count());
}
