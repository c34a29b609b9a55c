//! `ruchytrace report FILES...`: call graph, hotspots, per-function syscalls and file I/O of a
//! merged trace.

use std::path::PathBuf;

use crate::merge::{report, MergeOptions, Merged};

/// Arguments of `ruchytrace report`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "FILE may be a directory written by `ruchytrace run -o DIR` (its fn-*.rtrace/json and sys.json are used).\n\nExamples:\n  ruchytrace report out/ --callgraph\n  ruchytrace report fn.rtrace sys.json --hotspots 10 --io"
)]
pub struct ReportArgs {
    /// Function traces and the syscall trace, or a `run -o` directory.
    #[arg(required = true, value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// Tree of call paths with inclusive and self time, percent and call counts.
    #[arg(long)]
    pub callgraph: bool,
    /// The N functions with the most self time.
    #[arg(long, value_name = "N")]
    pub hotspots: Option<usize>,
    /// Per-function table of system calls: count, errors, total time.
    #[arg(long)]
    pub syscalls: bool,
    /// Per-file I/O summary, with a warning for many tiny reads or writes.
    #[arg(long)]
    pub io: bool,
    /// Include the runtime collector thread.
    #[arg(long)]
    pub show_tracer: bool,
    /// Turn straddling syscalls and pid/clock mismatches into warnings.
    #[arg(long)]
    pub force: bool,
    /// Accept truncated function traces.
    #[arg(long)]
    pub partial: bool,
}

/// Expands `run -o` directories into the trace files they hold.
pub fn expand_inputs(inputs: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            files.retain(|f| {
                let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name == "sys.json"
                    || (name.starts_with("fn")
                        && (name.ends_with(".rtrace") || name.ends_with(".json")))
            });
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    out
}

/// The text of the requested reports (all four sections when none was asked for).
pub fn render(m: &Merged, args: &ReportArgs) -> String {
    let all = !args.callgraph && args.hotspots.is_none() && !args.syscalls && !args.io;
    let mut out = String::new();
    for w in &m.warnings {
        out.push_str(&format!("# warning: {w}\n"));
    }
    let mut section = |title: &str, body: String| {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&format!("## {title}\n{body}"));
    };
    if all || args.callgraph {
        section("call graph", report::callgraph_text(m, args.show_tracer));
    }
    if all || args.hotspots.is_some() {
        let n = args.hotspots.unwrap_or(10);
        section(
            &format!("hotspots (top {n} by self time)"),
            report::hotspots_text(m, args.show_tracer, n),
        );
    }
    if all || args.syscalls {
        section(
            "system calls per function",
            report::syscalls_text(m, args.show_tracer),
        );
    }
    if all || args.io {
        section("file I/O", report::io_text(m, args.show_tracer));
    }
    out
}

/// Runs the subcommand.
pub fn run(args: ReportArgs) -> anyhow::Result<i32> {
    let inputs = expand_inputs(&args.inputs);
    let opts = MergeOptions { force: args.force };
    let m = match super::merge::load_and_merge(&inputs, args.partial, &opts) {
        Ok(m) => m,
        Err(f) => {
            eprintln!("ruchytrace: {}", f.message);
            return Ok(f.code);
        }
    };
    use std::io::Write;
    let text = render(&m, &args);
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(0)
}
