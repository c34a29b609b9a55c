//! Merge throughput: records a function trace of 10M events (5M calls on 4 threads, `outer`
//! calling `inner`) with the runtime itself — a child process of the bench runs the traced
//! workload with `RUCHYTRACE_OUTPUT=fn.rtrace`, so the input is the runtime's segmented
//! `RUCHYTR2` file as any traced program writes it — converts it to JSON with the tool, and
//! writes a `sys.json` of 1M system calls, each inside one `inner` call of the recording (in the
//! tracer's line layout). Then it times `ruchytrace merge` from the binary input in every output
//! format (to /dev/null), `ruchytrace report` and `ruchytrace diff` (the trace against itself)
//! from the binary input, and the text output from the JSON input, and reports events/s and the
//! process's peak RSS (its `ru_maxrss`, from `wait4`). Every format and both commands stream
//! (`merge::stream`): their peak RSS does not grow with the number of function events
//! (docs/merge.md, "Memory").
//!
//! ```sh
//! cargo build --release -p ruchytrace --bin ruchytrace
//! cargo bench -p ruchytrace-suite --features trace --bench merge
//! ```
//!
//! `RUCHYTRACE_BENCH_CALLS` (default 5000000) and `RUCHYTRACE_BENCH_SYSCALLS` (default 1000000)
//! scale the input; `RUCHYTRACE_BENCH_FORMATS` (default
//! `text,perfetto,json,chrome,otlp-json,collapsed,svg,dot,report,diff`) picks the rows (`report`
//! and `diff` are the commands, the others `merge --format`); `RUCHYTRACE_BENCH_DIR` keeps the
//! inputs in that directory (to profile one command on them).

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ruchytrace_runtime::format::binary::{BinaryReader, FileBytes};
use ruchytrace_runtime::format::Record;
use ruchytrace_runtime::model::Event;

