//! The hook API driven by hand (what a code generator emits), recorded in memory.

use ruchytrace::hooks::{self, ArgMeta, CallSite, SiteKind, SiteMeta};
use ruchytrace::runtime::model::{Event, Return, Value};
use ruchytrace::runtime::testing;

macro_rules! cap {
    ($w:expr, $e:expr) => {{
        #[allow(unused_imports)]
        use ::ruchytrace::hooks::capture::{
            CaptureDebug as _, CaptureOpaque as _, CaptureStructural as _,
        };
        (&&&::ruchytrace::hooks::capture::Probe(&$e)).__rt_capture($w);
    }};
}

static ADD: CallSite = CallSite::new(SiteMeta {
    name: "add",
    module_path: module_path!(),
    file: file!(),
    line: 1,
    column: 1,
    args: &[
        ArgMeta {
            name: "a",
            type_name: "i64",
        },
        ArgMeta {
            name: "b",
            type_name: "i64",
        },
    ],
    return_type: "i64",
    kind: SiteKind::Fn,
    sample: 0,
});

fn add(a: i64, b: i64) -> i64 {
    let g = hooks::enter(&ADD, |w| {
        cap!(w, a);
        cap!(w, b);
    });
    let r = hooks::call::<i64, _>(move || a + b);
    g.exit_with(|w| cap!(w, r));
    r
}

#[derive(Debug)]
#[allow(dead_code)]
struct WithDebug {
    x: u8,
}
struct NoDebug;

static SHOW: CallSite = CallSite::new(SiteMeta {
    name: "show",
    module_path: module_path!(),
    file: file!(),
    line: 2,
    column: 1,
    args: &[
        ArgMeta {
            name: "s",
            type_name: "&str",
        },
        ArgMeta {
            name: "v",
            type_name: "Vec<Option<u16>>",
        },
        ArgMeta {
            name: "d",
            type_name: "WithDebug",
        },
        ArgMeta {
            name: "n",
            type_name: "NoDebug",
        },
    ],
    return_type: "Result<(i8, char), String>",
    kind: SiteKind::Fn,
    sample: 0,
});

fn show(s: &str, v: Vec<Option<u16>>, d: WithDebug, n: NoDebug) -> Result<(i8, char), String> {
    let g = hooks::enter(&SHOW, |w| {
        cap!(w, s);
        cap!(w, v);
        cap!(w, d);
        cap!(w, n);
    });
    let r = hooks::call::<Result<(i8, char), String>, _>(move || {
        let _ = (&v, &d, &n);
        if s.is_empty() {
            return Err("empty".to_string());
        }
        Ok((-1, 'x'))
    });
    g.exit_with(|w| cap!(w, r));
    r
}

static BOOM: CallSite = CallSite::new(SiteMeta {
    name: "boom",
    module_path: module_path!(),
    file: file!(),
    line: 3,
    column: 1,
    args: &[],
    return_type: "()",
    kind: SiteKind::Fn,
    sample: 0,
});

fn boom() {
    let _g = hooks::enter(&BOOM, |_| {});
    panic!("kaboom");
}

/// `disable()` is process-wide: tests that record hold this lock.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn records_primitive_args_and_return() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let events = testing::capture(|| {
        assert_eq!(add(2, 40), 42);
    });
    assert_eq!(
        testing::render(&events),
        "-> add(a=2, b=40)\n<- add() = 42\n"
    );
    match (&events[0], &events[1]) {
        (
            Event::Enter {
                ts: t0, pid, tid, ..
            },
            Event::Exit { ts: t1, ret, .. },
        ) => {
            assert!(t1 >= t0);
            assert_eq!(*pid, std::process::id());
            assert!(*tid > 0);
            assert_eq!(ret, &Return::Value(Value::I64(42)));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn structural_debug_and_opaque_values() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let long = "x".repeat(100);
    let events = testing::capture(|| {
        let _ = show(&long, vec![Some(1), None], WithDebug { x: 7 }, NoDebug);
        let _ = show("", vec![], WithDebug { x: 0 }, NoDebug);
    });
    let text = testing::render(&events);
    let expected = format!(
        "-> show(s=\"{}\"..., v=[Some(1), None], d=WithDebug {{ x: 7 }}, n=<runtime_hooks::NoDebug>)\n\
         <- show() = Ok((-1, 'x'))\n\
         -> show(s=\"\", v=[], d=WithDebug {{ x: 0 }}, n=<runtime_hooks::NoDebug>)\n\
         <- show() = Err(\"empty\")\n",
        "x".repeat(64)
    );
    assert_eq!(text, expected);
    match &events[0] {
        Event::Enter { args, .. } => assert_eq!(
            args[0],
            Value::Str {
                text: "x".repeat(64),
                truncated_from: Some(100)
            }
        ),
        other => panic!("{other:?}"),
    }
    match &events[3] {
        Event::Exit { ret, .. } => assert!(ret.is_error()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn panic_is_recorded_as_exit_with_message() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let events = testing::capture(|| {
        let r = std::panic::catch_unwind(boom);
        assert!(r.is_err());
    });
    assert_eq!(
        testing::render(&events),
        "-> boom()\n<- boom() = <panic: \"kaboom\">\n"
    );
}

#[test]
fn disabled_records_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let events = testing::capture(|| {
        ruchytrace::runtime::disable();
        add(1, 1);
        ruchytrace::runtime::enable();
    });
    assert!(
        events.iter().all(|e| !matches!(e, Event::Enter { .. })),
        "{events:?}"
    );
}
