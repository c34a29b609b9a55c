//! `ruchytrace syscalls`: the ptrace companion (strace-style system call tracer).
//!
//! Parses strace-like flags into [`crate::syscalls::Options`] and calls the library. Trace text
//! goes to stderr or `-o FILE`, never to stdout, which belongs to the traced program.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::Context;

use crate::syscalls::{self, Format, Options, TimeFormat};

/// Output format selectable with `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// strace-style lines.
    Text,
    /// The `sys.json` document.
    Json,
}

/// Arguments of `ruchytrace syscalls`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ruchytrace syscalls -f -o sys.json -- make\n  ruchytrace syscalls -e trace=%file -y -- ls\n  ruchytrace syscalls -p 1234"
)]
pub struct SyscallsArgs {
    /// Follow forked child processes (threads are always followed).
    #[arg(short = 'f', long = "follow-forks")]
    pub follow_forks: bool,
    /// Filter expression: trace=NAME,...|%file|%process|%network|%memory|%signal|%desc (with `!`
    /// to negate), or status=failed|successful. Repeatable.
    #[arg(short = 'e', value_name = "EXPR")]
    pub expr: Vec<String>,
    /// Write the trace to FILE (JSON when it ends in .json, else text).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Force the output format of -o.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Show the time spent in each system call.
    #[arg(short = 'T')]
    pub durations: bool,
    /// Prefix lines with the time of day (-tt: with microseconds, -ttt: epoch seconds).
    #[arg(short = 't', action = clap::ArgAction::Count)]
    pub time: u8,
    /// Count calls, errors and time per system call and print a summary table instead.
    #[arg(short = 'c', long = "summary")]
    pub summary: bool,
    /// Maximum length of printed strings.
    #[arg(
        short = 's',
        long = "string-limit",
        value_name = "N",
        default_value_t = 32
    )]
    pub strsize: usize,
    /// Print the paths associated with file descriptor arguments.
    #[arg(short = 'y')]
    pub fd_paths: bool,
    /// Attach to a running process (repeatable); Ctrl-C detaches and leaves it running.
    #[arg(short = 'p', long = "attach", value_name = "PID")]
    pub pids: Vec<i32>,
    /// Keep the tracer and the program on the CPU they start on (faster on machines with slow
    /// cross-CPU wake-ups; the program then sees a one-CPU affinity mask).
    #[arg(long)]
    pub pin_cpu: bool,
    /// Stop at every system call even with -e trace= (no seccomp-bpf filter).
    #[arg(long)]
    pub no_seccomp: bool,
    /// Print the user stack of every traced call (strace's -k): DWARF unwinding, function,
    /// file and line of each frame, inlined calls expanded.
    #[arg(short = 'k', long = "stack-trace", visible_alias = "stacks")]
    pub stack_trace: bool,
    /// With -k: at most N frames per stack.
    #[arg(long, value_name = "N", default_value_t = crate::stack::DEFAULT_DEPTH)]
    pub stack_depth: usize,
    /// Print the tracer's own diagnostics (waitpid and ptrace calls) on stderr; RUST_LOG filters.
    #[arg(long)]
    pub debug: bool,
    /// The program to run and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "PROGRAM"
    )]
    pub command: Vec<OsString>,
}

impl SyscallsArgs {
    /// Turns the flags into library options.
    pub fn options(&self) -> anyhow::Result<Options> {
        let mut opts = Options {
            follow_forks: self.follow_forks,
            show_durations: self.durations,
            summary: self.summary,
            strsize: self.strsize,
            show_fd_paths: self.fd_paths,
            pin_cpu: self.pin_cpu,
            seccomp: !self.no_seccomp,
            output: self.output.clone(),
            stack_depth: self.stack_trace.then_some(self.stack_depth),
            time: match self.time {
                0 => TimeFormat::None,
                1 => TimeFormat::Seconds,
                2 => TimeFormat::Micros,
                _ => TimeFormat::Epoch,
            },
            ..Options::default()
        };
        opts.format = match (self.format, &self.output) {
            (Some(FormatArg::Json), _) => Format::Json,
            (Some(FormatArg::Text), _) => Format::Text,
            (None, Some(p)) if p.extension().is_some_and(|e| e == "json") => Format::Json,
            _ => Format::Text,
        };
        if opts.format == Format::Json && opts.output.is_none() {
            anyhow::bail!("--format json needs -o FILE (stdout belongs to the traced program)");
        }
        for e in &self.expr {
            opts.apply_expr(e)
                .with_context(|| format!("invalid -e '{e}'"))?;
        }
        Ok(opts)
    }
}

fn init_debug(enabled: bool) {
    if !enabled {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("ruchytrace=trace"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// Runs the subcommand and returns the exit status (the traced program's).
pub fn run(args: SyscallsArgs) -> anyhow::Result<i32> {
    let opts = args.options()?;
    init_debug(args.debug);
    let result = match (args.pids.is_empty(), args.command.split_first()) {
        (false, None) => syscalls::attach(&opts, &args.pids),
        (true, Some((program, rest))) => syscalls::trace_command(&opts, program, rest),
        (false, Some(_)) => anyhow::bail!("give either -p PID or a program to run, not both"),
        (true, None) => {
            anyhow::bail!("nothing to trace: give a program (`-- PROGRAM ARGS`) or -p PID")
        }
    };
    match result {
        Ok(outcome) => Ok(outcome.exit_code),
        Err(e @ syscalls::Error::Spawn { .. }) => {
            eprintln!("ruchytrace: {e}");
            Ok(e.exit_code())
        }
        Err(e) => Err(e.into()),
    }
}
