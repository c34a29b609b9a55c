use ruchytrace::trace;

/// A point.
pub struct Point {
    x: f64,
    y: f64,
}

#[trace(skip_return)]
impl Point {
    /// Norm.
    pub fn norm(&self) -> f64 {
        (self.x * self.x + self.y * self.y).sqrt()
    }
    #[trace(skip)]
    pub fn raw(&self) -> (f64, f64) {
        (self.x, self.y)
    }
    pub const fn origin() -> Point {
        Point { x: 0.0, y: 0.0 }
    }
}

#[trace]
trait Area {
    fn area(&self) -> f64;
    fn double_area(&self) -> f64 {
        2.0 * self.area()
    }
}

#[trace]
impl Area for Point {
    fn area(&self) -> f64 {
        0.0
    }
}

#[ruchytrace::trace]
mod inner {
    pub fn f() -> u8 {
        g() + 1
    }
    #[trace(skip)]
    fn g() -> u8 {
        1
    }
    #[ruchytrace::trace(skip)]
    pub mod quiet {
        pub fn h() {}
        #[trace]
        pub fn loud() {}
    }
}

fn main() {
    let p = Point { x: 3.0, y: 4.0 };
    assert_eq!(p.norm(), 5.0);
    assert_eq!(p.raw(), (3.0, 4.0));
    assert_eq!(Point::origin().double_area(), 0.0);
    assert_eq!(inner::f(), 2);
    inner::quiet::h();
    inner::quiet::loud();
}
