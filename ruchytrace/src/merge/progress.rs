//! Progress bars for long reads: every pass over a big input file shows one on a terminal.
//!
//! The CLI turns them on ([`enable`]) when the inputs of a command add up to more than
//! [`THRESHOLD`] bytes and stderr is a terminal; then each opening of an input file for a pass
//! ([`open`]) shows a bar of that file's bytes, cleared when the pass ends; a file read in
//! place (a memory-mapped trace file) counts its events instead ([`Counted`]). Nothing is drawn
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

/// Events between two updates of an [`EventBar`].
const EVENTS_PER_TICK: u64 = 1 << 16;

/// A bar counting the events of one pass over a file read in place (memory-mapped): of `total`
/// events when it is known (a second pass), else a running count; cleared when dropped.
pub struct EventBar {
    bar: Option<ProgressBar>,
    pending: u64,
}

impl EventBar {
    /// A bar for a pass labelled `what` over `path` (none when the bars are off).
    pub fn new(path: &Path, what: &str, total: Option<u64>) -> Self {
        let bar = ENABLED.load(Ordering::Relaxed).then(|| {
            let (bar, template) = match total {
                Some(n) => (
                    ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                    "{msg} [{bar:30}] {human_pos}/{human_len} events ({per_sec}, {eta})",
                ),
                None => (
                    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                    "{msg} {spinner} {human_pos} events ({per_sec})",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            bar.set_message(format!("{what} {name}"));
            bar
        });
        EventBar { bar, pending: 0 }
    }

    /// No bar.
    pub fn none() -> Self {
        EventBar {
            bar: None,
            pending: 0,
        }
    }

    /// One more event.
    pub fn tick(&mut self) {
        if let Some(b) = &self.bar {
            self.pending += 1;
            if self.pending == EVENTS_PER_TICK {
                b.inc(self.pending);
                self.pending = 0;
            }
        }
    }
}

impl Drop for EventBar {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// An iterator counting its items into an [`EventBar`].
pub struct Counted<I> {
    inner: I,
    bar: EventBar,
}

impl<I: Iterator> Counted<I> {
    /// Counts the items of `inner` into `bar`.
    pub fn new(inner: I, bar: EventBar) -> Self {
        Counted { inner, bar }
    }

    /// The iterator counted.
    pub fn inner(&self) -> &I {
        &self.inner
    }

    /// The iterator counted, to change how it reads.
    pub fn inner_mut(&mut self) -> &mut I {
        &mut self.inner
    }
}

impl<I: Iterator> Iterator for Counted<I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        let item = self.inner.next()?;
        self.bar.tick();
        Some(item)
    }
}
