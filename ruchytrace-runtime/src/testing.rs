//! Test support: record the calls made by a closure on the current thread into memory instead of
//! the output, and render them as indented text without timestamps (for exact comparisons).
//!
//! ```
//! use ruchytrace_runtime::hooks::{self, ArgMeta, CallSite, SiteKind, SiteMeta};
//! use ruchytrace_runtime::testing;
//!
//! static SITE: CallSite = CallSite::new(SiteMeta {
//!     name: "double", module_path: "doc", file: "doc.rs", line: 1, column: 1,
//!     args: &[ArgMeta { name: "x", type_name: "u32" }],
//!     return_type: "u32", kind: SiteKind::Fn, sample: 0,
//! });
//! fn double(x: u32) -> u32 {
//!     let g = hooks::enter(&SITE, |w| x.capture_into(w));
//!     let r = x * 2;
//!     g.exit_with(|w| r.capture_into(w));
//!     r
//! }
//! # trait CaptureInto { fn capture_into(&self, w: &mut hooks::Writer); }
//! # impl<T: hooks::Capture> CaptureInto for T { fn capture_into(&self, w: &mut hooks::Writer) { self.capture(w) } }
//! let events = testing::capture(|| { double(21); });
//! assert_eq!(testing::render(&events), "-> double(x=21)\n<- double() = 42\n");
//! ```

use crate::clock::Converter;
use crate::format::{Nesting, SiteTable};
use crate::global;
use crate::model::{Event, Return, Site};
use crate::record::{self, Decoded};
use crate::recorder::{self, Seg};
use crate::segment::{Mapping, SEG_HEADER};
use std::fmt::Write as _;
use std::sync::Arc;

/// Runs `f` with recording enabled and returns the events the current thread recorded during
/// it, in order, with timestamps in `CLOCK_MONOTONIC` nanoseconds. The events do not go to the
/// trace output: the thread records into private memory meanwhile.
pub fn capture(f: impl FnOnce()) -> Vec<Event> {
    crate::enable();
    let rt = global::runtime();
    let mut conv = Converter::new(rt.tsc);
    let base = global::ticks(global::clock_mode());
    let map = Arc::new(Mapping::anonymous(16 << 20).expect("anonymous memory for capture"));
    let Some(prev) = recorder::swap_segment(Some(Seg::private(map, base))) else {
        f();
        return Vec::new();
    };
    struct Restore(Option<Option<Seg>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(prev) = self.0.take() {
                let _ = recorder::swap_segment(prev);
            }
        }
    }
    let mut restore = Restore(Some(prev));
    f();
    let mine = recorder::swap_segment(restore.0.take().expect("set above"))
        .flatten()
        .expect("the private segment is still in place");
    drop(restore);
    conv.anchor();
    let (map, end) = mine.into_parts();
    let bytes = map.slice(0, end + 1);
    let (pid, tid) = (rt.pid(), global::gettid());
    let mut pos = SEG_HEADER;
    let mut ticks = base;
    let mut out = Vec::new();
    loop {
        match record::decode_at(bytes, pos) {
            Ok(Some(r)) => {
                ticks = ticks.wrapping_add(r.dt);
                pos = r.next;
                if let Decoded::Event(mut e) = r.decoded {
                    e.set_identity(conv.to_ns(ticks), pid, tid);
                    out.push(e);
                }
            }
            Ok(None) => break,
            Err(e) => panic!("damaged record at offset {pos}: {}", e.0),
        }
    }
    out
}

/// The site with this id, as it would appear in a trace file.
pub fn site(id: u32) -> Option<Site> {
    crate::site::site_model(id)
}

