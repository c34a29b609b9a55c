//! Merge throughput: generates a function trace of 10M events (5M calls on 4 threads, nested
//! two deep) in binary and JSON, and a `sys.json` of 1M system calls inside those calls (in the
//! tracer's line layout), then times `ruchytrace merge` from the binary input in every output
//! format (to /dev/null), `ruchytrace report` and `ruchytrace diff` (the trace against itself)
//! from the binary input, and the text output from the JSON input, and reports events/s and the
//! process's peak RSS (its `ru_maxrss`, from `wait4`). Every format and both commands stream
//! (`merge::stream`): their peak RSS does not grow with the number of function events
//! (docs/merge.md, "Memory").
//!
//! ```sh
//! cargo build --release -p ruchytrace --bin ruchytrace
//! cargo bench -p ruchytrace-suite --bench merge
//! ```
//!
//! `RUCHYTRACE_BENCH_CALLS` (default 5000000) and `RUCHYTRACE_BENCH_SYSCALLS` (default 1000000)
//! scale the input; `RUCHYTRACE_BENCH_FORMATS` (default
//! `text,perfetto,json,chrome,otlp-json,collapsed,svg,dot,report,diff`) picks the rows (`report`
//! and `diff` are the commands, the others `merge --format`).

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ruchytrace_runtime::format::{self, Format, Nesting, SiteTable};
use ruchytrace_runtime::model::*;

const PID: u32 = 4242;
const THREADS: u32 = 4;
const BASE: u64 = 1_000_000_000;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn metadata() -> Metadata {
    Metadata {
        format: FN_TRACE_FORMAT.into(),
        version: SCHEMA_VERSION,
        ruchytrace_version: "0.1.0".into(),
        program: "/bench".into(),
        args: vec!["bench".into()],
        pid: PID,
        collector_tid: None,
        clock: ClockInfo {
            domain: "CLOCK_MONOTONIC".into(),
            source: "CLOCK_MONOTONIC".into(),
            realtime_ns: 1_700_000_000_000_000_000,
            monotonic_ns: BASE,
            tsc_hz: None,
        },
        settings: RecordSettings {
            sample: 1,
            filter: None,
            overflow: "block".into(),
            buffer_bytes: 1 << 20,
            strsize: 64,
            max_items: 16,
        },
    }
}

fn sites() -> Vec<Site> {
    let site = |id: u32, name: &str, args: &[&str]| Site {
        id,
        name: name.into(),
        qualified_name: format!("bench::{name}"),
        location: Location {
            file: "benches/merge.rs".into(),
            line: id + 1,
            column: 1,
        },
        args: args
            .iter()
            .map(|a| ArgInfo {
                name: a.to_string(),
                type_name: "u64".into(),
            })
            .collect(),
        return_type: "u64".into(),
        kind: SiteKind::Fn,
    };
    vec![site(0, "outer", &["i"]), site(1, "inner", &["i", "j"])]
}

/// Per thread, iteration `i` is `outer(i) { inner(i, j) { [syscall] } }` 400 ns long; a
/// syscall sits in `inner` of the iterations that `has_syscall` selects.
fn has_syscall(i: u64, iterations: u64, syscalls_per_thread: u64) -> bool {
    // Spread `syscalls_per_thread` evenly over `iterations`.
    (i * syscalls_per_thread) / iterations != ((i + 1) * syscalls_per_thread) / iterations
}

fn generate(dir: &Path, calls: u64, syscalls: u64) -> (PathBuf, PathBuf, PathBuf) {
    let iterations = calls / 2 / u64::from(THREADS);
    let per_thread = syscalls / u64::from(THREADS);
    let sites = sites();
    let table = SiteTable::from_sites(&sites);
    let mut paths = Vec::new();
    for fmt in [Format::Binary, Format::Json] {
        let path = dir.join(format!(
            "fn.{}",
            if fmt == Format::Binary {
                "rtrace"
            } else {
                "json"
            }
        ));
        let file = std::fs::File::create(&path).unwrap();
        let mut w = format::writer(fmt, Box::new(BufWriter::with_capacity(1 << 20, file)));
        w.begin(&metadata()).unwrap();
        for s in &sites {
            w.site(s).unwrap();
        }
        let mut nesting = Nesting::new();
        let mut events = 0u64;
        for t in 0..THREADS {
            let tid = PID + t;
            for i in 0..iterations {
                let t0 = BASE + i * 400;
                let evs = [
                    Event::Enter {
                        site: 0,
                        ts: t0,
                        pid: PID,
                        tid,
                        args: vec![Value::U64(i)],
                        call_id: None,
                    },
                    Event::Enter {
                        site: 1,
                        ts: t0 + 50,
                        pid: PID,
                        tid,
                        args: vec![Value::U64(i), Value::U64(i * 7)],
                        call_id: None,
                    },
                    Event::Exit {
                        site: 1,
                        ts: t0 + 300,
                        pid: PID,
                        tid,
                        ret: Return::Value(Value::U64(i)),
                        call_id: None,
                    },
                    Event::Exit {
                        site: 0,
                        ts: t0 + 350,
                        pid: PID,
                        tid,
                        ret: Return::Value(Value::U64(i)),
                        call_id: None,
                    },
                ];
                for ev in &evs {
                    let ctx = nesting.observe(ev, &table);
                    w.event(ev, &ctx).unwrap();
                    events += 1;
                }
            }
        }
        w.finish(&Trailer {
            events,
            lost: 0,
            end_ns: BASE + iterations * 400,
        })
        .unwrap();
        paths.push(path);
    }
    // sys.json in the tracer's line layout (version 2: one record per line, which a merge
    // indexes in place), sorted by entry time.
    let sys = dir.join("sys.json");
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&sys).unwrap());
    writeln!(
        out,
        "{{\"metadata\":{{\"format\":\"ruchytrace-syscalls\",\"version\":2,\"ruchytrace_version\":\"0.1.0\",\"program\":\"/bench\",\"args\":[\"bench\"],\"pid\":{PID},\"arch\":\"x86_64\",\"clock\":{{\"domain\":\"CLOCK_MONOTONIC\",\"source\":\"CLOCK_MONOTONIC\",\"realtime_ns\":1700000000000000000,\"monotonic_ns\":{BASE}}},\"options\":{{\"follow_forks\":false,\"filter\":null,\"strsize\":32}},\"images\":[]}},\n\"events\":["
    )
    .unwrap();
    let mut n = 0u64;
    for i in 0..iterations {
        if !has_syscall(i, iterations, per_thread) {
            continue;
        }
        for t in 0..THREADS {
            if n > 0 {
                out.write_all(b",\n").unwrap();
            }
            write!(
                out,
                "{{\"type\":\"syscall\",\"name\":\"read\",\"nr\":0,\"pid\":{PID},\"tid\":{},\"timestamp_ns\":{},\"duration_ns\":100,\"args\":[\"3\",\"\\\"abcdefgh\\\"...\",\"4096\"],\"raw_args\":[3,140737488346000,4096],\"return\":4096,\"errno\":null}}",
                PID + t,
                BASE + i * 400 + 100
            )
            .unwrap();
            n += 1;
        }
    }
    if n > 0 {
        out.write_all(b"\n").unwrap();
    }
    writeln!(out, "],\n\"end\":{{\"complete\":true,\"events\":{n}}}}}").unwrap();
    out.flush().unwrap();
    (paths[0].clone(), paths[1].clone(), sys)
}

