//! `ruchytrace convert`: re-encode a function trace (binary, JSON, text).

/// Arguments of `ruchytrace convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Input trace file.
    pub input: std::path::PathBuf,
}

/// Runs the subcommand.
pub fn run(args: ConvertArgs) -> anyhow::Result<i32> {
    anyhow::bail!("convert: not built yet ({})", args.input.display())
}
