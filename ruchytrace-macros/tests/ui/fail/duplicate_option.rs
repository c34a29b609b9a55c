#[ruchytrace::trace(name = "a", skip_return, name = "b")]
fn f(a: u32) -> u32 {
    a
}

#[ruchytrace::trace(skip(a), skip(b))]
fn g(a: u32, b: u32) -> u32 {
    a + b
}

struct S;

#[ruchytrace::trace]
impl S {
    #[trace]
    #[trace(skip)]
    fn twice() {}
}

fn main() {
    f(1);
    g(1, 2);
    S::twice();
}
