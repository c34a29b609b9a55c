#[ruchytrace::trace(skip(pasword))]
fn login(user: &str, password: &str) -> bool {
    user == password
}

#[ruchytrace::trace(skip(self))]
fn free() {}

fn main() {
    login("a", "b");
    free();
}
