//! The text timeline without the merged tree: memory bounded by the number of threads and the
//! call depth, not by the length of the trace.
//!
//! [`plan_text`] makes one checking pass over the inputs (every thread at once, a call stack
//! per thread, each thread's system calls in time order): it collects the warnings, thread
//! names, time origin and end, and proves that every system call can be placed from the stack
//! alone — it starts strictly between two function events of its thread, and no function
//! boundary of its thread falls inside it. Then [`TextPlan::write`] replays the function events
//! once per visible thread and writes each line when its event is read: a call's enter line at
//! its entry, its exit line at its exit, a system call's line under the innermost open call.
//!
//! Inputs that need the whole tree — straddling system calls (an error, or `--force`'s
//! re-attribution), timestamps that tie a system call's start to a function event, out of
//! order function events, overlapping system calls of one thread, one thread spread over
//! several function traces — fall back to [`merge`](super::merge) and
//! [`text::write`](super::text::write), so the bytes are the same either way.

use rustc_hash::FxHashMap as HashMap;
use std::io::{self, Write};

use ruchytrace_runtime::model::Site;

mod graph;
mod replay;
mod report;
mod sinks;

use super::{
    check_consistency, merge, FnTrace, Input, MergeError, MergeOptions, Merged, Node, NodeKind,
    Syscall,
};
use crate::syscalls::event::{Event as SysEvent, SysTrace};
use replay::{NeedsTree, Replay};
use sinks::{ChromeNodes, FoldedSink, JsonSink, OtlpNodes, PerfettoSink};

type Key = (u32, u32);

/// A thread to print.
struct ThreadHead {
    key: Key,
    name: Option<String>,
    tracer: bool,
}

/// How [`TextPlan::write`] will produce the timeline.
pub enum TextPlan {
    /// Streamed from the inputs, one replay per thread.
    Stream(Box<StreamPlan>),
    /// From the merged tree (inputs the stream cannot place alone).
    Tree(Box<Merged>),
}

/// The facts of the checking pass.
pub struct StreamPlan {
    /// `--show-startup`: the loader's calls are listed, not summarized.
    show_startup: bool,
    inputs: Vec<Input>,
    /// Each thread's system calls (input index, event index), in time order.
    sys: HashMap<Key, Vec<(usize, usize)>>,
    threads: Vec<ThreadHead>,
    origin_ns: u64,
    end_ns: u64,
    warnings: Vec<String>,
}

impl TextPlan {
    /// What the reader should know (losses, truncations, forced attributions).
    pub fn warnings(&self) -> &[String] {
        match self {
            TextPlan::Tree(m) => &m.warnings,
            TextPlan::Stream(p) => &p.warnings,
        }
    }

    /// True when the timeline is streamed (bounded memory).
    pub fn is_streamed(&self) -> bool {
        matches!(self, TextPlan::Stream(_))
    }

    /// Writes the Perfetto trace ([`super::perfetto`]): streamed in one pass over the inputs
    /// (every thread at once), or from the tree.
    pub fn write_perfetto(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        match self {
            TextPlan::Tree(m) => super::perfetto::write(m, show_tracer, out),
            TextPlan::Stream(p) => p.write_perfetto(show_tracer, out),
        }
    }

    /// Writes the Chrome trace event document ([`super::chrome`]): streamed in one pass over
    /// the inputs (every thread at once), or from the tree.
    pub fn write_chrome(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        match self {
            TextPlan::Tree(m) => super::chrome::write(m, show_tracer, out),
            TextPlan::Stream(p) => p.write_chrome(show_tracer, out),
        }
    }

    /// Writes the OTLP/JSON request ([`super::otlp`]): streamed in one pass over the inputs per
    /// process, or from the tree.
    pub fn write_otlp(
        &self,
        opts: super::otlp::OtlpOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        match self {
            TextPlan::Tree(m) => super::otlp::write(m, opts, out),
            TextPlan::Stream(p) => p.write_otlp(opts, out),
        }
    }

