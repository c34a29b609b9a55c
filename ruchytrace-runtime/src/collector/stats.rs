//! The per-function counters the collector keeps for [`crate::summary`].

use crate::format::FxMap;
use std::collections::HashMap;

/// Per-site counters kept by the collector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteStats {
    /// Recorded calls that exited.
    pub count: u64,
    /// Sum of durations.
    pub total_ns: u64,
    /// Shortest call.
    pub min_ns: u64,
    /// Longest call.
    pub max_ns: u64,
    /// Calls that returned `Err` or panicked.
    pub errors: u64,
}

/// Counters shared with [`crate::summary`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    pub events: u64,
    pub lost: u64,
    pub sites: FxMap<u32, SiteStats>,
    /// Instant events per category name.
    pub instants: HashMap<&'static str, u64>,
}

impl Stats {
    /// Counts one returned call.
    #[inline]
    pub(super) fn count_exit(&mut self, site: u32, duration_ns: Option<u64>, error: bool) {
        let s = self.sites.entry(site).or_default();
        let d = duration_ns.unwrap_or(0);
        if s.count == 0 || d < s.min_ns {
            s.min_ns = d;
        }
        s.max_ns = s.max_ns.max(d);
        s.count += 1;
        s.total_ns += d;
        if error {
            s.errors += 1;
        }
    }
}
