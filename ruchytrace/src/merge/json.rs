//! The merged JSON document (`metadata.format = "ruchytrace-merged"`, version 1): per thread a
//! tree of calls with their nested system calls, plus the call graph. Documented in
//! `docs/merge.md`.

use std::fmt::Write as _;
use std::io::{self, Write};

use ruchytrace_runtime::format::value_json::{write_json_str, write_typed};
use ruchytrace_runtime::model::Return;

use super::report::call_graph;
use super::{Merged, NodeId, NodeKind};

/// `metadata.format` of a merged trace.
pub const MERGED_FORMAT: &str = "ruchytrace-merged";
/// `metadata.version` written by this version.
pub const MERGED_VERSION: u32 = 1;

fn opt_u64(out: &mut String, v: Option<u64>) {
    match v {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.push_str("null"),
    }
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
    let _ = write!(
        s,
        "{{\"metadata\":{{\"format\":\"{MERGED_FORMAT}\",\"version\":{MERGED_VERSION},\"ruchytrace_version\":\"{}\",\"sources\":",
        env!("CARGO_PKG_VERSION")
    );
    str_array(&mut s, &m.sources);
    let _ = write!(
        s,
        ",\"origin_ns\":{},\"end_ns\":{},\"clock\":",
        m.origin_ns, m.end_ns
    );
    match &m.clock {
        Some(c) => s.push_str(&serde_json::to_string(c).unwrap_or_else(|_| "null".into())),
        None => s.push_str("null"),
    }
    s.push_str(",\"processes\":[");
    for (i, p) in m.processes.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{{\"pid\":{},\"program\":", p.pid);
        write_json_str(&mut s, &p.program);
        s.push_str(",\"args\":");
        str_array(&mut s, &p.args);
        s.push_str(",\"collector_tid\":");
        opt_u64(&mut s, p.collector_tid.map(u64::from));
        s.push_str(",\"sample_rate\":");
        opt_u64(&mut s, p.sample_rate.map(u64::from));
        s.push('}');
    }
    s.push_str("],\"warnings\":");
    str_array(&mut s, &m.warnings);
    s.push_str("},\"threads\":[");
    out.write_all(s.as_bytes())?;
    for (i, t) in m.visible_threads(show_tracer).enumerate() {
        s.clear();
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{{\"pid\":{},\"tid\":{},\"name\":", t.pid, t.tid);
        match &t.name {
            Some(n) => write_json_str(&mut s, n),
            None => s.push_str("null"),
        }
        let _ = write!(s, ",\"tracer\":{},\"events\":", t.tracer);
        nodes(m, &t.roots, &mut s, out)?;
        s.push('}');
        out.write_all(s.as_bytes())?;
    }
    s.clear();
    s.push_str("],\"callgraph\":{\"total_ns\":");
    let g = call_graph(m, show_tracer);
    let _ = write!(s, "{},\"nodes\":[", g.total_ns);
    for (i, n) in g.nodes.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{{\"id\":{i},\"kind\":\"{}\",\"name\":", n.kind.as_str());
        write_json_str(&mut s, &n.name);
        s.push_str(",\"location\":");
        match &n.location {
            Some(l) => write_json_str(&mut s, l),
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
    out.write_all(s.as_bytes())?;
    out.flush()
}

/// Writes `[node, ...]`, flushing `s` into `out` as it grows (bounded buffer).
fn nodes(m: &Merged, ids: &[NodeId], s: &mut String, out: &mut dyn Write) -> io::Result<()> {
    s.push('[');
    for (i, &id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        node(m, id, s, out)?;
        if s.len() > 1 << 16 {
            out.write_all(s.as_bytes())?;
            s.clear();
        }
    }
    s.push(']');
    Ok(())
}

fn node(m: &Merged, id: NodeId, s: &mut String, out: &mut dyn Write) -> io::Result<()> {
    let n = m.node(id);
    match &n.kind {
        NodeKind::Call(c) => {
            let site = m.site(c);
            s.push_str("{\"type\":\"call\",\"name\":");
            write_json_str(s, &site.name);
            s.push_str(",\"qualified_name\":");
            write_json_str(s, &site.qualified_name);
            s.push_str(",\"location\":");
            write_json_str(s, &site.location.to_string());
            let _ = write!(s, ",\"start_ns\":{},\"end_ns\":", n.start_ns);
            opt_u64(s, n.end_ns);
            s.push_str(",\"duration_ns\":");
            opt_u64(s, n.end_ns.map(|e| e.saturating_sub(n.start_ns)));
            let _ = write!(
                s,
                ",\"end\":\"{}\",\"resumed\":{},",
                c.end.as_str(),
                c.resumed
            );
            future(m, id, s);
            s.push_str("\"args\":[");
            for (i, v) in c.args.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                s.push_str("{\"name\":");
                let (name, ty) = site.args.get(i).map_or((format!("arg{i}"), "?"), |a| {
                    (a.name.clone(), a.type_name.as_str())
                });
                write_json_str(s, &name);
                s.push(',');
                write_typed(s, v, ty);
                s.push_str(",\"text\":");
                write_json_str(s, &v.to_string());
                s.push('}');
            }
            s.push_str("],\"return\":");
            match &c.ret {
                Some(Return::Value(v)) => {
                    s.push('{');
                    write_typed(s, v, &site.return_type);
                    s.push_str(",\"text\":");
                    write_json_str(s, &v.to_string());
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
            s.push_str(",\"children\":");
            nodes(m, &n.children, s, out)?;
            s.push('}');
        }
        NodeKind::Syscall(sc) => {
            s.push_str("{\"type\":\"syscall\",\"name\":");
            write_json_str(s, &sc.name);
            let _ = write!(s, ",\"start_ns\":{},\"duration_ns\":", n.start_ns);
            opt_u64(s, n.end_ns.map(|e| e.saturating_sub(n.start_ns)));
            s.push_str(",\"args\":");
            str_array(s, &sc.args);
            s.push_str(",\"return\":");
            match sc.ret {
                Some(r) => {
                    let _ = write!(s, "{r}");
                }
                None => s.push_str("null"),
            }
            s.push_str(",\"errno\":");
            match &sc.errno {
                Some(e) => write_json_str(s, e),
                None => s.push_str("null"),
            }
            s.push('}');
        }
        NodeKind::Point { category, text } => {
            let _ = write!(
                s,
                "{{\"type\":\"{category}\",\"start_ns\":{},\"text\":",
                n.start_ns
            );
            write_json_str(s, text);
            s.push('}');
        }
    }
    Ok(())
}

/// `"future":{...},` on every poll of an `async fn` future: the poll's index and the future's
/// lifetime, busy time, poll count and threads (nothing for other calls).
fn future(m: &Merged, id: NodeId, s: &mut String) {
    let Some((f, k)) = m.futures.of(id) else {
        return;
    };
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