    /// The tables of `ruchytrace report` ([`super::report::Tables`]): streamed (one pass,
    /// memory bounded by the call stacks and the aggregates), or from the tree.
    pub fn report_tables(&self, show_tracer: bool) -> io::Result<super::report::Tables> {
        match self {
            TextPlan::Tree(m) => Ok(super::report::Tables::of_tree(m, show_tracer)),
            TextPlan::Stream(p) => {
                let threads: Vec<(Key, String)> = p
                    .threads
                    .iter()
                    .filter(|t| show_tracer || !t.tracer)
                    .map(|t| (t.key, t.label()))
                    .collect();
                let mut sink =
                    report::ReportSink::new(threads.iter().map(|t| t.0).collect(), p.end_ns);
                p.replay_all(&mut sink, show_tracer)?;
                Ok(sink.finish(&threads, &p.processes()))
            }
        }
    }

    /// The traced processes (their programs, sampling rates).
    pub fn processes(&self) -> Vec<super::ProcessInfo> {
        match self {
            TextPlan::Tree(m) => m.processes.clone(),
            TextPlan::Stream(p) => p.processes(),
        }
    }

    /// The merged tree, when the plan holds one (inputs the stream cannot place alone).
    pub fn tree(&self) -> Option<&Merged> {
        match self {
            TextPlan::Tree(m) => Some(m),
            TextPlan::Stream(_) => None,
        }
    }

    /// The call graph of a streamed plan, from one replay.
    fn graph_of(p: &StreamPlan, show_tracer: bool) -> io::Result<super::report::CallGraph> {
        let visible = p
            .threads
            .iter()
            .filter(|t| show_tracer || !t.tracer)
            .map(|t| t.key)
            .collect();
        let mut sink = graph::GraphSink::new(visible, p.end_ns);
        p.replay_all(&mut sink, show_tracer)?;
        Ok(sink.finish())
    }

    /// Writes the merged JSON document ([`super::json`]): each thread streamed from a replay
    /// (as the text timeline), then the call graph from one more; or from the tree.
    pub fn write_json(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        match self {
            TextPlan::Tree(m) => super::json::write(m, show_tracer, out),
            TextPlan::Stream(p) => p.write_json(show_tracer, out),
        }
    }

    /// The call graph of [`super::report::call_graph`] (what `dot` draws): streamed (one pass,
    /// memory bounded by the call stacks and the graph), or from the tree.
    pub fn call_graph(&self, show_tracer: bool) -> io::Result<super::report::CallGraph> {
        match self {
            TextPlan::Tree(m) => Ok(super::report::call_graph(m, show_tracer)),
            TextPlan::Stream(p) => TextPlan::graph_of(p, show_tracer),
        }
    }

    /// The folded stacks of [`super::flame`]: streamed (one pass, memory bounded by the call
    /// stacks and the number of distinct stacks), or from the tree.
    pub fn folded(&self, show_tracer: bool) -> io::Result<Vec<(String, u64)>> {
        match self {
            TextPlan::Tree(m) => Ok(super::flame::folded(m, show_tracer)),
            TextPlan::Stream(p) => p.folded(show_tracer),
        }
    }

    /// Writes the text timeline, byte for byte what [`super::text::write`] writes for the
    /// merged tree of the same inputs.
    pub fn write(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        match self {
            TextPlan::Tree(m) => super::text::write(m, show_tracer, out),
            TextPlan::Stream(p) => p.write(show_tracer, out),
        }
    }
}

/// Where a one-pass replay of every thread sends its nodes: a call's open (`close` false) and
/// close, a system call (whole, with its end), a point event.
pub(crate) trait NodeSink {
    /// One node of thread `key`; `sites` is the merged site table the node's site indexes.
    fn node(&mut self, key: Key, node: &Node, close: bool, sites: &[Site]) -> io::Result<()>;
}

/// A function trace of the inputs with its path.
fn fn_traces(inputs: &[Input]) -> Vec<(&std::path::Path, &FnTrace)> {
    inputs
        .iter()
        .filter_map(|i| match i {
            Input::Functions { path, trace } => Some((path.as_path(), &**trace)),
            Input::Syscalls { .. } | Input::Merged { .. } => None,
        })
        .collect()
}

