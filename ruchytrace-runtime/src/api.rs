//! The control API for programs that drive tracing themselves: on/off switches, instant events,
//! flushing and the [`TraceSummary`] report.

use crate::capture::ArgWriter;
use crate::collector::{self, SiteStats};
use crate::global::{self, CATEGORIES, OFF, ON_MONO, SHUTDOWN, STATE, UNINIT};
use crate::lifecycle;
use crate::model::Category;
use crate::record::kind;
use crate::recorder;
use crate::site;
use std::fmt;
use std::sync::atomic::Ordering::*;
use std::time::Duration;

/// Turns recording on (starting the collector if this is the first time).
pub fn enable() {
    global::runtime();
    lifecycle::start();
}

/// Turns recording off. Calls already open still record their exits, so pairs stay balanced.
pub fn disable() {
    let _ = STATE.fetch_update(AcqRel, Acquire, |s| (s != SHUTDOWN).then_some(OFF));
}

/// Whether calls are being recorded now (reads the environment on first use).
pub fn is_enabled() -> bool {
    let mut s = STATE.load(Relaxed);
    if s == UNINIT {
        s = lifecycle::init();
    }
    s <= ON_MONO
}

/// Records instant events only of these categories (all by default).
pub fn set_category_filter(categories: &[Category]) {
    let mask = categories.iter().fold(0u16, |m, c| m | c.bit());
    CATEGORIES.store(mask, Relaxed);
}

/// Records an instant event (a point in time with a category, a name and free-form detail) on
/// the calling thread.
pub fn event(category: Category, name: &str, detail: &str) {
    let mut g = STATE.load(Relaxed);
    if g == UNINIT {
        g = lifecycle::init();
    }
    if g > ON_MONO || CATEGORIES.load(Relaxed) & category.bit() == 0 {
        return;
    }
    let cat = Category::ALL
        .iter()
        .position(|c| *c == category)
        .unwrap_or(0) as u32;
    recorder::with_thread(|t| {
        t.record(g, kind::INSTANT, cat, |w: &mut ArgWriter| {
            w.str(name);
            w.str(detail);
        })
    });
}

/// Writes every event recorded so far to the output now.
pub fn flush() {
    if let Some(c) = collector::handle() {
        c.flush();
    }
}

/// Forgets the statistics behind [`summary`] (events already written stay in the output).
pub fn reset() {
    if let Some(c) = collector::handle() {
        c.reset_stats();
    }
}

/// Per-function counters of a [`TraceSummary`].
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSummary {
    /// Display name.
    pub name: String,
    /// Fully qualified name.
    pub qualified_name: String,
    /// Recorded calls that returned.
    pub count: u64,
    /// Estimated calls (count × sample rate); equals `count` without sampling.
    pub estimated_count: u64,
    /// Whether `estimated_count` is an extrapolation from a sample.
    pub estimated: bool,
    /// Total time in the function (inclusive).
    pub total: Duration,
    /// Shortest call.
    pub min: Duration,
    /// Longest call.
    pub max: Duration,
    /// Mean call.
    pub avg: Duration,
    /// Calls that returned `Err` or panicked.
    pub errors: u64,
    /// Share of calls without error, 0.0..=1.0.
    pub success_rate: f64,
}

/// A snapshot of what the runtime has recorded ([`summary`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    /// Time since the runtime started.
    pub uptime: Duration,
    /// Whether recording is on.
    pub enabled: bool,
    /// Events recorded (written or kept).
    pub events_recorded: u64,
    /// Events lost (buffer full, evicted, unwritable).
    pub events_dropped: u64,
    /// Instant events per category.
    pub instants: Vec<(Category, u64)>,
    /// Per-function counters, by total time, largest first.
    pub functions: Vec<FunctionSummary>,
}

static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

pub(crate) fn mark_start() {
    START.get_or_init(std::time::Instant::now);
}

/// Drains pending events and returns the statistics so far.
pub fn summary() -> TraceSummary {
    mark_start();
    let enabled = is_enabled();
    let rt = global::runtime();
    let (stats, sites) = match collector::handle() {
        Some(c) => c.snapshot(),
        None => Default::default(),
    };
    let sample = rt.settings.sample.max(1) as u64;
    let mut functions: Vec<FunctionSummary> = stats
        .sites
        .iter()
        .map(|(id, s): (&u32, &SiteStats)| {
            let site = sites.get(*id);
            // The rate this site was recorded at: its own (`sample = N`, where 1 means every
            // call), else the global one.
            let site_sample = match site::site_by_id(*id).map(|c| c.meta().sample as u64) {
                Some(0) | None => sample,
                Some(n) => n,
            };
            FunctionSummary {
                name: site
                    .map(|s| s.name.clone())
                    .unwrap_or_else(|| format!("site#{id}")),
                qualified_name: site.map(|s| s.qualified_name.clone()).unwrap_or_default(),
                count: s.count,
                estimated_count: s.count * site_sample,
                estimated: site_sample > 1,
                total: Duration::from_nanos(s.total_ns),
                min: Duration::from_nanos(s.min_ns),
                max: Duration::from_nanos(s.max_ns),
                avg: Duration::from_nanos(s.total_ns.checked_div(s.count).unwrap_or(0)),
                errors: s.errors,
                success_rate: if s.count == 0 {
                    1.0
                } else {
                    (s.count - s.errors) as f64 / s.count as f64
                },
            }
        })
        .collect();
    functions.sort_by(|a, b| b.total.cmp(&a.total).then(a.name.cmp(&b.name)));
    let mut instants: Vec<(Category, u64)> = stats
        .instants
        .iter()
        .filter_map(|(n, c)| Some((Category::from_name(n)?, *c)))
        .collect();
    instants.sort();
    TraceSummary {
        uptime: START.get().map(|s| s.elapsed()).unwrap_or_default(),
        enabled,
        events_recorded: stats.events,
        events_dropped: stats.lost,
        instants,
        functions,
    }
}

fn dur(d: Duration) -> String {
    crate::duration::fmt_duration(d.as_nanos().min(u64::MAX as u128) as u64)
}

impl fmt::Display for TraceSummary {
    /// A readable report: header, then one row per function.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ruchytrace summary: uptime {}, tracing {}, {} events recorded, {} dropped",
            dur(self.uptime),
            if self.enabled { "enabled" } else { "disabled" },
            self.events_recorded,
            self.events_dropped
        )?;
        if !self.instants.is_empty() {
            let list: Vec<String> = self
                .instants
                .iter()
                .map(|(c, n)| format!("{}={n}", c.as_str()))
                .collect();
            writeln!(f, "instant events: {}", list.join(", "))?;
        }
        writeln!(
            f,
            "{:<32} {:>10} {:>12} {:>12} {:>12} {:>12} {:>7} {:>8}",
            "function", "calls", "total", "min", "avg", "max", "errors", "success"
        )?;
        for s in &self.functions {
            let calls = if s.estimated {
                format!("~{}", s.estimated_count)
            } else {
                s.count.to_string()
            };
            writeln!(
                f,
                "{:<32} {:>10} {:>12} {:>12} {:>12} {:>12} {:>7} {:>7.1}%",
                s.name,
                calls,
                dur(s.total),
                dur(s.min),
                dur(s.avg),
                dur(s.max),
                s.errors,
                s.success_rate * 100.0
            )?;
        }
        if self.functions.iter().any(|s| s.estimated) {
            writeln!(f, "(~ = estimated from a sample)")?;
        }
        Ok(())
    }
}
