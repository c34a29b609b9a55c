//! The merged JSON document (`metadata.format = "ruchytrace-merged"`, version 1): per thread a
//! tree of calls with their nested system calls, plus the call graph. Documented in
//! `docs/merge.md`.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::jsonw::rt_str as write_json_str;
use ruchytrace_runtime::format::value_json::write_typed;
use ruchytrace_runtime::model::Return;

use ruchytrace_runtime::model::{ClockInfo, Site};

use super::futures::FutureInfo;
use super::report::{call_graph, CallGraph};
use super::{Call, Merged, Node, NodeId, NodeKind, ProcessInfo};

/// `metadata.format` of a merged trace.
pub const MERGED_FORMAT: &str = "ruchytrace-merged";
/// `metadata.version` written by this version.
pub const MERGED_VERSION: u32 = 1;

fn opt_u64(out: &mut String, v: Option<u64>) {
    match v {
        Some(v) => super::jsonw::u64(out, v),
        None => out.push_str("null"),
    }
}

/// `v`'s display form as a JSON string, formatted in a buffer kept for the purpose.
fn display_str(s: &mut String, v: &dyn std::fmt::Display) {
    thread_local! {
        static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    SCRATCH.with(|b| {
        let mut b = b.borrow_mut();
        b.clear();
        let _ = write!(b, "{v}");
        write_json_str(s, &b);
    });
}

/// A value's display form (`Value`'s `Display`) as a JSON string; integers are written
/// directly (their text needs no escaping).
fn value_str(s: &mut String, v: &ruchytrace_runtime::model::Value) {
    use ruchytrace_runtime::model::Value;
    let wide = match *v {
        Value::I8(x) => i128::from(x),
        Value::I16(x) => i128::from(x),
        Value::I32(x) => i128::from(x),
        Value::I64(x) => i128::from(x),
        Value::U8(x) => i128::from(x),
        Value::U16(x) => i128::from(x),
        Value::U32(x) => i128::from(x),
        Value::U64(x) => i128::from(x),
        _ => return display_str(s, v),
    };
    s.push('"');
    if let Ok(x) = i64::try_from(wide) {
        super::jsonw::i64(s, x);
    } else {
        super::jsonw::i128(s, wide);
    }
    s.push('"');
}

fn str_array<'a>(out: &mut String, items: impl IntoIterator<Item = &'a String>) {
    out.push('[');
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, s);
    }
    out.push(']');
}

/// Writes the document.
pub fn write(m: &Merged, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut s = String::with_capacity(1 << 16);
    head(
        &mut s,
        &m.sources,
        (m.origin_ns, m.end_ns),
        m.clock.as_ref(),
        &m.processes,
        &m.warnings,
    );
    out.write_all(s.as_bytes())?;
    for (i, t) in m.visible_threads(show_tracer).enumerate() {
        s.clear();
        if i > 0 {
            s.push(',');
        }
        let mut nest = Nested::default();
        thread_open(&mut s, t.pid, t.tid, t.name.as_deref(), t.tracer, &mut nest);
        // Iterative depth first: deep recursion in the trace must not overflow our stack.
        let mut stack: Vec<(NodeId, bool)> = t.roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((id, closing)) = stack.pop() {
            let n = m.node(id);
            match &n.kind {
                NodeKind::Call(c) if closing => call_close(&mut s, m.site(c), n, c, &mut nest),
                NodeKind::Call(c) => {
                    call_open(&mut s, m.site(c), n, c, m.futures.of(id), &mut nest);
                    stack.push((id, true));
                    stack.extend(n.children.iter().rev().map(|&ch| (ch, false)));
                }
                _ => leaf(&mut s, n, &mut nest),
            }
            if s.len() > 1 << 16 {
                out.write_all(s.as_bytes())?;
                s.clear();
            }
        }
        thread_close(&mut s, &mut nest);
        out.write_all(s.as_bytes())?;
    }
    s.clear();
    tail(&mut s, &call_graph(m, show_tracer));
    out.write_all(s.as_bytes())?;
    out.flush()
}

/// The document up to the opening of the `threads` array.
pub(crate) fn head(
    s: &mut String,
    sources: &[String],
    (origin_ns, end_ns): (u64, u64),
    clock: Option<&ClockInfo>,
    processes: &[ProcessInfo],
    warnings: &[String],
) {
    let _ = write!(
        s,
        "{{\"metadata\":{{\"format\":\"{MERGED_FORMAT}\",\"version\":{MERGED_VERSION},\"ruchytrace_version\":\"{}\",\"sources\":",
        env!("CARGO_PKG_VERSION")
    );
    str_array(s, sources);
    let _ = write!(
        s,
        ",\"origin_ns\":{origin_ns},\"end_ns\":{end_ns},\"clock\":"
    );
    match clock {
        Some(c) => s.push_str(&serde_json::to_string(c).unwrap_or_else(|_| "null".into())),
        None => s.push_str("null"),
    }
    s.push_str(",\"processes\":[");
    for (i, p) in processes.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{{\"pid\":{},\"program\":", p.pid);
        write_json_str(s, &p.program);
        s.push_str(",\"args\":");
        str_array(s, &p.args);
        s.push_str(",\"collector_tid\":");
        opt_u64(s, p.collector_tid.map(u64::from));
        s.push_str(",\"sample_rate\":");
        opt_u64(s, p.sample_rate.map(u64::from));
        s.push('}');
    }
    s.push_str("],\"warnings\":");
    str_array(s, warnings);
    s.push_str("},\"threads\":[");
}

