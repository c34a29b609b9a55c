//! `ruchytrace diff A B`: what changed between two runs, per function and per system call, with
//! `--fail-above PCT` as a regression gate for CI.
//!
//! A and B are each a trace file (function trace, with or without its `sys.json` beside it
//! given as a directory) or a `run -o` directory. Exit status: 0; 1 when `--fail-above` found a
//! regression; 2 for unreadable or malformed inputs.

use std::io::Write;
use std::path::PathBuf;

use crate::merge::diff;
use crate::merge::MergeOptions;

/// Arguments of `ruchytrace diff`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ruchytrace diff before/ after/\n  ruchytrace diff old.rtrace new.rtrace --fail-above 10\n\nExit status: 0, 1 when --fail-above finds a regression, 2 for unreadable or malformed inputs."
)]
pub struct DiffArgs {
    /// The baseline: a trace file or a `run -o` directory.
    #[arg(value_name = "A")]
    pub a: PathBuf,
    /// The run compared with it.
    #[arg(value_name = "B")]
    pub b: PathBuf,
    /// Exit 1 when a function's self time per call, or a system call's count, grew by more than
    /// PCT percent.
    #[arg(long, value_name = "PCT")]
    pub fail_above: Option<f64>,
    /// Hide rows whose calls and per-call times changed by at most PCT percent.
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    pub noise: f64,
    /// Include the runtime collector thread.
    #[arg(long)]
    pub show_tracer: bool,
    /// Turn straddling syscalls and pid/clock mismatches into warnings.
    #[arg(long)]
    pub force: bool,
    /// Accept truncated function traces (a crashed or killed program): use the events before the
    /// damage.
    #[arg(long)]
    pub partial: bool,
}

/// Runs the subcommand.
pub fn run(args: DiffArgs) -> anyhow::Result<i32> {
    let opts = MergeOptions {
        force: args.force,
        ..MergeOptions::default()
    };
    crate::merge::progress::enable(&super::merge::expand_inputs(&[
        args.a.clone(),
        args.b.clone(),
    ]));
    let mut profiles = Vec::new();
    for side in [&args.a, &args.b] {
        let files = super::merge::expand_inputs(std::slice::from_ref(side));
        // Only the call graph is needed: one replay of the inputs when they allow it.
        match super::merge::load_and_plan(&files, args.partial, &opts) {
            Ok(plan) => {
                for w in plan.warnings() {
                    eprintln!("ruchytrace: warning: {}: {w}", side.display());
                }
                let g = plan.call_graph(args.show_tracer)?;
                profiles.push(diff::profile_of(&g, &plan.processes()));
            }
            Err(f) => {
                eprintln!("ruchytrace: {}", f.message);
                return Ok(f.code);
            }
        }
    }
    let (a, b) = (&profiles[0], &profiles[1]);
    if a.programs != b.programs {
        eprintln!(
            "ruchytrace: warning: A and B trace different programs ({:?} vs {:?}); comparing by function name",
            a.programs, b.programs
        );
    }
    let rows = diff::compare(a, b);
    let mut text = format!("# A: {}\n# B: {}\n", args.a.display(), args.b.display());
    text.push_str(&diff::text(&rows, args.noise));
    let mut code = 0;
    if let Some(pct) = args.fail_above {
        let found = diff::regressions(&rows, pct);
        if found.is_empty() {
            text.push_str(&format!("\nno regression above {pct}%\n"));
        } else {
            text.push_str(&format!("\n## regressions above {pct}%\n"));
            for r in &found {
                text.push_str(r);
                text.push('\n');
            }
            code = 1;
        }
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    Ok(code)
}
