//! Every function shape `#[ruchytrace::trace]` supports, each checked for the arguments recorded on entry and
//! the value (or panic) recorded on exit. Run with `cargo test --features trace --test shapes`.
#![cfg(feature = "trace")]
#![allow(clippy::needless_lifetimes)]

use std::fmt::Debug;
use std::future::Future;
use std::num::ParseIntError;
use std::pin::Pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use ruchytrace::runtime::model::{Event, Site, SiteKind};
use ruchytrace::runtime::testing;
use ruchytrace::trace;

// ---------------------------------------------------------------------------------------------------------
// Support: run a closure with tracing into memory and render this thread's events one per line.
// ---------------------------------------------------------------------------------------------------------

/// Runs `f` recording into memory; returns its value and this thread's events rendered one per line
/// (`-> name(a=1)`, `<- name() = 2`, `.. name suspended`), indented by call depth.
fn traced<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let mut out = None;
    let events = testing::capture(|| out = Some(f()));
    let value = out.expect("the traced closure ran");
    (
        value,
        testing::render(&events)
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// The site (name, location, argument names and types, kind) of the first call `f` makes.
fn site_of(f: impl FnOnce()) -> Site {
    let events = testing::capture(f);
    let id = events
        .iter()
        .find_map(|e| match e {
            Event::Enter { site, .. } => Some(*site),
            _ => None,
        })
        .expect("a call was recorded");
    testing::site(id).expect("the site is registered")
}

fn args_of(site: &Site) -> Vec<(String, String)> {
    site.args
        .iter()
        .map(|a| (a.name.clone(), a.type_name.clone()))
        .collect()
}

/// A one-future executor: polls until ready, no reactor needed (every pending future here wakes itself).
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

fn noop_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the vtable's functions ignore the (null) data pointer, so any use of the waker is sound.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// Returns Pending once, then Ready: forces a suspension point in the async shapes.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

fn yield_now() -> YieldOnce {
    YieldOnce(false)
}

// ---------------------------------------------------------------------------------------------------------
// Free functions, recursion, `return`, `mut` arguments.
// ---------------------------------------------------------------------------------------------------------

/// Doc comments and other attributes survive the expansion.
#[trace]
#[must_use]
pub fn add(a: i64, mut b: i64) -> i64 {
    b += 1;
    a + b
}

#[trace]
fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    fib(n - 1) + fib(n - 2)
}

#[trace]
fn nothing() {}

#[test]
fn free_fn_with_mut_argument() {
    let (v, ev) = traced(|| add(2, 3));
    assert_eq!(v, 6);
    assert_eq!(ev, ["-> add(a=2, b=3)", "<- add() = 6"]);
}

#[test]
fn unit_fn() {
    let ((), ev) = traced(nothing);
    assert_eq!(ev, ["-> nothing()", "<- nothing()"]);
}

