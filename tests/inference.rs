//! `#[trace]` never changes how a body type-checks: bodies whose inference needs the declared return type (a
//! returned closure whose parameter types come from `impl Fn(&T) -> U`, `.into()` in a `break`, `?` conversions)
//! compile and behave as without the attribute, and the exit is recorded however the body leaves. Run with
//! `cargo test --features trace --test inference`.
#![cfg(feature = "trace")]

use std::cell::Cell;
use std::fmt::Display;
use std::future::Future;
use std::num::ParseIntError;
use std::panic::Location;
use std::task::{Context, Poll, Waker};

use ruchytrace::runtime::testing;
use ruchytrace::trace;

/// Runs `f` recording into memory; returns its value and this thread's events, one per line.
fn traced<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let mut out = None;
    let events = testing::capture(|| out = Some(f()));
    let value = out.expect("the traced closure ran");
    let lines = testing::render(&events)
        .lines()
        .map(str::to_owned)
        .collect();
    (value, lines)
}

/// Polls a future that never waits to completion.
fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the future was expected to complete at once"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Returned closures: their parameter types come from the declared return type.
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Entry {
    hash: Cell<u64>,
}

/// The shape that failed to compile when the body was moved into a closure: `|&i|` takes its type from
/// `impl Fn(&usize) -> u64`.
#[trace]
fn hasher(entries: Vec<Entry>) -> impl Fn(&usize) -> u64 {
    move |&i| entries[i].hash.get()
}

struct Table {
    entries: Vec<Entry>,
}

impl Table {
    #[trace]
    fn lookup(&self) -> impl Fn(&usize) -> u64 + '_ {
        move |&i| self.entries[i].hash.get() * 10
    }
}

/// A nameable return type: the closure runs with the value captured, and `|&i|` still gets its type.
#[trace]
fn pick(double: bool) -> Box<dyn Fn(&usize) -> u64> {
    if double {
        return Box::new(|&i| i as u64 * 2);
    }
    Box::new(|&i| i as u64)
}

#[test]
fn returned_closures_take_their_parameter_types_from_the_return_type() {
    let entries = vec![Entry { hash: Cell::new(9) }];
    let (v, ev) = traced(|| hasher(entries)(&0));
    assert_eq!(v, 9);
    assert_eq!(
        ev,
        [
            "-> hasher(entries=[Entry { hash: Cell { value: 9 } }])",
            "<- hasher()"
        ]
    );

    let table = Table {
        entries: vec![Entry { hash: Cell::new(4) }],
    };
    let (v, ev) = traced(|| table.lookup()(&0));
    assert_eq!(v, 40);
    assert_eq!(ev, ["-> lookup(self=<&inference::Table>)", "<- lookup()"]);

    let (v, ev) = traced(|| (pick(true)(&5), pick(false)(&5)));
    assert_eq!(v, (10, 5));
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert_eq!(ev[0], "-> pick(double=true)");
    assert!(ev[1].starts_with("<- pick() = "), "{ev:?}");
    assert_eq!(ev[2], "-> pick(double=false)");
}

// ---------------------------------------------------------------------------------------------------------
// #[inline(always)], iterators borrowing from their arguments.
// ---------------------------------------------------------------------------------------------------------

#[trace]
#[inline(always)]
fn twice(x: u32) -> u32 {
    x * 2
}

#[inline(always)]
#[trace]
fn odd_filter(xs: &[u32]) -> impl Iterator<Item = &u32> + '_ {
    xs.iter().filter(|x| **x % 2 == 1)
}

struct Bag {
    items: Vec<u32>,
}

impl Bag {
    #[trace]
    fn evens(&self) -> impl Iterator<Item = &u32> + '_ {
        self.items.iter().filter(|x| **x % 2 == 0)
    }

    #[trace]
    fn largest(&self) -> Option<&u32> {
        self.items.iter().max()
    }
}

#[trace]
fn refs<T>(v: &[T]) -> impl Iterator<Item = &T> + '_ {
    v.iter().rev()
}

