//! `ruchytrace report FILES...`: call graph, hotspots, per-function syscalls and file I/O of a
//! merged trace.

use super::merge::{FilterArgs, InputArgs};
use crate::merge::{report, Merged};

/// Arguments of `ruchytrace report`.
#[derive(Debug, Default, clap::Args)]
#[command(
    after_help = "Examples:\n  ruchytrace report out/ --callgraph\n  ruchytrace report fn.rtrace sys.json --hotspots 10 --io"
)]
pub struct ReportArgs {
    /// The inputs.
    #[command(flatten)]
    pub input: InputArgs,
    /// Tree of call paths with inclusive and self time, percent and call counts.
    #[arg(long)]
    pub callgraph: bool,
    /// The N functions with the most self time (or the --sort key).
    #[arg(long, value_name = "N")]
    pub hotspots: Option<usize>,
    /// Order of the hotspots.
    #[arg(long, value_enum, default_value_t)]
    pub sort: report::SortKey,
    /// Per-function table of system calls: count, errors, total time.
    #[arg(long)]
    pub syscalls: bool,
    /// With --syscalls: group system calls by the source line that made them (needs stacks:
    /// `syscalls -k` or `run --syscalls -k`); `~` marks inferred callers.
    #[arg(long, requires = "syscalls")]
    pub by_line: bool,
    /// Per-file I/O summary, with a warning for many tiny reads or writes.
    #[arg(long)]
    pub io: bool,
    /// Per `async fn`: futures, lifetime and busy (polled) time, and the futures that moved
    /// between threads (shown by default when the trace has futures).
    #[arg(long)]
    pub futures: bool,
    /// Replay filters.
    #[command(flatten)]
    pub filters: FilterArgs,
}

impl ReportArgs {
    /// Every section, reading with `input`'s settings.
    pub fn from_input(input: InputArgs) -> ReportArgs {
        ReportArgs {
            input,
            ..ReportArgs::default()
        }
    }
}

/// The text of the requested reports (all four sections when none was asked for) of a merged
/// tree.
pub fn render(m: &Merged, args: &ReportArgs) -> String {
    let tables = report::Tables::of_tree(m, args.input.show_tracer);
    let futures = (args.futures || !m.futures.list.is_empty())
        .then(|| report::futures_text(m, args.input.show_tracer));
    render_tables(&m.warnings, &tables, futures, args)
}

/// The text of the requested reports from the tables; `futures` is the futures section, when
/// the trace has futures or it was asked for.
pub fn render_tables(
    warnings: &[String],
    tables: &report::Tables,
    futures: Option<String>,
    args: &ReportArgs,
) -> String {
    let all =
        !args.callgraph && args.hotspots.is_none() && !args.syscalls && !args.io && !args.futures;
    let mut out = String::new();
    for w in warnings {
        out.push_str(&format!("# warning: {w}\n"));
    }
    let mut section = |title: &str, body: String| {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("## {title}\n{body}"));
    };
    if all || args.callgraph {
        section("call graph", tables.callgraph_text());
    }
    if all || args.hotspots.is_some() {
        let n = args.hotspots.unwrap_or(10);
        section(
            &format!("hotspots (top {n} by {})", args.sort.describe()),
            tables.hotspots_text(n, args.sort),
        );
    }
    if args.by_line {
        section("system calls per source line", tables.by_line_text());
    } else if all || args.syscalls {
        section("system calls per function", tables.syscalls_text());
    }
    if all || args.io {
        section("file I/O", tables.io_text());
    }
    if let Some(f) = futures.filter(|_| all || args.futures) {
        section("async futures", f);
    }
    out
}

/// Runs the subcommand: the tables from one replay of the inputs when they allow it (memory
/// bounded by the call stacks and the aggregates, docs/merge.md), else from the merged tree.
pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    crate::merge::progress::enable(&args.input.files());
    let filters = match args.filters.filters() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ruchytrace: {e}");
            return Ok(super::EXIT_USAGE);
        }
    };
    let text = if filters.is_empty() && !args.futures {
        let plan = match super::merge::load_and_plan(
            &args.input.files(),
            args.input.partial,
            &args.input.options(),
        ) {
            Ok(p) => p,
            Err(f) => {
                eprintln!("ruchytrace: {}", f.message);
                return Ok(f.code);
            }
        };
        match plan.tree() {
            Some(m) => render(m, &args),
            None => {
                let tables = plan.report_tables(args.input.show_tracer)?;
                render_tables(plan.warnings(), &tables, None, &args)
            }
        }
    } else {
        let mut m = match super::merge::load_and_merge(
            &args.input.files(),
            args.input.partial,
            &args.input.options(),
        ) {
            Ok(m) => m,
            Err(f) => {
                eprintln!("ruchytrace: {}", f.message);
                return Ok(f.code);
            }
        };
        crate::merge::filter::apply(&mut m, &filters);
        render(&m, &args)
    };
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(0)
}
