//! Capture cost is bounded by the budgets: `greet(&str, Wide)` where `Wide` holds a
//! 10,000-element `Vec` against `greet(&str, Point)` with a two-field struct, both recorded
//! (every call) into a binary trace file. With the byte budget (`RUCHYTRACE_VALSIZE`, 256) and
//! the element budget (`RUCHYTRACE_MAXITEMS`, 16) the wide value costs a bounded amount, not
//! one proportional to its 10,000 elements (goal: at most 2× the two-field struct).
//!
//! `cargo bench -p ruchytrace-suite --features trace --bench capture`

use criterion::{criterion_group, Criterion};
use std::hint::black_box;
use std::time::Duration;

/// Two fields.
#[derive(Debug, Clone, Copy, ruchytrace::Traceable)]
pub struct Point {
    x: i32,
    y: i32,
}

/// A field holding 10,000 elements.
#[derive(Debug, Clone, ruchytrace::Traceable)]
pub struct Wide {
    id: u32,
    items: Vec<u64>,
}

#[inline(never)]
#[ruchytrace::trace]
fn greet_point(name: &str, p: &Point) -> usize {
    name.len() + (p.x + p.y) as usize
}

#[inline(never)]
#[ruchytrace::trace]
fn greet_wide(name: &str, w: &Wide) -> usize {
    name.len() + w.id as usize + w.items.len()
}

fn capture_budget(c: &mut Criterion) {
    ruchytrace::enable();
    let p = Point { x: 3, y: 4 };
    let w = Wide {
        id: 7,
        items: (0..10_000).collect(),
    };
    let mut g = c.benchmark_group("capture_budget");
    g.bench_function("greet_two_fields", |b| {
        b.iter(|| black_box(greet_point(black_box("ferris"), black_box(&p))))
    });
    g.bench_function("greet_10k_vec", |b| {
        b.iter(|| black_box(greet_wide(black_box("ferris"), black_box(&w))))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = capture_budget
}

fn main() {
    // Settings are read once, at the runtime's first use: a binary file nobody reads.
    let out = std::env::temp_dir().join(format!(
        "ruchytrace-bench-capture-{}.rtrace",
        std::process::id()
    ));
    std::env::set_var("RUCHYTRACE_OUTPUT", &out);
    std::env::set_var("RUCHYTRACE_FORMAT", "binary");
    benches();
    Criterion::default().configure_from_args().final_summary();
    ruchytrace::runtime::flush_for_exit();
    let _ = std::fs::remove_file(out);
}
