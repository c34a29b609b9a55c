//! The two human-facing sinks: strace-style text lines ([`TextPrinter`], one per `-ff` file in
//! [`TextOut`]) and the `-c` table ([`Summary`]). The `sys.json` stream is written by
//! [`super::event::JsonWriter`].

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use ruchytrace_runtime::model::ClockInfo;

use super::options::TimeFormat;

/// Column at which strace aligns ` = result`.
const RESULT_COLUMN: usize = 40;

/// How lines name the thread they belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidStyle {
    /// strace on a terminal: `[pid  N] ` while more than one tracee is alive, nothing otherwise.
    Bracketed,
    /// strace's `-f -o FILE`: every line starts with the bare pid, `%-5d `.
    Bare,
    /// `-ff`: one file per thread, no prefix.
    None,
}

/// What a [`TextPrinter`] puts before each line.
#[derive(Debug, Clone)]
pub struct LineFormat {
    /// `-t`/`-tt`/`-ttt`.
    pub time: TimeFormat,
    /// `-r`: seconds since the previous line.
    pub relative: bool,
    /// `-T`: `<secs>` after each call.
    pub durations: bool,
    /// The thread prefix.
    pub pids: PidStyle,
    /// The clock pair that turns monotonic stamps into wall-clock times.
    pub clock: ClockInfo,
}

/// Writes strace-style lines, including `<unfinished ...>` / `<... NAME resumed>` pairs when
/// another thread's line comes between a call's entry and its exit.
pub struct TextPrinter {
    out: Box<dyn Write>,
    format: LineFormat,
    /// The thread whose call entry has been seen but not printed yet, with its text so far.
    open: Option<(i32, String)>,
    /// Threads whose entry was printed as `<unfinished ...>`.
    unfinished: HashSet<i32>,
    /// More than one tracee alive: `[pid N]` prefixes in [`PidStyle::Bracketed`].
    multi: bool,
    /// Timestamp of the previous line, for `-r`.
    last_ts: Option<u64>,
    /// Whether anything was written since the last flush.
    dirty: bool,
}

impl TextPrinter {
    /// A printer writing to `out`.
    pub fn new(out: Box<dyn Write>, format: LineFormat) -> Self {
        TextPrinter {
            out,
            format,
            open: None,
            unfinished: HashSet::new(),
            multi: false,
            last_ts: None,
            dirty: false,
        }
    }

    /// Tells whether several tracees are alive (strace's `[pid N]` rule).
    pub fn set_multi(&mut self, multi: bool) {
        self.multi = multi;
    }

    fn prefix(&mut self, tid: i32, ts: u64) -> String {
        // The line is built on this string (room for a typical call), written in place.
        let mut s = String::with_capacity(128);
        self.prefix_into(&mut s, tid, ts);
        s
    }

    fn prefix_into(&mut self, s: &mut String, tid: i32, ts: u64) {
        use std::fmt::Write as _;
        // Writing to a String cannot fail.
        match self.format.pids {
            PidStyle::Bare => {
                let _ = write!(s, "{tid:<5} ");
            }
            PidStyle::Bracketed if self.multi => {
                let _ = write!(s, "[pid {tid:>5}] ");
            }
            _ => {}
        }
        if self.format.relative || self.format.time != TimeFormat::None {
            self.time_prefix(s, ts);
        }
    }

    fn time_prefix(&mut self, s: &mut String, ts: u64) {
        if self.format.relative {
            let d = ts.saturating_sub(self.last_ts.unwrap_or(ts));
            self.last_ts = Some(ts);
            s.push_str(&format!(
                "{:>6}.{:06} ",
                d / 1_000_000_000,
                d % 1_000_000_000 / 1000
            ));
        }
        let real = self.format.clock.to_realtime_ns(ts);
        let secs = real.div_euclid(1_000_000_000) as i64;
        let micros = (real.rem_euclid(1_000_000_000) / 1000) as i64;
        match self.format.time {
            TimeFormat::None => {}
            TimeFormat::Epoch => s.push_str(&format!("{secs}.{micros:06} ")),
            TimeFormat::Seconds | TimeFormat::Micros => {
                let (h, m, sec) = local_hms(secs);
                s.push_str(&format!("{h:02}:{m:02}:{sec:02}"));
                if self.format.time == TimeFormat::Micros {
                    s.push_str(&format!(".{micros:06}"));
                }
                s.push(' ');
            }
        }
    }