#[test]
fn recursion_with_early_return_nests() {
    let (v, ev) = traced(|| fib(3));
    assert_eq!(v, 2);
    assert_eq!(
        ev,
        [
            "-> fib(n=3)",
            "  -> fib(n=2)",
            "    -> fib(n=1)",
            "    <- fib() = 1",
            "    -> fib(n=0)",
            "    <- fib() = 0",
            "  <- fib() = 1",
            "  -> fib(n=1)",
            "  <- fib() = 1",
            "<- fib() = 2",
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Methods: self, &self, &mut self, self: Box<Self>, associated fns, references out of self; opt-out.
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Counter {
    n: i32,
    name: String,
}

#[trace]
impl Counter {
    fn new(name: &str) -> Self {
        Counter {
            n: 0,
            name: name.to_owned(),
        }
    }
    fn get(&self) -> i32 {
        self.n
    }
    fn bump(&mut self, by: i32) -> i32 {
        self.n += by;
        self.n
    }
    fn into_n(self) -> i32 {
        self.n
    }
    fn boxed(self: Box<Self>) -> i32 {
        self.n * 10
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn get_mut(&mut self) -> &mut i32 {
        &mut self.n
    }
    #[trace(skip)]
    fn hidden(&self) -> i32 {
        -self.n
    }
    #[trace(name = "Counter::renamed", skip(self))]
    fn with_options(&self, k: i32) -> i32 {
        self.n + k
    }
    const fn zero() -> i32 {
        0
    }
}

#[test]
fn associated_fn_and_receivers() {
    let (c, ev) = traced(|| Counter::new("c"));
    assert_eq!(
        ev,
        [
            r#"-> Counter::new(name="c")"#,
            r#"<- Counter::new() = Counter { n: 0, name: "c" }"#
        ]
    );

    let mut c = c;
    let (v, ev) = traced(|| c.bump(4));
    assert_eq!(v, 4);
    assert_eq!(
        ev,
        [
            r#"-> Counter::bump(self=Counter { n: 0, name: "c" }, by=4)"#,
            "<- Counter::bump() = 4"
        ]
    );

    let (v, ev) = traced(|| c.get());
    assert_eq!(v, 4);
    assert_eq!(
        ev,
        [
            r#"-> Counter::get(self=Counter { n: 4, name: "c" })"#,
            "<- Counter::get() = 4"
        ]
    );

    let (v, ev) = traced(|| Box::new(c.clone()).boxed());
    assert_eq!(v, 40);
    assert_eq!(
        ev,
        [
            r#"-> Counter::boxed(self=Counter { n: 4, name: "c" })"#,
            "<- Counter::boxed() = 40"
        ]
    );

    let (v, ev) = traced(|| c.clone().into_n());
    assert_eq!(v, 4);
    assert_eq!(
        ev,
        [
            r#"-> Counter::into_n(self=Counter { n: 4, name: "c" })"#,
            "<- Counter::into_n() = 4"
        ]
    );
}

#[test]
fn references_borrowed_from_self() {
    let mut c = Counter {
        n: 1,
        name: "abc".into(),
    };
    let (len, ev) = traced(|| c.name().len());
    assert_eq!(len, 3);
    assert_eq!(
        ev,
        [
            r#"-> Counter::name(self=Counter { n: 1, name: "abc" })"#,
            r#"<- Counter::name() = "abc""#
        ]
    );

    let ((), ev) = traced(|| *c.get_mut() += 5);
    assert_eq!(c.n, 6);
    assert_eq!(
        ev,
        [
            r#"-> Counter::get_mut(self=Counter { n: 1, name: "abc" })"#,
            "<- Counter::get_mut() = 1"
        ]
    );
}

#[test]
fn opted_out_and_const_methods_record_nothing_and_inner_options_apply() {
    let c = Counter {
        n: 2,
        name: String::new(),
    };
    let (v, ev) = traced(|| c.hidden() + Counter::zero());
    assert_eq!(v, -2);
    assert!(ev.is_empty(), "{ev:?}");
    let (v, ev) = traced(|| c.with_options(3));
    assert_eq!(v, 5);
    assert_eq!(
        ev,
        ["-> Counter::renamed(k=3)", "<- Counter::renamed() = 5"]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Traits: default methods and trait-impl methods.
// ---------------------------------------------------------------------------------------------------------

#[trace]
trait Describe {
    fn id(&self) -> u32;
    fn describe(&self) -> String {
        format!("#{}", self.id())
    }
}

#[trace]
impl Describe for Counter {
    fn id(&self) -> u32 {
        self.n as u32
    }
}

#[test]
fn trait_default_and_impl_methods() {
    let c = Counter {
        n: 7,
        name: "t".into(),
    };
    let (s, ev) = traced(|| c.describe());
    assert_eq!(s, "#7");
    assert_eq!(
        ev,
        [
            // `Self` has no `Debug` bound inside the trait, so the receiver is recorded by type name.
            "-> Describe::describe(self=<&shapes::Counter>)",
            r#"  -> Counter::id(self=Counter { n: 7, name: "t" })"#,
            "  <- Counter::id() = 7",
            r##"<- Describe::describe() = "#7""##,
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Generics, impl Trait, references borrowed from arguments.
// ---------------------------------------------------------------------------------------------------------

#[trace]
fn largest<T: PartialOrd + Copy + Debug>(xs: &[T]) -> T {
    let mut best = xs[0];
    for &x in xs {
        if x > best {
            best = x;
        }
    }
    best
}

#[trace]
fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if b.len() > a.len() {
        b
    } else {
        a
    }
}

#[trace]
fn sum_array<const N: usize>(xs: [i32; N]) -> i32 {
    xs.iter().sum()
}

#[trace]
fn count_all<I>(items: I) -> usize
where
    I: IntoIterator,
    I::Item: Debug,
{
    items.into_iter().count()
}

#[trace]
fn total(it: impl Iterator<Item = u32>) -> u32 {
    it.sum()
}

#[trace]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[trace]
fn first<'a>(v: &'a [i32]) -> &'a i32 {
    &v[0]
}

#[test]
fn generic_type_lifetime_and_const_params() {
    let (v, ev) = traced(|| largest(&[3, 9, 2]));
    assert_eq!(v, 9);
    assert_eq!(ev, ["-> largest(xs=[3, 9, 2])", "<- largest() = 9"]);

    let (v, ev) = traced(|| longest("ab", "abc"));
    assert_eq!(v, "abc");
    assert_eq!(
        ev,
        [r#"-> longest(a="ab", b="abc")"#, r#"<- longest() = "abc""#]
    );

    let (v, ev) = traced(|| sum_array([1, 2, 3, 4]));
    assert_eq!(v, 10);
    assert_eq!(ev, ["-> sum_array(xs=[1, 2, 3, 4])", "<- sum_array() = 10"]);

    let (v, ev) = traced(|| count_all(vec!['a', 'b']));
    assert_eq!(v, 2);
    assert_eq!(ev.len(), 2, "{ev:?}");
    assert!(ev[0].starts_with("-> count_all(items="), "{ev:?}");
    assert_eq!(ev[1], "<- count_all() = 2");
}

#[test]
fn impl_trait_in_argument_and_return_position() {
    let (v, ev) = traced(|| total([1u32, 2, 3].into_iter()));
    assert_eq!(v, 6);
    assert_eq!(ev.len(), 2);
    assert!(ev[0].starts_with("-> total(it="), "{ev:?}");
    assert_eq!(ev[1], "<- total() = 6");

    let (v, ev) = traced(|| evens(5).collect::<Vec<_>>());
    assert_eq!(v, [0, 2, 4]);
    assert_eq!(ev[0], "-> evens(limit=5)");
    // `impl Trait` returns keep the body in place: the exit is recorded without the value.
    assert_eq!(ev[1], "<- evens()");
}

#[test]
fn reference_borrowed_from_argument() {
    let data = vec![5, 6];
    let (v, ev) = traced(|| *first(&data));
    assert_eq!(v, 5);
    assert_eq!(ev, ["-> first(v=[5, 6])", "<- first() = 5"]);
}

// ---------------------------------------------------------------------------------------------------------
// Pattern arguments, unsafe fn, extern "C" fn.
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Point {
    x: i32,
    y: i32,
}

#[trace]
fn swap((a, mut b): (i32, i32)) -> (i32, i32) {
    b += 0;
    (b, a)
}

#[trace]
fn manhattan(Point { x, y }: Point, _: u8) -> i32 {
    x.abs() + y.abs()
}

/// # Safety
/// `p` must point to a live `i32`.
#[trace]
unsafe fn read_ptr(p: *const i32) -> i32 {
    *p
}

#[trace]
extern "C" fn c_add(a: i32, b: i32) -> i32 {
    a + b
}

#[test]
fn pattern_arguments() {
    let (v, ev) = traced(|| swap((1, 2)));
    assert_eq!(v, (2, 1));
    assert_eq!(ev, ["-> swap((a, mut b)=(1, 2))", "<- swap() = (2, 1)"]);

    let (v, ev) = traced(|| manhattan(Point { x: -3, y: 4 }, 0));
    assert_eq!(v, 7);
    assert_eq!(
        ev,
        [
            "-> manhattan(Point { x, y }=Point { x: -3, y: 4 }, _=0)",
            "<- manhattan() = 7"
        ]
    );
}

#[test]
fn unsafe_and_extern_c_fns() {
    let x = 41;
    // SAFETY: `x` is a live i32 for the whole call.
    let (v, ev) = traced(|| unsafe { read_ptr(&x) });
    assert_eq!(v, 41);
    assert_eq!(ev.len(), 2);
    assert!(ev[0].starts_with("-> read_ptr(p="), "{ev:?}");
    assert_eq!(ev[1], "<- read_ptr() = 41");

    let (v, ev) = traced(|| c_add(1, 2));
    assert_eq!(v, 3);
    assert_eq!(ev, ["-> c_add(a=1, b=2)", "<- c_add() = 3"]);
}

// ---------------------------------------------------------------------------------------------------------
// `?` with a From conversion, panics.
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug)]
enum AppError {
    Parse(ParseIntError),
    Negative,
}

impl From<ParseIntError> for AppError {
    fn from(e: ParseIntError) -> Self {
        AppError::Parse(e)
    }
}

#[trace]
fn parse_sum(a: &str, b: &str) -> Result<i32, AppError> {
    let sum = a.parse::<i32>()? + b.parse::<i32>()?;
    if sum < 0 {
        return Err(AppError::Negative);
    }
    Ok(sum)
}

#[trace]
fn boom(n: u32) -> u32 {
    if n > 2 {
        panic!("too big: {n}");
    }
    n
}

#[trace]
fn calls_boom(n: u32) -> u32 {
    boom(n) + 1
}

#[test]
fn question_mark_with_from_conversion_and_early_return() {
    let (v, ev) = traced(|| parse_sum("2", "3"));
    assert_eq!(v.ok(), Some(5));
    assert_eq!(
        ev,
        [r#"-> parse_sum(a="2", b="3")"#, "<- parse_sum() = Ok(5)"]
    );

    let (v, ev) = traced(|| parse_sum("2", "x"));
    assert!(matches!(v, Err(AppError::Parse(ref e)) if e.to_string().contains("invalid digit")));
    assert_eq!(ev[0], r#"-> parse_sum(a="2", b="x")"#);
    assert!(ev[1].starts_with("<- parse_sum() = Err(Parse("), "{ev:?}");

    let (v, ev) = traced(|| parse_sum("-5", "1"));
    assert!(matches!(v, Err(AppError::Negative)));
    assert_eq!(ev[1], "<- parse_sum() = Err(Negative)");
}

#[test]
fn panics_are_recorded_as_the_exit_of_every_open_frame() {
    let (r, ev) = traced(|| std::panic::catch_unwind(|| calls_boom(3)));
    assert!(r.is_err());
    assert_eq!(
        ev,
        [
            "-> calls_boom(n=3)",
            "  -> boom(n=3)",
            r#"  <- boom() = <panic: "too big: 3">"#,
            r#"<- calls_boom() = <panic: "too big: 3">"#
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Options.
// ---------------------------------------------------------------------------------------------------------

#[trace(skip(password))]
fn login(user: &str, password: &str) -> bool {
    user == "root" && password == "hunter2"
}

#[trace(skip_all, skip_return, name = "quiet_op")]
fn quiet(secret: u64) -> u64 {
    secret * 2
}

#[trace(location = "src/main.ruchy:12:5", sample = 1)]
fn from_ruchy(x: i32) -> i32 {
    x
}

#[test]
fn skip_name_and_skip_return_options() {
    let (v, ev) = traced(|| login("root", "hunter2"));
    assert!(v);
    assert_eq!(ev, [r#"-> login(user="root")"#, "<- login() = true"]);

    let (v, ev) = traced(|| quiet(21));
    assert_eq!(v, 42);
    assert_eq!(ev, ["-> quiet_op()", "<- quiet_op()"]);
}

#[test]
fn location_option_sets_the_site_location() {
    let (v, ev) = traced(|| from_ruchy(1));
    assert_eq!(v, 1);
    assert_eq!(ev, ["-> from_ruchy(x=1)", "<- from_ruchy() = 1"]);
    let site = site_of(|| {
        from_ruchy(2);
    });
    assert_eq!(
        (
            site.location.file.as_str(),
            site.location.line,
            site.location.column
        ),
        ("src/main.ruchy", 12, 5)
    );
}

#[test]
fn sites_carry_kind_location_and_declared_types() {
    let site = site_of(|| {
        let _ = add(1, 2);
    });
    assert_eq!(site.name, "add");
    assert_eq!(site.kind, SiteKind::Fn);
    assert!(
        site.location.file.ends_with("shapes.rs"),
        "{:?}",
        site.location
    );
    // line!() and column!() are spanned at the `fn` token of `pub fn add`.
    let src = include_str!("shapes.rs");
    let fn_line = src
        .lines()
        .position(|l| l.starts_with("pub fn add("))
        .map(|i| i as u32 + 1);
    assert_eq!(Some(site.location.line), fn_line);
    assert_eq!(site.location.column, 5);
    assert_eq!(
        args_of(&site),
        [("a".into(), "i64".into()), ("b".into(), "i64".into())]
    );
    assert_eq!(site.return_type, "i64");

    let mut c = Counter {
        n: 0,
        name: String::new(),
    };
    let site = site_of(|| {
        c.bump(1);
    });
    assert_eq!(
        (site.name.as_str(), site.kind),
        ("Counter::bump", SiteKind::Method)
    );
    assert_eq!(
        args_of(&site),
        [
            ("self".into(), "&mut Self".into()),
            ("by".into(), "i32".into())
        ]
    );
    let site = site_of(|| {
        Counter::new("x");
    });
    assert_eq!(
        (site.kind, site.return_type.as_str()),
        (SiteKind::Fn, "Self")
    );
    let site = site_of(|| {
        Box::new(c.clone()).boxed();
    });
    assert_eq!(args_of(&site), [("self".into(), "Box<Self>".into())]);

    let site = site_of(|| {
        block_on(double(1));
    });
    assert_eq!(site.kind, SiteKind::Async);
    let site = site_of(|| {
        let _ = evens(1);
    });
    assert_eq!(site.return_type, "impl Iterator<Item = u32>");
    let site = site_of(|| {
        swap((1, 2));
    });
    assert_eq!(args_of(&site), [("(a, mut b)".into(), "(i32, i32)".into())]);
    let site = site_of(|| {
        login("a", "b");
    });
    assert_eq!(args_of(&site), [("user".into(), "&str".into())]);
    let site = site_of(|| {
        nothing();
    });
    assert_eq!(site.return_type, "()");
}

// ---------------------------------------------------------------------------------------------------------
// async fn: one record per future, suspended (not left open) across awaits.
// ---------------------------------------------------------------------------------------------------------

#[trace]
async fn double(x: u32) -> u32 {
    yield_now().await;
    x * 2
}

#[trace]
async fn chain(x: u32) -> u32 {
    double(x).await + 1
}

#[trace]
async fn parse_later(s: &str) -> Result<u32, AppError> {
    yield_now().await;
    Ok(s.parse::<u32>()?)
}

struct Account {
    balance: u64,
}

#[trace]
impl Account {
    async fn deposit(&mut self, amount: u64) -> u64 {
        yield_now().await;
        self.balance += amount;
        self.balance
    }
}

#[trace(skip_return, skip_all)]
async fn quiet_async(x: u32) -> u32 {
    yield_now().await;
    x + 1
}

#[test]
fn async_skip_return_completes_without_the_value() {
    let (v, ev) = traced(|| block_on(quiet_async(1)));
    assert_eq!(v, 2);
    assert_eq!(
        ev,
        [
            "-> quiet_async()",
            ".. quiet_async suspended",
            ".. quiet_async resumed",
            "<- quiet_async()"
        ]
    );
}

#[test]
fn dropped_future_is_cancelled() {
    let ((), ev) = traced(|| {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut fut = Box::pin(double(2));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        drop(fut);
    });
    assert_eq!(
        ev,
        [
            "-> double(x=2)",
            ".. double suspended",
            "<- double() = <cancelled>"
        ]
    );
}

#[test]
fn async_fn_is_one_call_suspended_across_await() {
    let (v, ev) = traced(|| block_on(double(4)));
    assert_eq!(v, 8);
    assert_eq!(
        ev,
        [
            "-> double(x=4)",
            ".. double suspended",
            ".. double resumed",
            "<- double() = 8"
        ]
    );
}

#[test]
fn nested_async_calls() {
    let (v, ev) = traced(|| block_on(chain(1)));
    assert_eq!(v, 3);
    assert_eq!(
        ev,
        [
            "-> chain(x=1)",
            "  -> double(x=1)",
            "  .. double suspended",
            ".. chain suspended",
            ".. chain resumed",
            "  .. double resumed",
            "  <- double() = 2",
            "<- chain() = 3",
        ]
    );
}

#[test]
fn async_question_mark_and_methods() {
    let (v, ev) = traced(|| block_on(parse_later("x")));
    assert!(matches!(v, Err(AppError::Parse(_))));
    assert!(
        ev.last()
            .is_some_and(|e| e.starts_with("<- parse_later() = Err(Parse(")),
        "{ev:?}"
    );

    let mut acc = Account { balance: 1 };
    let (v, ev) = traced(|| block_on(acc.deposit(2)));
    assert_eq!(v, 3);
    assert_eq!(
        ev.first().map(String::as_str),
        Some("-> Account::deposit(self=<&mut shapes::Account>, amount=2)")
    );
    assert_eq!(
        ev.last().map(String::as_str),
        Some("<- Account::deposit() = 3")
    );
}

#[test]
fn nothing_stays_open_across_an_await() {
    // Poll a future to its first suspension, run a sync call at top level, then finish the future: the sync
    // call must not be nested inside the suspended async call.
    let (v, ev) = traced(|| {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut fut = std::pin::pin!(double(5));
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let sum = add(1, 1);
        let Poll::Ready(v) = fut.as_mut().poll(&mut cx) else {
            panic!("double did not finish")
        };
        i64::from(v) + sum
    });
    assert_eq!(v, 13);
    assert_eq!(
        ev,
        [
            "-> double(x=5)",
            ".. double suspended",
            "-> add(a=1, b=1)",
            "<- add() = 3",
            ".. double resumed",
            "<- double() = 10"
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Inline modules.
// ---------------------------------------------------------------------------------------------------------

#[trace]
mod geometry {
    pub fn area(w: u32, h: u32) -> u32 {
        w * h
    }

    #[trace(skip)]
    pub fn secret() -> u32 {
        42
    }

    pub struct Square(pub u32);

    impl Square {
        pub fn side(&self) -> u32 {
            self.0
        }
    }

    pub const fn unit() -> u32 {
        1
    }

    pub mod nested {
        pub fn twice(x: u32) -> u32 {
            x * 2
        }
    }
}

#[test]
fn inline_mod_with_opted_out_fn() {
    let (v, ev) = traced(|| geometry::area(2, 3) + geometry::secret() + geometry::unit());
    assert_eq!(v, 49);
    assert_eq!(ev, ["-> area(w=2, h=3)", "<- area() = 6"]);

    let (v, ev) = traced(|| geometry::Square(4).side() + geometry::nested::twice(1));
    assert_eq!(v, 6);
    assert_eq!(
        ev,
        [
            "-> Square::side(self=<&shapes::geometry::Square>)",
            "<- Square::side() = 4",
            "-> twice(x=1)",
            "<- twice() = 2"
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------
// Edge shapes: coercions at the return, `-> !`, inner attributes, generic impls, a lone method.
// ---------------------------------------------------------------------------------------------------------

#[trace]
fn make_adder(k: i32) -> Box<dyn Fn(i32) -> i32> {
    // The tail expression must still coerce to the declared trait object.
    Box::new(move |x| x + k)
}

static DIGITS: [u8; 3] = [1, 2, 3];

#[trace]
fn digits() -> &'static [u8] {
    &DIGITS
}

#[trace]
fn never_returns(code: i32) -> ! {
    panic!("exit {code}")
}

#[trace]
fn with_inner_attribute() -> u32 {
    #![allow(unused_variables)]
    let unused = 1;
    2
}

#[derive(Debug)]
struct Wrapper<T>(T);

#[trace]
impl<T: Clone + Debug> Wrapper<T> {
    fn get(&self) -> T {
        self.0.clone()
    }
}

impl Account {
    #[trace]
    fn balance(&self) -> u64 {
        self.balance
    }
}

#[test]
fn return_coercions_never_type_and_inner_attributes() {
    let (v, ev) = traced(|| make_adder(2)(3));
    assert_eq!(v, 5);
    assert_eq!(ev[0], "-> make_adder(k=2)");
    assert!(ev[1].starts_with("<- make_adder() = <"), "{ev:?}");

    let (v, ev) = traced(|| digits().len());
    assert_eq!(v, 3);
    assert_eq!(ev, ["-> digits()", "<- digits() = [1, 2, 3]"]);

    let (r, ev) = traced(|| std::panic::catch_unwind(|| never_returns(7)));
    assert!(r.is_err());
    assert_eq!(
        ev,
        [
            "-> never_returns(code=7)",
            r#"<- never_returns() = <panic: "exit 7">"#
        ]
    );

    let (v, ev) = traced(with_inner_attribute);
    assert_eq!(v, 2);
    assert_eq!(
        ev,
        ["-> with_inner_attribute()", "<- with_inner_attribute() = 2"]
    );
}

#[test]
fn generic_impl_and_lone_method() {
    let w = Wrapper(vec![1u8]);
    let (v, ev) = traced(|| w.get());
    assert_eq!(v, [1]);
    assert_eq!(
        ev,
        [
            "-> Wrapper<T>::get(self=Wrapper([1]))",
            "<- Wrapper<T>::get() = [1]"
        ]
    );

    let acc = Account { balance: 9 };
    let (v, ev) = traced(|| acc.balance());
    assert_eq!(v, 9);
    assert_eq!(
        ev,
        ["-> balance(self=<&shapes::Account>)", "<- balance() = 9"]
    );
}
