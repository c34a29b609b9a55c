//! `ruchytrace merge FILES...`: joins function traces and a syscall trace into one timeline.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::merge::{self, filter, Input, MergeOptions, Merged};

/// Output formats of a merged trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MergedFormat {
    /// Indented timeline per thread.
    Text,
    /// The merged JSON document (docs/merge.md).
    Json,
    /// Chrome trace event JSON (Perfetto, chrome://tracing).
    Chrome,
    /// Perfetto's native protobuf trace (.pftrace): thread, async and counter tracks, flows.
    Perfetto,
    /// OpenTelemetry OTLP/JSON ExportTraceServiceRequest (.otlp.json): a span per call.
    OtlpJson,
    /// Folded stacks for flame graphs, weighted by self time.
    Collapsed,
    /// SVG flame graph.
    Svg,
    /// Graphviz call graph.
    Dot,
}

impl MergedFormat {
    /// The format a file name implies.
    pub fn from_path(p: &Path) -> Option<MergedFormat> {
        let name = p.file_name()?.to_str()?.to_ascii_lowercase();
        let ext = name.rsplit('.').next()?;
        Some(match ext {
            "txt" | "log" => MergedFormat::Text,
            "json" if name.ends_with(".chrome.json") || name.ends_with(".trace.json") => {
                MergedFormat::Chrome
            }
            "json" if name.ends_with(".otlp.json") => MergedFormat::OtlpJson,
            "json" => MergedFormat::Json,
            "pftrace" | "perfetto-trace" => MergedFormat::Perfetto,
            "folded" | "collapsed" => MergedFormat::Collapsed,
            "svg" => MergedFormat::Svg,
            "dot" | "gv" => MergedFormat::Dot,
            _ => return None,
        })
    }

    /// Whether the merge can write this format without the merged tree ([`merge::stream`]).
    pub fn streams(self) -> bool {
        matches!(
            self,
            MergedFormat::Text
                | MergedFormat::Json
                | MergedFormat::Chrome
                | MergedFormat::Perfetto
                | MergedFormat::OtlpJson
                | MergedFormat::Collapsed
                | MergedFormat::Svg
                | MergedFormat::Dot
        )
    }

    /// File extension for this format.
    pub fn extension(self) -> &'static str {
        match self {
            MergedFormat::Text => "txt",
            MergedFormat::Json => "json",
            MergedFormat::Chrome => "chrome.json",
            MergedFormat::Perfetto => "pftrace",
            MergedFormat::OtlpJson => "otlp.json",
            MergedFormat::Collapsed => "folded",
            MergedFormat::Svg => "svg",
            MergedFormat::Dot => "dot",
        }
    }
}

/// The input flags shared by `merge` and `report`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InputArgs {
    /// Function traces (binary or JSON) and the syscall trace (sys.json), in any order, or a
    /// directory (every function and syscall trace in it is used, whatever its name).
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Show the runtime collector thread (tracer traffic), hidden by default.
    #[arg(long)]
    pub show_tracer: bool,
    /// List the dynamic loader's system calls (needs stacks, `-k`) instead of one summary line
    /// per thread.
    #[arg(long)]
    pub show_startup: bool,
    /// Turn straddling syscalls and pid/clock mismatches into warnings.
    #[arg(long)]
    pub force: bool,
    /// Accept truncated function traces (a crashed or killed program): use the events before the
    /// damage.
    #[arg(long)]
    pub partial: bool,
}

impl InputArgs {
    /// The merge settings these flags ask for.
    pub fn options(&self) -> MergeOptions {
        MergeOptions {
            force: self.force,
            show_startup: self.show_startup,
        }
    }

    /// The input files, with directories expanded into the trace files they hold.
    pub fn files(&self) -> Vec<PathBuf> {
        expand_inputs(&self.inputs)
    }
}

/// The replay filters shared by `merge`, `report` and `convert` (docs/merge.md).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Drop calls shorter than D (e.g. 100us); their system calls move to the nearest kept caller.
    #[arg(long, value_name = "D", value_parser = filter::parse_duration)]
    pub min_duration: Option<u64>,
    /// Keep calls at most N deep (1: top-level calls); deeper calls' system calls move up.
    #[arg(long, value_name = "N")]
    pub depth: Option<usize>,
    /// Keep only these threads.
    #[arg(long, value_name = "TID", value_delimiter = ',')]
    pub tid: Vec<u32>,
    /// Keep what starts in A..B: times with a unit are relative to the first event (1ms..5ms),
    /// bare numbers absolute CLOCK_MONOTONIC ns; either end may be left out.
    #[arg(long, value_name = "A..B", value_parser = filter::parse_time_range)]
    pub time_range: Option<filter::TimeRange>,
    /// Keep only the subtrees of calls of F (a name glob, as --filter).
    #[arg(long, value_name = "F")]
    pub caller: Option<String>,
    /// Keep calls whose name matches (record-time syntax: `compute*,!app::net::*`); the others'
    /// system calls move to the nearest kept caller.
    #[arg(long, value_name = "GLOBS")]
    pub filter: Option<String>,
}

