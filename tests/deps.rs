//! Adding ruchytrace changes nothing in a user's crate: the fixture under
//! `tests/fixtures/dep_inference/` (code whose types are inferred from the `PartialEq` impls in
//! scope, `assert_eq!(&v[..], &[])`) builds and passes its tests with and without the `trace`
//! feature, and its dependency graph holds only the crates listed here.
//!
//! Two lists, because a proc-macro crate's own dependencies run in the compiler, never in the
//! user's program and never in the user's crate's trait scope:
//!
//! * [`LINKED`]: what a traced program links (`cargo tree -e normal,no-proc-macro`);
//! * [`BUILD_TIME`]: the macros crate and its dependencies (`cargo tree -e normal` adds them).
#![cfg(feature = "trace")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Crates a traced program links, besides the fixture itself.
const LINKED: &[&str] = &[
    "ruchytrace",
    "ruchytrace-runtime",
    "libc",
    "rustc-hash",
    "pin-project-lite",
];

/// The proc-macro crate and what it uses at compile time.
const BUILD_TIME: &[&str] = &[
    "ruchytrace-macros",
    "syn",
    "quote",
    "proc-macro2",
    "unicode-ident",
];

const FIXTURE: &str = "dep-inference-fixture";

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dep_inference")
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.current_dir(fixture())
        .env(
            "CARGO_TARGET_DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixture-deps"),
        )
        // Not the suite's own flags (coverage, features) — the fixture is a user's crate.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUCHYTRACE");
    c
}

fn ok(o: &Output, what: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{what} failed\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The package names in `cargo tree` output (one per line, no prefix).
fn tree(args: &[&str]) -> BTreeSet<String> {
    let o = cargo()
        .args(["tree", "--offline", "--prefix", "none", "--format", "{p}"])
        .args(args)
        .output()
        .unwrap();
    ok(&o, "cargo tree")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn set(names: &[&[&str]]) -> BTreeSet<String> {
    names
        .iter()
        .flat_map(|l| l.iter())
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn fixture_tests_pass_with_and_without_trace() {
    for features in [&[][..], &["--features", "trace"][..]] {
        let o = cargo()
            .args(["test", "--offline", "--quiet"])
            .args(features)
            .output()
            .unwrap();
        let out = ok(&o, &format!("cargo test {features:?} in the fixture"));
        assert!(out.contains("1 passed"), "{features:?}: {out}");
    }
}

#[test]
fn a_traced_program_links_only_the_listed_crates() {
    let linked = tree(&["-e", "normal,no-proc-macro", "--features", "trace"]);
    let mut want = set(&[LINKED]);
    want.insert(FIXTURE.into());
    assert_eq!(linked, want, "crates linked into a traced program");
    let all = tree(&["-e", "normal", "--features", "trace"]);
    let mut allowed = set(&[LINKED, BUILD_TIME]);
    allowed.insert(FIXTURE.into());
    let extra: Vec<&String> = all.difference(&allowed).collect();
    assert!(extra.is_empty(), "crates not in the list: {extra:?}");
    assert!(!all.contains("serde") && !all.contains("serde_json"));
}

#[test]
fn without_trace_only_the_macros_are_added() {
    let linked = tree(&["-e", "normal,no-proc-macro"]);
    assert_eq!(linked, set(&[&[FIXTURE, "ruchytrace"]]));
    let all = tree(&["-e", "normal"]);
    let mut want = set(&[BUILD_TIME]);
    want.insert(FIXTURE.into());
    want.insert("ruchytrace".into());
    assert_eq!(all, want);
}
