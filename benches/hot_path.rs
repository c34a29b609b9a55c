//! Per-call cost of `#[ruchytrace::trace]`: enabled (arguments and return value captured and
//! written to a binary trace), disabled at run time, against the same function uninstrumented.
//!
//! `cargo bench -p ruchytrace-suite --features trace --bench hot_path`

use criterion::{criterion_group, Criterion};
use std::hint::black_box;

#[inline(never)]
fn add_plain(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

#[inline(never)]
#[ruchytrace::trace]
fn add_traced(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

fn per_call(c: &mut Criterion) {
    let mut g = c.benchmark_group("add");
    g.bench_function("uninstrumented", |b| {
        b.iter(|| add_plain(black_box(1), black_box(2)))
    });
    ruchytrace::enable();
    // The calling thread's own cost: batches small enough to fit the thread's buffer, drained
    // by the collector outside the timed region.
    g.bench_function("enabled", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(8_000);
                let start = std::time::Instant::now();
                for _ in 0..n {
                    black_box(add_traced(black_box(1), black_box(2)));
                }
                total += start.elapsed();
                left -= n;
                ruchytrace::flush();
            }
            total
        })
    });
    // Sustained: calls back to back for seconds, so the collector's throughput (decode, encode,
    // write) bounds the rate under the default `block` overflow policy.
    g.bench_function("enabled_sustained", |b| {
        b.iter(|| add_traced(black_box(1), black_box(2)))
    });
    ruchytrace::disable();
    g.bench_function("disabled_at_run_time", |b| {
        b.iter(|| add_traced(black_box(1), black_box(2)))
    });
    ruchytrace::enable();
    g.finish();
}

criterion_group!(benches, per_call);

fn main() {
    // Stream the trace to a binary file nobody reads: the cost measured is recording plus the
    // collector's encoding, not a terminal.
    let out = std::env::temp_dir().join(format!("ruchytrace-bench-{}.rtrace", std::process::id()));
    std::env::set_var("RUCHYTRACE_OUTPUT", &out);
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
    ruchytrace::runtime::flush_for_exit();
    let _ = std::fs::remove_file(out);
}