fn sys_traces(inputs: &[Input]) -> Vec<(usize, &SysTrace)> {
    inputs
        .iter()
        .enumerate()
        .filter_map(|(i, inp)| match inp {
            Input::Syscalls { trace, .. } => Some((i, &**trace)),
            Input::Functions { .. } | Input::Merged { .. } => None,
        })
        .collect()
}

/// The node the tree merge makes of a syscall-trace event (same text, same times).
fn sys_node(ev: &SysEvent) -> Node {
    let ts = ev.timestamp_ns();
    let point = |category: &'static str, text: String| Node {
        start_ns: ts,
        end_ns: None,
        children: Vec::new(),
        kind: NodeKind::Point { category, text },
    };
    match ev {
        SysEvent::Syscall(s) => Node {
            start_ns: ts,
            end_ns: s.duration_ns.map(|d| ts + d),
            children: Vec::new(),
            kind: NodeKind::Syscall(Syscall {
                name: s.name.clone(),
                args: s.args.clone(),
                raw_args: Vec::new(),
                ret: s.ret,
                errno: s.errno.clone(),
                caller: s.stack.as_deref().and_then(super::caller::own_caller),
                by_tracer: s.stack.as_deref().is_some_and(super::caller::by_tracer),
                startup: super::startup::classify(&s.name, s.stack.as_deref()),
            }),
        },
        SysEvent::Signal(s) => point("signal", format!("--- {} {} ---", s.signal, s.info)),
        SysEvent::Exit(e) => point("exit", format!("+++ exited with {} +++", e.code)),
        SysEvent::Killed(k) => point(
            "killed",
            format!(
                "+++ killed by {}{} +++",
                k.signal,
                if k.core_dumped { " (core dumped)" } else { "" }
            ),
        ),
    }
}

/// What the checking pass learns.
#[derive(Default)]
pub(super) struct Facts {
    pub(super) warnings: Vec<String>,
    pub(super) origin: Option<u64>,
    pub(super) end: u64,
    pub(super) keys: rustc_hash::FxHashSet<Key>,
}

impl Facts {
    pub(super) fn see(&mut self, key: Key, ts: u64) {
        self.origin = Some(self.origin.map_or(ts, |o| o.min(ts)));
        self.end = self.end.max(ts);
        self.keys.insert(key);
    }
}