    /// Prints the pending entry of another thread as `<unfinished ...>`.
    fn close_open(&mut self) -> io::Result<()> {
        if let Some((tid, text)) = self.open.take() {
            writeln!(self.out, "{text} <unfinished ...>")?;
            self.unfinished.insert(tid);
            self.dirty = true;
        }
        Ok(())
    }

    /// A call entered: remember `name(entry_text` until its exit or another line.
    pub fn entry(&mut self, tid: i32, ts: u64, name: &str, entry_text: &str) -> io::Result<()> {
        self.close_open()?;
        let mut text = self.prefix(tid, ts);
        text.push_str(name);
        text.push('(');
        text.push_str(entry_text);
        self.open = Some((tid, text));
        Ok(())
    }

    /// A call returned (or, with `ret_text == "?"`, never will).
    #[allow(clippy::too_many_arguments)]
    pub fn exit(
        &mut self,
        tid: i32,
        ts_exit: u64,
        name: &str,
        entry_text: &str,
        args: &[String],
        ret_text: &str,
        duration_ns: Option<u64>,
    ) -> io::Result<()> {
        let push_args = |line: &mut String| {
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    line.push_str(", ");
                }
                line.push_str(a);
            }
        };
        let mut line = match self.open.take() {
            Some((open_tid, mut text)) if open_tid == tid => {
                // `prefix name(entry_text` becomes `prefix name(args)`: the entry text is the
                // start of the joined arguments.
                text.truncate(text.len() - entry_text.len());
                push_args(&mut text);
                text.push(')');
                text
            }
            other => {
                self.open = other;
                self.close_open()?;
                let mut line = self.prefix(tid, ts_exit);
                if self.unfinished.remove(&tid) {
                    let joined = args.join(", ");
                    let rest = joined.strip_prefix(entry_text).unwrap_or(&joined);
                    line.push_str("<... ");
                    line.push_str(name);
                    line.push_str(" resumed>");
                    line.push_str(rest);
                } else {
                    line.push_str(name);
                    line.push('(');
                    push_args(&mut line);
                }
                line.push(')');
                line
            }
        };
        if line.len() < RESULT_COLUMN - 1 {
            line.extend(std::iter::repeat_n(' ', RESULT_COLUMN - 1 - line.len()));
        }
        line.push_str(" = ");
        line.push_str(ret_text);
        if self.format.durations {
            if let Some(d) = duration_ns {
                line.push_str(&format!(
                    " <{}.{:06}>",
                    d / 1_000_000_000,
                    d % 1_000_000_000 / 1000
                ));
            }
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())?;
        self.dirty = true;
        Ok(())
    }

    /// Forgets an unprinted entry (the call was filtered out at exit by `-e status=`).
    pub fn drop_entry(&mut self, tid: i32) {
        if matches!(&self.open, Some((t, _)) if *t == tid) {
            self.open = None;
        }
        self.unfinished.remove(&tid);
    }

    /// A complete line of its own: `--- SIGCHLD {...} ---`, `+++ exited with 0 +++`.
    pub fn line(&mut self, tid: i32, ts: u64, text: &str) -> io::Result<()> {
        self.close_open()?;
        let prefix = self.prefix(tid, ts);
        writeln!(self.out, "{prefix}{text}")?;
        self.dirty = true;
        Ok(())
    }

    /// Writes raw text (the `-c` table).
    pub fn raw(&mut self, text: &str) -> io::Result<()> {
        self.close_open()?;
        self.out.write_all(text.as_bytes())?;
        self.dirty = true;
        Ok(())
    }

    /// Flushes buffered lines, if any.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.dirty {
            self.out.flush()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Prints any pending entry as unfinished and flushes.
    pub fn finish(&mut self) -> io::Result<()> {
        self.close_open()?;
        self.dirty = true;
        self.flush()
    }
}

/// Creates a trace file readable by its owner only (traces hold argument values), truncating an
/// existing one.
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// The text sink: one printer, or with `-ff` one file per thread (`NAME.TID`), opened at the
/// thread's first line and closed when it ends, so open files stay bounded by live threads.
pub enum TextOut {
    /// stderr or `-o FILE`.
    One(TextPrinter),
    /// `-ff -o NAME`.
    PerThread {
        /// `NAME`.
        base: PathBuf,
        /// The line format of every file.
        format: LineFormat,
        /// Open files by thread.
        files: HashMap<i32, TextPrinter>,
    },
}

