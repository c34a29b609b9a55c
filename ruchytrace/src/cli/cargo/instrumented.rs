//! `ruchytrace cargo --instrument -- test|run|bench ARGS`: builds the shadow copy (see [`super::shadow`]),
//! builds it with cargo (compiler errors mapped back to the user's files), then runs cargo's own command in
//! it with tracing on: one trace per process in `target/ruchytrace/traces/` (or `-o DIR`), a summary on
//! stderr and a `report.txt` next to the traces.

use std::ffi::OsString;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;

use super::diagnose;
use super::shadow::{self, Plan};
use super::CargoArgs;
use crate::cli::merge::{load_and_merge, InputArgs};
use crate::cli::report::{render, ReportArgs};
use crate::merge::MergeOptions;

/// Functions whose body has fewer tokens than this are left untraced by default (`--all-functions` or
/// `--min-body-tokens 0` traces them too). See docs/cargo.md for the measurement behind it.
pub const DEFAULT_MIN_BODY_TOKENS: usize = 6;

/// `RUCHYTRACE_BUFFER` under `cargo --instrument` unless the environment sets it.
pub const DEFAULT_BUFFER: &str = "64K";

/// Traces bigger than this (all files together) get no automatic `report.txt` (run `ruchytrace report`).
const REPORT_LIMIT: u64 = 256 << 20;

