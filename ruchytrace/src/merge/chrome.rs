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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use ruchytrace_runtime::format::value_json::write_json_str;
use ruchytrace_runtime::model::{Return, Site};

use super::futures::FutureInfo;
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
    /// Per thread, the open calls: start and the `args` members written at their entry.
    open: HashMap<(u32, u32), Vec<(u64, String)>>,
    first: bool,
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
            open: HashMap::new(),
            first: true,
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

    fn us(&self, ts: u64) -> String {
        let rel = ts.saturating_sub(self.origin_ns);
        format!("{}.{:03}", rel / 1_000, rel % 1_000)
    }

    fn dur(ns: u64) -> String {
        format!("{}.{:03}", ns / 1_000, ns % 1_000)
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
                let mut args = String::new();
                write_json_str(&mut args, &site.location.to_string());
                for (i, v) in c.args.iter().enumerate() {
                    args.push(',');
                    let name = site
                        .args
                        .get(i)
                        .map_or_else(|| format!("arg{i}"), |a| a.name.clone());
                    write_json_str(&mut args, &name);
                    args.push(':');
                    write_json_str(&mut args, &v.to_string());
                }
                self.open.entry(key).or_default().push((n.start_ns, args));
                return Ok(());
            }
            NodeKind::Call(c) => {
                let args = self
                    .open
                    .get_mut(&key)
                    .and_then(Vec::pop)
                    .map_or_else(|| "null".to_string(), |(_, a)| a);
                let site = &sites[c.site as usize];
                self.sep();
                self.buf
                    .push_str("{\"ph\":\"X\",\"cat\":\"function\",\"name\":");
                write_json_str(&mut self.buf, &site.name);
                let (ts, dur) = (self.us(n.start_ns), Self::dur(n.duration(self.end_ns)));
                let _ = write!(
                    self.buf,
                    ",\"pid\":{pid},\"tid\":{tid},\"ts\":{ts},\"dur\":{dur},\"args\":{{\"location\":{args}"
                );
                self.buf.push_str(",\"return\":");
                match &c.ret {
                    Some(Return::Value(v)) => write_json_str(&mut self.buf, &v.to_string()),
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
                let (ts, dur) = (self.us(n.start_ns), Self::dur(dur));
                let _ = write!(
                    self.buf,
                    ",\"pid\":{pid},\"tid\":{tid},\"ts\":{ts},\"dur\":{dur},\"args\":{{\"args\":"
                );
                write_json_str(&mut self.buf, &sc.args.join(", "));
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
                let ts = self.us(n.start_ns);
                let _ = write!(self.buf, ",\"pid\":{pid},\"tid\":{tid},\"ts\":{ts}}}");
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
