#[ruchytrace::trace(location = "main.ruchy:12")]
fn a() {}

#[ruchytrace::trace(location = "main.ruchy:x:1")]
fn b() {}

#[ruchytrace::trace(location = ":1:1")]
fn c() {}

fn main() {
    a();
    b();
    c();
}
