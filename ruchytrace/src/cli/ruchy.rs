//! `ruchytrace ruchy run FILE.ruchy [--trace] [--trace-sample=N] [--trace-filter=P] [--trace-output=F]
//! [--trace-format=FMT] [--syscalls] [-- ARGS]`: transpile a Ruchy program with the real `ruchy`, instrument the
//! Rust it produces, build it in a cached cargo project and run it.
//!
//! The cached project lives in `$XDG_CACHE_HOME/ruchytrace/ruchy/<hash>/` (else `~/.cache/...`), where the hash
//! covers the instrumented source and whether tracing is on, so a second run of the same program only costs a
//! transpile and a no-op `cargo build`. All projects share one target directory, so the runtime is compiled once
//! per feature set, not once per program. See docs/ruchy.md.

use crate::instrument::{instrument_source, LocationMap};
use anyhow::{bail, Context};
use ruchytrace_runtime::config::parse_trace_flags;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The command that installs the Ruchy version this was tested with.
pub const INSTALL_HINT: &str =
    "cargo install ruchy --version 5.0.0-beta.2 --no-default-features --features repl";

/// Arguments of `ruchytrace ruchy`.
#[derive(Debug, clap::Args)]
pub struct RuchyArgs {
    /// What to do with the Ruchy program.
    #[command(subcommand)]
    pub command: RuchyCommand,
}

/// Subcommands of `ruchytrace ruchy`.
#[derive(Debug, clap::Subcommand)]
pub enum RuchyCommand {
    /// Transpile FILE.ruchy with `ruchy` (from PATH, or $RUCHY), build and run it. Flags: --trace,
    /// --trace-sample=N, --trace-filter=P, --trace-output=F, --trace-format=FMT (each also as `--flag VALUE`),
    /// --syscalls; arguments after `--` go to the program.
    Run(RunArgs),
    /// Like `run`, but only transpile, instrument and build (with the `trace` feature when --trace or another
    /// --trace-* flag is given); prints the path of the executable (for benchmarks and profilers).
    Build(RunArgs),
}

/// Arguments of `ruchytrace ruchy run`, parsed by [`parse_trace_flags`] so compiler drivers and this command
/// accept exactly the same flags.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// FILE.ruchy, the --trace* flags, --syscalls, and `-- ARGS` for the program, in any order.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        required = true,
        value_name = "FILE.ruchy [FLAGS] [-- ARGS]"
    )]
    pub args: Vec<String>,
}

/// What `ruchy run` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// The Ruchy program.
    pub file: PathBuf,
    /// Build with the `trace` feature.
    pub trace: bool,
    /// `RUCHYTRACE_*` variables for the program.
    pub env: Vec<(String, String)>,
    /// Merge system calls into the trace.
    pub syscalls: bool,
    /// Arguments for the program.
    pub program_args: Vec<String>,
}

/// Parses the arguments of `ruchy run`.
pub fn parse_request(args: &[String]) -> anyhow::Result<RunRequest> {
    let flags = parse_trace_flags(args.iter().cloned()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut file = None;
    let mut syscalls = false;
    let mut program_args = Vec::new();
    let mut rest = flags.rest.into_iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--" => {
                program_args.extend(rest.by_ref());
                break;
            }
            "--syscalls" => syscalls = true,
            flag if flag.starts_with('-') && flag.len() > 1 => bail!(
                "unknown flag {flag:?} for `ruchy run` (expected --trace, --trace-sample, --trace-filter, \
                 --trace-output, --trace-format, --syscalls, or `-- ARGS`)"
            ),
            _ if file.is_none() => file = Some(PathBuf::from(a)),
            _ => bail!("unexpected argument {a:?}: program arguments go after `--`"),
        }
    }
    let Some(file) = file else {
        bail!("missing FILE.ruchy")
    };
    Ok(RunRequest {
        file,
        trace: flags.trace || syscalls,
        env: flags.env,
        syscalls,
        program_args,
    })
}

/// Runs the subcommand.
pub fn run(args: RuchyArgs) -> anyhow::Result<i32> {
    match args.command {
        RuchyCommand::Run(run) => run_program(&parse_request(&run.args)?),
        RuchyCommand::Build(build) => {
            let req = parse_request(&build.args)?;
            match build_program(&req)? {
                Ok(built) => {
                    println!("{}", built.binary.display());
                    Ok(0)
                }
                Err(code) => Ok(code),
            }
        }
    }
}