/// The end of the `threads` array, the call graph and the end of the document.
pub(crate) fn tail(s: &mut String, g: &CallGraph) {
    s.push_str("],\"callgraph\":{\"total_ns\":");
    let _ = write!(s, "{},\"nodes\":[", g.total_ns);
    for (i, n) in g.nodes.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{{\"id\":{i},\"kind\":\"{}\",\"name\":", n.kind.as_str());
        write_json_str(s, &n.name);
        s.push_str(",\"location\":");
        match &n.location {
            Some(l) => write_json_str(s, l),
            None => s.push_str("null"),
        }
        let _ = write!(
            s,
            ",\"calls\":{},\"inclusive_ns\":{},\"self_ns\":{},\"errors\":{}}}",
            n.calls, n.inclusive_ns, n.self_ns, n.errors
        );
    }
    s.push_str("],\"edges\":[");
    for (i, (a, b, c)) in g.edges.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{{\"from\":{a},\"to\":{b},\"calls\":{c}}}");
    }
    s.push_str("]}}\n");
}

/// Where the commas go: one entry per open array, true until its first element.
#[derive(Default)]
pub(crate) struct Nested {
    first: Vec<bool>,
}

impl Nested {
    pub(crate) fn element(&mut self, s: &mut String) {
        if let Some(f) = self.first.last_mut() {
            if !*f {
                s.push(',');
            }
            *f = false;
        }
    }
}

/// `{"pid":..,"tid":..,"name":..,"tracer":..,"events":[`
pub(crate) fn thread_open(
    s: &mut String,
    pid: u32,
    tid: u32,
    name: Option<&str>,
    tracer: bool,
    nest: &mut Nested,
) {
    let _ = write!(s, "{{\"pid\":{pid},\"tid\":{tid},\"name\":");
    match name {
        Some(n) => write_json_str(s, n),
        None => s.push_str("null"),
    }
    let _ = write!(s, ",\"tracer\":{tracer},\"events\":[");
    nest.first.push(true);
}

/// `]}`: the end of a thread.
pub(crate) fn thread_close(s: &mut String, nest: &mut Nested) {
    nest.first.pop();
    s.push_str("]}");
}

/// A call up to its `children` array: what is known at its entry.
pub(crate) fn call_open(
    s: &mut String,
    site: &Site,
    n: &Node,
    c: &Call,
    future: Option<(&FutureInfo, usize)>,
    nest: &mut Nested,
) {
    nest.element(s);
    call_head(s, site);
    call_rest(s, site, n, c, future, nest);
}

/// The start of every call object of `site`, up to its location's file (the string still
/// open): the same text for every call of the site, so a streamed writer may keep it.
pub(crate) fn call_head(s: &mut String, site: &Site) {
    s.push_str("{\"type\":\"call\",\"name\":");
    write_json_str(s, &site.name);
    s.push_str(",\"qualified_name\":");
    write_json_str(s, &site.qualified_name);
    s.push_str(",\"location\":");
    // `file:line:column` as one JSON string (escaping works per character).
    write_json_str(s, &site.location.file);
    s.pop();
}

/// A call after its [`call_head`], up to its `children` array.
pub(crate) fn call_rest(
    s: &mut String,
    site: &Site,
    n: &Node,
    c: &Call,
    future: Option<(&FutureInfo, usize)>,
    nest: &mut Nested,
) {
    s.push(':');
    super::jsonw::u64(s, u64::from(site.location.line));
    s.push(':');
    super::jsonw::u64(s, u64::from(site.location.column));
    s.push_str("\",\"start_ns\":");
    super::jsonw::u64(s, n.start_ns);
    s.push_str(",\"resumed\":");
    s.push_str(if c.resumed { "true," } else { "false," });
    if let Some((f, k)) = future {
        future_json(s, f, k);
    }
    s.push_str("\"args\":[");
    for (i, v) in c.args.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str("{\"name\":");
        let ty = match site.args.get(i) {
            Some(a) => {
                write_json_str(s, &a.name);
                a.type_name.as_str()
            }
            None => {
                write_json_str(s, &format!("arg{i}"));
                "?"
            }
        };
        s.push(',');
        write_typed(s, v, ty);
        s.push_str(",\"text\":");
        value_str(s, v);
        s.push('}');
    }
    s.push_str("],\"children\":[");
    nest.first.push(true);
}

