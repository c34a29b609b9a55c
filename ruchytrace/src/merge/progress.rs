//! Progress bars for long reads: every pass over a big input file shows one on a terminal.
//!
//! The CLI turns them on ([`enable`]) when the inputs of a command add up to more than
//! [`THRESHOLD`] bytes and stderr is a terminal; then each opening of an input file for a pass
//! ([`open`]) shows a bar of that file's bytes, cleared when the pass ends. Nothing is drawn
//! otherwise.

use std::fs::File;
use std::io::{self, IsTerminal, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs above this many bytes in total get progress bars.
pub const THRESHOLD: u64 = 100 * 1024 * 1024;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Turns the bars on when `inputs` add up to more than [`THRESHOLD`] and stderr is a terminal;
/// returns whether they are on.
pub fn enable(inputs: &[std::path::PathBuf]) -> bool {
    let total: u64 = inputs
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let on = total > THRESHOLD && io::stderr().is_terminal();
    ENABLED.store(on, Ordering::Relaxed);
    on
}

/// A file being read, counting its bytes into a bar.
pub struct Tracked {
    file: File,
    bar: Option<ProgressBar>,
}

impl Read for Tracked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// Opens `path` for one pass; with bars on, a bar of its size labelled `what` and the file name.
pub fn open(path: &Path, what: &str) -> io::Result<Tracked> {
    let file = File::open(path)?;
    let bar = if ENABLED.load(Ordering::Relaxed) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        bar.set_message(format!("{what} {name}"));
        Some(bar)
    } else {
        None
    };
    Ok(Tracked { file, bar })
}
