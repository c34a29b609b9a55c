//! `ruchytrace cargo --instrument`: two published crates vendored under `tests/crates/` (strsim, fnv) pass
//! their own test suites traced exactly as they pass untraced; build errors come back mapped to the user's
//! files with a hint; what cannot be traced is skipped with one line each. No network: cargo runs offline
//! (the vendored crates have no dependencies, and the facade's are those of this workspace).

#[path = "support/sys.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// The runs share one target directory (and so one shadow copy): one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cargo-instrument")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Every file under `dir` with its content, sorted (to prove nothing was modified).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn cargo(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

fn instrumented(dir: &Path, args: &[&str]) -> Output {
    Command::new(support::ruchytrace())
        .args(["cargo", "--instrument"])
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_NET_OFFLINE", "true")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap()
}

/// (passed, failed) summed over the `test result:` lines.
fn counts(out: &Output) -> (u64, u64) {
    let text = String::from_utf8_lossy(&out.stdout);
    let (mut passed, mut failed) = (0, 0);
    for line in text.lines().filter(|l| l.starts_with("test result:")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for w in words.windows(2) {
            if w[1].starts_with("passed") {
                passed += w[0].parse::<u64>().unwrap();
            }
            if w[1].starts_with("failed") {
                failed += w[0].parse::<u64>().unwrap();
            }
        }
    }
    (passed, failed)
}

fn summary(key: &str) -> u64 {
    let text = std::fs::read_to_string(target_dir().join("ruchytrace/traces/summary.txt")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap()
        .parse()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs one vendored crate's suite untraced and traced; returns the traced run's stderr and report.
fn same_results(fixture: &str, expected_passed: u64, functions: u64) -> (String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(fixture);
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/crates")
            .join(fixture),
        &dir,
    );
    let plain = cargo(&dir, &["test", "--tests"]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    // After the untraced run, which writes the crate's Cargo.lock.
    let before = snapshot(&dir);
    let traced = instrumented(&dir, &["--", "test", "--tests"]);
    let err = stderr(&traced);
    assert!(traced.status.success(), "{err}");
    assert_eq!(counts(&plain), (expected_passed, 0), "{fixture} untraced");
    assert_eq!(counts(&traced), counts(&plain), "{fixture} traced: {err}");
    assert_eq!(summary("functions"), functions, "{err}");
    assert!(summary("calls") > 0, "{err}");
    assert!(summary("traces") >= 1, "{err}");
    assert!(snapshot(&dir) == before, "the user's files were modified");
    let report =
        std::fs::read_to_string(target_dir().join("ruchytrace/traces/report.txt")).unwrap();
    (err, report)
}

#[test]
fn vendored_crates_pass_identically_traced_and_untraced() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // strsim: 88 unit tests and 8 integration tests; 26 functions traced (3 trivial ones left out).
    let (err, report) = same_results("strsim-0.11.1", 96, 26);
    assert!(err.contains("3 trivial ones left untraced"), "{err}");
    // Sites name the user's file and line (not the shadow copy's).
    assert!(
        report.contains("HybridGrowingHashmapChar::get <src/lib.rs:576:5>"),
        "{report}"
    );
    assert!(
        report.contains("generic_levenshtein <src/lib.rs:"),
        "{report}"
    );

    // fnv: the crate root is lib.rs at the package root, 2015 edition.
    let (err, report) = same_results("fnv-1.0.7", 1, 1);
    assert!(
        report.contains("FnvHasher::write <lib.rs:"),
        "{report}\n{err}"
    );
}

#[test]
fn second_run_reuses_the_shadow_copy() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("fnv");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crates/fnv-1.0.7"),
        &dir,
    );
    let first = instrumented(&dir, &["--", "test", "--lib"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = instrumented(&dir, &["--", "test", "--lib"]);
    let err = stderr(&second);
    assert!(second.status.success(), "{err}");
    assert!(err.contains("(0 files changed"), "{err}");
    assert!(!err.contains("Compiling fnv"), "rebuilt for nothing: {err}");
    // One changed file is copied again and rebuilt.
    let lib = dir.join("lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, format!("{text}\n// touched\n")).unwrap();
    let third = instrumented(&dir, &["--", "test", "--lib", "--", "--test-threads=1"]);
    let err = stderr(&third);
    assert!(third.status.success(), "{err}");
    assert!(err.contains("(1 files changed"), "{err}");
    assert!(err.contains("Compiling fnv"), "{err}");
}

/// A workspace with a proc-macro member, a `no_std` member without `alloc`, and an application member with a
/// type error three lines into a method.
fn broken_workspace(root: &Path) {
    let write = |p: &str, text: &str| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[workspace]\nmembers = [\"app\", \"pm\", \"bare\"]\nresolver = \"2\"\n",
    );
    write(
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write(
        "app/src/lib.rs",
        "pub struct Counter(u32);\n\nimpl Counter {\n    pub fn bump(&mut self, by: u32) -> u32 {\n        self.0 += by;\n        let label: u32 = \"not a number\";\n        self.0 + label\n    }\n}\n",
    );
    write(
        "pm/Cargo.toml",
        "[package]\nname = \"pm\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[lib]\nproc-macro = true\n",
    );
    write(
        "pm/src/lib.rs",
        "use proc_macro::TokenStream;\n#[proc_macro]\npub fn same(t: TokenStream) -> TokenStream { t }\n",
    );
    write(
        "bare/Cargo.toml",
        "[package]\nname = \"bare\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write(
        "bare/src/lib.rs",
        "#![no_std]\npub fn add(a: u32, b: u32) -> u32 { a.wrapping_add(b).wrapping_mul(3) }\n",
    );
}

#[test]
fn build_errors_map_back_to_the_users_file() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    broken_workspace(tmp.path());
    let before = snapshot(tmp.path());
    let out = instrumented(tmp.path(), &["--", "test"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "ruchytrace: skipped pm: a proc-macro crate runs inside the compiler, not in the traced program"
        ),
        "{err}"
    );
    assert!(
        err.contains("ruchytrace: skipped bare: a `no_std` crate without `alloc`"),
        "{err}"
    );
    assert!(
        err.contains("ruchytrace: error in app/src/lib.rs:6:26 (traced build): mismatched types"),
        "{err}"
    );
    assert!(
        err.contains(
            "hint: leave the item `Counter::bump` untraced with `--exclude app/src/lib.rs:6`"
        ),
        "{err}"
    );
    assert!(
        err.contains("the instrumented build failed; your files are unchanged"),
        "{err}"
    );
    assert!(
        snapshot(tmp.path()) == before,
        "the user's files were modified"
    );
}
