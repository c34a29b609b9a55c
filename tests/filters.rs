//! Name filters (`RUCHYTRACE_FILTER`, `--trace-filter`): glob semantics, precedence, errors, and
//! their effect on a real program (`examples/mixed_workload.rs`).
#![cfg(feature = "trace")]

use ruchytrace::runtime::config::{parse_trace_flags, Settings};
use ruchytrace::runtime::filter::Filter;
use ruchytrace::runtime::format::read_trace;
use ruchytrace::runtime::model::Event;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join("examples").join(name);
    assert!(path.exists(), "{} not built", path.display());
    path
}

fn run_mixed(filter: &str, out: &std::path::Path) -> Output {
    let mut cmd = Command::new(example("mixed_workload"));
    for k in ruchytrace::runtime::config::ENV_VARS {
        cmd.env_remove(k);
    }
    cmd.env("RUCHYTRACE_OUTPUT", out)
        .env("RUCHYTRACE_FORMAT", "binary")
        .env("RUCHYTRACE_FILTER", filter);
    let o = cmd.output().expect("run mixed_workload");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Recorded calls per function name in a trace file.
fn recorded(path: &std::path::Path) -> BTreeMap<String, u64> {
    let trace = read_trace(path).expect("read trace");
    let mut calls = BTreeMap::new();
    for ev in &trace.events {
        if let Event::Exit { site, .. } = ev {
            *calls
                .entry(trace.site(*site).expect("site").name.clone())
                .or_default() += 1;
        }
    }
    calls
}

#[test]
fn globs_match_qualified_and_short_names() {
    let f = Filter::parse("compute*").unwrap();
    assert!(f.matches("app::math::compute_sum"), "last segment");
    assert!(f.matches("compute"));
    assert!(!f.matches("app::recompute"));
    let f = Filter::parse("app::net::*").unwrap();
    assert!(f.matches("app::net::send"));
    assert!(f.matches("app::net::tcp::connect"), "`*` crosses `::`");
    assert!(!f.matches("app::network::send"));
    assert!(!f.matches("other::app::net::send"), "anchored at the start");
    let f = Filter::parse("app::?et::send").unwrap();
    assert!(f.matches("app::net::send") && f.matches("app::set::send"));
    assert!(!f.matches("app::nett::send"));
}

#[test]
fn later_patterns_win() {
    let f = Filter::parse("app::*,!app::net::*,app::net::send").unwrap();
    assert!(f.matches("app::main"));
    assert!(!f.matches("app::net::recv"));
    assert!(
        f.matches("app::net::send"),
        "re-included by the last pattern"
    );
    // Reversed: the exclusion comes last and wins.
    let f = Filter::parse("app::net::send,!app::net::*").unwrap();
    assert!(!f.matches("app::net::send"));
    // Default when nothing matches: excluded after a leading include, included after a
    // leading exclude.
    assert!(!Filter::parse("app::*").unwrap().matches("lib::f"));
    assert!(Filter::parse("!app::*").unwrap().matches("lib::f"));
    // Spaces around patterns are ignored.
    assert!(Filter::parse(" app::* , ! app::x ")
        .unwrap()
        .matches("app::y"));
}

#[test]
fn invalid_patterns_are_clear_errors() {
    for (spec, needle) in [
        ("app/net", "'/'"),
        ("a,,b", "empty pattern"),
        ("!", "empty pattern"),
        ("app:::x", "malformed path separator"),
        ("app[0]", "'['"),
    ] {
        let e = Filter::parse(spec).unwrap_err();
        assert!(e.contains(needle), "{spec:?}: {e}");
    }
    // The flag parser reports the flag and the pattern.
    let e = parse_trace_flags(["--trace-filter=net/*"]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("net/*") && msg.contains("'/'"), "{msg}");
    // The environment: a warning, and the default (no filter) stays.
    let mut s = Settings::default();
    assert!(s.apply("RUCHYTRACE_FILTER", "net/*").is_err());
    assert_eq!(s.filter, None);
}

#[test]
fn filter_selects_sites_in_a_real_program() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.rtrace");
    // Everything in the example, minus names ending in "st" (east, west), plus west again:
    // later patterns win.
    run_mixed("mixed_workload::*,!*st,west", &out);
    let calls = recorded(&out);
    assert!(!calls.contains_key("east"), "{calls:?}");
    for name in [
        "north", "south", "west", "outer", "inner", "leafy", "label", "rare",
    ] {
        assert!(
            calls.get(name).copied().unwrap_or(0) > 0,
            "{name}: {calls:?}"
        );
    }
    assert_eq!(calls["north"], calls["west"]);

    // Only the nested tree's inner levels.
    run_mixed("inner,leafy", &out);
    let calls = recorded(&out);
    assert_eq!(
        calls.keys().cloned().collect::<Vec<_>>(),
        ["inner", "leafy"],
        "{calls:?}"
    );
}

#[test]
fn invalid_filter_in_environment_warns_and_traces_everything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad.rtrace");
    let o = run_mixed("mixed_workload::n/*", &out);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("RUCHYTRACE_FILTER") && stderr.contains("'/'"),
        "{stderr}"
    );
    let calls = recorded(&out);
    assert!(
        calls.contains_key("north") && calls.contains_key("east"),
        "{calls:?}"
    );
}
