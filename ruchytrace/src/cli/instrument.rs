//! `ruchytrace instrument`: add `#[ruchytrace::trace]` and `#[derive(ruchytrace::Traceable)]` to generated Rust
//! (see [`crate::instrument`] for what is inserted where).

use crate::instrument::{instrument_source, LocationMap};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

/// Arguments of `ruchytrace instrument`.
#[derive(Debug, clap::Args)]
pub struct InstrumentArgs {
    /// A `.rs` file, or a directory (every `.rs` file under it).
    pub input: PathBuf,
    /// Where to write: a file for a file input, a directory for a directory input. Default for a file: stdout.
    #[arg(short, long, value_name = "OUT", conflicts_with = "in_place")]
    pub output: Option<PathBuf>,
    /// Rewrite the input files themselves.
    #[arg(long)]
    pub in_place: bool,
    /// Original source locations: a `NAME=FILE:LINE:COL` map, or a `.ruchy` source to derive them from.
    #[arg(long, value_name = "MAP")]
    pub location_map: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: InstrumentArgs) -> anyhow::Result<i32> {
    let map = args.location_map.as_deref().map(load_map).transpose()?;
    let meta = std::fs::metadata(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let (mut functions, mut types, mut files) = (0, 0, 0);
    let mut one = |src_path: &Path, dst: Option<&Path>| -> anyhow::Result<()> {
        let text = std::fs::read_to_string(src_path)
            .with_context(|| format!("cannot read {}", src_path.display()))?;
        let out = instrument_source(&text, map.as_ref())
            .map_err(|e| anyhow::anyhow!("{}:{e}", src_path.display()))?;
        functions += out.functions;
        types += out.types;
        files += 1;
        match dst {
            Some(dst) => {
                if let Some(parent) = dst.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                // Unchanged files keep their mtime, so cargo does not rebuild for nothing.
                if std::fs::read_to_string(dst).ok().as_deref() != Some(out.source.as_str()) {
                    std::fs::write(dst, &out.source)
                        .with_context(|| format!("cannot write {}", dst.display()))?;
                }
            }
            None => print!("{}", out.source),
        }
        Ok(())
    };
    if meta.is_dir() {
        let out_dir = match (&args.output, args.in_place) {
            (Some(o), _) => o.clone(),
            (None, true) => args.input.clone(),
            (None, false) => bail!("a directory input needs -o OUT_DIR or --in-place"),
        };
        let mut sources = Vec::new();
        collect_rs(&args.input, &mut sources)?;
        sources.sort();
        for src in sources {
            let rel = src.strip_prefix(&args.input).unwrap_or(&src);
            one(&src, Some(&out_dir.join(rel)))?;
        }
    } else {
        let dst = match (&args.output, args.in_place) {
            (Some(o), _) => Some(o.clone()),
            (None, true) => Some(args.input.clone()),
            (None, false) => None,
        };
        one(&args.input, dst.as_deref())?;
    }
    eprintln!("ruchytrace: instrumented {functions} functions and {types} types in {files} files");
    Ok(0)
}

/// Reads a location map; a `.ruchy` file is scanned for its `fun` definitions instead.
pub fn load_map(path: &Path) -> anyhow::Result<LocationMap> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read location map {}", path.display()))?;
    if path.extension().is_some_and(|e| e == "ruchy") {
        Ok(LocationMap::from_ruchy_source(
            &path.display().to_string(),
            &text,
        ))
    } else {
        LocationMap::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_rs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}
