#[ruchytrace::trace]
const fn square(x: u32) -> u32 {
    x * x
}

struct S;

#[ruchytrace::trace]
impl S {
    // Unmarked const fns inside a container are skipped silently; an explicit attribute is an error.
    const fn fine() -> u32 {
        1
    }
    #[trace]
    const fn explicit() -> u32 {
        2
    }
}

fn main() {
    let _ = square(2) + S::fine() + S::explicit();
}
