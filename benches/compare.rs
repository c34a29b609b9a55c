//! ruchytrace against the other Rust tracers, per call, in one harness.
//!
//! Three functions — `add(i64, i64) -> i64`, a recursive `fib(12)` (465 calls per iteration)
//! and `greet(&str, Point) -> usize` — each measured:
//!
//! | case | what |
//! | --- | --- |
//! | `uninstrumented` | the plain function |
//! | `ruchy_disabled` | `#[ruchytrace::trace]` compiled in, `ruchytrace::disable()` at run time |
//! | `ruchy_filtered` | compiled in, the site excluded by `RUCHYTRACE_FILTER` |
//! | `ruchy_sampled_1000` | compiled in, `RUCHYTRACE_SAMPLE=1000` |
//! | `ruchy_enabled` | every call recorded with its arguments and return value (calling thread's cost) |
//! | `ruchy_enabled_sustained` | the same, back to back for seconds: the collector's throughput bounds it |
//! | `ruchy_enabled_2threads` | `ruchy_enabled` while a second thread does the same |
//! | `tracing_no_subscriber` | `#[tracing::instrument]` without a subscriber |
//! | `tracing_chrome` | `#[tracing::instrument]` + `tracing-chrome` writing a file |
//! | `fastrace` | `#[fastrace::trace]` (no arguments) under a root span, with a reporter |
//! | `fastrace_args` | `#[fastrace::trace(properties = ...)]` recording the arguments |
//! | `ideal` | hand-written: a flag check, two TSC reads and two 32-byte stores to a thread-local buffer |
//!
//! "Compiled out" (the `trace` feature off) is not a case: the attribute then returns the item
//! unchanged (the `feature_off_returns_a_fn_exactly` test of `ruchytrace-macros`), so it is
//! the `uninstrumented` code.
//!
//! Run: `cargo bench -p ruchytrace-suite --features trace --bench compare` (add a group name, e.g.
//! `-- add/`, to run one group); `scripts/perf-table.py` turns criterion's output into the table of
//! `docs/performance.md`.

use criterion::{criterion_group, Criterion};
use std::cell::UnsafeCell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The functions under test, once per tracer.