/// Runs `cargo --instrument`.
pub fn run(args: CargoArgs) -> anyhow::Result<i32> {
    let sub = args.cargo.first().cloned().unwrap_or_default();
    let sub = match sub.as_str() {
        "test" | "t" => "test",
        "run" | "r" => "run",
        "bench" => "bench",
        "build" | "b" => "build",
        "check" | "c" => "check",
        other => anyhow::bail!(
            "ruchytrace cargo --instrument runs `test`, `run`, `bench`, `build` or `check` (got `{other}`)"
        ),
    };
    let rest: Vec<String> = args.cargo[1..].to_vec();
    let cwd = std::env::current_dir().context("no current directory")?;
    let facade = std::env::var_os("RUCHYTRACE_FACADE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let plan = Plan {
        packages: args.packages.clone(),
        deps: args.deps.clone(),
        exclude: args.exclude.clone(),
        min_body_tokens: if args.all_functions {
            0
        } else {
            args.min_body_tokens
        },
        facade,
    };
    let started = Instant::now();
    let shadow = shadow::prepare(&cwd, &plan)?;
    for line in &shadow.skipped {
        eprintln!("ruchytrace: skipped {line}");
    }
    for line in &shadow.notes {
        eprintln!("ruchytrace: {line}");
    }
    eprintln!(
        "ruchytrace: instrumented {} functions in {} ({} trivial ones left untraced, under {} tokens); shadow copy in {} ({} files changed, {:.1}s)",
        shadow.functions,
        shadow.packages.join(", "),
        shadow.small,
        plan.min_body_tokens,
        shadow.root.display(),
        shadow.written,
        started.elapsed().as_secs_f64()
    );
    let shadow_cwd = cwd
        .strip_prefix(&shadow.user_root)
        .map(|rel| shadow.root.join(rel))
        .unwrap_or_else(|_| shadow.root.clone());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());

    // 1. Build (so errors can be mapped back, and so the traced run below builds nothing).
    let (cargo_opts, _after) = split_at_dashdash(&rest);
    let mut build = Command::new(&cargo);
    match sub {
        "test" | "bench" => {
            build.arg(sub).arg("--no-run");
        }
        "run" => {
            build.arg("build");
        }
        other => {
            build.arg(other);
        }
    }
    build
        .arg("--message-format=json-diagnostic-rendered-ansi")
        .args(&cargo_opts)
        .current_dir(&shadow_cwd)
        .env("CARGO_TARGET_DIR", &shadow.target_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = build.spawn().context("cannot run cargo")?;
    let stderr = child.stderr.take().context("cargo stderr")?;
    let shadow_for_err = (shadow.root.clone(), shadow.user_root.clone());
    let err_thread = std::thread::spawn(move || {
        // cargo's own lines (Compiling …, manifest errors) with the shadow paths turned back into the user's.
        let mut out = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let line = line.replace(
                &*shadow_for_err.0.to_string_lossy(),
                &shadow_for_err.1.to_string_lossy(),
            );
            eprintln!("{line}");
            out.push_str(&line);
            out.push('\n');
        }
        out
    });
    let mut errors = Vec::new();
    let mut executables: Vec<(String, Vec<String>, PathBuf)> = Vec::new();
    let stdout = child.stdout.take().context("cargo stdout")?;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's messages")?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        match msg["reason"].as_str() {
            Some("compiler-message") if msg["message"]["level"] == "error" => {
                errors.push(msg["message"].clone())
            }
            Some("compiler-artifact") => {
                if let Some(exe) = msg["executable"].as_str() {
                    let name = msg["target"]["name"].as_str().unwrap_or("").to_string();
                    let kinds = msg["target"]["kind"]
                        .as_array()
                        .map(|k| {
                            k.iter()
                                .filter_map(|x| x.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    executables.push((name, kinds, PathBuf::from(exe)));
                }
            }
            _ => {}
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    let _ = err_thread.join();
    if !status.success() {
        for text in diagnose::explain(&errors, &shadow, 3) {
            eprintln!("{text}");
        }
        eprintln!("ruchytrace: the instrumented build failed; your files are unchanged");
        return Ok(1);
    }
    if matches!(sub, "build" | "check") {
        return Ok(0);
    }

    // 2. The traced run.
    let dir = args
        .opts
        .output
        .clone()
        .unwrap_or_else(|| shadow.target_dir.join("ruchytrace").join("traces"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if sub == "run" && args.opts.syscalls {
        let wanted = |(_, kinds, _): &&(String, Vec<String>, PathBuf)| {
            kinds.iter().any(|k| k == "bin" || k == "example")
        };
        let exe = match executables.iter().filter(wanted).collect::<Vec<_>>().as_slice() {
            [one] => one.2.clone(),
            _ => anyhow::bail!(
                "--syscalls with `run` needs exactly one executable (use --bin NAME or --example NAME)"
            ),
        };
        let (_, program_args) = split_at_dashdash(&rest);
        let mut opts = args.opts.clone();
        opts.output = Some(dir.clone());
        let program_args: Vec<OsString> = program_args.iter().map(OsString::from).collect();
        return super::super::run::run_program(&opts, exe.into_os_string(), program_args, None);
    }
    for old in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = old.file_name().to_string_lossy().into_owned();
        if name.starts_with("fn-") || name == "sys.json" || name.starts_with("merged.") {
            let _ = std::fs::remove_file(old.path());
        }
    }
    let mut flags = vec!["--trace".to_string()];
    if let Some(v) = &args.opts.trace_sample {
        flags.push(format!("--trace-sample={v}"));
    }
    if let Some(v) = &args.opts.trace_filter {
        flags.push(format!("--trace-filter={v}"));
    }
    let parsed =
        ruchytrace_runtime::config::parse_trace_flags(flags).map_err(|e| anyhow::anyhow!("{e}"))?;
    let pattern = args
        .opts
        .trace_output
        .clone()
        .unwrap_or_else(|| dir.join("fn-%p.rtrace"));
    let mut env: Vec<(String, String)> = parsed.env;
    env.retain(|(k, _)| k != "RUCHYTRACE_OUTPUT" && k != "RUCHYTRACE_FORMAT");
    env.push((
        "RUCHYTRACE_OUTPUT".into(),
        pattern.to_string_lossy().into_owned(),
    ));
    env.push(("RUCHYTRACE_FORMAT".into(), "binary".into()));
    // A test harness runs every test on a thread of its own, and each thread gets a segment of this size
    // in the trace file: a small one keeps a suite of many short tests from writing mostly empty segments.
    if std::env::var_os("RUCHYTRACE_BUFFER").is_none() {
        env.push(("RUCHYTRACE_BUFFER".into(), DEFAULT_BUFFER.into()));
    }
    let mut cmd_args: Vec<String> = vec![sub.to_string()];
    cmd_args.extend(rest.iter().cloned());
    let run_started = Instant::now();
    let code = if args.opts.syscalls {
        for (k, v) in &env {
            std::env::set_var(k, v);
        }
        std::env::set_var("CARGO_TARGET_DIR", &shadow.target_dir);
        std::env::set_current_dir(&shadow_cwd)?;
        let sys_opts = crate::syscalls::Options {
            follow_forks: true,
            output: Some(dir.join("sys.json")),
            format: crate::syscalls::Format::Json,
            ..crate::syscalls::Options::default()
        };
        let os_args: Vec<OsString> = cmd_args.iter().map(OsString::from).collect();
        let outcome = crate::syscalls::trace_command(&sys_opts, &cargo, &os_args);
        std::env::set_current_dir(&cwd)?;
        match outcome {
            Ok(o) => o.exit_code,
            Err(e) => {
                eprintln!("ruchytrace: {e}");
                return Ok(e.exit_code());
            }
        }
    } else {
        let st = Command::new(&cargo)
            .args(&cmd_args)
            .current_dir(&shadow_cwd)
            .env("CARGO_TARGET_DIR", &shadow.target_dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .status()
            .context("cannot run cargo")?;
        st.code().unwrap_or(101)
    };
    let wall = run_started.elapsed();

    // 3. Summary and report.
    let traces = trace_files(&dir);
    let stats = count_calls(&traces);
    eprintln!(
        "ruchytrace: {} trace file(s), {} calls recorded, {} in {} ({:.2}s)",
        traces.len(),
        stats.calls,
        human_bytes(stats.bytes),
        dir.display(),
        wall.as_secs_f64()
    );
    let summary = format!(
        "traces={}\ncalls={}\nbytes={}\nwall_ms={}\nfunctions={}\nexit={}\n",
        traces.len(),
        stats.calls,
        stats.bytes,
        wall.as_millis(),
        shadow.functions,
        code
    );
    std::fs::write(dir.join("summary.txt"), summary)
        .with_context(|| format!("cannot write {}", dir.join("summary.txt").display()))?;
    let mut inputs = traces.clone();
    if dir.join("sys.json").exists() {
        inputs.push(dir.join("sys.json"));
    }
    if !inputs.is_empty() && stats.bytes <= REPORT_LIMIT {
        match load_and_merge(
            &inputs,
            true,
            &MergeOptions {
                force: true,
                ..MergeOptions::default()
            },
        ) {
            Ok(merged) => {
                let rargs = ReportArgs {
                    callgraph: false,
                    hotspots: Some(20),
                    syscalls: args.opts.syscalls,
                    io: false,
                    ..ReportArgs::from_input(InputArgs {
                        partial: true,
                        force: true,
                        ..InputArgs::default()
                    })
                };
                let p = dir.join("report.txt");
                std::fs::write(&p, render(&merged, &rargs))
                    .with_context(|| format!("cannot write {}", p.display()))?;
                if args.opts.syscalls {
                    let m = dir.join("merged.json");
                    crate::cli::merge::emit(
                        &merged,
                        crate::cli::merge::MergedFormat::Json,
                        false,
                        Some(&m),
                    )?;
                }
                eprintln!("ruchytrace: report in {}", p.display());
            }
            Err(f) => eprintln!("ruchytrace: no report: {}", f.message),
        }
    } else if !inputs.is_empty() {
        eprintln!(
            "ruchytrace: traces too big for an automatic report; run `ruchytrace report {}`",
            dir.display()
        );
    }
    Ok(code)
}

/// Splits cargo's arguments at the first `--` (what follows goes to the program or test harness).
fn split_at_dashdash(args: &[String]) -> (Vec<String>, Vec<String>) {
    match args.iter().position(|a| a == "--") {
        Some(i) => (args[..i].to_vec(), args[i + 1..].to_vec()),
        None => (args.to_vec(), Vec::new()),
    }
}

/// The `fn-*.rtrace` files of `dir`, sorted.
pub fn trace_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("fn-") && n.ends_with(".rtrace"))
        })
        .collect();
    out.sort();
    out
}