/// The rest of a call after its children: what is known at its exit.
pub(crate) fn call_close(s: &mut String, site: &Site, n: &Node, c: &Call, nest: &mut Nested) {
    nest.first.pop();
    s.push_str("],\"end_ns\":");
    opt_u64(s, n.end_ns);
    s.push_str(",\"duration_ns\":");
    opt_u64(s, n.end_ns.map(|e| e.saturating_sub(n.start_ns)));
    s.push_str(",\"end\":\"");
    s.push_str(c.end.as_str());
    s.push_str("\",\"return\":");
    match &c.ret {
        Some(Return::Value(v)) => {
            s.push('{');
            write_typed(s, v, &site.return_type);
            s.push_str(",\"text\":");
            value_str(s, v);
            s.push('}');
        }
        _ => s.push_str("null"),
    }
    s.push_str(",\"panic\":");
    match &c.ret {
        Some(Return::Panic { message }) => {
            write_json_str(s, message.as_deref().unwrap_or(""));
        }
        _ => s.push_str("null"),
    }
    s.push('}');
}

/// A system call or a point event.
pub(crate) fn leaf(s: &mut String, n: &Node, nest: &mut Nested) {
    match &n.kind {
        NodeKind::Call(_) => {}
        NodeKind::Syscall(sc) => {
            nest.element(s);
            s.push_str("{\"type\":\"syscall\",\"name\":");
            write_json_str(s, &sc.name);
            s.push_str(",\"start_ns\":");
            super::jsonw::u64(s, n.start_ns);
            s.push_str(",\"duration_ns\":");
            opt_u64(s, n.end_ns.map(|e| e.saturating_sub(n.start_ns)));
            s.push_str(",\"args\":");
            str_array(s, &sc.args);
            s.push_str(",\"return\":");
            match sc.ret {
                Some(r) => super::jsonw::i64(s, r),
                None => s.push_str("null"),
            }
            s.push_str(",\"errno\":");
            match &sc.errno {
                Some(e) => write_json_str(s, e),
                None => s.push_str("null"),
            }
            if sc.by_tracer {
                s.push_str(",\"tracer\":true");
            }
            if let Some(c) = &sc.caller {
                s.push_str(",\"caller\":{\"function\":");
                write_json_str(s, &c.function);
                s.push_str(",\"file\":");
                match &c.file {
                    Some(f) => write_json_str(s, f),
                    None => s.push_str("null"),
                }
                s.push_str(",\"line\":");
                opt_u64(s, c.line.map(u64::from));
                let _ = write!(s, ",\"inferred\":{}}}", c.inferred);
            }
            s.push('}');
        }
        NodeKind::Point { category, text } => {
            nest.element(s);
            let _ = write!(
                s,
                "{{\"type\":\"{category}\",\"start_ns\":{},\"text\":",
                n.start_ns
            );
            write_json_str(s, text);
            s.push('}');
        }
    }
}

/// `"future":{...},` on every poll of an `async fn` future: the poll's index and the future's
/// lifetime, busy time, poll count and threads (nothing for other calls).
fn future_json(s: &mut String, f: &FutureInfo, k: usize) {
    let _ = write!(
        s,
        "\"future\":{{\"call_id\":{},\"poll\":{},\"polls\":{},\"start_ns\":{},\"end_ns\":{},\"lifetime_ns\":{},\"busy_ns\":{},\"completed\":{},\"threads\":[",
        f.call_id,
        k + 1,
        f.polls.len(),
        f.start_ns,
        f.end_ns,
        f.lifetime_ns(),
        f.busy_ns,
        f.completed
    );
    for (i, t) in f.segment_threads().iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{t}");
    }
    s.push_str("]},");
}

#[cfg(test)]
mod value_text_tests {
    use super::*;
    use ruchytrace_runtime::model::Value;

    /// The integer fast path writes what `Value`'s `Display` does.
    #[test]
    fn integers_are_written_as_display_shows_them() {
        let values = [
            Value::I8(i8::MIN),
            Value::I16(-300),
            Value::I32(0),
            Value::I64(i64::MIN),
            Value::U8(u8::MAX),
            Value::U16(7),
            Value::U32(u32::MAX),
            Value::U64(u64::MAX),
            Value::Bool(true),
            Value::F64(1.5),
        ];
        for v in &values {
            let (mut fast, mut slow) = (String::new(), String::new());
            value_str(&mut fast, v);
            display_str(&mut slow, v);
            assert_eq!(fast, slow);
        }
        let mut s = String::new();
        value_str(&mut s, &Value::U64(u64::MAX));
        assert_eq!(s, "\"18446744073709551615\"");
    }
}