impl TextOut {
    /// The printer of `tid`, opening `NAME.TID` on first use.
    pub fn printer(&mut self, tid: i32) -> io::Result<&mut TextPrinter> {
        match self {
            TextOut::One(p) => Ok(p),
            TextOut::PerThread {
                base,
                format,
                files,
            } => match files.entry(tid) {
                std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let mut name = base.clone().into_os_string();
                    name.push(format!(".{tid}"));
                    let f = create_private(Path::new(&name))?;
                    Ok(e.insert(TextPrinter::new(
                        Box::new(BufWriter::with_capacity(16 * 1024, f)),
                        format.clone(),
                    )))
                }
            },
        }
    }

    /// Tells the shared printer whether several tracees are alive.
    pub fn set_multi(&mut self, multi: bool) {
        if let TextOut::One(p) = self {
            p.set_multi(multi);
        }
    }

    /// A thread ended: its `-ff` file is finished and closed.
    pub fn close_thread(&mut self, tid: i32) -> io::Result<()> {
        if let TextOut::PerThread { files, .. } = self {
            if let Some(mut p) = files.remove(&tid) {
                p.finish()?;
            }
        }
        Ok(())
    }

    /// Writes the `-c` table: to the one output, or to stderr with `-ff`.
    pub fn raw(&mut self, text: &str) -> io::Result<()> {
        match self {
            TextOut::One(p) => p.raw(text),
            TextOut::PerThread { .. } => io::stderr().write_all(text.as_bytes()),
        }
    }

    /// Flushes every open output.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            TextOut::One(p) => p.flush(),
            TextOut::PerThread { files, .. } => files.values_mut().try_for_each(|p| p.flush()),
        }
    }

    /// Ends every output (pending entries printed as unfinished) and flushes.
    pub fn finish(&mut self) -> io::Result<()> {
        match self {
            TextOut::One(p) => p.finish(),
            TextOut::PerThread { files, .. } => {
                files.values_mut().try_for_each(|p| p.finish())?;
                files.clear();
                Ok(())
            }
        }
    }
}

fn local_hms(secs: i64) -> (i64, i64, i64) {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: tm is plain data; localtime_r writes it from `t`, both live locals.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: see above; localtime_r is thread-safe.
    unsafe { libc::localtime_r(&t, &mut tm) };
    (tm.tm_hour as i64, tm.tm_min as i64, tm.tm_sec as i64)
}

#[derive(Default, Clone)]
struct Row {
    calls: u64,
    errors: u64,
    total_ns: u64,
}

/// `-c`: calls, errors and time per syscall.
#[derive(Default)]
pub struct Summary {
    rows: HashMap<String, Row>,
}

impl Summary {
    /// Counts one call.
    pub fn add(&mut self, name: &str, duration_ns: Option<u64>, failed: bool) {
        let row = self.rows.entry(name.to_string()).or_default();
        row.calls += 1;
        row.errors += failed as u64;
        row.total_ns += duration_ns.unwrap_or(0);
    }

