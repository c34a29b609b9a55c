//! Call sites: the static description of each instrumented function ([`CallSite`], [`SiteMeta`],
//! [`ArgMeta`]), the cached per-site decision the hot path reads (the `SITE_*` states), and the
//! process-wide site registry that gives every site its id on first use.
//!
//! This module decides nothing about the process state: [`resolve`] is handed the name filter
//! and the global sample rate by its caller.

use crate::filter::Filter;
use crate::model::{ArgInfo, Location, Site, SiteKind};
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::*};
use std::sync::Mutex;

/// One declared (captured) argument of a call site.
#[derive(Debug)]
pub struct ArgMeta {
    /// Argument name as written (`n`, `self`, `(a, b)`).
    pub name: &'static str,
    /// Type as written (`i64`, `&str`, `T`).
    pub type_name: &'static str,
}

/// Static description of an instrumented function.
#[derive(Debug)]
pub struct SiteMeta {
    /// Display name (`fibonacci`, `Point::norm`, or an override).
    pub name: &'static str,
    /// `module_path!()` of the function (the qualified name is `module_path::name`).
    pub module_path: &'static str,
    /// Source file (or the original source of generated code).
    pub file: &'static str,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// Captured arguments in order.
    pub args: &'static [ArgMeta],
    /// Declared return type as written (`()` when none).
    pub return_type: &'static str,
    /// fn / method / async.
    pub kind: SiteKind,
    /// 0 = the global sample rate; N = record one call of this site in N.
    pub sample: u32,
}

/// Not seen yet: the next call registers the site and decides.
pub(crate) const SITE_UNRESOLVED: u8 = 0;
/// Every call is recorded (global rate 1, or the site says `sample = 1`).
pub(crate) const SITE_ON: u8 = 1;
/// Filtered out: never recorded.
pub(crate) const SITE_OFF: u8 = 2;
/// The site's own rate (`sample = N`, N > 1): a per-thread, per-site countdown.
pub(crate) const SITE_SAMPLED: u8 = 3;
/// The global rate (`RUCHYTRACE_SAMPLE=N`, N > 1): the thread's countdown across sites.
pub(crate) const SITE_GLOBAL: u8 = 4;

/// A call site: a `static` per instrumented function. Its id and its filter/sampling decision
/// are resolved on first use and cached.
#[derive(Debug)]
pub struct CallSite {
    pub(crate) meta: SiteMeta,
    pub(crate) id: AtomicU32,
    pub(crate) state: AtomicU8,
}

impl CallSite {
    /// Declares a site (usable in a `static`).
    pub const fn new(meta: SiteMeta) -> CallSite {
        CallSite {
            meta,
            id: AtomicU32::new(0),
            state: AtomicU8::new(SITE_UNRESOLVED),
        }
    }

    /// The site's static description.
    pub fn meta(&self) -> &SiteMeta {
        &self.meta
    }

    /// The fully qualified name (`module::path::name`), as filters see it.
    pub fn qualified_name(&self) -> String {
        if self.meta.module_path.is_empty() {
            self.meta.name.to_string()
        } else {
            format!("{}::{}", self.meta.module_path, self.meta.name)
        }
    }

    /// The site's id (0 until it is resolved).
    #[inline(always)]
    pub(crate) fn id(&self) -> u32 {
        self.id.load(Relaxed)
    }

    /// The cached decision (one of the `SITE_*` states).
    #[inline(always)]
    pub(crate) fn state(&self) -> u8 {
        self.state.load(Relaxed)
    }

    /// The sampling rate the recorder applies to this resolved site: 1 = every call, 0 = the
    /// global rate, N = the site's own rate; `None` when the site is not recorded.
    pub(crate) fn sample_rate(&self) -> Option<u32> {
        match self.state() {
            SITE_ON => Some(1),
            SITE_GLOBAL => Some(0),
            SITE_SAMPLED => Some(self.meta.sample),
            _ => None,
        }
    }
}

/// Every resolved site; the id of a site is its index + 1.
static SITES: Mutex<Vec<&'static CallSite>> = Mutex::new(Vec::new());

/// Registers `site` (once) and caches its filter/sampling decision: `filter` is the process's
/// name filter, `global_sample` its `RUCHYTRACE_SAMPLE` rate. True when this call registered it.
#[cold]
pub(crate) fn resolve(
    site: &'static CallSite,
    filter: Option<&Filter>,
    global_sample: u32,
) -> bool {
    if site.state.load(Acquire) != SITE_UNRESOLVED {
        return false;
    }
    let mut sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
    if site.state.load(Acquire) != SITE_UNRESOLVED {
        return false;
    }
    sites.push(site);
    site.id.store(sites.len() as u32, Relaxed);
    let traced = filter.is_none_or(|f| f.matches(&site.qualified_name()));
    let st = match (traced, site.meta.sample, global_sample) {
        (false, _, _) => SITE_OFF,
        (true, 0, 0 | 1) | (true, 1, _) => SITE_ON,
        (true, 0, _) => SITE_GLOBAL,
        (true, _, _) => SITE_SAMPLED,
    };
    site.state.store(st, Release);
    true
}

/// Looks a site up by id (collector side).
pub(crate) fn site_by_id(id: u32) -> Option<&'static CallSite> {
    let sites = SITES.lock().unwrap_or_else(|e| e.into_inner());
    sites.get((id as usize).checked_sub(1)?).copied()
}

/// The trace-file model of the registered site with this id.
pub(crate) fn site_model(id: u32) -> Option<Site> {
    let cs = site_by_id(id)?;
    let m = cs.meta();
    Some(Site {
        id,
        name: m.name.to_string(),
        qualified_name: cs.qualified_name(),
        location: Location {
            file: m.file.to_string(),
            line: m.line,
            column: m.column,
        },
        args: m
            .args
            .iter()
            .map(|a| ArgInfo {
                name: a.name.to_string(),
                type_name: a.type_name.to_string(),
            })
            .collect(),
        return_type: m.return_type.to_string(),
        kind: m.kind,
    })
}
