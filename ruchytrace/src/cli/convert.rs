//! `ruchytrace convert`: re-encode a function trace (binary, JSON, text), or write it in one of
//! the viewer formats of `merge` (perfetto, chrome, collapsed, svg, dot).
//!
//! `ruchytrace convert IN [-o OUT] [--format FORMAT]`. The input format (binary or JSON) is
//! detected from its content; the output format comes from `--format`, else from the extension
//! of `OUT`, else it is text. Without `-o` the output goes to stdout. The viewer formats go
//! through the merge of the one input (see `docs/merge.md`).
//!
//! Exit status: 0 on success, including a truncated input (everything before the damage is
//! converted, the output is marked incomplete, and a warning goes to stderr); 2 for usage
//! errors and inputs that are not readable traces (`ruchytrace: IN: <what> at byte N`); 1 when
//! the output cannot be written.

use anyhow::{anyhow, bail};
use ruchytrace_runtime::format::{self, ConvertError, Format};
use std::io::{self, Write};
use std::path::PathBuf;

use super::merge::{FilterArgs, MergedFormat};
use crate::merge;

/// Arguments of `ruchytrace convert`.
#[derive(Debug, clap::Args)]
pub struct ConvertArgs {
    /// Input trace file (binary `.rtrace` or JSON; detected from the content).
    pub input: PathBuf,
    /// Output file (default: stdout).
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Output format: text, json, binary, or a viewer format of `merge` (perfetto, chrome,
    /// collapsed, svg, dot). Default: from the extension of OUT, else text.
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// The command line of `ruchytrace convert`: the arguments and the replay filters.
#[derive(Debug, clap::Args)]
pub struct ConvertCommand {
    /// What to convert, and to what.
    #[command(flatten)]
    pub args: ConvertArgs,
    /// Replay filters (for the viewer formats).
    #[command(flatten)]
    pub filters: FilterArgs,
}

/// What `convert` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// A function trace format of the runtime.
    Trace(Format),
    /// A viewer format, through the merge.
    Merged(MergedFormat),
}

/// The viewer formats `convert` writes through the merge (`text` and `json` name the function
/// trace formats here).
fn merged_format(name: &str) -> Option<MergedFormat> {
    use clap::ValueEnum;
    MergedFormat::from_str(name, true)
        .ok()
        .filter(|f| !matches!(f, MergedFormat::Text | MergedFormat::Json))
}

fn output_choice(args: &ConvertArgs) -> anyhow::Result<Output> {
    if let Some(f) = args.format.as_deref().and_then(merged_format) {
        return Ok(Output::Merged(f));
    }
    if args.format.is_none() {
        if let Some(f) = args
            .output
            .as_deref()
            .and_then(MergedFormat::from_path)
            .filter(|f| !matches!(f, MergedFormat::Text | MergedFormat::Json))
        {
            return Ok(Output::Merged(f));
        }
    }
    output_format(args).map(Output::Trace)
}

/// Picks the output format from `--format`, the output's extension, or text.
fn output_format(args: &ConvertArgs) -> anyhow::Result<Format> {
    if let Some(name) = &args.format {
        return Format::from_name(name).ok_or_else(|| {
            anyhow!(
                "unknown format {name:?} (expected text, json, binary, perfetto, chrome, collapsed, svg or dot)"
            )
        });
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

/// Runs the subcommand without filters.
pub fn run(args: ConvertArgs) -> anyhow::Result<i32> {
    run_filtered(args, &FilterArgs::default())
}

/// Runs the subcommand as parsed.
pub fn run_command(cmd: ConvertCommand) -> anyhow::Result<i32> {
    run_filtered(cmd.args, &cmd.filters)
}

/// Runs the subcommand with replay filters.
pub fn run_filtered(args: ConvertArgs, filter_args: &FilterArgs) -> anyhow::Result<i32> {
    let choice = output_choice(&args)?;
    if args.output.as_deref() == Some(args.input.as_path()) {
        bail!("the output {} is the input", args.input.display());
    }
    let filters = match filter_args.filters() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            return Ok(super::EXIT_USAGE);
        }
    };
    let fmt = match choice {
        Output::Trace(f) if filters.is_empty() => f,
        Output::Trace(f) => bail!(
            "the replay filters apply to the viewer formats (perfetto, chrome, collapsed, svg, dot), not to {}",
            f.name()
        ),
        Output::Merged(f) => return run_merged(&args, f, &filters),
    };
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
    merge::progress::enable(std::slice::from_ref(&args.input));
    let done = match merge::trace_kind(&args.input) {
        // A binary trace: the runtime's segmented file is read in place (memory-mapped).
        Some(true) if is_binary(&args.input) => {
            match merge::input::open_binary_file(&args.input, "converting") {
                Ok((reader, map)) => {
                    let mut bar = if map.is_some() {
                        merge::progress::EventBar::new(&args.input, "converting", None)
                    } else {
                        merge::progress::EventBar::none()
                    };
                    format::convert_binary(reader, fmt, open, &mut || bar.tick())
                }
                Err(e) => Err(ConvertError::Read(e)),
            }
        }
        _ => format::convert(&args.input, fmt, open),
    };
    match done {
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

/// A viewer format: the merge of the one input (a truncated input keeps its complete prefix,
/// with a warning, as the other formats do).
fn run_merged(
    args: &ConvertArgs,
    format: MergedFormat,
    filters: &merge::filter::Filters,
) -> anyhow::Result<i32> {
    merge::progress::enable(std::slice::from_ref(&args.input));
    let input = match merge::load(&args.input, true) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            return Ok(super::EXIT_USAGE);
        }
    };
    if matches!(input, merge::Input::Syscalls { .. }) {
        eprintln!(
            "ruchytrace: {}: a syscall trace; convert reads function traces (use `merge` to join it with one)",
            args.input.display()
        );
        return Ok(super::EXIT_USAGE);
    }
    if format.streams() && filters.is_empty() {
        return write_streamed(args, format, input);
    }
    let mut m = match merge::merge(vec![input], &merge::MergeOptions::default()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            return Ok(super::merge::EXIT_INCONSISTENT);
        }
    };
    merge::filter::apply(&mut m, filters);
    for w in &m.warnings {
        eprintln!("ruchytrace: warning: {w}");
    }
    super::merge::emit(&m, format, false, args.output.as_deref())?;
    Ok(0)
}