impl FilterArgs {
    /// The filters these flags ask for.
    pub fn filters(&self) -> Result<filter::Filters, String> {
        let parse = |what: &str, spec: &Option<String>| {
            spec.as_deref()
                .map(ruchytrace_runtime::filter::Filter::parse)
                .transpose()
                .map_err(|e| format!("--{what}: {e}"))
        };
        Ok(filter::Filters {
            min_duration: self.min_duration,
            depth: self.depth,
            tids: (!self.tid.is_empty()).then(|| self.tid.clone()),
            time_range: self.time_range,
            caller: parse("caller", &self.caller)?,
            filter: parse("filter", &self.filter)?,
        })
    }
}

/// Expands directories into the function and syscall traces they hold, whatever their names
/// (told by content), in name order.
pub fn expand_inputs(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            files.retain(|f| f.is_file() && merge::trace_kind(f).is_some());
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// Arguments of `ruchytrace merge`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ruchytrace merge fn.rtrace sys.json\n  ruchytrace merge fn.json sys.json -o trace.chrome.json\n  ruchytrace merge fn.rtrace sys.json --format svg -o flame.svg\n\nExit status: 0, 1 when the inputs disagree (straddling syscall, pid or clock mismatch), 2 for unreadable or malformed inputs."
)]
pub struct MergeArgs {
    /// The inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// Write here instead of stdout (format from the extension unless --format).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Output format (default: from -o's extension, else text).
    #[arg(long, value_enum)]
    pub format: Option<MergedFormat>,
    /// Replay filters.
    #[command(flatten)]
    pub filters: FilterArgs,
    /// With --format otlp-json: system calls as child spans instead of span events.
    #[arg(long)]
    pub otlp_syscall_spans: bool,
}

/// Exit status for inconsistent inputs (straddle, mismatch).
pub const EXIT_INCONSISTENT: i32 = 1;

/// A failure with its exit status.
#[derive(Debug)]
pub struct Failure {
    /// Exit status.
    pub code: i32,
    /// Message.
    pub message: String,
}

/// Reads and merges `inputs` (exit 2 for unusable files, 1 for inconsistent ones).
pub fn load_and_merge(
    inputs: &[PathBuf],
    partial: bool,
    opts: &MergeOptions,
) -> Result<Merged, Failure> {
    let mut loaded: Vec<Input> = Vec::new();
    for p in inputs {
        let input = merge::load(p, partial).map_err(|e| Failure {
            code: super::EXIT_USAGE,
            message: e.to_string(),
        })?;
        loaded.push(input);
    }
    merge::merge(loaded, opts).map_err(|e| Failure {
        code: match e {
            merge::MergeError::NoInput(_) => super::EXIT_USAGE,
            _ => EXIT_INCONSISTENT,
        },
        message: e.to_string(),
    })
}

/// Reads `inputs` and plans their merge ([`merge::stream::plan_text`]): streamed when the
/// inputs allow it, else the merged tree (exit 2 for unusable files, 1 for inconsistent ones).
pub fn load_and_plan(
    inputs: &[PathBuf],
    partial: bool,
    opts: &MergeOptions,
) -> Result<merge::stream::TextPlan, Failure> {
    let mut loaded: Vec<Input> = Vec::new();
    for p in inputs {
        let input = merge::load(p, partial).map_err(|e| Failure {
            code: super::EXIT_USAGE,
            message: e.to_string(),
        })?;
        loaded.push(input);
    }
    merge::stream::plan_text(loaded, opts).map_err(|e| Failure {
        code: match e {
            merge::MergeError::NoInput(_) => super::EXIT_USAGE,
            _ => EXIT_INCONSISTENT,
        },
        message: e.to_string(),
    })
}

/// Writes `m` in `format`.
pub fn write_merged(
    m: &Merged,
    format: MergedFormat,
    show_tracer: bool,
    out: &mut dyn Write,
) -> io::Result<()> {
    let opts = merge::otlp::OtlpOptions {
        show_tracer,
        ..Default::default()
    };
    write_merged_with(m, format, opts, out)
}

/// Writes `m` in `format`, with the OTLP writer's options.
pub fn write_merged_with(
    m: &Merged,
    format: MergedFormat,
    opts: merge::otlp::OtlpOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let show_tracer = opts.show_tracer;
    match format {
        MergedFormat::Text => merge::text::write(m, show_tracer, out),
        MergedFormat::Json => merge::json::write(m, show_tracer, out),
        MergedFormat::Chrome => merge::chrome::write(m, show_tracer, out),
        MergedFormat::Perfetto => merge::perfetto::write(m, show_tracer, out),
        MergedFormat::OtlpJson => merge::otlp::write(m, opts, out),
        MergedFormat::Collapsed => merge::flame::write_collapsed(m, show_tracer, out),
        MergedFormat::Svg => merge::flame::write_svg(m, show_tracer, out),
        MergedFormat::Dot => merge::dot::write(m, show_tracer, out),
    }
}

