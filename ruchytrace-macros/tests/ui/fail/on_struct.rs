#[ruchytrace::trace]
struct Point {
    x: i32,
}

#[ruchytrace::trace]
enum Shape {
    Circle,
}

#[ruchytrace::trace]
const LIMIT: u32 = 3;

fn main() {}
