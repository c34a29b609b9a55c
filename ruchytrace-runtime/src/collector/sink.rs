//! The collector's output side and its event-model path: each cycle drains the rings, decodes
//! the records into [`Event`]s, orders them by time, counts them ([`Stats`]) and writes them
//! with the configured [`TraceWriter`] (or keeps the last N per thread for `overflow=ring`).
//! The binary format has a faster path that skips the event model (`fast.rs`).

use super::stats::Stats;
use crate::clock::{self, Converter};
use crate::config::Overflow;
use crate::format::binary::BinaryWriter;
use crate::format::{self, Format, Nesting, SiteTable, TraceWriter};
use crate::global::{Runtime, ThreadEntry};
use crate::model::{Event, LossReason, Metadata, Trailer};
use crate::record::{self, RawEvent};
use crate::site;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::sync::atomic::Ordering::*;

/// Where the events go: any format through the event model, or the binary format, which the
/// collector also feeds straight from the thread buffers (see `fast.rs`).
pub(super) enum Output {
    Model(Box<dyn TraceWriter>),
    Binary(BinaryWriter<Box<dyn Write + Send>>),
}

impl Output {
    pub(super) fn tw(&mut self) -> &mut dyn TraceWriter {
        match self {
            Output::Model(w) => w.as_mut(),
            Output::Binary(w) => w,
        }
    }
}

/// Everything the collector writes with, behind the collector's one lock.
pub(crate) struct Sink {
    pub(super) writer: Option<Output>,
    pub(super) write_failed: bool,
    pub(super) conv: Converter,
    sites: SiteTable,
    nesting: Nesting,
    pub(super) stats: Stats,
    ring_mode: Option<HashMap<u32, (VecDeque<Event>, u64)>>,
    ring_events: usize,
    finished: bool,
    scratch: Vec<RawEvent>,
    /// Bytes drained from the rings by the last cycle.
    pub(super) drained: usize,
    pub(super) meta: Metadata,
}

/// The loss record for drops a thread could not report before it exited (after all its
/// records: stamped now).
pub(super) fn lost_at_exit(pid: u32, t: &ThreadEntry) -> Option<Event> {
    let count = t.ring.lost_at_exit.swap(0, AcqRel);
    (count > 0).then(|| Event::Loss {
        ts: clock::monotonic_ns(),
        pid,
        tid: t.tid,
        count,
        reason: LossReason::BufferFull,
    })
}

impl Sink {
    /// A sink writing `fmt` to `out`, with header `meta`.
    pub(super) fn new(
        rt: &Runtime,
        out: Box<dyn Write + Send>,
        fmt: Format,
        conv: Converter,
        meta: Metadata,
    ) -> Sink {
        Sink {
            writer: Some(match fmt {
                Format::Binary => Output::Binary(BinaryWriter::new(out)),
                _ => Output::Model(format::writer(fmt, out)),
            }),
            write_failed: false,
            conv,
            sites: SiteTable::new(),
            nesting: Nesting::new(),
            stats: Stats::default(),
            ring_mode: (rt.settings.overflow == Overflow::Ring).then(HashMap::new),
            ring_events: rt.settings.ring_events,
            finished: false,
            scratch: Vec::new(),
            drained: 0,
            meta,
        }
    }

