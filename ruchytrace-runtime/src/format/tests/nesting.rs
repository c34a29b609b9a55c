//! Call nesting, durations and the size of a recorded call.

use super::*;

#[test]
fn nesting_depths_and_durations() {
    let table = SiteTable::from_sites(&sites());
    let mut n = Nesting::new();
    let ctx = n.observe(&enter(0, 10, 1), &table);
    assert_eq!(
        (ctx.depth, ctx.duration_ns, ctx.site.map(|s| s.id)),
        (0, None, Some(0))
    );
    assert_eq!(n.observe(&enter(2, 20, 1), &table).depth, 1);
    // Another thread has its own stack.
    let other = n.observe(&enter(0, 25, 2), &table);
    assert_eq!(other.depth, 0);
    assert!(other.multi_thread);
    let ctx = n.observe(&exit(2, 50, 1), &table);
    assert_eq!((ctx.depth, ctx.duration_ns), (1, Some(30)));
    let ctx = n.observe(&exit(0, 100, 1), &table);
    assert_eq!((ctx.depth, ctx.duration_ns), (0, Some(90)));
    assert_eq!(n.depth(1, 2), 1);
    let open = n.open_calls();
    assert_eq!(open.len(), 1);
    assert_eq!(
        (open[0].tid, open[0].site, open[0].enter_ts),
        (2, 0, Some(25))
    );
}

#[test]
fn nesting_async_suspend_resume_across_threads() {
    let table = SiteTable::from_sites(&sites());
    let mut n = Nesting::new();
    let a = |ev: Event, n: &mut Nesting| {
        let c = n.observe(&ev, &table);
        (c.depth, c.duration_ns)
    };
    assert_eq!(a(enter(0, 0, 1), &mut n), (0, None));
    let fut_enter = Event::Enter {
        site: 1,
        ts: 10,
        pid: 1,
        tid: 1,
        args: vec![],
        call_id: Some(5),
    };
    assert_eq!(a(fut_enter, &mut n), (1, None));
    let suspend = Event::Suspend {
        site: 1,
        ts: 20,
        pid: 1,
        tid: 1,
        call_id: 5,
    };
    assert_eq!(a(suspend, &mut n), (1, None));
    // The suspended future is off the stack: the outer call returns normally.
    assert_eq!(a(exit(0, 30, 1), &mut n), (0, Some(30)));
    assert!(n.open_calls()[0].suspended);
    // Resumed on thread 2 inside another call.
    a(enter(2, 35, 2), &mut n);
    let resume = Event::Resume {
        site: 1,
        ts: 40,
        pid: 1,
        tid: 2,
        call_id: 5,
    };
    assert_eq!(a(resume, &mut n), (1, None));
    let fut_exit = Event::Exit {
        site: 1,
        ts: 70,
        pid: 1,
        tid: 2,
        ret: Return::NotCaptured,
        call_id: Some(5),
    };
    // Duration from the first poll on thread 1.
    assert_eq!(a(fut_exit, &mut n), (1, Some(60)));
    assert_eq!(a(exit(2, 80, 2), &mut n), (0, Some(45)));
    assert!(n.open_calls().is_empty());
    assert_eq!(n.exits_lost(), 0);
}

#[test]
fn nesting_recovers_after_loss() {
    let table = SiteTable::from_sites(&sites());
    let mut n = Nesting::new();
    n.observe(&enter(0, 0, 1), &table);
    n.observe(&enter(1, 1, 1), &table);
    n.observe(&enter(2, 2, 1), &table);
    n.observe(
        &Event::Loss {
            ts: 3,
            pid: 1,
            tid: 1,
            count: 4,
            reason: LossReason::BufferFull,
        },
        &table,
    );
    // The exits of sites 2 and 1 were lost: the exit of 0 pops them.
    let ctx = n.observe(&exit(0, 10, 1), &table);
    assert_eq!((ctx.depth, ctx.duration_ns), (0, Some(10)));
    assert_eq!(n.exits_lost(), 2);
    // An exit whose enter was lost: no duration, stack untouched.
    let ctx = n.observe(&exit(2, 11, 1), &table);
    assert_eq!((ctx.depth, ctx.duration_ns), (0, None));
    assert_eq!(n.unmatched_exits(), 1);
}

#[test]
fn add_costs_at_most_24_bytes_per_call() {
    let add = site(0, "add", &[("a", "i64"), ("b", "i64")], "i64", SiteKind::Fn);
    let table = SiteTable::from_sites([&add]);
    let size = |calls: u64| {
        let mut w = BinaryWriter::new(Vec::new());
        w.begin(&metadata()).unwrap();
        w.site(&add).unwrap();
        let mut n = Nesting::new();
        let mut ts = 5_000_000_000u64;
        for i in 0..calls {
            let a = (i % 100) as i64;
            for ev in [
                Event::Enter {
                    site: 0,
                    ts,
                    pid: 9,
                    tid: 9,
                    args: vec![Value::I64(a), Value::I64(2)],
                    call_id: None,
                },
                Event::Exit {
                    site: 0,
                    ts: ts + 40,
                    pid: 9,
                    tid: 9,
                    ret: Return::Value(Value::I64(a + 2)),
                    call_id: None,
                },
            ] {
                let ctx = n.observe(&ev, &table);
                w.event(&ev, &ctx).unwrap();
            }
            ts += 100;
        }
        w.finish(&Trailer {
            events: calls * 2,
            lost: 0,
            end_ns: ts,
        })
        .unwrap();
        w.into_inner().len() as f64
    };
    let per_call = (size(100_000) - size(1)) / 99_999.0;
    eprintln!("binary: {per_call:.2} bytes per add(a, b) call (enter + exit)");
    assert!(per_call <= 24.0, "{per_call}");
}