fn run_program(req: &RunRequest) -> anyhow::Result<i32> {
    let me = std::env::current_exe().context("cannot find the ruchytrace executable")?;
    if req.syscalls && !has_run_subcommand(&me) {
        bail!(
            "--syscalls needs `ruchytrace run --syscalls` (the merge feature), which this build does not have; \
             run without --syscalls, or trace system calls separately with `ruchytrace syscalls`"
        );
    }
    let built = match build_program(req)? {
        Ok(built) => built,
        Err(code) => return Ok(code),
    };
    let mut cmd = if req.syscalls {
        // `ruchytrace run --syscalls` runs the program under the ptrace companion and merges both traces.
        let mut cmd = Command::new(&me);
        cmd.arg("run").arg("--syscalls");
        cmd.args(forwarded_flags(&req.env));
        cmd.arg("--").arg(&built.binary);
        cmd
    } else {
        let mut cmd = Command::new(&built.binary);
        cmd.envs(req.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        cmd
    };
    let status = cmd
        .args(&req.program_args)
        .status()
        .with_context(|| format!("cannot run {}", built.binary.display()))?;
    Ok(exit_code(status))
}

/// Whether this `ruchytrace` has the `run` subcommand (it comes with the merge feature).
fn has_run_subcommand(me: &Path) -> bool {
    Command::new(me)
        .args(["run", "--help"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `--trace-*` flags equivalent to the parsed environment, for `ruchytrace run`.
fn forwarded_flags(env: &[(String, String)]) -> Vec<String> {
    env.iter()
        .filter_map(|(k, v)| {
            let flag = match k.as_str() {
                "RUCHYTRACE_SAMPLE" => "--trace-sample",
                "RUCHYTRACE_FILTER" => "--trace-filter",
                "RUCHYTRACE_OUTPUT" => "--trace-output",
                "RUCHYTRACE_FORMAT" => "--trace-format",
                _ => return None,
            };
            Some(format!("{flag}={v}"))
        })
        .collect()
}

/// Finds ruchy, then [`prepare`]s the program in the user's cache; a transpiler failure is reported as Ruchy
/// wrote it and becomes the exit status.
fn build_program(req: &RunRequest) -> anyhow::Result<Result<Built, i32>> {
    let ruchy = find_ruchy(std::env::var_os("RUCHY"), std::env::var_os("PATH"))?;
    let built = match prepare(&ruchy, &req.file, req.trace, &cache_root()?, true)? {
        Ok(built) => built,
        Err(failure) => {
            // Ruchy's own words, unchanged.
            use std::io::Write;
            let _ = std::io::stdout().write_all(&failure.stdout);
            let _ = std::io::stderr().write_all(&failure.stderr);
            eprintln!(
                "ruchytrace: `{} transpile {}` failed",
                ruchy.display(),
                req.file.display()
            );
            return Ok(Err(failure.code));
        }
    };
    if let Some(secs) = built.build_seconds {
        eprintln!(
            "ruchytrace: built {} in {secs:.1}s (cached in {})",
            req.file.display(),
            built.project.display()
        );
    }
    Ok(Ok(built))
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// The `ruchy` to use: `explicit` (the value of `$RUCHY`) if set, else `ruchy` in one of the `path`
/// directories (the value of `$PATH`). The error says how to install it.
pub fn find_ruchy(
    explicit: Option<std::ffi::OsString>,
    path: Option<std::ffi::OsString>,
) -> anyhow::Result<PathBuf> {
    if let Some(explicit) = explicit.filter(|v| !v.is_empty()) {
        let p = PathBuf::from(explicit);
        if p.is_file() {
            return Ok(p);
        }
        bail!(
            "RUCHY={} does not exist; install Ruchy with: {INSTALL_HINT}",
            p.display()
        );
    }
    std::env::split_paths(&path.unwrap_or_default())
        .map(|dir| dir.join("ruchy"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "`ruchy` was not found on PATH (or set RUCHY=/path/to/ruchy); install it with: {INSTALL_HINT} \
                 (about 12 minutes)"
            )
        })
}

/// A built program, ready to run.
#[derive(Debug, Clone)]
pub struct Built {
    /// The executable.
    pub binary: PathBuf,
    /// The cached cargo project it was built from.
    pub project: PathBuf,
    /// How long cargo took, when it actually compiled something (`None`: everything was up to date).
    pub build_seconds: Option<f64>,
}

/// `ruchy transpile` failed: what it printed, and the exit status to pass on.
#[derive(Debug, Clone)]
pub struct TranspileFailure {
    /// Exit status for `ruchytrace` (at least 1).
    pub code: i32,
    /// What ruchy printed on stdout.
    pub stdout: Vec<u8>,
    /// What ruchy printed on stderr.
    pub stderr: Vec<u8>,
}

/// Transpiles `file` with `ruchy`, instruments the Rust with locations from the `.ruchy` source, and builds it
/// (with the `trace` feature when `trace`; optimised when `release`) in a cached project under `cache`. The
/// outer error is ours (I/O, unparsable output, build failure with cargo's messages); the inner one is Ruchy's.
pub fn prepare(
    ruchy: &Path,
    file: &Path,
    trace: bool,
    cache: &Path,
    release: bool,
) -> anyhow::Result<Result<Built, TranspileFailure>> {
    let source =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let out = Command::new(ruchy)
        .arg("transpile")
        .arg(file)
        .output()
        .with_context(|| format!("cannot run {}", ruchy.display()))?;
    if !out.status.success() {
        return Ok(Err(TranspileFailure {
            code: exit_code(out.status).max(1),
            stdout: out.stdout,
            stderr: out.stderr,
        }));
    }
    let rust = String::from_utf8(out.stdout).context("ruchy printed Rust that is not UTF-8")?;
    let label = file.display().to_string();
    let map = LocationMap::from_ruchy_source(&label, &source);
    let instrumented = instrument_source(&rust, Some(&map)).map_err(|e| {
        anyhow::anyhow!("the Rust that ruchy generated for {label} does not parse: {e}")
    })?;
    let project = Project::prepare(cache, file, &instrumented.source, trace)?;
    let (binary, build_seconds) = project.build(trace, release)?;
    Ok(Ok(Built {
        binary,
        project: project.dir,
        build_seconds,
    }))
}

/// A cached cargo project for one program.
struct Project {
    dir: PathBuf,
    target: PathBuf,
    bin: String,
}

impl Project {
    fn prepare(root: &Path, file: &Path, source: &str, trace: bool) -> anyhow::Result<Project> {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bin: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let bin = if bin.starts_with(|c: char| c.is_ascii_alphabetic()) {
            bin
        } else {
            format!("p_{bin}")
        };
        let dep = ruchytrace_dependency();
        let key = fnv1a(&[
            source.as_bytes(),
            &[trace as u8],
            dep.as_bytes(),
            env!("CARGO_PKG_VERSION").as_bytes(),
        ]);
        // The hash in the package and executable names keeps programs (and their traced and untraced builds)
        // apart in the shared target dir.
        let package = format!("{bin}_{key:016x}");
        let bin = package.clone();
        let dir = root.join(&package);
        let manifest = format!(
            "# Generated by `ruchytrace ruchy run` for {file}.\n\
             [package]\nname = \"{package}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
             [[bin]]\nname = \"{bin}\"\npath = \"src/main.rs\"\n\n\
             [dependencies]\nruchytrace = {dep}\n\n\
             [features]\ntrace = [\"ruchytrace/trace\"]\n\n\
             # Not part of any enclosing workspace.\n[workspace]\n\n\
             [profile.release]\ndebug = 1\n",
            file = file.display(),
        );
        write_if_changed(&dir.join("Cargo.toml"), &manifest)?;
        // Generated code is not ours to lint. Same line, so Rust line numbers stay those of ruchy's output.
        let main = format!("#![allow(warnings, clippy::all)] {source}");
        write_if_changed(&dir.join("src/main.rs"), &main)?;
        // The workspace's lock file pins the runtime's dependencies, so the build needs no network when they
        // are already in cargo's cache (and gets the versions this workspace was tested with).
        let lock = dir.join("Cargo.lock");
        if !lock.exists() {
            if let Some(ws_lock) = workspace_lock() {
                std::fs::copy(&ws_lock, &lock)
                    .with_context(|| format!("cannot write {}", lock.display()))?;
            }
        }
        Ok(Project {
            target: root.join("target"),
            dir,
            bin,
        })
    }

    fn build(&self, trace: bool, release: bool) -> anyhow::Result<(PathBuf, Option<f64>)> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.arg("build")
            .arg("--manifest-path")
            .arg(self.dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &self.target)
            // The user's RUSTFLAGS/feature env of an enclosing build must not leak into this one.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        if trace {
            cmd.arg("--features").arg("trace");
        }
        if release {
            cmd.arg("--release");
        }
        let started = Instant::now();
        let out = cmd.output().context("cannot run cargo")?;
        let log = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            eprint!("{log}");
            bail!(
                "building the transpiled program failed (project: {})",
                self.dir.display()
            );
        }
        let compiled = log.lines().any(|l| l.trim_start().starts_with("Compiling"));
        Ok((
            self.target
                .join(if release { "release" } else { "debug" })
                .join(&self.bin),
            compiled.then(|| started.elapsed().as_secs_f64()),
        ))
    }
}

/// The lock file of the workspace this binary was built from, if it is still there.
fn workspace_lock() -> Option<PathBuf> {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    lock.is_file().then_some(lock)
}

/// `$XDG_CACHE_HOME/ruchytrace/ruchy`, else `$HOME/.cache/ruchytrace/ruchy`.
pub fn cache_root() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("neither XDG_CACHE_HOME nor HOME is set: no place for the build cache")?;
    Ok(base.join("ruchytrace").join("ruchy"))
}

