//! The text function trace: strace-like lines for people.
//!
//! ```text
//! # ruchytrace function trace v1: /path/to/fibonacci (pid 4242), clock CLOCK_MONOTONIC
//! [1761761183.405413] -> fibonacci(n=5) <examples/fibonacci.rs:3:1>
//! [1761761183.405420]   -> fibonacci(n=4) <examples/fibonacci.rs:3:1>
//! [1761761183.405431]   <- fibonacci() = 3 [0.011ms]
//! [1761761183.405439] <- fibonacci() = 5 [0.026ms]
//! [1761761183.405440] [tid 4243] ++ thread 4243 "worker-1"
//! # end: 5 events, 0 lost
//! ```
//!
//! Each line starts with the wall-clock time in seconds (6 decimals, from the trace's clock
//! pair), then `[tid N] ` for threads other than the main one (tid != pid, like strace's
//! `[pid N]`), then two spaces per stack level. Line shapes:
//!
//! | event | line |
//! | --- | --- |
//! | enter | `-> name(arg=value, ...) <file:line:col>` |
//! | exit | `<- name() = value [1.234ms]`; unit or uncaptured values print no ` = ...`; a panic prints `= <panic: "msg">`, a dropped future `= <cancelled>`; an `Err(..)` value shows as itself |
//! | async suspend / resume | `<~ name() suspended` / `~> name() resumed` |
//! | instant | `** category name: detail` |
//! | thread | `++ thread TID "name"` |
//! | loss | `!! 123 events lost (buffer full)` |
//! | stall | `!! stalled 1.200ms waiting for buffer space` |
//!
//! The header and trailer lines start with `# `; a trace closed incomplete ends with
//! `# INCOMPLETE: <why>`.

use super::{EventCtx, TraceWriter};
use crate::model::{ClockInfo, Event, LossReason, Metadata, Return, Site, Trailer};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Streams a trace as text lines.
pub struct TextWriter<W: Write + Send> {
    out: W,
    clock: Option<ClockInfo>,
    line: String,
}

impl<W: Write + Send> TextWriter<W> {
    /// A writer on `out` (buffer it: the writer issues one `write` per line).
    pub fn new(out: W) -> Self {
        TextWriter {
            out,
            clock: None,
            line: String::with_capacity(256),
        }
    }

    /// Gives the output back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Appends `[secs.micros] ` for a monotonic timestamp.
pub fn write_timestamp(out: &mut String, clock: Option<&ClockInfo>, ts: u64) {
    let wall = clock
        .map_or(i128::from(ts), |c| c.to_realtime_ns(ts))
        .max(0);
    let _ = write!(
        out,
        "[{}.{:06}] ",
        wall / 1_000_000_000,
        (wall % 1_000_000_000) / 1_000
    );
}

fn name_of(out: &mut String, site: u32, s: Option<&Site>) {
    match s {
        Some(s) => out.push_str(&s.name),
        None => {
            let _ = write!(out, "<site {site}>");
        }
    }
}

/// Appends free-form text with control characters escaped (`\n`, `\x1b`, ...), so one event
/// stays one line.
fn push_one_line(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Appends the text line of one event (without the newline).
pub fn write_event_line(
    out: &mut String,
    clock: Option<&ClockInfo>,
    ev: &Event,
    ctx: &EventCtx<'_>,
) {
    write_timestamp(out, clock, ev.ts());
    let (pid, tid) = ev.pid_tid();
    if tid != pid {
        let _ = write!(out, "[tid {tid}] ");
    }
    for _ in 0..ctx.depth {
        out.push_str("  ");
    }
    match ev {
        Event::Enter { site, args, .. } => {
            out.push_str("-> ");
            name_of(out, *site, ctx.site);
            out.push('(');
            for (i, v) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                match ctx.site.and_then(|s| s.args.get(i)) {
                    Some(a) => out.push_str(&a.name),
                    None => {
                        let _ = write!(out, "arg{i}");
                    }
                }
                let _ = write!(out, "={v}");
            }
            out.push(')');
            if let Some(s) = ctx.site {
                let _ = write!(out, " <{}>", s.location);
            }
        }
        Event::Exit { site, ret, .. } => {
            out.push_str("<- ");
            name_of(out, *site, ctx.site);
            out.push_str("()");
            match ret {
                Return::Value(crate::model::Value::Unit) | Return::NotCaptured => {}
                Return::Value(v) => {
                    let _ = write!(out, " = {v}");
                }
                Return::Panic { message: Some(m) } => {
                    out.push_str(" = <panic: ");
                    let _ = crate::model::write_quoted(out, m);
                    out.push('>');
                }
                Return::Panic { message: None } => out.push_str(" = <panic>"),
                Return::Cancelled => out.push_str(" = <cancelled>"),
            }
            if let Some(d) = ctx.duration_ns {
                out.push_str(" [");
                let _ = crate::duration::write_duration(out, d);
                out.push(']');
            }
        }
        Event::Suspend { site, .. } => {
            out.push_str("<~ ");
            name_of(out, *site, ctx.site);
            out.push_str("() suspended");
        }
        Event::Resume { site, .. } => {
            out.push_str("~> ");
            name_of(out, *site, ctx.site);
            out.push_str("() resumed");
        }
        Event::Instant {
            category,
            name,
            detail,
            ..
        } => {
            let _ = write!(out, "** {} ", category.as_str());
            push_one_line(out, name);
            if !detail.is_empty() {
                out.push_str(": ");
                push_one_line(out, detail);
            }
        }
        Event::Thread { tid, name, .. } => {
            let _ = write!(out, "++ thread {tid}");
            if let Some(n) = name {
                out.push(' ');
                let _ = crate::model::write_quoted(out, n);
            }
        }
        Event::Loss { count, reason, .. } => {
            let why = match reason {
                LossReason::BufferFull => "buffer full",
                LossReason::Evicted => "evicted by the ring buffer",
                LossReason::Unflushed => "not flushed",
            };
            let _ = write!(out, "!! {count} events lost ({why})");
        }
        Event::Stall { waited_ns, .. } => {
            out.push_str("!! stalled ");
            let _ = crate::duration::write_duration(out, *waited_ns);
            out.push_str(" waiting for buffer space");
        }
    }
}

impl<W: Write + Send> TraceWriter for TextWriter<W> {
    fn begin(&mut self, meta: &Metadata) -> io::Result<()> {
        self.clock = Some(meta.clock.clone());
        writeln!(
            self.out,
            "# ruchytrace function trace v{}: {} (pid {}), clock {}",
            meta.version, meta.program, meta.pid, meta.clock.domain
        )
    }

    fn site(&mut self, _site: &Site) -> io::Result<()> {
        Ok(())
    }

    fn event(&mut self, ev: &Event, ctx: &EventCtx<'_>) -> io::Result<()> {
        self.line.clear();
        write_event_line(&mut self.line, self.clock.as_ref(), ev, ctx);
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn finish(&mut self, trailer: &Trailer) -> io::Result<()> {
        writeln!(
            self.out,
            "# end: {} events, {} lost",
            trailer.events, trailer.lost
        )?;
        self.out.flush()
    }

    fn finish_incomplete(&mut self, trailer: &Trailer, truncation: &str) -> io::Result<()> {
        writeln!(
            self.out,
            "# INCOMPLETE: {truncation}; {} events kept, {} lost",
            trailer.events, trailer.lost
        )?;
        self.out.flush()
    }
}