/// A streamable viewer format (memory bounded by the call depth, see `docs/merge.md`).
fn write_streamed(
    args: &ConvertArgs,
    format: MergedFormat,
    input: merge::Input,
) -> anyhow::Result<i32> {
    use anyhow::Context;
    let plan = match merge::stream::plan_text(vec![input], &merge::MergeOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            return Ok(super::merge::EXIT_INCONSISTENT);
        }
    };
    for w in plan.warnings() {
        eprintln!("ruchytrace: warning: {w}");
    }
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    match super::merge::write_plan(&plan, format, Default::default(), &mut out)
        .and_then(|_| out.flush())
    {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => {
            eprintln!("ruchytrace: cannot write: {e}");
            Ok(1)
        }
        Ok(()) => Ok(0),
    }
}

/// True when `path` starts with a binary trace's magic (either layout).
fn is_binary(path: &std::path::Path) -> bool {
    let mut head = Vec::with_capacity(8);
    std::fs::File::open(path)
        .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 8), &mut head))
        .is_ok()
        && format::detect(&head) == Ok(format::Detected::Binary)
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
        assert_eq!(
            output_choice(&args(Some("x.pftrace"), None)).unwrap(),
            Output::Merged(MergedFormat::Perfetto)
        );
        assert_eq!(
            output_choice(&args(None, Some("perfetto"))).unwrap(),
            Output::Merged(MergedFormat::Perfetto)
        );
        assert_eq!(
            output_choice(&args(Some("x.json"), None)).unwrap(),
            Output::Trace(Format::Json)
        );
        assert_eq!(
            output_choice(&args(None, Some("json"))).unwrap(),
            Output::Trace(Format::Json)
        );
    }
}