/// The `ruchytrace` dependency of generated projects: `$RUCHYTRACE_SOURCE` (a checkout of this workspace), else
/// the workspace this binary was built from if it still exists, else the crates.io release of the same version.
fn ruchytrace_dependency() -> String {
    let from_env = std::env::var_os("RUCHYTRACE_SOURCE")
        .filter(|v| !v.is_empty())
        .map(|root| PathBuf::from(root).join("ruchytrace"));
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    match from_env
        .into_iter()
        .chain([built_from])
        .find(|p| p.join("Cargo.toml").is_file())
    {
        Some(path) => format!(
            "{{ path = {:?}, default-features = false }}",
            path.display().to_string()
        ),
        None => format!(
            "{{ version = \"={}\", default-features = false }}",
            env!("CARGO_PKG_VERSION")
        ),
    }
}

fn write_if_changed(path: &Path, text: &str) -> anyhow::Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// FNV-1a: a stable hash for cache keys (std's hasher may change between Rust versions).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(args: &[&str]) -> anyhow::Result<RunRequest> {
        parse_request(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_in_any_order() {
        let r = req(&[
            "--trace-sample",
            "1000",
            "p.ruchy",
            "--trace-filter=fib*",
            "--",
            "a",
            "--trace",
        ])
        .unwrap();
        assert_eq!(r.file, PathBuf::from("p.ruchy"));
        assert!(r.trace && !r.syscalls);
        assert_eq!(
            r.env,
            vec![
                ("RUCHYTRACE".to_string(), "1".to_string()),
                ("RUCHYTRACE_SAMPLE".into(), "1000".into()),
                ("RUCHYTRACE_FILTER".into(), "fib*".into()),
            ]
        );
        assert_eq!(r.program_args, vec!["a", "--trace"]);
        let plain = req(&["p.ruchy"]).unwrap();
        assert!(!plain.trace && plain.env.is_empty());
    }

    #[test]
    fn bad_flags_are_errors() {
        assert!(req(&["p.ruchy", "--trace-smaple=3"])
            .unwrap_err()
            .to_string()
            .contains("--trace-smaple"));
        assert!(req(&["p.ruchy", "--trace-sample=0"]).is_err());
        assert!(req(&["p.ruchy", "--verbose"])
            .unwrap_err()
            .to_string()
            .contains("unknown flag"));
        assert!(req(&["p.ruchy", "q.ruchy"])
            .unwrap_err()
            .to_string()
            .contains("after `--`"));
        assert!(req(&["--trace"])
            .unwrap_err()
            .to_string()
            .contains("missing FILE.ruchy"));
    }

    #[test]
    fn syscalls_forward_the_trace_flags() {
        let r = req(&[
            "p.ruchy",
            "--syscalls",
            "--trace-sample=10",
            "--trace-filter",
            "fib*",
        ])
        .unwrap();
        assert!(r.syscalls && r.trace);
        assert_eq!(
            forwarded_flags(&r.env),
            vec!["--trace-sample=10", "--trace-filter=fib*"]
        );
    }

    #[test]
    fn stable_hash() {
        assert_eq!(fnv1a(&[b""]), fnv1a(&[b""]));
        assert_ne!(fnv1a(&[b"ab", b"c"]), fnv1a(&[b"a", b"bc"]));
    }
}
