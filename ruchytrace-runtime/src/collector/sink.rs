//! The collector's output side: events (decoded from the thread segments by `tail`) are
//! counted ([`Stats`]) and written with the configured [`TraceWriter`]; the first use of each
//! site writes its description first.

use super::stats::Stats;
use crate::clock;
use crate::format::{self, Format, Nesting, SiteTable, TraceWriter};
use crate::model::{Event, Metadata, Site, Trailer};
use crate::site;
use std::io::{self, Write};

/// Everything the collector writes with, behind the collector's one lock.
pub(crate) struct Sink {
    writer: Option<Box<dyn TraceWriter>>,
    write_failed: bool,
    sites: SiteTable,
    nesting: Nesting,
    pub(super) stats: Stats,
    finished: bool,
    pub(super) meta: Metadata,
}

impl Sink {
    /// A sink writing `fmt` to `out` (or only counting, without `out`), with header `meta`.
    pub(super) fn new(out: Option<(Box<dyn Write + Send>, Format)>, meta: Metadata) -> Sink {
        Sink {
            writer: out.map(|(out, fmt)| format::writer(fmt, out)),
            write_failed: false,
            sites: SiteTable::new(),
            nesting: Nesting::new(),
            stats: Stats::default(),
            finished: false,
            meta,
        }
    }

    /// Writes the trace header, naming the collector's thread.
    pub(super) fn begin(&mut self, collector_tid: Option<u32>) {
        self.meta.collector_tid = collector_tid;
        if let Some(w) = &mut self.writer {
            let r = w.begin(&self.meta);
            self.check(r);
        }
    }

    pub(super) fn check(&mut self, r: io::Result<()>) {
        if let Err(e) = r {
            if !self.write_failed {
                eprintln!("ruchytrace: warning: writing the trace failed: {e}; further events are counted as lost");
            }
            self.write_failed = true;
        }
    }

    /// Whether events are written anywhere.
    pub(super) fn has_writer(&self) -> bool {
        self.writer.is_some()
    }

    /// Whether the trailer has been written.
    pub(super) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Flushes the output writer.
    pub(super) fn flush_output(&mut self) {
        if let Some(w) = &mut self.writer {
            let r = w.flush();
            self.check(r);
        }
    }

    /// Uses `site` for its id (sites read back from a trace file).
    pub(super) fn add_site(&mut self, site: Site) {
        if !self.sites.contains(site.id) {
            if let Some(w) = &mut self.writer {
                let r = w.site(&site);
                self.check(r);
            }
            self.sites.insert(site);
        }
    }

    /// Writes the site record the first time a site is seen.
    #[inline]
    pub(super) fn ensure_site(&mut self, id: u32) {
        if !self.sites.contains(id) {
            self.new_site(id);
        }
    }

    #[cold]
    fn new_site(&mut self, id: u32) {
        if let Some(site) = site::site_model(id) {
            if let Some(w) = &mut self.writer {
                let r = w.site(&site);
                self.check(r);
            }
            self.sites.insert(site);
        }
    }

    pub(super) fn emit(&mut self, ev: &Event) {
        let site_id = match ev {
            Event::Enter { site, .. }
            | Event::Exit { site, .. }
            | Event::Suspend { site, .. }
            | Event::Resume { site, .. } => Some(*site),
            _ => None,
        };
        if let Some(id) = site_id {
            self.ensure_site(id);
        }
        let ctx = self.nesting.observe(ev, &self.sites);
        self.stats.events += 1;
        match ev {
            Event::Exit { site, ret, .. } => {
                self.stats
                    .count_exit(*site, ctx.duration_ns, ret.is_error());
            }
            Event::Loss { count, .. } => self.stats.lost += count,
            Event::Instant { category, .. } => {
                *self.stats.instants.entry(category.as_str()).or_default() += 1
            }
            _ => {}
        }
        if self.write_failed {
            self.stats.lost += 1;
            return;
        }
        if let Some(w) = &mut self.writer {
            let r = w.event(ev, &ctx);
            self.check(r);
        }
    }
}

impl Sink {
    pub(super) fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        let trailer = Trailer {
            events: self.stats.events,
            lost: self.stats.lost,
            end_ns: clock::monotonic_ns(),
        };
        if let Some(w) = &mut self.writer {
            let r = w.finish(&trailer);
            self.check(r);
        }
    }

    /// A snapshot of the statistics.
    pub(crate) fn stats(&self) -> Stats {
        self.stats.clone()
    }

    /// Sites seen so far.
    pub(crate) fn site_table(&self) -> &SiteTable {
        &self.sites
    }

    /// Forgets statistics (for `reset()`).
    pub(crate) fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }
}
