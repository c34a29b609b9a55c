//! `ruchytrace cargo [run options] -- run --example NAME [ARGS]`: builds the target with the
//! `trace` feature, finds the executable in cargo's JSON messages, and runs it as `ruchytrace run`
//! does (cargo itself is never traced).
//!
//! With `--instrument`, any crate is traced without edits: a shadow copy of the workspace is instrumented
//! and built, and cargo's own `test`, `run` or `bench` runs in it ([`instrumented`]).

pub mod diagnose;
pub mod instrumented;
pub mod shadow;

use std::ffi::OsString;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context;

use super::run::{run_program, RunOpts};

/// Arguments of `ruchytrace cargo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ruchytrace cargo --syscalls -- run --example fibonacci_io\n  ruchytrace cargo --syscalls --report io -- run --bin server -- --port 8080\n  ruchytrace cargo --instrument -- test\n  ruchytrace cargo --instrument -p mycrate --deps indexmap -- test --lib -- --test-threads=1\n\nThe raw and merged traces stay in target/<profile>/.../<name>.ruchytrace/ unless -o DIR;\nwith --instrument in target/ruchytrace/traces/ (one fn-PID.rtrace per process, report.txt)."
)]
pub struct CargoArgs {
    /// Shared options of `run`.
    #[command(flatten)]
    pub opts: RunOpts,
    /// Trace a crate without editing it: instrument every function of a shadow copy under
    /// target/ruchytrace/ and run `cargo test|run|bench ARGS` there.
    #[arg(long)]
    pub instrument: bool,
    /// Workspace members to instrument (default: all).
    #[arg(
        short = 'p',
        long = "package",
        value_name = "PKG",
        requires = "instrument"
    )]
    pub packages: Vec<String>,
    /// Dependencies to instrument too (copied and wired in with `[patch]`).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "CRATE,...",
        requires = "instrument"
    )]
    pub deps: Vec<String>,
    /// A file or directory to leave untraced, or `FILE:LINE` for the function containing that line.
    #[arg(long, value_name = "PATH", requires = "instrument")]
    pub exclude: Vec<String>,
    /// Leave untraced the functions whose body has fewer tokens than N (trivial accessors); 0 traces all.
    #[arg(long, value_name = "N", default_value_t = instrumented::DEFAULT_MIN_BODY_TOKENS, requires = "instrument")]
    pub min_body_tokens: usize,
    /// Trace every function, trivial ones included (same as --min-body-tokens 0).
    #[arg(long, requires = "instrument")]
    pub all_functions: bool,
    /// `run [CARGO OPTIONS] [-- PROGRAM ARGS]`.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CARGO ARGS"
    )]
    pub cargo: Vec<String>,
}

/// Cargo options of `cargo run` that take a value.
const VALUE_OPTS: &[&str] = &[
    "-p",
    "--package",
    "--bin",
    "--example",
    "-F",
    "--features",
    "--target",
    "--target-dir",
    "--manifest-path",
    "--profile",
    "-j",
    "--jobs",
    "--color",
    "--config",
    "-Z",
    "--message-format",
    "--lockfile-path",
];

/// A `cargo run` command line split into build options and program arguments.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CargoRun {
    /// Options for `cargo build` (features excluded).
    pub build: Vec<String>,
    /// Requested features.
    pub features: Vec<String>,
    /// `--all-features` was given.
    pub all_features: bool,
    /// `--example NAME`.
    pub example: Option<String>,
    /// `--bin NAME`.
    pub bin: Option<String>,
    /// Arguments for the program.
    pub program_args: Vec<String>,
}