    /// The table, in strace's shape, sorted by time spent.
    pub fn render(&self) -> String {
        let mut rows: Vec<(&String, &Row)> = self.rows.iter().collect();
        rows.sort_by(|a, b| b.1.total_ns.cmp(&a.1.total_ns).then(a.0.cmp(b.0)));
        let total_ns: u64 = rows.iter().map(|r| r.1.total_ns).sum();
        let total_calls: u64 = rows.iter().map(|r| r.1.calls).sum();
        let total_errors: u64 = rows.iter().map(|r| r.1.errors).sum();
        let sep = "------ ----------- ----------- --------- --------- ----------------\n";
        let mut s = String::from("% time     seconds  usecs/call     calls    errors syscall\n");
        s.push_str(sep);
        let line = |name: &str, r: &Row, pct: f64| {
            let errors = if r.errors > 0 {
                r.errors.to_string()
            } else {
                String::new()
            };
            format!(
                "{pct:6.2} {:11.6} {:11} {:9} {errors:>9} {name}\n",
                r.total_ns as f64 / 1e9,
                r.total_ns / 1000 / r.calls.max(1),
                r.calls
            )
        };
        for (name, r) in &rows {
            let pct = if total_ns > 0 {
                r.total_ns as f64 * 100.0 / total_ns as f64
            } else {
                0.0
            };
            s.push_str(&line(name, r, pct));
        }
        s.push_str(sep);
        let total = Row {
            calls: total_calls,
            errors: total_errors,
            total_ns,
        };
        s.push_str(&line("total", &total, 100.0));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A `Write` whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn printer(durations: bool) -> (TextPrinter, Shared) {
        printer_with(durations, PidStyle::Bracketed, false)
    }

    fn printer_with(durations: bool, pids: PidStyle, relative: bool) -> (TextPrinter, Shared) {
        let buf = Shared::default();
        let clock = ClockInfo {
            domain: "CLOCK_MONOTONIC".into(),
            source: "CLOCK_MONOTONIC".into(),
            realtime_ns: 1_000_000_000_000,
            monotonic_ns: 0,
            tsc_hz: None,
        };
        let format = LineFormat {
            time: TimeFormat::None,
            relative,
            durations,
            pids,
            clock,
        };
        let p = TextPrinter::new(Box::new(buf.clone()), format);
        (p, buf)
    }

    fn text(buf: &Shared) -> String {
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn complete_call_is_one_aligned_line() {
        let (mut p, buf) = printer(true);
        p.entry(10, 0, "close", "3").unwrap();
        p.exit(10, 1500, "close", "3", &["3".into()], "0", Some(1500))
            .unwrap();
        p.finish().unwrap();
        assert_eq!(
            text(&buf),
            format!("close(3){} = 0 <0.000001>\n", " ".repeat(31))
        );
    }

    #[test]
    fn interleaved_threads_print_unfinished_and_resumed() {
        let (mut p, buf) = printer(false);
        p.set_multi(true);
        p.entry(10, 0, "read", "3, ").unwrap();
        p.entry(11, 1, "getpid", "").unwrap();
        p.exit(11, 2, "getpid", "", &[], "11", None).unwrap();
        let args = vec!["3".to_string(), "\"ab\"".to_string(), "2".to_string()];
        p.exit(10, 3, "read", "3, ", &args, "2", None).unwrap();
        p.finish().unwrap();
        let t = text(&buf);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "[pid    10] read(3,  <unfinished ...>");
        assert!(lines[1].starts_with("[pid    11] getpid()") && lines[1].ends_with(" = 11"));
        assert!(
            lines[2].starts_with("[pid    10] <... read resumed>\"ab\", 2)")
                && lines[2].ends_with(" = 2")
        );
    }

    #[test]
    fn bare_pids_for_files_and_relative_times() {
        let (mut p, buf) = printer_with(false, PidStyle::Bare, true);
        p.line(42, 1_000, "--- SIGINT {si_signo=SIGINT} ---")
            .unwrap();
        p.line(123456, 2_501_000, "+++ exited with 0 +++").unwrap();
        p.finish().unwrap();
        assert_eq!(
            text(&buf),
            "42         0.000000 --- SIGINT {si_signo=SIGINT} ---\n\
             123456      0.002500 +++ exited with 0 +++\n"
        );
    }

    #[test]
    fn signal_line_closes_open_entry() {
        let (mut p, buf) = printer(false);
        p.entry(10, 0, "wait4", "-1, ").unwrap();
        p.line(10, 1, "--- SIGCHLD {si_signo=SIGCHLD} ---").unwrap();
        p.finish().unwrap();
        assert_eq!(
            text(&buf),
            "wait4(-1,  <unfinished ...>\n--- SIGCHLD {si_signo=SIGCHLD} ---\n"
        );
    }

    #[test]
    fn summary_sorted_by_time_with_totals() {
        let mut s = Summary::default();
        s.add("read", Some(3_000_000), false);
        s.add("openat", Some(1_000_000), true);
        s.add("read", Some(1_000_000), false);
        let t = s.render();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "% time     seconds  usecs/call     calls    errors syscall"
        );
        assert_eq!(
            lines[2],
            " 80.00    0.004000        2000         2           read"
        );
        assert_eq!(
            lines[3],
            " 20.00    0.001000        1000         1         1 openat"
        );
        assert_eq!(
            lines[5],
            "100.00    0.005000        1666         3         1 total"
        );
    }
}
