//! Bounded capture: a derived structure holding 10,000 elements is cut at the byte budget
//! (`RUCHYTRACE_VALSIZE`, default 256) and the cut is shown; nested structures stop at the depth
//! budget (`RUCHYTRACE_DEPTH`, default 3); a value captured through `Debug` is cut at the budget
//! and its formatting stops there (it is not formatted whole and then truncated).
//!
//! The default budgets are checked in this process; other budgets by running this test binary
//! again with the variables set (the runtime reads them once, at first use).
#![cfg(feature = "trace")]

use ruchytrace::runtime::testing;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, ruchytrace::Traceable)]
struct Big {
    id: u32,
    items: Vec<u64>,
}

#[derive(Debug, ruchytrace::Traceable)]
struct L1 {
    a: u8,
    next: L2,
}
#[derive(Debug, ruchytrace::Traceable)]
struct L2 {
    b: u8,
    next: L3,
}
#[derive(Debug, ruchytrace::Traceable)]
struct L3 {
    c: u8,
    next: L4,
}
#[derive(Debug, ruchytrace::Traceable)]
struct L4 {
    d: u8,
    next: L5,
}
#[derive(Debug, ruchytrace::Traceable)]
struct L5 {
    e: u8,
}

/// Counts how often it is formatted.
struct Counted(u32);
static FORMATTED: AtomicUsize = AtomicUsize::new(0);
impl fmt::Debug for Counted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        FORMATTED.fetch_add(1, Ordering::Relaxed);
        write!(f, "C{}", self.0)
    }
}

/// Captured through `Debug` only (no `Traceable`).
#[derive(Debug)]
struct Huge {
    parts: Vec<Counted>,
}

#[ruchytrace::trace]
fn take_big(b: &Big) -> usize {
    b.items.len()
}

#[ruchytrace::trace]
fn take_nest(n: &L1) -> u8 {
    n.next.next.next.next.e
}

#[ruchytrace::trace]
fn take_huge(h: &Huge) -> usize {
    h.parts.len()
}

fn big() -> Big {
    Big {
        id: 7,
        items: (0..10_000).collect(),
    }
}

fn nest() -> L1 {
    L1 {
        a: 1,
        next: L2 {
            b: 2,
            next: L3 {
                c: 3,
                next: L4 {
                    d: 4,
                    next: L5 { e: 5 },
                },
            },
        },
    }
}

fn render(f: impl FnOnce()) -> String {
    testing::render(&testing::capture(f))
}

/// Runs this binary's test `name` again with `env` (the child does the checking).
fn rerun(name: &str, env: &[(&str, &str)]) {
    let mut c = std::process::Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("CAPTURE_BUDGET_CHILD", "1");
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("1 passed"), "{out}");
}

fn in_child() -> bool {
    std::env::var_os("CAPTURE_BUDGET_CHILD").is_some()
}

#[test]
fn ten_thousand_elements_are_cut_at_the_byte_budget() {
    if in_child() {
        return;
    }
    let b = big();
    let text = render(|| {
        take_big(&b);
    });
    assert_eq!(text, EXPECT_BIG, "{text}");
}

#[test]
fn nesting_stops_at_the_depth_budget() {
    if in_child() {
        return;
    }
    let n = nest();
    let text = render(|| {
        take_nest(&n);
    });
    assert_eq!(text, EXPECT_NEST_3, "{text}");
}

#[test]
fn debug_capture_stops_formatting_at_the_budget() {
    if in_child() {
        return;
    }
    let h = Huge {
        parts: (0..10_000).map(Counted).collect(),
    };
    FORMATTED.store(0, Ordering::Relaxed);
    let text = render(|| {
        take_huge(&h);
    });
    let formatted = FORMATTED.load(Ordering::Relaxed);
    assert_eq!(text, EXPECT_HUGE, "{text}");
    assert!(
        formatted < 64,
        "{formatted} elements formatted for a cut value"
    );
}

#[test]
fn depth_budget_from_the_environment() {
    if in_child() {
        return;
    }
    rerun("child_depth", &[("RUCHYTRACE_DEPTH", "2")]);
    rerun("child_valsize", &[("RUCHYTRACE_VALSIZE", "32")]);
    rerun("child_items", &[("RUCHYTRACE_MAXITEMS", "4096")]);
}

#[test]
fn child_depth() {
    if !in_child() {
        return;
    }
    let n = nest();
    let text = render(|| {
        take_nest(&n);
    });
    assert_eq!(text, EXPECT_NEST_2, "{text}");
}

#[test]
fn child_valsize() {
    if !in_child() {
        return;
    }
    let b = big();
    let text = render(|| {
        take_big(&b);
    });
    assert_eq!(text, EXPECT_BIG_32, "{text}");
}

#[test]
fn child_items() {
    if !in_child() {
        return;
    }
    // With room for 4096 elements, the byte budget (256) is what cuts the value.
    let b = big();
    let text = render(|| {
        take_big(&b);
    });
    // 114 small integers fill the 256 bytes left after the struct and field names.
    let kept: Vec<String> = (0..114).map(|i| i.to_string()).collect();
    let want = format!(
        "-> take_big(b=Big {{ id: 7, items: [{}, ...(10000)] }})\n<- take_big() = 10000\n",
        kept.join(", ")
    );
    assert_eq!(text, want);
}

const EXPECT_BIG: &str = "-> take_big(b=Big { id: 7, items: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ...(10000)] })\n<- take_big() = 10000\n";
const EXPECT_NEST_3: &str = "-> take_nest(n=L1 { a: 1, next: L2 { b: 2, next: L3 { c: 3, next: … } } })\n<- take_nest() = 5\n";
const EXPECT_NEST_2: &str =
    "-> take_nest(n=L1 { a: 1, next: L2 { b: 2, next: … } })\n<- take_nest() = 5\n";
const EXPECT_HUGE: &str = "-> take_huge(h=Huge { parts: [C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11,...)\n<- take_huge() = 10000\n";
const EXPECT_BIG_32: &str =
    "-> take_big(b=Big { id: 7, items: [0, 1, ...(10000)] })\n<- take_big() = 10000\n";