    /// Writes the trace header, naming the collector's thread.
    pub(super) fn begin(&mut self, collector_tid: Option<u32>) {
        self.meta.collector_tid = collector_tid;
        if let Some(w) = &mut self.writer {
            let r = w.tw().begin(&self.meta);
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

    /// Drains every ring once.
    pub(super) fn begin_cycle(&mut self) -> bool {
        if self.finished {
            return false;
        }
        self.conv.anchor();
        true
    }

    /// Whether cycles take the binary fast path (binary output, no flight recorder).
    pub(super) fn wants_fast_path(&self) -> bool {
        self.ring_mode.is_none() && matches!(self.writer, Some(Output::Binary(_)))
    }

    /// Flushes the output writer.
    pub(super) fn flush_output(&mut self) {
        if let Some(w) = &mut self.writer {
            let r = w.tw().flush();
            self.check(r);
        }
    }

    /// Drains every ring once through the event model.
    pub(super) fn cycle_model(&mut self, rt: &Runtime) {
        let mut batch: Vec<Event> = Vec::new();
        let mut drained = 0;
        {
            let mut threads = rt.threads.lock().unwrap_or_else(|e| e.into_inner());
            threads.retain(|t| {
                if t.is_private() {
                    return true;
                }
                let closed = t.ring.closed.load(Acquire);
                self.scratch.clear();
                drained += t.ring.pending() as usize;
                if let Err(e) = record::drain_ring(&t.ring, &mut self.scratch) {
                    eprintln!(
                        "ruchytrace: warning: thread {}: damaged buffer record: {}",
                        t.tid, e.0
                    );
                }
                for raw in self.scratch.drain(..) {
                    let ts = self.conv.to_ns(raw.ticks);
                    batch.push(raw.finish(ts, rt.pid, t.tid));
                }
                let done = closed && t.ring.pending() == 0;
                let lost = if done {
                    t.ring.lost_at_exit.swap(0, AcqRel)
                } else {
                    0
                };
                if lost > 0 {
                    // Losses the thread could not record itself before it exited.
                    batch.push(Event::Loss {
                        ts: batch.last().map_or_else(clock::monotonic_ns, |e| e.ts()),
                        pid: rt.pid,
                        tid: t.tid,
                        count: lost,
                        reason: LossReason::BufferFull,
                    });
                }
                !done
            });
        }
        self.drained = drained;
        // Per-thread order is already by time; a stable sort interleaves threads by time.
        batch.sort_by_key(|e| e.ts());
        if let Some(rings) = &mut self.ring_mode {
            for ev in batch {
                let (_, tid) = ev.pid_tid();
                let (q, evicted) = rings.entry(tid).or_default();
                if q.len() == self.ring_events {
                    q.pop_front();
                    *evicted += 1;
                }
                q.push_back(ev);
            }
            return;
        }
        for ev in &batch {
            self.emit(ev);
        }
        if let Some(w) = &mut self.writer {
            let r = w.tw().flush();
            self.check(r);
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
                let r = w.tw().site(&site);
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
            let r = w.tw().event(ev, &ctx);
            self.check(r);
        }
    }
}

impl Sink {
    pub(super) fn finish(&mut self) {
        if self.finished {
            return;
        }
        if let Some(rings) = self.ring_mode.take() {
            let mut all = Vec::new();
            for (tid, (q, evicted)) in rings {
                if evicted > 0 {
                    let first = q.front().map(|e| e.ts()).unwrap_or(0);
                    all.push(Event::Loss {
                        ts: first,
                        pid: self.meta.pid,
                        tid,
                        count: evicted,
                        reason: LossReason::Evicted,
                    });
                }
                all.extend(q);
            }
            all.sort_by_key(|e| (e.ts(), !matches!(e, Event::Loss { .. })));
            for ev in &all {
                self.emit(ev);
            }
        }
        self.finished = true;
        let trailer = Trailer {
            events: self.stats.events,
            lost: self.stats.lost,
            end_ns: clock::monotonic_ns(),
        };
        if let Some(w) = &mut self.writer {
            let r = w.tw().finish(&trailer);
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

    /// Bytes drained from the rings by the last cycle.
    pub(super) fn drained(&self) -> usize {
        self.drained
    }

    /// The clock converter (for events drained outside the collector).
    #[cfg(feature = "testing")]
    pub(super) fn converter(&mut self) -> &mut Converter {
        &mut self.conv
    }

    /// Forgets statistics (for `reset()`).
    pub(crate) fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }
}
