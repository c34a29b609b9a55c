#[ruchytrace::trace(sample = 0)]
fn hot(x: u64) -> u64 {
    x
}

fn main() {
    hot(1);
}
