//! Chrome trace event JSON (opens in Perfetto and `chrome://tracing`).
//!
//! Functions and system calls are complete (`"ph":"X"`) slices on their thread's track, each
//! written when it ends (a call at its exit, so a caller follows its callees): the format lets
//! complete events come in any order, and the viewers sort them, so the writer holds only the
//! calls still open (their start and arguments), never the trace. Function slices have
//! category `function`, system calls `syscall` (so they can be filtered), point events are
//! instant (`"ph":"i"`) events. Process and thread names are `M` metadata events, all before
//! the first slice. Times are microseconds (with nanosecond decimals) since the first event of
//! the merge.
//!
//! The same [`ChromeSink`] writes a merged tree ([`write`]) and a streamed replay
//! ([`super::stream`]), so both give the same slices.

use rustc_hash::FxHashMap as HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use super::jsonw::rt_str as write_json_str;
use ruchytrace_runtime::model::{Return, Site};

use super::futures::FutureInfo;
use super::jsonw;
use super::{fmt_return, Merged, Node, NodeKind, ProcessInfo};

/// A thread's name event: (pid, tid, label).
pub(crate) type ThreadName = (u32, u32, String);

/// Writes the events of a merged trace as nodes arrive: a call's slice at its close, a system
/// call's and a point event's when they are seen. Memory: the open calls of every thread.
pub(crate) struct ChromeSink<'w> {
    out: &'w mut dyn Write,
    buf: String,
    origin_ns: u64,
    end_ns: u64,
    /// Per thread, the `args` members of its open calls written at their entries, one after
    /// the other, and where each call's begin in that text.
    open: HashMap<(u32, u32), (String, Vec<usize>)>,
    first: bool,
    /// Per site id, its location as a JSON string, written once.
    locations: Vec<Option<String>>,
    /// Room to format a value before it is escaped.
    scratch: String,
}

