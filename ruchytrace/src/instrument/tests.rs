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
