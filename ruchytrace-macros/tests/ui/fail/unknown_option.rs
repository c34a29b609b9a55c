#[ruchytrace::trace(skip_args(a))]
fn f(a: u32) -> u32 {
    a
}

#[ruchytrace::trace(name = 42)]
fn g() {}

fn main() {
    f(1);
    g();
}
