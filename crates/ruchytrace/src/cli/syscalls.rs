//! `ruchytrace syscalls`: the ptrace companion (strace-style system call tracer).

/// Arguments of `ruchytrace syscalls`.
#[derive(Debug, clap::Args)]
pub struct SyscallsArgs {
    /// The program to run and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Runs the subcommand.
pub fn run(args: SyscallsArgs) -> anyhow::Result<i32> {
    anyhow::bail!("syscalls: not built yet ({:?})", args.command)
}
