struct S;

#[ruchytrace::trace(name = "S", skip(x))]
impl S {
    fn f(x: u32) -> u32 {
        x
    }
}

#[ruchytrace::trace]
trait T {
    #[trace]
    fn required(&self);
}

fn main() {
    S::f(1);
}
