//! The recorder is re-entrant safely: a `Debug` impl that calls a traced function while its
//! caller's arguments are being captured neither crashes nor records the inner call (the
//! documented behaviour: calls made from inside the recorder are not recorded), and a `Debug`
//! impl that panics inside capture leaves the thread able to record afterwards.
#![cfg(feature = "trace")]

use ruchytrace::runtime::testing;
use std::fmt;

#[ruchytrace::trace]
fn inner(x: u32) -> u32 {
    x + 1
}

/// Calls the traced `inner` from its `Debug` impl.
struct Reentrant(u32);

impl fmt::Debug for Reentrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reentrant({})", inner(self.0))
    }
}

#[ruchytrace::trace]
fn outer(r: Reentrant) -> u32 {
    r.0 * 2
}

/// Panics when formatted.
struct Bomb;

impl fmt::Debug for Bomb {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Debug of Bomb")
    }
}

#[ruchytrace::trace]
fn takes_bomb(_b: Bomb) -> u32 {
    5
}

#[test]
fn debug_impl_calling_a_traced_function_is_not_recorded_inside_the_recorder() {
    let events = testing::capture(|| {
        assert_eq!(outer(Reentrant(20)), 40);
    });
    assert_eq!(
        testing::render(&events),
        "-> outer(r=Reentrant(21))\n<- outer() = 40\n",
        "the outer call is recorded, the call made while capturing it is not"
    );
    // Outside the recorder the same function records as usual.
    let events = testing::capture(|| {
        assert_eq!(inner(1), 2);
    });
    assert_eq!(testing::render(&events), "-> inner(x=1)\n<- inner() = 2\n");
}

#[test]
fn reentrant_debug_on_many_threads() {
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let events = testing::capture(|| {
                    for i in 0..200 {
                        assert_eq!(outer(Reentrant(i + t)), (i + t) * 2);
                    }
                });
                let text = testing::render(&events);
                assert_eq!(text.lines().count(), 400, "{text}");
                assert!(!text.contains("-> inner"), "{text}");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn panicking_debug_inside_capture_does_not_disable_recording() {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut caught = None;
    let during = testing::capture(|| {
        caught = Some(std::panic::catch_unwind(|| takes_bomb(Bomb)));
    });
    std::panic::set_hook(prev);
    let caught = caught.unwrap();
    // The call whose capture panicked leaves nothing behind (its entry was never completed).
    assert_eq!(testing::render(&during), "");
    let msg = caught.expect_err("the Debug impl's panic reaches the caller");
    assert_eq!(msg.downcast_ref::<&str>(), Some(&"Debug of Bomb"));
    // The thread records again, nested calls included.
    let events = testing::capture(|| {
        assert_eq!(outer(Reentrant(1)), 2);
        assert_eq!(inner(7), 8);
    });
    assert_eq!(
        testing::render(&events),
        "-> outer(r=Reentrant(2))\n<- outer() = 2\n-> inner(x=7)\n<- inner() = 8\n"
    );
}