#[test]
fn inline_always_and_borrowing_iterators() {
    let (v, ev) = traced(|| twice(21));
    assert_eq!(v, 42);
    assert_eq!(ev, ["-> twice(x=21)", "<- twice() = 42"]);

    let data = [1, 2, 3, 5];
    let (v, ev) = traced(|| odd_filter(&data).copied().collect::<Vec<_>>());
    assert_eq!(v, [1, 3, 5]);
    assert_eq!(ev, ["-> odd_filter(xs=[1, 2, 3, 5])", "<- odd_filter()"]);

    let bag = Bag {
        items: vec![4, 7, 8],
    };
    let (v, ev) = traced(|| {
        (
            bag.evens().copied().collect::<Vec<_>>(),
            bag.largest().copied(),
        )
    });
    assert_eq!(v, (vec![4, 8], Some(8)));
    assert_eq!(ev.len(), 4, "{ev:?}");
    // A method's own attribute does not see its `impl`: the site is named after the method alone.
    assert_eq!(
        ev,
        [
            "-> evens(self=<&inference::Bag>)",
            "<- evens()",
            "-> largest(self=<&inference::Bag>)",
            "<- largest() = Some(8)"
        ]
    );

    let (v, ev) = traced(|| refs(&["a", "b"]).copied().collect::<String>());
    assert_eq!(v, "ba");
    // An unbounded `T` is shown by its type name.
    assert_eq!(ev, ["-> refs(v=<&[&str]>)", "<- refs()"]);
}

// ---------------------------------------------------------------------------------------------------------
// Early return, `?`, `loop { break value }`.
// ---------------------------------------------------------------------------------------------------------

#[trace]
fn classify(n: i32) -> &'static str {
    if n < 0 {
        return "negative";
    }
    match n {
        0 => "zero",
        _ => "positive",
    }
}

#[trace]
fn label(n: u32) -> impl Display {
    if n == 0 {
        return String::from("none");
    }
    format!("{n} items")
}

/// `parse()` takes its target type from the tuple the function returns; `?` converts nothing here but still
/// leaves through the function's return type.
#[trace]
fn parse_pair(a: &str, b: &str) -> Result<(i32, u8), ParseIntError> {
    Ok((a.parse()?, b.parse()?))
}

#[trace]
fn second(v: &[u8]) -> Option<u8> {
    let x = v.get(1)?;
    Some(x + 1)
}

/// `?` in a function whose return type names `impl Trait`: the value cannot be captured on any path.
#[trace]
fn digits(s: &str) -> Result<impl Iterator<Item = u32> + '_, ParseIntError> {
    s.parse::<u64>()?;
    Ok(s.chars().filter_map(|c| c.to_digit(10)))
}

/// `i.into()` takes its target type from the return type, through the loop's `break`.
#[trace]
fn first_square_over(limit: u32) -> u64 {
    let mut i = 0u32;
    loop {
        i += 1;
        if i * i > limit {
            break i.into();
        }
    }
}

/// The broken value is a closure typed by the return type, through the loop.
#[trace]
fn offset_by(k: u64) -> impl Fn(&u64) -> u64 {
    let mut k = k;
    loop {
        if k >= 6 {
            break move |&x| x + k;
        }
        k += 1;
    }
}

