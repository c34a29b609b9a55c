//! Chrome trace event JSON (opens in Perfetto and `chrome://tracing`).
//!
//! Functions and system calls are complete (`"ph":"X"`) slices on their thread's track, written
//! depth first so `ts` never decreases on a track and children lie inside their parent. Function
//! slices have category `function`, system calls `syscall` (so they can be filtered), point
//! events are instant (`"ph":"i"`) events. Process and thread names are `M` metadata events.
//! Times are microseconds (with nanosecond decimals) since the first event of the merge.

use std::fmt::Write as _;
use std::io::{self, Write};

use ruchytrace_runtime::format::value_json::write_json_str;
use ruchytrace_runtime::model::Return;

use super::{fmt_return, Merged, NodeId, NodeKind};

fn us(m: &Merged, ts: u64) -> String {
    let rel = ts.saturating_sub(m.origin_ns);
    format!("{}.{:03}", rel / 1_000, rel % 1_000)
}

/// Writes the document.
pub fn write(m: &Merged, show_tracer: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut s = String::with_capacity(1 << 16);
    s.push_str("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    let mut first = true;
    let mut sep = |s: &mut String| {
        if !first {
            s.push_str(",\n");
        }
        first = false;
    };
    for p in &m.processes {
        sep(&mut s);
        let name = std::path::Path::new(&p.program)
            .file_name()
            .map_or_else(|| p.program.clone(), |n| n.to_string_lossy().into_owned());
        let _ = write!(
            s,
            "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":",
            p.pid, p.pid
        );
        write_json_str(&mut s, &format!("{name} ({})", p.pid));
        s.push_str("}}");
    }
    for t in m.visible_threads(show_tracer) {
        sep(&mut s);
        let _ = write!(
            s,
            "{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":",
            t.pid, t.tid
        );
        let label = if t.tracer {
            format!("{} (ruchytrace collector)", t.label())
        } else {
            t.label()
        };
        write_json_str(&mut s, &label);
        s.push_str("}}");
        let mut stack: Vec<NodeId> = t.roots.iter().rev().copied().collect();
        while let Some(id) = stack.pop() {
            sep(&mut s);
            event(m, id, t.pid, t.tid, &mut s);
            stack.extend(m.node(id).children.iter().rev().copied());
            if s.len() > 1 << 16 {
                out.write_all(s.as_bytes())?;
                s.clear();
            }
        }
    }
    s.push_str("\n]}\n");
    out.write_all(s.as_bytes())?;
    out.flush()
}

fn event(m: &Merged, id: NodeId, pid: u32, tid: u32, s: &mut String) {
    let n = m.node(id);
    match &n.kind {
        NodeKind::Call(c) => {
            let site = m.site(c);
            s.push_str("{\"ph\":\"X\",\"cat\":\"function\",\"name\":");
            write_json_str(s, &site.name);
            let _ = write!(
                s,
                ",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{},\"args\":{{\"location\":",
                us(m, n.start_ns),
                us(m, m.origin_ns + n.duration(m.end_ns))
            );
            write_json_str(s, &site.location.to_string());
            for (i, v) in c.args.iter().enumerate() {
                s.push(',');
                let name = site
                    .args
                    .get(i)
                    .map_or_else(|| format!("arg{i}"), |a| a.name.clone());
                write_json_str(s, &name);
                s.push(':');
                write_json_str(s, &v.to_string());
            }
            s.push_str(",\"return\":");
            match &c.ret {
                Some(Return::Value(v)) => write_json_str(s, &v.to_string()),
                Some(Return::Panic { message }) => write_json_str(
                    s,
                    &format!("<panic: {}>", message.as_deref().unwrap_or("?")),
                ),
                Some(Return::Cancelled) => s.push_str("\"<cancelled>\""),
                Some(Return::NotCaptured) | None => s.push_str("null"),
            }
            let _ = write!(s, ",\"end\":\"{}\"", c.end.as_str());
            if let Some((f, k)) = m.futures.of(id) {
                let threads: Vec<String> = f.segment_threads().iter().map(u32::to_string).collect();
                let _ = write!(
                    s,
                    ",\"poll\":\"{} of {}\",\"future lifetime\":\"{}\",\"future busy\":\"{}\",\"future threads\":\"{}\"",
                    k + 1,
                    f.polls.len(),
                    ruchytrace_runtime::duration::fmt_duration(f.lifetime_ns()),
                    ruchytrace_runtime::duration::fmt_duration(f.busy_ns),
                    threads.join(",")
                );
            }
            s.push_str("}}");
        }
        NodeKind::Syscall(sc) => {
            s.push_str("{\"ph\":\"X\",\"cat\":\"syscall\",\"name\":");
            write_json_str(s, &sc.name);
            let dur = n.end_ns.map_or(0, |e| e.saturating_sub(n.start_ns));
            let _ = write!(
                s,
                ",\"pid\":{pid},\"tid\":{tid},\"ts\":{},\"dur\":{},\"args\":{{\"args\":",
                us(m, n.start_ns),
                us(m, m.origin_ns + dur)
            );
            write_json_str(s, &sc.args.join(", "));
            s.push_str(",\"return\":");
            write_json_str(s, &fmt_return(sc));
            if let Some(c) = &sc.caller {
                s.push_str(",\"caller\":");
                write_json_str(s, &c.text());
            }
            s.push_str("}}");
        }
        NodeKind::Point { category, text } => {
            s.push_str("{\"ph\":\"i\",\"s\":\"t\",\"cat\":");
            write_json_str(s, category);
            s.push_str(",\"name\":");
            write_json_str(s, text);
            let _ = write!(
                s,
                ",\"pid\":{pid},\"tid\":{tid},\"ts\":{}}}",
                us(m, n.start_ns)
            );
        }
    }
}