/// Calls and bytes of a set of traces.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TraceStats {
    /// Enter events.
    pub calls: u64,
    /// Total size of the files.
    pub bytes: u64,
}

/// Counts the calls (enter events) in `files`, reading each file as a stream.
pub fn count_calls(files: &[PathBuf]) -> TraceStats {
    let mut stats = TraceStats::default();
    for f in files {
        // Blocks actually written (a file may be longer than what it holds).
        stats.bytes += std::fs::metadata(f)
            .map(|m| std::os::unix::fs::MetadataExt::blocks(&m) * 512)
            .unwrap_or(0);
        let Ok(file) = std::fs::File::open(f) else {
            continue;
        };
        let input = std::io::BufReader::with_capacity(1 << 16, file).take(u64::MAX);
        let Ok(reader) = ruchytrace_runtime::format::binary::BinaryReader::new(input) else {
            continue;
        };
        for rec in reader {
            if let ruchytrace_runtime::format::Record::Event(
                ruchytrace_runtime::model::Event::Enter { .. },
            ) = rec
            {
                stats.calls += 1;
            }
        }
    }
    stats
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashdash_split() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            split_at_dashdash(&v(&["--lib", "--", "--test-threads=1"])),
            (v(&["--lib"]), v(&["--test-threads=1"]))
        );
        assert_eq!(split_at_dashdash(&v(&["-q"])), (v(&["-q"]), v(&[])));
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 20), "3.0 MiB");
    }
}