/// Renders events as indented lines without timestamps:
/// `-> name(a=1, b="x")`, `<- name() = 3`, `<- name() = <panic: "boom">`, `<- name()` (value not
/// captured or unit), `<- name() = <cancelled>`, `.. name suspended`, `.. name resumed`,
/// `** category name: detail`, `!! N events lost`, `!! stall`, `++ thread "name"`.
pub fn render(events: &[Event]) -> String {
    let mut sites = SiteTable::new();
    for ev in events {
        if let Event::Enter { site, .. }
        | Event::Exit { site, .. }
        | Event::Suspend { site, .. }
        | Event::Resume { site, .. } = ev
        {
            if !sites.contains(*site) {
                if let Some(s) = self::site(*site) {
                    sites.insert(s);
                }
            }
        }
    }
    let mut nesting = Nesting::new();
    let mut out = String::new();
    for ev in events {
        let ctx = nesting.observe(ev, &sites);
        let name = ctx.site.map(|s| s.name.as_str()).unwrap_or("?");
        let indent = "  ".repeat(ctx.depth);
        let _ = match ev {
            Event::Enter { args, .. } => {
                let list: Vec<String> = args
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let n = ctx
                            .site
                            .and_then(|s| s.args.get(i))
                            .map(|a| a.name.as_str())
                            .unwrap_or("?");
                        format!("{n}={v}")
                    })
                    .collect();
                writeln!(out, "{indent}-> {name}({})", list.join(", "))
            }
            Event::Exit { ret, .. } => match ret {
                Return::Value(crate::model::Value::Unit) | Return::NotCaptured => {
                    writeln!(out, "{indent}<- {name}()")
                }
                Return::Value(v) => writeln!(out, "{indent}<- {name}() = {v}"),
                Return::Panic { message: Some(m) } => {
                    writeln!(out, "{indent}<- {name}() = <panic: {m:?}>")
                }
                Return::Panic { message: None } => writeln!(out, "{indent}<- {name}() = <panic>"),
                Return::Cancelled => writeln!(out, "{indent}<- {name}() = <cancelled>"),
            },
            Event::Suspend { .. } => writeln!(out, "{indent}.. {name} suspended"),
            Event::Resume { .. } => writeln!(out, "{indent}.. {name} resumed"),
            Event::Instant {
                category,
                name,
                detail,
                ..
            } => writeln!(out, "{indent}** {} {name}: {detail}", category.as_str()),
            Event::Loss { count, .. } => writeln!(out, "{indent}!! {count} events lost"),
            Event::Stall { .. } => writeln!(out, "{indent}!! stall"),
            Event::Thread { name, .. } => match name {
                Some(n) => writeln!(out, "{indent}++ thread {n:?}"),
                None => writeln!(out, "{indent}++ thread"),
            },
        };
    }
    out
}

#[cfg(test)]
mod tests {
    //! Small enough to run under Miri (`scripts/miri.sh`): the recorder's raw writes, the
    //! thread-state pointer swap and the decoder, end to end.
    use super::*;
    use crate::hooks::{self, ArgMeta, CallSite, SiteKind, SiteMeta, Writer};

    static PAIR: CallSite = CallSite::new(SiteMeta {
        name: "pair",
        module_path: "t",
        file: "t.rs",
        line: 1,
        column: 1,
        args: &[
            ArgMeta {
                name: "n",
                type_name: "i64",
            },
            ArgMeta {
                name: "s",
                type_name: "&str",
            },
        ],
        return_type: "u64",
        kind: SiteKind::Fn,
        sample: 1,
    });

    struct Loud;
    impl std::fmt::Debug for Loud {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            // A traced call from inside the recorder (a `Debug` impl of a captured value)
            // records nothing and does not alias the thread's state.
            f.write_str(&pair(7, "inner").to_string())
        }
    }

    fn pair(n: i64, s: &str) -> u64 {
        let g = hooks::enter(&PAIR, |w: &mut Writer| {
            w.i64(n);
            if s == "loud" {
                w.debug(&Loud);
            } else {
                w.str(s);
            }
        });
        let r = (n as u64) << 8 | s.len() as u64;
        g.exit_with(|w: &mut Writer| {
            w.structure("R", 1);
            w.field("r");
            w.u64(r);
        });
        r
    }

    #[test]
    fn recorded_calls_decode_to_what_was_written() {
        let events = capture(|| {
            pair(-3, "abc");
            pair(1 << 40, "a string longer than sixteen bytes");
            pair(0, "loud");
        });
        assert_eq!(
            render(&events),
            "-> pair(n=-3, s=\"abc\")\n\
             <- pair() = R { r: 18446744073709550851 }\n\
             -> pair(n=1099511627776, s=\"a string longer than sixteen bytes\")\n\
             <- pair() = R { r: 281474976710690 }\n\
             -> pair(n=0, s=1797)\n\
             <- pair() = R { r: 4 }\n"
        );
    }
}
