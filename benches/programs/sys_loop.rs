//! Benchmark workload: N `getppid` system calls in a tight loop (argv[1], default 20000).
extern "C" {
    fn getppid() -> i32;
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let mut acc = 0i64;
    for _ in 0..n {
        // SAFETY: getppid has no preconditions.
        acc += unsafe { getppid() } as i64;
    }
    std::hint::black_box(acc);
}