/// Writes `m` to `path` (or stdout).
pub fn emit(
    m: &Merged,
    format: MergedFormat,
    show_tracer: bool,
    path: Option<&Path>,
) -> anyhow::Result<()> {
    let opts = merge::otlp::OtlpOptions {
        show_tracer,
        ..Default::default()
    };
    emit_with(m, format, opts, path)
}

/// Writes `m` to `path` (or stdout), with the OTLP writer's options.
pub fn emit_with(
    m: &Merged,
    format: MergedFormat,
    opts: merge::otlp::OtlpOptions,
    path: Option<&Path>,
) -> anyhow::Result<()> {
    use anyhow::Context;
    match path {
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            let mut w = BufWriter::new(f);
            write_merged_with(m, format, opts, &mut w)
                .and_then(|_| w.flush())
                .with_context(|| format!("cannot write {}", p.display()))
        }
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            match write_merged_with(m, format, opts, &mut w).and_then(|_| w.flush()) {
                // `ruchytrace merge ... | head` is fine.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => r.context("cannot write to stdout"),
            }
        }
    }
}

/// Runs the subcommand.
pub fn run(args: MergeArgs) -> anyhow::Result<i32> {
    merge::progress::enable(&args.input.files());
    let format = args
        .format
        .or_else(|| args.output.as_deref().and_then(MergedFormat::from_path))
        .unwrap_or(MergedFormat::Text);
    let opts = args.input.options();
    let filters = match args.filters.filters() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            return Ok(super::EXIT_USAGE);
        }
    };
    if format.streams() && filters.is_empty() {
        return run_streamed(&args, &opts, format);
    }
    let mut m = match load_and_merge(&args.input.files(), args.input.partial, &opts) {
        Ok(m) => m,
        Err(f) => {
            eprintln!("ruchytrace: {}", f.message);
            return Ok(f.code);
        }
    };
    merge::filter::apply(&mut m, &filters);
    if format != MergedFormat::Text {
        for w in &m.warnings {
            eprintln!("ruchytrace: warning: {w}");
        }
    }
    let opts = merge::otlp::OtlpOptions {
        show_tracer: args.input.show_tracer,
        syscall_spans: args.otlp_syscall_spans,
    };
    emit_with(&m, format, opts, args.output.as_deref())?;
    Ok(0)
}

/// Writes a streamable `format` from `plan` (streamed or from its tree), with the OTLP
/// writer's options (`show_tracer` applies to every format).
pub fn write_plan(
    plan: &merge::stream::TextPlan,
    format: MergedFormat,
    opts: merge::otlp::OtlpOptions,
    w: &mut dyn Write,
) -> io::Result<()> {
    let show_tracer = opts.show_tracer;
    match format {
        MergedFormat::OtlpJson => plan.write_otlp(opts, w),
        MergedFormat::Perfetto => plan.write_perfetto(show_tracer, w),
        MergedFormat::Chrome => plan.write_chrome(show_tracer, w),
        MergedFormat::Collapsed => merge::flame::write_folded(&plan.folded(show_tracer)?, w),
        MergedFormat::Svg => merge::flame::write_svg_folded(plan.folded(show_tracer)?, w),
        MergedFormat::Dot => merge::dot::write_graph(&plan.call_graph(show_tracer)?, w),
        MergedFormat::Json => plan.write_json(show_tracer, w),
        _ => plan.write(show_tracer, w),
    }
}

/// The text timeline, the Perfetto trace or the flame graphs, streamed when the inputs allow it
/// (memory bounded by threads and call depth, not by the trace's length; docs/merge.md).
fn run_streamed(
    args: &MergeArgs,
    opts: &MergeOptions,
    format: MergedFormat,
) -> anyhow::Result<i32> {
    use anyhow::Context;
    let mut loaded: Vec<Input> = Vec::new();
    for p in &args.input.files() {
        match merge::load(p, args.input.partial) {
            Ok(i) => loaded.push(i),
            Err(e) => {
                eprintln!("ruchytrace: {e}");
                return Ok(super::EXIT_USAGE);
            }
        }
    }
    let plan = match merge::stream::plan_text(loaded, opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            return Ok(match e {
                merge::MergeError::NoInput(_) => super::EXIT_USAGE,
                _ => EXIT_INCONSISTENT,
            });
        }
    };
    let otlp = merge::otlp::OtlpOptions {
        show_tracer: args.input.show_tracer,
        syscall_spans: args.otlp_syscall_spans,
    };
    let write = |w: &mut dyn Write| write_plan(&plan, format, otlp, w);
    if format != MergedFormat::Text {
        for w in plan.warnings() {
            eprintln!("ruchytrace: warning: {w}");
        }
    }
    match args.output.as_deref() {
        Some(p) => {
            let f = std::fs::File::create(p)
                .with_context(|| format!("cannot create {}", p.display()))?;
            let mut w = BufWriter::new(f);
            write(&mut w)
                .and_then(|_| w.flush())
                .with_context(|| format!("cannot write {}", p.display()))?;
        }
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            match write(&mut w).and_then(|_| w.flush()) {
                // `ruchytrace merge ... | head` is fine.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                r => r.context("cannot write to stdout")?,
            }
        }
    }
    Ok(0)
}
