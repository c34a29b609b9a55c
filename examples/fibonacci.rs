//! The seed demo: `cargo run --example fibonacci --features trace` prints every call and return.
//!
//! ```text
//! [1761761183.405413] -> fibonacci(n=5) <examples/fibonacci.rs:12:1>
//! [1761761183.405415]   -> fibonacci(n=4) <examples/fibonacci.rs:12:1>
//! ...
//! [1761761183.405439] <- fibonacci() = 5 [0.026ms]
//! ```

/// The n-th Fibonacci number, the slow recursive way (so there is something to trace).
#[ruchytrace::trace]
fn fibonacci(n: i64) -> i64 {
    if n < 2 {
        n
    } else {
        fibonacci(n - 1) + fibonacci(n - 2)
    }
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    println!("fibonacci({n}) = {}", fibonacci(n));
}
