//! The control API of the runtime: enable/disable, instant events with a category filter,
//! `summary()` counters and its report.
#![cfg(feature = "trace")]

use ruchytrace::Category;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn setup() -> std::sync::MutexGuard<'static, ()> {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        let out =
            std::env::temp_dir().join(format!("ruchytrace-control-{}.rtrace", std::process::id()));
        std::env::set_var("RUCHYTRACE_OUTPUT", out);
    });
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[ruchytrace::trace]
fn checked_div(a: i32, b: i32) -> Result<i32, String> {
    if b == 0 {
        return Err(format!("{a} / 0"));
    }
    Ok(a / b)
}

#[ruchytrace::trace]
fn twice(x: u64) -> u64 {
    x * 2
}

#[test]
fn summary_counts_calls_errors_and_instants() {
    let _g = setup();
    ruchytrace::enable();
    ruchytrace::reset();
    ruchytrace::runtime::set_category_filter(&Category::ALL);
    for i in 0..10 {
        let _ = checked_div(i, if i % 4 == 0 { 0 } else { 2 });
    }
    for i in 0..5 {
        twice(i);
    }
    ruchytrace::event(Category::File, "open", "/etc/passwd");
    ruchytrace::event(Category::Custom, "phase", "1");
    ruchytrace::runtime::set_category_filter(&[Category::Custom]);
    ruchytrace::event(Category::File, "open", "filtered out");
    ruchytrace::event(Category::Custom, "phase", "2");
    ruchytrace::runtime::set_category_filter(&Category::ALL);
    let s = ruchytrace::summary();
    assert!(s.enabled);
    let div = s
        .functions
        .iter()
        .find(|f| f.name == "checked_div")
        .expect("checked_div");
    assert_eq!((div.count, div.errors), (10, 3));
    assert!((div.success_rate - 0.7).abs() < 1e-9);
    assert!(div.min <= div.avg && div.avg <= div.max);
    assert!(!div.estimated);
    let tw = s
        .functions
        .iter()
        .find(|f| f.name == "twice")
        .expect("twice");
    assert_eq!((tw.count, tw.errors), (5, 0));
    assert_eq!(s.instants, vec![(Category::File, 1), (Category::Custom, 2)]);
    assert_eq!(s.events_dropped, 0);
    let report = s.to_string();
    assert!(
        report.starts_with("ruchytrace summary: uptime "),
        "{report}"
    );
    assert!(report.contains("tracing enabled"), "{report}");
    let row = report
        .lines()
        .find(|l| l.starts_with("checked_div"))
        .expect("row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[1], "10", "{row}");
    assert_eq!(cols[6], "3", "{row}");
    assert_eq!(cols[7], "70.0%", "{row}");

    ruchytrace::reset();
    let s = ruchytrace::summary();
    assert!(s.functions.is_empty(), "{s}");
}

#[test]
fn disable_stops_recording_and_enable_resumes() {
    let _g = setup();
    ruchytrace::enable();
    ruchytrace::reset();
    ruchytrace::disable();
    assert!(!ruchytrace::is_enabled());
    for i in 0..3 {
        twice(i);
    }
    assert!(ruchytrace::summary()
        .functions
        .iter()
        .all(|f| f.name != "twice"));
    ruchytrace::enable();
    assert!(ruchytrace::is_enabled());
    twice(1);
    let s = ruchytrace::summary();
    assert_eq!(
        s.functions
            .iter()
            .find(|f| f.name == "twice")
            .map(|f| f.count),
        Some(1)
    );
}
