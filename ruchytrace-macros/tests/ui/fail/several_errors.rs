// Every mistake in one attribute is reported in one compile.
#[ruchytrace::trace(bogus, sample = 0, skip(nope))]
const fn f(a: u32) -> u32 {
    a
}

fn main() {
    f(1);
}
