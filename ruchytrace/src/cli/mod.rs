//! The `ruchytrace` command-line tool: argument parsing and dispatch to one module per subcommand.
//!
//! Every subcommand returns the process exit status it wants; errors are printed as
//! `ruchytrace: <message>` on stderr, never on stdout (stdout belongs to the traced program and to
//! requested output).

use clap::{Parser, Subcommand};

pub mod attach;
pub mod cargo;
pub mod convert;
pub mod diff;
pub mod instrument;
pub mod merge;
pub mod report;
pub mod ruchy;
pub mod run;
pub mod snapshot;
pub mod syscalls;

/// Exit status for usage errors and unreadable/malformed input files.
pub const EXIT_USAGE: i32 = 2;

/// Top-level command line.
#[derive(Debug, Parser)]
#[command(
    name = "ruchytrace",
    version,
    about = "Function and system call tracing for Rust programs"
)]
pub struct Cli {
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `ruchytrace`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Trace the system calls of a program (strace-style) or of running processes (-p).
    Syscalls(syscalls::SyscallsArgs),
    /// Convert a function trace between binary, JSON and text, or to a viewer format (perfetto, chrome...).
    Convert(convert::ConvertCommand),
    /// Merge function traces and a syscall trace into one timeline (text, json, chrome, perfetto, collapsed, svg, dot).
    Merge(merge::MergeArgs),
    /// Call graph, hotspots, per-function syscalls and file I/O of traces.
    Report(report::ReportArgs),
    /// Compare two runs per function and per system call; --fail-above PCT gates regressions.
    Diff(diff::DiffArgs),
    /// Run a traced program (optionally under the syscall tracer) and show the merged timeline.
    Run(run::RunArgs),
    /// Record a running program started with RUCHYTRACE=dormant for a while (optionally its syscalls too).
    Attach(attach::AttachArgs),
    /// Copy the trace a running program is recording (its flight recorder in ring mode).
    Snapshot(snapshot::SnapshotArgs),
    /// Build a cargo target with `--features trace` and `run` it.
    Cargo(cargo::CargoArgs),
    /// Add #[ruchytrace::trace] and the Traceable derive to generated Rust source.
    Instrument(instrument::InstrumentArgs),
    /// Run a Ruchy program, traced with --trace (uses the real `ruchy` transpiler).
    Ruchy(ruchy::RuchyArgs),
}

/// Parses `std::env::args`, runs the subcommand and returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let result = match cli.command {
        Command::Syscalls(args) => syscalls::run(args),
        Command::Convert(args) => convert::run_command(args),
        Command::Merge(args) => merge::run(args),
        Command::Report(args) => report::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Run(args) => run::run(args),
        Command::Cargo(args) => cargo::run(args),
        Command::Attach(args) => attach::run(args),
        Command::Snapshot(args) => snapshot::run(args),
        Command::Instrument(args) => instrument::run(args),
        Command::Ruchy(args) => ruchy::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ruchytrace: {e:#}");
            EXIT_USAGE
        }
    }
}