/// Runs `bin ARGS` (stdout to /dev/null) and returns (seconds, peak RSS in KiB) of that
/// process.
// The child is reaped by wait4 (which also gives its own peak RSS), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn measure(bin: &Path, args: &[std::ffi::OsString]) -> (f64, i64) {
    let start = Instant::now();
    let child = std::process::Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("run ruchytrace");
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `status` and `usage` are valid out-pointers.
    let r = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert!(r > 0, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{args:?} failed ({status})"
    );
    (start.elapsed().as_secs_f64(), usage.ru_maxrss)
}

/// The command line of one row: `merge --format F`, `report` or `diff` (A against itself).
fn command(row: &str, input: &Path, sys: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = match row {
        "report" => vec!["report".into(), input.into(), sys.into()],
        // `diff` takes a trace file or a directory per side: the function trace alone.
        "diff" => vec!["diff".into(), input.into(), input.into()],
        _ => vec!["merge".into(), input.into(), sys.into()],
    };
    if !matches!(row, "report" | "diff") {
        args.extend(["-o", "/dev/null", "--format", row].map(Into::into));
    }
    args
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let exe = std::env::current_exe().unwrap();
    let target = exe.parent().unwrap().parent().unwrap();
    let bin = ["release", "debug"]
        .iter()
        .map(|p| target.parent().unwrap().join(p).join("ruchytrace"))
        .find(|p| p.exists());
    let Some(bin) = bin else {
        eprintln!("build the CLI first: cargo build --release -p ruchytrace --bin ruchytrace");
        return;
    };
    let calls = env_num("RUCHYTRACE_BENCH_CALLS", 5_000_000);
    let syscalls = env_num("RUCHYTRACE_BENCH_SYSCALLS", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let (bin_fn, json_fn, sys) = generate(dir.path(), calls, syscalls);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / 1e6;
    println!(
        "generated {} function events and {} syscalls in {:.1}s (fn.rtrace {:.1} MB, fn.json {:.1} MB, sys.json {:.1} MB); using {}",
        calls * 2,
        syscalls,
        t.elapsed().as_secs_f64(),
        size(&bin_fn),
        size(&json_fn),
        size(&sys),
        bin.display()
    );
    let events = (calls * 2 + syscalls) as f64;
    let formats = std::env::var("RUCHYTRACE_BENCH_FORMATS").unwrap_or_else(|_| {
        "text,perfetto,json,chrome,otlp-json,collapsed,svg,dot,report,diff".into()
    });
    let mut runs: Vec<(&str, &Path, String)> = formats
        .split(',')
        .map(|f| ("binary", bin_fn.as_path(), f.trim().to_owned()))
        .collect();
    runs.push(("json", json_fn.as_path(), "text".into()));
    println!("| input | output | time | M events/s | peak RSS |");
    println!("| --- | --- | --- | --- | --- |");
    for (label, input, row) in &runs {
        let (secs, rss_kib) = measure(&bin, &command(row, input, &sys));
        // `diff` reads the function trace twice and no sys.json.
        let (what, n) = match row.as_str() {
            "diff" => ("2 × fn", 2.0 * (calls * 2) as f64),
            _ => ("fn + sys.json", events),
        };
        println!(
            "| {label} {what} | {row} | {secs:.2} s | {:.2} | {:.0} MiB |",
            n / secs / 1e6,
            rss_kib as f64 / 1024.0
        );
    }
}
