//! The seed demo: `cargo run --example fibonacci --features trace`.
fn main() {}