#[inline(never)]
fn add_plain(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

// `sample = 1`: every call, whatever the global rate (the bench sets RUCHYTRACE_SAMPLE=1000 for
// the sampled case); this is the same recording path a plain `#[trace]` takes by default.
#[inline(never)]
#[ruchytrace::trace(sample = 1)]
fn add_traced(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

#[inline(never)]
#[ruchytrace::trace]
fn add_sampled(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

#[inline(never)]
#[ruchytrace::trace]
fn add_filtered(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

#[inline(never)]
#[tracing::instrument]
fn add_tracing(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

#[inline(never)]
#[fastrace::trace]
fn add_fastrace(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

#[inline(never)]
#[fastrace::trace(properties = { "a": "{a}", "b": "{b}" })]
fn add_fastrace_args(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

#[inline(never)]
fn add_ideal(a: i64, b: i64) -> i64 {
    let on = ideal::on();
    if on {
        ideal::record(1, a as u64, b as u64);
    }
    let r = a.wrapping_add(b);
    if on {
        ideal::record(2, r as u64, 0);
    }
    r
}

const FIB_N: u32 = 12;
/// Calls made by `fib(FIB_N)`.
const FIB_CALLS: u64 = 465;

macro_rules! fib {
    ($name:ident $(#[$attr:meta])*) => {
        $(#[$attr])*
        #[inline(never)]
        fn $name(n: u32) -> u64 {
            if n < 2 {
                n as u64
            } else {
                $name(n - 1) + $name(n - 2)
            }
        }
    };
}
fib!(fib_plain);
fib!(fib_traced #[ruchytrace::trace(sample = 1)]);
fib!(fib_sampled #[ruchytrace::trace]);
fib!(fib_filtered #[ruchytrace::trace]);
fib!(fib_tracing #[tracing::instrument]);
fib!(fib_fastrace #[fastrace::trace]);

// Written out: `macro_rules!` hygiene hides the parameters from fastrace's format strings.
#[inline(never)]
#[fastrace::trace(properties = { "n": "{n}" })]
fn fib_fastrace_args(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        fib_fastrace_args(n - 1) + fib_fastrace_args(n - 2)
    }
}

#[inline(never)]
fn fib_ideal(n: u32) -> u64 {
    let on = ideal::on();
    if on {
        ideal::record(3, n as u64, 0);
    }
    let r = if n < 2 {
        n as u64
    } else {
        fib_ideal(n - 1) + fib_ideal(n - 2)
    };
    if on {
        ideal::record(4, r, 0);
    }
    r
}

/// A small struct argument.
#[derive(Debug, Clone, Copy)]
pub struct Point {
    x: i32,
    y: i32,
}

impl ruchytrace::hooks::Capture for Point {
    fn capture(&self, w: &mut ruchytrace::hooks::Writer) {
        w.structure("Point", 2);
        w.field("x");
        w.i32(self.x);
        w.field("y");
        w.i32(self.y);
    }
}

macro_rules! greet {
    ($name:ident $(#[$attr:meta])*) => {
        $(#[$attr])*
        #[inline(never)]
        fn $name(name: &str, p: Point) -> usize {
            name.len() + (p.x + p.y) as usize
        }
    };
}
greet!(greet_plain);
greet!(greet_traced #[ruchytrace::trace(sample = 1)]);
greet!(greet_sampled #[ruchytrace::trace]);
greet!(greet_filtered #[ruchytrace::trace]);
greet!(greet_tracing #[tracing::instrument]);
greet!(greet_fastrace #[fastrace::trace]);

#[inline(never)]
#[fastrace::trace(properties = { "name": "{name}", "p": "{p:?}" })]
fn greet_fastrace_args(name: &str, p: Point) -> usize {
    name.len() + (p.x + p.y) as usize
}

#[inline(never)]
fn greet_ideal(name: &str, p: Point) -> usize {
    let on = ideal::on();
    if on {
        ideal::record(
            5,
            name.len() as u64,
            ((p.x as u64) << 32) | p.y as u32 as u64,
        );
    }
    let r = name.len() + (p.x + p.y) as usize;
    if on {
        ideal::record(6, r as u64, 0);
    }
    r
}

/// The hand-written ideal: what any in-process function tracer must at least do.
mod ideal {
    use super::*;

    pub static ON: AtomicBool = AtomicBool::new(true);

    const SLOTS: usize = 1 << 16;

    pub struct Buf {
        slots: Box<[[u64; 4]]>,
        pos: usize,
    }

    thread_local! {
        static BUF: UnsafeCell<Buf> = UnsafeCell::new(Buf {
            slots: vec![[0u64; 4]; SLOTS].into_boxed_slice(),
            pos: 0,
        });
    }

    #[inline(always)]
    pub fn on() -> bool {
        ON.load(Relaxed)
    }

    /// One 32-byte record (kind, TSC, two words) into this thread's ring.
    #[inline(always)]
    pub fn record(kind: u64, x: u64, y: u64) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: RDTSC has no preconditions on x86_64.
        let t = unsafe { core::arch::x86_64::_rdtsc() };
        #[cfg(not(target_arch = "x86_64"))]
        let t = 0u64;
        BUF.with(|b| {
            // SAFETY: the buffer is only touched by its own thread, and never re-entrantly.
            let b = unsafe { &mut *b.get() };
            let i = b.pos & (SLOTS - 1);
            b.slots[i] = [kind, t, x, y];
            b.pos = b.pos.wrapping_add(1);
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Peer set-up.

/// fastrace's reporter: receives the finished spans and drops them (the cost measured is
/// recording and collecting, not an exporter).
struct NullReporter;

impl fastrace::collector::Reporter for NullReporter {
    fn report(&mut self, spans: Vec<fastrace::prelude::SpanRecord>) {
        black_box(spans);
    }
}

/// Runs `iters` iterations of `f` in batches of `batch`, timing only the calls; `between` runs
/// untimed after each batch (draining the thread's buffer, closing a root span).
fn batched(
    iters: u64,
    batch: u64,
    mut f: impl FnMut(),
    mut before: impl FnMut(),
    mut between: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(batch);
        before();
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        total += start.elapsed();
        between();
        left -= n;
    }
    total
}

/// One function's cases. `calls` = traced calls per iteration (to keep each batch well inside
/// the 1 MiB thread buffer).
struct Subject {
    group: &'static str,
    calls: u64,
    plain: fn(),
    traced: fn(),
    sampled: fn(),
    filtered: fn(),
    tracing: fn(),
    fastrace: fn(),
    fastrace_args: fn(),
    ideal: fn(),
    sustained: bool,
}

fn run_subject(c: &mut Criterion, s: &Subject) {
    let mut g = c.benchmark_group(s.group);
    // Batches of at most ~8,000 recorded calls (≈ 0.5 MB of buffer for `add`).
    let batch = (8_000 / s.calls).max(1);
    g.bench_function("uninstrumented", |b| b.iter(s.plain));

    ruchytrace::enable();
    g.bench_function("ruchy_enabled", |b| {
        b.iter_custom(|iters| batched(iters, batch, s.traced, || {}, ruchytrace::flush))
    });
    if s.sustained {
        g.bench_function("ruchy_enabled_sustained", |b| b.iter(s.traced));
    }
    g.bench_function("ruchy_enabled_2threads", |b| {
        b.iter_custom(|iters| {
            let stop = std::sync::Arc::new(AtomicBool::new(false));
            let other = {
                let stop = stop.clone();
                let f = s.traced;
                std::thread::spawn(move || {
                    while !stop.load(Relaxed) {
                        for _ in 0..batch {
                            f();
                        }
                        ruchytrace::flush();
                    }
                })
            };
            let t = batched(iters, batch, s.traced, || {}, ruchytrace::flush);
            stop.store(true, Relaxed);
            let _ = other.join();
            t
        })
    });
    g.bench_function("ruchy_sampled_1000", |b| b.iter(s.sampled));
    g.bench_function("ruchy_filtered", |b| b.iter(s.filtered));
    ruchytrace::disable();
    g.bench_function("ruchy_disabled", |b| b.iter(s.traced));
    ruchytrace::enable();

    ideal::ON.store(true, Relaxed);
    g.bench_function("ideal", |b| b.iter(s.ideal));

    // No subscriber: tracing's global default is the no-op dispatcher. (The tracing-chrome
    // case runs later, in `run_chrome`: once a subscriber exists, every callsite registered
    // afterwards pays for asking it.)
    g.bench_function("tracing_no_subscriber", |b| b.iter(s.tracing));

    g.bench_function("fastrace", |b| {
        b.iter_custom(|iters| fastrace_batches(iters, batch, s.fastrace))
    });
    g.bench_function("fastrace_args", |b| {
        b.iter_custom(|iters| fastrace_batches(iters, batch, s.fastrace_args))
    });
    g.finish();
}

/// `tracing` + `tracing-chrome`, after every other case of every subject.
fn run_chrome(c: &mut Criterion, s: &Subject, chrome: &tracing::Dispatch) {
    let mut g = c.benchmark_group(s.group);
    let batch = (8_000 / s.calls).max(1);
    g.bench_function("tracing_chrome", |b| {
        b.iter_custom(|iters| {
            tracing::dispatcher::with_default(chrome, || {
                // The callsites cached "never" while no subscriber existed.
                tracing::callsite::rebuild_interest_cache();
                batched(iters, batch, s.tracing, || {}, || {})
            })
        })
    });
    g.finish();
}

/// fastrace records a function's span only under a root span: one root per batch, so the
/// spans are handed to the reporter at a steady rate (its cost is counted).
fn fastrace_batches(iters: u64, batch: u64, f: fn()) -> Duration {
    use fastrace::prelude::*;
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(batch);
        let start = Instant::now();
        {
            let root = Span::root("bench", SpanContext::random());
            let _g = root.set_local_parent();
            for _ in 0..n {
                f();
            }
        }
        total += start.elapsed();
        left -= n;
    }
    total
}

fn compare(c: &mut Criterion) {
    fastrace::set_reporter(NullReporter, fastrace::collector::Config::default());

    let subjects = [
        Subject {
            group: "add",
            calls: 1,
            plain: || {
                black_box(add_plain(black_box(1), black_box(2)));
            },
            traced: || {
                black_box(add_traced(black_box(1), black_box(2)));
            },
            sampled: || {
                black_box(add_sampled(black_box(1), black_box(2)));
            },
            filtered: || {
                black_box(add_filtered(black_box(1), black_box(2)));
            },
            tracing: || {
                black_box(add_tracing(black_box(1), black_box(2)));
            },
            fastrace: || {
                black_box(add_fastrace(black_box(1), black_box(2)));
            },
            fastrace_args: || {
                black_box(add_fastrace_args(black_box(1), black_box(2)));
            },
            ideal: || {
                black_box(add_ideal(black_box(1), black_box(2)));
            },
            sustained: true,
        },
        Subject {
            group: "fib12",
            calls: FIB_CALLS,
            plain: || {
                black_box(fib_plain(black_box(FIB_N)));
            },
            traced: || {
                black_box(fib_traced(black_box(FIB_N)));
            },
            sampled: || {
                black_box(fib_sampled(black_box(FIB_N)));
            },
            filtered: || {
                black_box(fib_filtered(black_box(FIB_N)));
            },
            tracing: || {
                black_box(fib_tracing(black_box(FIB_N)));
            },
            fastrace: || {
                black_box(fib_fastrace(black_box(FIB_N)));
            },
            fastrace_args: || {
                black_box(fib_fastrace_args(black_box(FIB_N)));
            },
            ideal: || {
                black_box(fib_ideal(black_box(FIB_N)));
            },
            sustained: false,
        },
        Subject {
            group: "greet",
            calls: 1,
            plain: || {
                black_box(greet_plain(black_box("ferris"), black_box(P)));
            },
            traced: || {
                black_box(greet_traced(black_box("ferris"), black_box(P)));
            },
            sampled: || {
                black_box(greet_sampled(black_box("ferris"), black_box(P)));
            },
            filtered: || {
                black_box(greet_filtered(black_box("ferris"), black_box(P)));
            },
            tracing: || {
                black_box(greet_tracing(black_box("ferris"), black_box(P)));
            },
            fastrace: || {
                black_box(greet_fastrace(black_box("ferris"), black_box(P)));
            },
            fastrace_args: || {
                black_box(greet_fastrace_args(black_box("ferris"), black_box(P)));
            },
            ideal: || {
                black_box(greet_ideal(black_box("ferris"), black_box(P)));
            },
            sustained: false,
        },
    ];
    for s in &subjects {
        run_subject(c, s);
    }
    let chrome_out = std::env::temp_dir().join(format!(
        "ruchytrace-bench-chrome-{}.json",
        std::process::id()
    ));
    let (chrome_layer, chrome_guard) = tracing_chrome::ChromeLayerBuilder::new()
        .file(&chrome_out)
        .include_args(true)
        .build();
    use tracing_subscriber::layer::SubscriberExt;
    let chrome = tracing::Dispatch::new(tracing_subscriber::registry().with(chrome_layer));
    for s in &subjects {
        run_chrome(c, s, &chrome);
    }
    drop(chrome);
    drop(chrome_guard);
    fastrace::flush();
    let _ = std::fs::remove_file(chrome_out);
}

const P: Point = Point { x: 3, y: 4 };

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = compare
}

fn main() {
    // Settings are read once, at the runtime's first use: sample one call in 1000 of the sites
    // that follow the global rate, exclude the `*_filtered` sites, and stream the trace to a
    // binary file nobody reads (the cost measured is recording plus the collector's encoding).
    let out = std::env::temp_dir().join(format!("ruchytrace-bench-{}.rtrace", std::process::id()));
    std::env::set_var("RUCHYTRACE_OUTPUT", &out);
    std::env::set_var("RUCHYTRACE_FORMAT", "binary");
    std::env::set_var("RUCHYTRACE_SAMPLE", "1000");
    std::env::set_var("RUCHYTRACE_FILTER", "!*_filtered");
    benches();
    Criterion::default().configure_from_args().final_summary();
    ruchytrace::runtime::flush_for_exit();
    let _ = std::fs::remove_file(out);
}