impl<'w> ChromeSink<'w> {
    /// Starts the document: the process and thread names.
    pub(crate) fn new(
        out: &'w mut dyn Write,
        (origin_ns, end_ns): (u64, u64),
        processes: &[ProcessInfo],
        threads: &[ThreadName],
    ) -> Self {
        let mut sink = ChromeSink {
            out,
            buf: String::with_capacity(1 << 16),
            origin_ns,
            end_ns,
            open: HashMap::default(),
            first: true,
            locations: Vec::new(),
            scratch: String::new(),
        };
        sink.buf
            .push_str("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
        for p in processes {
            sink.sep();
            let name = std::path::Path::new(&p.program)
                .file_name()
                .map_or_else(|| p.program.clone(), |n| n.to_string_lossy().into_owned());
            let _ = write!(
                sink.buf,
                "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":",
                p.pid, p.pid
            );
            write_json_str(&mut sink.buf, &format!("{name} ({})", p.pid));
            sink.buf.push_str("}}");
        }
        for (pid, tid, label) in threads {
            sink.sep();
            let _ = write!(
                sink.buf,
                "{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":"
            );
            write_json_str(&mut sink.buf, label);
            sink.buf.push_str("}}");
        }
        sink
    }

    fn sep(&mut self) {
        if !self.first {
            self.buf.push_str(",\n");
        }
        self.first = false;
    }

    /// Microseconds since the origin, with three decimals.
    fn us(&mut self, ts: u64) {
        let rel = ts.saturating_sub(self.origin_ns);
        Self::dur(&mut self.buf, rel);
    }

    /// `ns` as microseconds with three decimals.
    fn dur(out: &mut String, ns: u64) {
        jsonw::u64(out, ns / 1_000);
        let frac = ns % 1_000;
        out.push('.');
        out.push(char::from(b'0' + (frac / 100) as u8));
        out.push(char::from(b'0' + (frac / 10 % 10) as u8));
        out.push(char::from(b'0' + (frac % 10) as u8));
    }

    /// `v`'s display form as a JSON string.
    fn display_str(out: &mut String, scratch: &mut String, v: &dyn std::fmt::Display) {
        scratch.clear();
        let _ = write!(scratch, "{v}");
        write_json_str(out, scratch);
    }

    /// One node of thread `key`: a call's entry (`close` false) or exit, a system call, a
    /// point event. `future` is the future a closing poll belongs to (from the tree).
    pub(crate) fn node(
        &mut self,
        key: (u32, u32),
        n: &Node,
        close: bool,
        sites: &[Site],
        future: Option<(&FutureInfo, usize)>,
    ) -> io::Result<()> {
        let (pid, tid) = key;
        match &n.kind {
            NodeKind::Call(c) if !close => {
                let site = &sites[c.site as usize];
                let i = c.site as usize;
                if self.locations.len() <= i {
                    self.locations.resize(i + 1, None);
                }
                let location = self.locations[i].get_or_insert_with(|| {
                    let mut l = String::new();
                    write_json_str(&mut l, &site.location.to_string());
                    l
                });
                let (args, starts) = self.open.entry(key).or_default();
                starts.push(args.len());
                args.push_str(location);
                for (i, v) in c.args.iter().enumerate() {
                    args.push(',');
                    match site.args.get(i) {
                        Some(a) => write_json_str(args, &a.name),
                        None => write_json_str(args, &format!("arg{i}")),
                    }
                    args.push(':');
                    Self::display_str(args, &mut self.scratch, v);
                }
                return Ok(());
            }
            NodeKind::Call(c) => {
                let site = &sites[c.site as usize];
                self.sep();
                self.buf
                    .push_str("{\"ph\":\"X\",\"cat\":\"function\",\"name\":");
                write_json_str(&mut self.buf, &site.name);
                let _ = write!(self.buf, ",\"pid\":{pid},\"tid\":{tid},\"ts\":");
                self.us(n.start_ns);
                self.buf.push_str(",\"dur\":");
                Self::dur(&mut self.buf, n.duration(self.end_ns));
                self.buf.push_str(",\"args\":{\"location\":");
                match self.open.get_mut(&key) {
                    Some((args, starts)) if !starts.is_empty() => {
                        let at = starts.pop().unwrap_or(0);
                        self.buf.push_str(&args[at..]);
                        args.truncate(at);
                    }
                    _ => self.buf.push_str("null"),
                }
                self.buf.push_str(",\"return\":");
                match &c.ret {
                    Some(Return::Value(v)) => {
                        Self::display_str(&mut self.buf, &mut self.scratch, v);
                    }
                    Some(Return::Panic { message }) => write_json_str(
                        &mut self.buf,
                        &format!("<panic: {}>", message.as_deref().unwrap_or("?")),
                    ),
                    Some(Return::Cancelled) => self.buf.push_str("\"<cancelled>\""),
                    Some(Return::NotCaptured) | None => self.buf.push_str("null"),
                }
                let _ = write!(self.buf, ",\"end\":\"{}\"", c.end.as_str());
                if let Some((f, k)) = future {
                    let threads: Vec<String> =
                        f.segment_threads().iter().map(u32::to_string).collect();
                    let _ = write!(
                        self.buf,
                        ",\"poll\":\"{} of {}\",\"future lifetime\":\"{}\",\"future busy\":\"{}\",\"future threads\":\"{}\"",
                        k + 1,
                        f.polls.len(),
                        ruchytrace_runtime::duration::fmt_duration(f.lifetime_ns()),
                        ruchytrace_runtime::duration::fmt_duration(f.busy_ns),
                        threads.join(",")
                    );
                }
                self.buf.push_str("}}");
            }
            NodeKind::Syscall(sc) => {
                self.sep();
                self.buf
                    .push_str("{\"ph\":\"X\",\"cat\":\"syscall\",\"name\":");
                write_json_str(&mut self.buf, &sc.name);
                let dur = n.end_ns.map_or(0, |e| e.saturating_sub(n.start_ns));
                let _ = write!(self.buf, ",\"pid\":{pid},\"tid\":{tid},\"ts\":");
                self.us(n.start_ns);
                self.buf.push_str(",\"dur\":");
                Self::dur(&mut self.buf, dur);
                self.buf.push_str(",\"args\":{\"args\":");
                // The arguments joined by ", ", as one string (escaping works per character).
                self.buf.push('"');
                for (i, a) in sc.args.iter().enumerate() {
                    if i > 0 {
                        self.buf.push_str(", ");
                    }
                    self.scratch.clear();
                    write_json_str(&mut self.scratch, a);
                    // The piece without its quotes.
                    self.buf.push_str(&self.scratch[1..self.scratch.len() - 1]);
                }
                self.buf.push('"');
                self.buf.push_str(",\"return\":");
                write_json_str(&mut self.buf, &fmt_return(sc));
                if let Some(c) = &sc.caller {
                    self.buf.push_str(",\"caller\":");
                    write_json_str(&mut self.buf, &c.text());
                }
                self.buf.push_str("}}");
            }
            NodeKind::Point { category, text } => {
                self.sep();
                self.buf.push_str("{\"ph\":\"i\",\"s\":\"t\",\"cat\":");
                write_json_str(&mut self.buf, category);
                self.buf.push_str(",\"name\":");
                write_json_str(&mut self.buf, text);
                let _ = write!(self.buf, ",\"pid\":{pid},\"tid\":{tid},\"ts\":");
                self.us(n.start_ns);
                self.buf.push('}');
            }
        }
        if self.buf.len() > 1 << 16 {
            self.out.write_all(self.buf.as_bytes())?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Ends the document.
    pub(crate) fn finish(mut self) -> io::Result<()> {
        self.buf.push_str("\n]}\n");
        self.out.write_all(self.buf.as_bytes())?;
        self.out.flush()
    }
}

/// The label of a thread's name event.
pub(crate) fn thread_label(label: String, tracer: bool) -> String {
    if tracer {
        format!("{label} (ruchytrace collector)")
    } else {
        label
    }
}

/// Writes the document of a merged tree.
pub fn write(m: &Merged, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
    let threads: Vec<ThreadName> = m
        .visible_threads(show_tracer)
        .map(|t| (t.pid, t.tid, thread_label(t.label(), t.tracer)))
        .collect();
    let mut sink = ChromeSink::new(out, (m.origin_ns, m.end_ns), &m.processes, &threads);
    for t in m.visible_threads(show_tracer) {
        let key = (t.pid, t.tid);
        m.replay_thread(t, show_tracer, |n, leaving, fut| {
            sink.node(key, n, leaving, &m.sites, fut)
        })?;
    }
    sink.finish()
}