/// Splits `run ...` into what `cargo build` gets and what the program gets.
pub fn parse_cargo_run(args: &[String]) -> anyhow::Result<CargoRun> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("run" | "r") => {}
        Some(other) => anyhow::bail!(
            "ruchytrace cargo supports `run` (got `{other}`): ruchytrace cargo -- run --example NAME"
        ),
        None => anyhow::bail!("expected `run ...` after `--`"),
    }
    let mut out = CargoRun::default();
    while let Some(a) = it.next() {
        if a == "--" {
            out.program_args.extend(it.by_ref().cloned());
            break;
        }
        if !a.starts_with('-') {
            out.program_args.push(a.clone());
            continue;
        }
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        if a == "--all-features" {
            out.all_features = true;
            out.build.push(a.clone());
            continue;
        }
        if !VALUE_OPTS.contains(&flag.as_str()) {
            out.build.push(a.clone());
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .with_context(|| format!("cargo option {flag} needs a value"))?,
        };
        match flag.as_str() {
            "-F" | "--features" => out.features.extend(
                value
                    .split([',', ' '])
                    .filter(|f| !f.is_empty())
                    .map(str::to_string),
            ),
            "--message-format" => {}
            _ => {
                if flag == "--example" {
                    out.example = Some(value.clone());
                }
                if flag == "--bin" {
                    out.bin = Some(value.clone());
                }
                out.build.push(flag);
                out.build.push(value);
            }
        }
    }
    Ok(out)
}

/// Runs the subcommand.
pub fn run(args: CargoArgs) -> anyhow::Result<i32> {
    if args.instrument {
        return instrumented::run(args);
    }
    let plan = parse_cargo_run(&args.cargo)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--message-format=json-render-diagnostics")
        .args(&plan.build);
    if !plan.all_features {
        let mut features = plan.features.clone();
        if !features
            .iter()
            .any(|f| f == "trace" || f.ends_with("/trace"))
        {
            features.push("trace".into());
        }
        cmd.arg("--features").arg(features.join(","));
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().context("cannot run cargo")?;
    let stdout = child.stdout.take().context("cargo stdout")?;
    let mut executables: Vec<(String, Vec<String>, PathBuf)> = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.context("reading cargo's messages")?;
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
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
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        eprintln!("ruchytrace: the build failed (does the package have a `trace` feature that enables `ruchytrace/trace`?)");
        return Ok(status.code().unwrap_or(101));
    }
    let wanted =
        |(name, kinds, _): &&(String, Vec<String>, PathBuf)| match (&plan.example, &plan.bin) {
            (Some(e), _) => name == e && kinds.iter().any(|k| k == "example"),
            (None, Some(b)) => name == b && kinds.iter().any(|k| k == "bin"),
            (None, None) => kinds.iter().any(|k| k == "bin"),
        };
    let found: Vec<_> = executables.iter().filter(wanted).collect();
    let (name, _, exe) =
        match found.as_slice() {
            [one] => *one,
            [] => anyhow::bail!(
                "cargo built no matching executable (use --example NAME or --bin NAME)"
            ),
            many => anyhow::bail!(
            "cargo built several executables ({}); choose one with --bin NAME or --example NAME",
            many.iter().map(|(n, _, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        ),
        };
    let default_dir = exe.parent().map(|d| d.join(format!("{name}.ruchytrace")));
    let program_args: Vec<OsString> = plan.program_args.iter().map(OsString::from).collect();
    run_program(
        &args.opts,
        exe.clone().into_os_string(),
        program_args,
        default_dir,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn splits_cargo_and_program_args() {
        let p = parse_cargo_run(&v(&[
            "run",
            "--example",
            "fib",
            "--release",
            "-F",
            "a,b",
            "--",
            "10",
            "--x",
        ]))
        .unwrap();
        assert_eq!(p.example.as_deref(), Some("fib"));
        assert_eq!(p.build, v(&["--example", "fib", "--release"]));
        assert_eq!(p.features, v(&["a", "b"]));
        assert_eq!(p.program_args, v(&["10", "--x"]));
        let p = parse_cargo_run(&v(&["run", "--bin=srv", "--features=trace", "7"])).unwrap();
        assert_eq!(p.bin.as_deref(), Some("srv"));
        assert_eq!(p.features, v(&["trace"]));
        assert_eq!(p.program_args, v(&["7"]));
        assert!(parse_cargo_run(&v(&["test"])).is_err());
        assert!(parse_cargo_run(&v(&["run", "--example"])).is_err());
    }
}