#[test]
fn early_return_question_mark_and_loop_break() {
    let (v, ev) = traced(|| (classify(-3), classify(0)));
    assert_eq!(v, ("negative", "zero"));
    assert_eq!(
        ev,
        [
            "-> classify(n=-3)",
            r#"<- classify() = "negative""#,
            "-> classify(n=0)",
            r#"<- classify() = "zero""#
        ]
    );

    let (v, ev) = traced(|| (label(0).to_string(), label(3).to_string()));
    assert_eq!(v, ("none".to_owned(), "3 items".to_owned()));
    assert_eq!(
        ev,
        ["-> label(n=0)", "<- label()", "-> label(n=3)", "<- label()"]
    );

    let (v, ev) = traced(|| parse_pair("-4", "200"));
    assert_eq!(v, Ok((-4, 200)));
    assert_eq!(ev[1], "<- parse_pair() = Ok((-4, 200))");
    let (v, ev) = traced(|| parse_pair("1", "300"));
    assert!(v.is_err());
    assert_eq!(
        ev,
        [
            r#"-> parse_pair(a="1", b="300")"#,
            "<- parse_pair() = Err(ParseIntError { kind: PosOverflow })"
        ]
    );

    let (v, ev) = traced(|| (second(&[1, 2]), second(&[1])));
    assert_eq!(v, (Some(3), None));
    assert_eq!(
        ev,
        [
            "-> second(v=[1, 2])",
            "<- second() = Some(3)",
            "-> second(v=[1])",
            "<- second() = None"
        ]
    );

    let (v, ev) = traced(|| {
        let ok: Vec<u32> = digits("42").map(Iterator::collect).unwrap_or_default();
        (ok, digits("x").is_err())
    });
    assert_eq!(v, (vec![4, 2], true));
    assert_eq!(
        ev,
        [
            r#"-> digits(s="42")"#,
            "<- digits()",
            r#"-> digits(s="x")"#,
            "<- digits()"
        ]
    );

    let (v, ev) = traced(|| first_square_over(10));
    assert_eq!(v, 4);
    assert_eq!(
        ev,
        [
            "-> first_square_over(limit=10)",
            "<- first_square_over() = 4"
        ]
    );

    let (v, ev) = traced(|| offset_by(5)(&1));
    assert_eq!(v, 7);
    assert_eq!(ev, ["-> offset_by(k=5)", "<- offset_by()"]);
}

// ---------------------------------------------------------------------------------------------------------
// Panics and #[track_caller] in bodies kept in place; async bodies.
// ---------------------------------------------------------------------------------------------------------

#[trace]
fn checked(limit: usize) -> impl Fn(&usize) -> usize {
    assert!(limit > 0, "limit must be positive");
    move |&i| i % limit
}

#[trace]
#[track_caller]
fn where_called(n: u32) -> (u32, u32) {
    (n, Location::caller().line())
}

#[test]
fn panics_and_track_caller_in_bodies_kept_in_place() {
    let (r, ev) = traced(|| std::panic::catch_unwind(|| checked(0)).is_err());
    assert!(r);
    assert_eq!(
        ev,
        [
            "-> checked(limit=0)",
            r#"<- checked() = <panic: "limit must be positive">"#
        ]
    );

    let line = line!() + 1;
    let (v, ev) = traced(|| where_called(7));
    assert_eq!(v, (7, line), "Location::caller() must be the caller's line");
    assert_eq!(ev, ["-> where_called(n=7)", "<- where_called()"]);
}

#[trace]
async fn make_hasher(entries: Vec<Entry>, early: bool) -> Box<dyn Fn(&usize) -> u64> {
    if early {
        return Box::new(|&i| i as u64);
    }
    Box::new(move |&i| entries[i].hash.get())
}

#[trace]
async fn parse_async(s: &str) -> Result<u16, ParseIntError> {
    Ok(s.parse()?)
}

#[test]
fn async_bodies_see_the_declared_output_type() {
    let (v, ev) = traced(|| {
        let early = ready(make_hasher(Vec::new(), true))(&3);
        let full = ready(make_hasher(
            vec![Entry {
                hash: Cell::new(11),
            }],
            false,
        ))(&0);
        (early, full)
    });
    assert_eq!(v, (3, 11));
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert_eq!(ev[0], "-> make_hasher(entries=[], early=true)");

    let (v, ev) = traced(|| (ready(parse_async("12")), ready(parse_async("y")).is_err()));
    assert_eq!(v, (Ok(12), true));
    assert_eq!(
        ev,
        [
            r#"-> parse_async(s="12")"#,
            "<- parse_async() = Ok(12)",
            r#"-> parse_async(s="y")"#,
            "<- parse_async() = Err(ParseIntError { kind: InvalidDigit })"
        ]
    );
}
