//! `ruchytrace convert`: re-encode a function trace (binary, JSON, text).
//!
//! `ruchytrace convert IN [-o OUT] [--format text|json|binary]`. The input format (binary or
//! JSON) is detected from its content; the output format comes from `--format`, else from the
//! extension of `OUT`, else it is text. Without `-o` the output goes to stdout.
//!
//! Exit status: 0 on success, including a truncated input (everything before the damage is
//! converted, the output is marked incomplete, and a warning goes to stderr); 2 for usage
//! errors and inputs that are not readable traces (`ruchytrace: IN: <what> at byte N`); 1 when
//! the output cannot be written.

use anyhow::{anyhow, bail};
use ruchytrace_runtime::format::{self, ConvertError, Format};
use std::io::{self, Write};
use std::path::PathBuf;

/// Arguments of `ruchytrace convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Input trace file (binary `.rtrace` or JSON; detected from the content).
    pub input: PathBuf,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Output format: text, json or binary (default: from the extension of OUT, else text).
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// Picks the output format from `--format`, the output's extension, or text.
fn output_format(args: &ConvertArgs) -> anyhow::Result<Format> {
    if let Some(name) = &args.format {
        return Format::from_name(name)
            .ok_or_else(|| anyhow!("unknown format {name:?} (expected text, json or binary)"));
    }
    match &args.output {
        None => Ok(Format::Text),
        Some(out) => Format::from_path(out).ok_or_else(|| {
            anyhow!(
                "cannot tell the output format from {}: use --format text|json|binary \
                 (or the extension .txt, .json or .rtrace)",
                out.display()
            )
        }),
    }
}

/// Runs the subcommand.
pub fn run(args: ConvertArgs) -> anyhow::Result<i32> {
    let fmt = output_format(&args)?;
    if args.output.as_deref() == Some(args.input.as_path()) {
        bail!("the output {} is the input", args.input.display());
    }
    let output = args.output.clone();
    let open = move || -> io::Result<Box<dyn Write + Send>> {
        Ok(match &output {
            Some(path) => Box::new(io::BufWriter::with_capacity(
                1 << 16,
                std::fs::File::create(path)?,
            )),
            None => Box::new(io::BufWriter::with_capacity(1 << 16, io::stdout())),
        })
    };
    match format::convert(&args.input, fmt, open) {
        Ok(summary) => {
            if let Some(w) = truncation_warning(&args.input, &summary) {
                eprintln!("ruchytrace: {w}");
            }
            Ok(0)
        }
        Err(ConvertError::Read(e)) => bail!("{}: {e}", args.input.display()),
        Err(ConvertError::Write(e)) => {
            let dest = args
                .output
                .as_ref()
                .map_or_else(|| "stdout".to_owned(), |p| p.display().to_string());
            eprintln!("ruchytrace: cannot write {dest}: {e}");
            Ok(1)
        }
    }
}

/// The warning printed for a truncated input:
/// `warning: IN is truncated at byte N (what); K events kept`.
pub fn truncation_warning(
    input: &std::path::Path,
    summary: &format::ConvertSummary,
) -> Option<String> {
    let t = summary.truncation.as_deref()?;
    let (at, what) = split_truncation(t);
    Some(format!(
        "warning: {} is truncated{at} ({what}); {} events kept",
        input.display(),
        summary.events
    ))
}

/// Splits `truncated at byte N: what` into (` at byte N`, `what`).
fn split_truncation(t: &str) -> (String, &str) {
    match t
        .strip_prefix("truncated")
        .and_then(|rest| rest.split_once(": "))
    {
        Some((at, what)) => (at.to_owned(), what),
        None => (String::new(), t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_the_reader_message() {
        assert_eq!(
            split_truncation("truncated at byte 42: frame checksum mismatch"),
            (" at byte 42".to_owned(), "frame checksum mismatch")
        );
        assert_eq!(split_truncation("odd"), (String::new(), "odd"));
    }

    #[test]
    fn format_choice() {
        let args = |o: Option<&str>, f: Option<&str>| ConvertArgs {
            input: "in.rtrace".into(),
            output: o.map(PathBuf::from),
            format: f.map(str::to_owned),
        };
        assert_eq!(output_format(&args(None, None)).unwrap(), Format::Text);
        assert_eq!(
            output_format(&args(Some("x.json"), None)).unwrap(),
            Format::Json
        );
        assert_eq!(
            output_format(&args(Some("x.json"), Some("binary"))).unwrap(),
            Format::Binary
        );
        assert!(output_format(&args(Some("x.dat"), None)).is_err());
        assert!(output_format(&args(None, Some("xml"))).is_err());
    }
}
