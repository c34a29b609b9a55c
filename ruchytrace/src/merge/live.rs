//! Hang diagnosis for `--timeout`: the calls each thread still has open (from the function trace
//! streamed so far, which the runtime flushes every few milliseconds and readers accept cut
//! anywhere) and the system call each thread is blocked in (`/proc/PID/task/TID/syscall`).

use std::collections::BTreeMap;
use std::path::Path;

use ruchytrace_runtime::format::{read_trace, Nesting, SiteTable};

use crate::syscalls::{decode, table};

/// One thread's open call stack, outermost first: `name (file:line:col)` for the innermost,
/// plain names for the others.
pub fn open_stacks(fn_trace: &Path) -> BTreeMap<u32, Vec<String>> {
    let mut out: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let Ok(trace) = read_trace(fn_trace) else {
        return out;
    };
    let sites = SiteTable::from_sites(&trace.sites);
    let mut nesting = Nesting::new();
    for ev in &trace.events {
        nesting.observe(ev, &sites);
    }
    let mut last_site: BTreeMap<u32, u32> = BTreeMap::new();
    for call in nesting.open_calls() {
        if call.suspended {
            continue;
        }
        let name = sites
            .get(call.site)
            .map_or_else(|| format!("<site {}>", call.site), |s| s.name.clone());
        out.entry(call.tid).or_default().push(name);
        last_site.insert(call.tid, call.site);
    }
    for (tid, site) in last_site {
        if let (Some(s), Some(stack)) = (sites.get(site), out.get_mut(&tid)) {
            if let Some(last) = stack.last_mut() {
                last.push_str(&format!(" ({})", s.location));
            }
        }
    }
    out
}

/// What `/proc/PID/task/TID/syscall` says the thread is doing: `accept4(3, 0x7ffd..., ...)`,
/// `running`, or `not in a system call`.
pub fn blocked_in(pid: u32, tid: u32) -> String {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")) else {
        return "(state unknown)".into();
    };
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.first() {
        Some(&"running") => "running (not in a system call)".into(),
        Some(nr) => match nr.parse::<i64>() {
            Ok(nr) if nr >= 0 => {
                let nr = nr as u64;
                let name = table::name(nr).map_or_else(|| format!("syscall_{nr}"), str::to_string);
                let count = decode::arg_count(nr).min(6);
                let args: Vec<String> = fields[1..]
                    .iter()
                    .take(count)
                    .map(|a| {
                        let v = u64::from_str_radix(a.trim_start_matches("0x"), 16).unwrap_or(0);
                        if v < 4096 {
                            v.to_string()
                        } else if v > u64::MAX - 4096 {
                            (v as i64).to_string()
                        } else {
                            format!("{v:#x}")
                        }
                    })
                    .collect();
                format!("blocked in {name}({})", args.join(", "))
            }
            _ => "not in a system call".into(),
        },
        None => "(state unknown)".into(),
    }
}

/// Threads of a live process, with their `comm` names.
pub fn threads_of(pid: u32) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .map(|tid| {
                    let comm = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm"))
                        .unwrap_or_default();
                    (tid, comm.trim().to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// The `TIMEOUT` report, one line per thread of `pid`:
/// `TIMEOUT after 1s — thread 4242 [main]: main > Server::accept_loop (src/server.rs:25:5) blocked in accept4(3, ...)`.
pub fn timeout_report(pid: u32, after: &str, fn_traces: &[std::path::PathBuf]) -> Vec<String> {
    let mut stacks: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for f in fn_traces {
        stacks.extend(open_stacks(f));
    }
    let threads = threads_of(pid);
    if threads.is_empty() {
        return vec![format!(
            "TIMEOUT after {after} — process {pid} already gone"
        )];
    }
    threads
        .into_iter()
        .map(|(tid, comm)| {
            let stack = stacks
                .get(&tid)
                .filter(|s| !s.is_empty())
                .map_or_else(|| "(no traced call open)".to_string(), |s| s.join(" > "));
            format!(
                "TIMEOUT after {after} — thread {tid} [{comm}]: {stack} {}",
                blocked_in(pid, tid)
            )
        })
        .collect()
}
