//! End-to-end cost of tracing: `e2e_calls [CALLS]` calls a traced `add` CALLS times (default
//! 10,000,000) with small arguments on the main
//! thread and prints the wall time of the loop. `scripts/perf-e2e.sh`
//! runs it under `/usr/bin/time -v` with the trace going to a binary file, and reports the wall
//! time of the whole process (including the final drain), its peak RSS and the bytes per call.

#[inline(never)]
#[ruchytrace::trace]
fn add(a: i64, b: i64) -> i64 {
    a.wrapping_add(b)
}

fn main() {
    let calls: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let start = std::time::Instant::now();
    let mut acc = 0i64;
    for i in 0..calls {
        // Small arguments, as in most calls: the file stores integers as varints.
        acc = acc.wrapping_add(add(std::hint::black_box((i & 1023) as i64), 7));
    }
    let loop_time = start.elapsed();
    std::hint::black_box(acc);
    ruchytrace::runtime::flush_for_exit();
    println!(
        "calls {calls} loop {:.3}s total {:.3}s",
        loop_time.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
}
