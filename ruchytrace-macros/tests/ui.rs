//! Compile-time behaviour of `#[ruchytrace::trace]`: accepted shapes build, every misuse is an error pointing
//! at the offending token (snapshots in tests/ui/fail/*.stderr; refresh with `TRYBUILD=overwrite`).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
