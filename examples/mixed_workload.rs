//! A mixed workload for the sampling tests: `mixed_workload [SCALE]`.
//!
//! Three threads call traced functions in different patterns — a strict round robin of four
//! functions (period 4, which would alias with a fixed sampling period), a nested tree, a
//! function with a string argument, a site with its own rate (`sample = 50`) and a rare
//! function. The program counts every call itself, then prints, one line per function,
//! `count <name> <true calls>` followed by `summary <name> <recorded> <estimated> <is estimate>`
//! from `ruchytrace::runtime::summary()`, so a test can compare estimates with the truth.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static COUNTS: [AtomicU64; 10] = [const { AtomicU64::new(0) }; 10];
const NAMES: [&str; 10] = [
    "north", "east", "south", "west", "outer", "inner", "leafy", "label", "own_rate", "rare",
];

fn count(i: usize) {
    COUNTS[i].fetch_add(1, Relaxed);
}

#[ruchytrace::trace]
fn north(x: u64) -> u64 {
    count(0);
    x.wrapping_mul(3)
}

#[ruchytrace::trace]
fn east(x: u64) -> u64 {
    count(1);
    x ^ 0x55
}

#[ruchytrace::trace]
fn south(x: u64) -> u64 {
    count(2);
    x.rotate_left(7)
}

#[ruchytrace::trace]
fn west(x: u64) -> u64 {
    count(3);
    x.wrapping_add(11)
}

/// Calls `inner` three times; `inner` calls `leafy` once or twice.
#[ruchytrace::trace]
fn outer(x: u64) -> u64 {
    count(4);
    (0..3).fold(x, |a, i| a.wrapping_add(inner(a, i)))
}

#[ruchytrace::trace]
fn inner(x: u64, i: u64) -> u64 {
    count(5);
    let mut a = leafy(x + i);
    if matches!((x + i) % 3, 0) {
        a = a.wrapping_add(leafy(a));
    }
    a
}

#[ruchytrace::trace]
fn leafy(x: u64) -> u64 {
    count(6);
    x.wrapping_mul(0x9E37_79B9)
}

#[ruchytrace::trace]
fn label(name: &str, n: u64) -> usize {
    count(7);
    name.len() + n as usize % 7
}

#[ruchytrace::trace(sample = 50)]
fn own_rate(x: u64) -> u64 {
    count(8);
    x | 1
}

#[ruchytrace::trace]
fn rare(x: u64) -> u64 {
    count(9);
    x / 3
}

fn round_robin(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        acc = acc.wrapping_add(north(i));
        acc = acc.wrapping_add(east(i));
        acc = acc.wrapping_add(south(i));
        acc = acc.wrapping_add(west(i));
    }
    acc
}

fn mixed(n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        acc = acc.wrapping_add(outer(i));
        acc = acc.wrapping_add(label(if i & 1 == 0 { "even" } else { "odd" }, i) as u64);
        acc = acc.wrapping_add(own_rate(i));
        if matches!(i % 20, 0) {
            acc = acc.wrapping_add(rare(i));
        }
    }
    acc
}

fn main() {
    let scale: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    let a = std::thread::spawn(move || round_robin(30_000 * scale));
    let b = std::thread::spawn(move || mixed(20_000 * scale));
    let mut acc = round_robin(10_000 * scale) ^ mixed(10_000 * scale);
    acc ^= a.join().expect("round robin thread");
    acc ^= b.join().expect("mixed thread");
    std::hint::black_box(acc);

    let summary = ruchytrace::runtime::summary();
    let by_name: BTreeMap<&str, &ruchytrace::FunctionSummary> = summary
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f))
        .collect();
    for (i, name) in NAMES.iter().enumerate() {
        println!("count {name} {}", COUNTS[i].load(Relaxed));
        if let Some(f) = by_name.get(name) {
            println!(
                "summary {name} {} {} {}",
                f.count, f.estimated_count, f.estimated
            );
        }
    }
    eprint!("{summary}");
}