/// Checks the inputs and decides how to write their text timeline: streamed when every system
/// call can be placed from the call stacks alone, else from the merged tree. Errors are those of
/// [`merge`] (inconsistent inputs, straddling system calls without `--force`).
pub fn plan_text(inputs: Vec<Input>, opts: &MergeOptions) -> Result<TextPlan, MergeError> {
    if inputs.is_empty() {
        return Err(MergeError::NoInput("no input files".into()));
    }
    if inputs.iter().any(|i| matches!(i, Input::Merged { .. })) {
        return Ok(TextPlan::Tree(Box::new(merge(inputs, opts)?)));
    }
    let mut facts = Facts::default();
    {
        let fn_pairs = fn_traces(&inputs);
        let heads: Vec<(usize, std::borrow::Cow<'_, [_]>)> = sys_traces(&inputs)
            .into_iter()
            .map(|(i, _)| (i, inputs[i].sys_heads()))
            .collect();
        let sys_pairs: Vec<(&std::path::Path, &SysTrace, &[_])> = heads
            .iter()
            .filter_map(|(i, h)| match &inputs[*i] {
                Input::Syscalls { path, trace, .. } => Some((path.as_path(), &**trace, &**h)),
                Input::Functions { .. } | Input::Merged { .. } => None,
            })
            .collect();
        check_consistency(&fn_pairs, &sys_pairs, opts, &mut facts.warnings)?;
    }
    // Each thread's system calls in time order (stable: the tree's order on equal starts).
    let mut sys: HashMap<Key, Vec<(usize, usize)>> = HashMap::default();
    let mut sys_warnings = Vec::new();
    for (i, t) in sys_traces(&inputs) {
        if !t.end.complete {
            sys_warnings.push(format!(
                "syscall trace of pid {} is incomplete (the tracer did not see every thread end)",
                t.metadata.pid
            ));
        }
        if let Input::Syscalls {
            path,
            truncation: Some(cut),
            ..
        } = &inputs[i]
        {
            sys_warnings.push(super::input::sys_cut_warning(path, cut));
        }
        for j in 0..inputs[i].sys_len() {
            let h = inputs[i].sys_head(j);
            let key = (h.pid, h.tid);
            facts.see(key, h.start_ns);
            facts.end = facts.end.max(h.end_ns);
            sys.entry(key).or_default().push((i, j));
        }
    }
    for list in sys.values_mut() {
        list.sort_by_key(|&(i, j)| inputs[i].sys_head(j).start_ns);
    }
    let mut check = Replay {
        show_tracer: true,
        startup: None,
        markers: Default::default(),
        inputs: &inputs,
        sys: &sys,
        shown: None,
        only: None,
        sink: None,
        ctx_origin: 0,
        ctx_end: 0,
        sites: Vec::new(),
        threads: HashMap::default(),
        line: String::new(),
    };
    let mut sink = io::sink();
    let mut streamable = check.run(Some(&mut facts), &mut sink).is_ok();
    if streamable {
        let keys: Vec<Key> = facts.keys.iter().copied().collect();
        for key in keys {
            if check.finish(key, &mut sink).is_err() {
                streamable = false;
                break;
            }
        }
    }
    if !streamable {
        return Ok(TextPlan::Tree(Box::new(merge(inputs, opts)?)));
    }
    let fns = fn_traces(&inputs);
    let mut threads: Vec<ThreadHead> = facts
        .keys
        .iter()
        .map(|&key| ThreadHead {
            key,
            name: check.threads.get(&key).and_then(|t| t.name.clone()),
            tracer: fns
                .iter()
                .any(|(_, t)| t.metadata.pid == key.0 && t.metadata.collector_tid == Some(key.1)),
        })
        .collect();
    threads.sort_by_key(|t| t.key);
    let mut warnings = facts.warnings;
    warnings.extend(sys_warnings);
    let origin_ns = facts.origin.unwrap_or(0);
    let end_ns = facts.end;
    drop(check);
    Ok(TextPlan::Stream(Box::new(StreamPlan {
        show_startup: opts.show_startup,
        inputs,
        sys,
        threads,
        origin_ns,
        end_ns,
        warnings,
    })))
}

impl ThreadHead {
    fn label(&self) -> String {
        let (pid, tid) = self.key;
        match &self.name {
            Some(n) => n.clone(),
            None if pid == tid => "main".into(),
            None => format!("thread {tid}"),
        }
    }
}

impl StreamPlan {
    /// The traced processes, as the tree merge lists them.
    fn processes(&self) -> Vec<super::ProcessInfo> {
        let mut out: Vec<super::ProcessInfo> = Vec::new();
        for (_, t) in fn_traces(&self.inputs) {
            let m = &t.metadata;
            out.push(super::ProcessInfo {
                pid: m.pid,
                program: m.program.clone(),
                args: m.args.clone(),
                collector_tid: m.collector_tid,
                sample_rate: Some(m.settings.sample.max(1)),
            });
        }
        for (_, t) in sys_traces(&self.inputs) {
            let pid = t.metadata.pid as u32;
            if out.iter().all(|p| p.pid != pid) {
                out.push(super::ProcessInfo {
                    pid,
                    program: t.metadata.program.clone(),
                    args: t.metadata.args.clone(),
                    collector_tid: None,
                    sample_rate: None,
                });
            }
        }
        out.sort_by_key(|p| p.pid);
        out
    }

    /// The clock pair of the first input that has one.
    fn clock_pair(&self) -> (u64, u64) {
        if let Some((_, t)) = fn_traces(&self.inputs).first() {
            let c = &t.metadata.clock;
            return (c.monotonic_ns, c.realtime_ns);
        }
        if let Some((_, t)) = sys_traces(&self.inputs).first() {
            let c = &t.metadata.clock;
            return (c.monotonic_ns, c.realtime_ns);
        }
        (self.origin_ns, 0)
    }

    /// One replay of the inputs for every thread, each node to `sink`.
    fn replay_all(&self, sink: &mut dyn NodeSink, show_tracer: bool) -> io::Result<()> {
        let keys: Vec<Key> = self.threads.iter().map(|t| t.key).collect();
        self.replay_threads(sink, &keys, show_tracer)
    }

    /// One replay of the inputs, each node to `sink`; the threads `finish` are closed at the end
    /// (their remaining system calls, then their calls still open).
    fn replay_threads(
        &self,
        sink: &mut dyn NodeSink,
        finish: &[Key],
        show_tracer: bool,
    ) -> io::Result<()> {
        let mut replay = Replay {
            inputs: &self.inputs,
            sys: &self.sys,
            shown: None,
            only: Some(finish),
            sink: Some(sink),
            // The runtime's own system calls (recognised by their stacks) are hidden here; the
            // start-up summary is a text-timeline feature.
            show_tracer,
            startup: None,
            markers: Default::default(),
            ctx_origin: self.origin_ns,
            ctx_end: self.end_ns,
            sites: Vec::new(),
            threads: HashMap::default(),
            line: String::new(),
        };
        let mut nowhere = io::sink();
        let mut done = replay.run(None, &mut nowhere);
        for &key in finish {
            if !matches!(done, Ok(Ok(()))) {
                break;
            }
            done = replay.finish(key, &mut nowhere);
        }
        match done {
            Ok(r) => r,
            Err(NeedsTree) => Err(io::Error::other(
                "the inputs changed since they were checked",
            )),
        }
    }

    /// The clock pair of the first function trace, else of the first syscall trace.
    fn clock(&self) -> Option<ruchytrace_runtime::model::ClockInfo> {
        fn_traces(&self.inputs)
            .first()
            .map(|(_, t)| t.metadata.clock.clone())
            .or_else(|| {
                sys_traces(&self.inputs)
                    .first()
                    .map(|(_, t)| t.metadata.clock.clone())
            })
    }

    fn write_json(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        let mut s = String::with_capacity(1 << 16);
        let sources: Vec<String> = self
            .inputs
            .iter()
            .map(|i| i.path().display().to_string())
            .collect();
        super::json::head(
            &mut s,
            &sources,
            (self.origin_ns, self.end_ns),
            self.clock().as_ref(),
            &self.processes(),
            &self.warnings,
        );
        out.write_all(s.as_bytes())?;
        let shown: Vec<&ThreadHead> = self
            .threads
            .iter()
            .filter(|t| show_tracer || !t.tracer)
            .collect();
        // The call graph is gathered by the same replays, thread by thread (in the order the
        // tree's `report::call_graph` walks them), not by one more pass over the inputs.
        let mut graph = graph::GraphSink::new(shown.iter().map(|t| t.key).collect(), self.end_ns);
        for (i, t) in shown.iter().enumerate() {
            graph.new_replay();
            let mut sink = JsonSink {
                key: t.key,
                out: &mut *out,
                buf: String::with_capacity(1 << 16),
                nest: Default::default(),
                graph: Some(&mut graph),
                heads: Vec::new(),
            };
            if i > 0 {
                sink.buf.push(',');
            }
            super::json::thread_open(
                &mut sink.buf,
                t.key.0,
                t.key.1,
                t.name.as_deref(),
                t.tracer,
                &mut sink.nest,
            );
            self.replay_threads(&mut sink, &[t.key], show_tracer)?;
            super::json::thread_close(&mut sink.buf, &mut sink.nest);
            sink.out.write_all(sink.buf.as_bytes())?;
        }
        s.clear();
        super::json::tail(&mut s, &graph.finish());
        out.write_all(s.as_bytes())?;
        out.flush()
    }

    /// The folded stacks of the visible threads (as [`super::flame::folded`] computes them from
    /// the tree), in one replay: memory is the call stacks and the distinct stacks.
    fn folded(&self, show_tracer: bool) -> io::Result<Vec<(String, u64)>> {
        let mut sink = FoldedSink {
            roots: self
                .threads
                .iter()
                .filter(|t| show_tracer || !t.tracer)
                .map(|t| {
                    let root = super::flame::frame(&format!("{} [{}]", t.label(), t.key.1));
                    (t.key, root)
                })
                .collect(),
            stacks: HashMap::default(),
            weights: HashMap::default(),
            end_ns: self.end_ns,
        };
        self.replay_all(&mut sink, show_tracer)?;
        let mut out: Vec<(String, u64)> = sink.weights.into_iter().collect();
        out.sort_unstable();
        Ok(out)
    }

    fn write_otlp(&self, opts: super::otlp::OtlpOptions, out: &mut dyn Write) -> io::Result<()> {
        let offset = super::otlp::clock_offset(self.clock().as_ref());
        super::otlp::begin(out)?;
        for (i, p) in self.processes().iter().enumerate() {
            let threads: Vec<(Key, String)> = self
                .threads
                .iter()
                .filter(|t| t.key.0 == p.pid && (opts.show_tracer || !t.tracer))
                .map(|t| (t.key, t.label()))
                .collect();
            let mut otlp = super::otlp::OtlpSink::new(
                &mut *out,
                p,
                i == 0,
                (offset, self.origin_ns, self.end_ns),
                &threads,
                opts,
            )?;
            self.replay_all(&mut OtlpNodes { sink: &mut otlp }, opts.show_tracer)?;
            otlp.finish()?;
        }
        super::otlp::end(out)
    }

    fn write_chrome(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        let shown: Vec<&ThreadHead> = self
            .threads
            .iter()
            .filter(|t| show_tracer || !t.tracer)
            .collect();
        let names: Vec<super::chrome::ThreadName> = shown
            .iter()
            .map(|t| {
                let label = super::chrome::thread_label(t.label(), t.tracer);
                (t.key.0, t.key.1, label)
            })
            .collect();
        let mut chrome = super::chrome::ChromeSink::new(
            out,
            (self.origin_ns, self.end_ns),
            &self.processes(),
            &names,
        );
        let mut sink = ChromeNodes {
            sink: &mut chrome,
            visible: shown.iter().map(|t| t.key).collect(),
        };
        self.replay_all(&mut sink, show_tracer)?;
        chrome.finish()
    }

    fn write_perfetto(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        use super::perfetto::{header, write_losses, Sequence, ThreadHead as Head};
        let mut seq = Sequence::new(out);
        let shown: Vec<&ThreadHead> = self
            .threads
            .iter()
            .filter(|t| show_tracer || !t.tracer)
            .collect();
        let heads: Vec<Head> = shown
            .iter()
            .map(|t| Head {
                pid: t.key.0,
                tid: t.key.1,
                label: if t.tracer {
                    format!("{} (ruchytrace collector)", t.label())
                } else {
                    t.label()
                },
            })
            .collect();
        header(
            &mut seq,
            self.clock_pair(),
            self.origin_ns,
            &self.processes(),
            &heads,
        )?;
        let mut sink = PerfettoSink {
            seq: &mut seq,
            visible: shown.iter().map(|t| t.key).collect(),
            end_ns: self.end_ns,
            losses: HashMap::default(),
        };
        self.replay_all(&mut sink, show_tracer)?;
        let losses = std::mem::take(&mut sink.losses);
        write_losses(losses, &mut seq)
    }

    fn write(&self, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
        for w in &self.warnings {
            writeln!(out, "# warning: {w}")?;
        }
        for t in self.threads.iter().filter(|t| show_tracer || !t.tracer) {
            let (pid, tid) = t.key;
            let label = t.label();
            write!(out, "== thread {tid} \"{label}\" (pid {pid})")?;
            if t.tracer {
                write!(out, " [ruchytrace collector: tracer traffic]")?;
            }
            writeln!(out, " ==")?;
            let mut replay = Replay {
                show_tracer,
                startup: (!self.show_startup).then(|| super::startup::Run::new(t.key.0 == t.key.1)),
                markers: Default::default(),
                inputs: &self.inputs,
                sys: &self.sys,
                shown: Some(t.key),
                only: Some(std::slice::from_ref(&t.key)),
                sink: None,
                ctx_origin: self.origin_ns,
                ctx_end: self.end_ns,
                sites: Vec::new(),
                threads: HashMap::default(),
                line: String::new(),
            };
            let done = match replay.run(None, out) {
                Ok(Ok(())) => replay.finish(t.key, out),
                other => other,
            };
            match done {
                Ok(r) => r?,
                Err(NeedsTree) => {
                    return Err(io::Error::other(
                        "the inputs changed since they were checked",
                    ))
                }
            }
        }
        Ok(())
    }
}