const THREADS: u64 = 4;
/// Set in the child process that runs the traced workload (its value: iterations per thread).
const CHILD_ENV: &str = "RUCHYTRACE_BENCH_CHILD";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The traced workload the generator runs in a child process (the runtime records it into
/// `fn.rtrace` through its write-through recorder, as any traced program's trace is written).
#[ruchytrace::trace]
#[inline(never)]
fn outer(i: u64) -> u64 {
    inner(i, i.wrapping_mul(7))
}

#[ruchytrace::trace]
#[inline(never)]
fn inner(i: u64, j: u64) -> u64 {
    // A little work, so a system call fits strictly inside the call.
    let mut x = i ^ j;
    for k in 0..8u64 {
        x = std::hint::black_box(x.rotate_left(5) ^ k);
    }
    x
}

/// The child: `THREADS` named threads, each calling `outer` `iterations` times.
fn workload(iterations: u64) {
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::Builder::new()
                .name(format!("worker-{t}"))
                .spawn(move || {
                    let mut acc = 0u64;
                    for i in 0..iterations {
                        acc = acc.wrapping_add(outer(i));
                    }
                    std::hint::black_box(acc);
                })
                .unwrap()
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Iteration `i` of a thread gets a system call inside its `inner` call when `has_syscall`
/// selects it: `syscalls_per_thread` spread evenly over `iterations`.
fn has_syscall(i: u64, iterations: u64, syscalls_per_thread: u64) -> bool {
    (i * syscalls_per_thread) / iterations != ((i + 1) * syscalls_per_thread) / iterations
}

/// Writes the inputs into `dir`: `fn.rtrace` recorded by the runtime in a child process
/// (`RUCHYTR2`, the runtime's segmented file), `fn.json` converted from it by `bin`, and a
/// `sys.json` (the tracer's line layout, version 2) with `syscalls` system calls, each strictly
/// inside one `inner` call of the trace.
fn generate(bin: &Path, dir: &Path, calls: u64, syscalls: u64) -> Inputs {
    let iterations = calls / 2 / THREADS;
    let per_thread = syscalls / THREADS;
    let fn_path = dir.join("fn.rtrace");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    for (k, _) in std::env::vars() {
        if k.starts_with("RUCHYTRACE") {
            child.env_remove(k);
        }
    }
    let status = child
        .env(CHILD_ENV, iterations.to_string())
        .env("RUCHYTRACE", "1")
        .env("RUCHYTRACE_OUTPUT", &fn_path)
        .env("RUCHYTRACE_FORMAT", "binary")
        .status()
        .expect("run the traced workload");
    assert!(status.success(), "the traced workload failed: {status}");
    // Each thread's `inner` calls in order: (enter, exit).
    let bytes = std::fs::read(&fn_path).unwrap();
    assert!(
        ruchytrace_runtime::format::binary::is_segmented(&bytes),
        "the runtime did not write a RUCHYTR2 file"
    );
    let mut reader =
        BinaryReader::<std::io::Empty>::segmented(FileBytes::new(bytes)).expect("read fn.rtrace");
    let metadata = reader.metadata().clone();
    let mut inner_site = None;
    let mut open: HashMap<u32, u64> = HashMap::new();
    let mut seen: HashMap<u32, u64> = HashMap::new();
    let mut placed: Vec<(u64, u64, u32)> = Vec::with_capacity(syscalls as usize);
    let mut events = 0u64;
    for rec in reader.by_ref() {
        match rec {
            Record::Site(s) if s.name == "inner" => inner_site = Some(s.id),
            Record::Event(ev) => {
                events += u64::from(matches!(ev, Event::Enter { .. } | Event::Exit { .. }));
                match ev {
                    Event::Enter { site, ts, tid, .. } if Some(site) == inner_site => {
                        open.insert(tid, ts);
                    }
                    Event::Exit { site, ts, tid, .. } if Some(site) == inner_site => {
                        let i = seen.entry(tid).or_default();
                        let enter = open.remove(&tid).expect("inner entered");
                        // Strictly inside the call, ending before its exit.
                        if has_syscall(*i, iterations, per_thread) && ts >= enter + 3 {
                            placed.push((enter + 1, ts - enter - 2, tid));
                        }
                        *i += 1;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert!(reader.is_complete(), "fn.rtrace is incomplete");
    placed.sort_unstable();
    // sys.json in the tracer's line layout (version 2: one record per line, which a merge
    // indexes in place), in time order, with the function trace's pid and clock pair.
    let sys = dir.join("sys.json");
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&sys).unwrap());
    let pid = metadata.pid;
    writeln!(
        out,
        "{{\"metadata\":{{\"format\":\"ruchytrace-syscalls\",\"version\":2,\"ruchytrace_version\":\"0.1.0\",\"program\":\"/bench\",\"args\":[\"bench\"],\"pid\":{pid},\"arch\":\"x86_64\",\"clock\":{{\"domain\":\"CLOCK_MONOTONIC\",\"source\":\"CLOCK_MONOTONIC\",\"realtime_ns\":{},\"monotonic_ns\":{}}},\"options\":{{\"follow_forks\":false,\"filter\":null,\"strsize\":32}},\"images\":[]}},\n\"events\":[",
        metadata.clock.realtime_ns, metadata.clock.monotonic_ns
    )
    .unwrap();
    for (n, (start, duration, tid)) in placed.iter().enumerate() {
        if n > 0 {
            out.write_all(b",\n").unwrap();
        }
        write!(
            out,
            "{{\"type\":\"syscall\",\"name\":\"read\",\"nr\":0,\"pid\":{pid},\"tid\":{tid},\"timestamp_ns\":{start},\"duration_ns\":{duration},\"args\":[\"3\",\"\\\"abcdefgh\\\"...\",\"4096\"],\"raw_args\":[3,140737488346000,4096],\"return\":4096,\"errno\":null}}"
        )
        .unwrap();
    }
    if !placed.is_empty() {
        out.write_all(b"\n").unwrap();
    }
    writeln!(
        out,
        "],\n\"end\":{{\"complete\":true,\"events\":{}}}}}",
        placed.len()
    )
    .unwrap();
    out.flush().unwrap();
    // The JSON input: the same trace converted by the tool.
    let json = dir.join("fn.json");
    let status = std::process::Command::new(bin)
        .arg("convert")
        .arg(&fn_path)
        .arg("-o")
        .arg(&json)
        .status()
        .expect("run ruchytrace convert");
    assert!(status.success(), "convert failed: {status}");
    Inputs {
        binary: fn_path,
        json,
        sys,
        fn_events: events,
        syscalls: placed.len() as u64,
    }
}

/// The generated inputs and their sizes in events.
struct Inputs {
    binary: PathBuf,
    json: PathBuf,
    sys: PathBuf,
    /// Enter and exit events in the function trace.
    fn_events: u64,
    /// System calls in `sys.json`.
    syscalls: u64,
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
    if let Ok(n) = std::env::var(CHILD_ENV) {
        workload(n.parse().expect("iterations"));
        return;
    }
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
    // `RUCHYTRACE_BENCH_DIR`: write the inputs there and keep them (for profiling one command).
    let temp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("RUCHYTRACE_BENCH_DIR").map_or_else(
        || temp.path().to_path_buf(),
        |d| {
            std::fs::create_dir_all(&d).unwrap();
            PathBuf::from(d)
        },
    );
    let t = Instant::now();
    let inputs = generate(&bin, &dir, calls, syscalls);
    let size = |p: &Path| std::fs::metadata(p).unwrap().len() as f64 / 1e6;
    println!(
        "generated {} function events (recorded by the runtime) and {} syscalls in {:.1}s (fn.rtrace {:.1} MB, fn.json {:.1} MB, sys.json {:.1} MB) in {}; using {}",
        inputs.fn_events,
        inputs.syscalls,
        t.elapsed().as_secs_f64(),
        size(&inputs.binary),
        size(&inputs.json),
        size(&inputs.sys),
        dir.display(),
        bin.display()
    );
    let events = (inputs.fn_events + inputs.syscalls) as f64;
    let formats = std::env::var("RUCHYTRACE_BENCH_FORMATS").unwrap_or_else(|_| {
        "text,perfetto,json,chrome,otlp-json,collapsed,svg,dot,report,diff".into()
    });
    let mut runs: Vec<(&str, &Path, String)> = formats
        .split(',')
        .map(|f| ("binary", inputs.binary.as_path(), f.trim().to_owned()))
        .collect();
    runs.push(("json", inputs.json.as_path(), "text".into()));
    println!("| input | output | time | M events/s | peak RSS |");
    println!("| --- | --- | --- | --- | --- |");
    for (label, input, row) in &runs {
        let (secs, rss_kib) = measure(&bin, &command(row, input, &inputs.sys));
        // `diff` reads the function trace twice and no sys.json.
        let (what, n) = match row.as_str() {
            "diff" => ("2 × fn", 2.0 * inputs.fn_events as f64),
            _ => ("fn + sys.json", events),
        };
        println!(
            "| {label} {what} | {row} | {secs:.2} s | {:.2} | {:.0} MiB |",
            n / secs / 1e6,
            rss_kib as f64 / 1024.0
        );
    }
}
