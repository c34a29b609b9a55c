//! The clock contract: every timestamp that leaves the process is `CLOCK_MONOTONIC` nanoseconds.
//!
//! The hot path reads raw *ticks*: the TSC on x86_64 machines whose TSC is invariant
//! (`constant_tsc` + `nonstop_tsc`), `CLOCK_MONOTONIC` nanoseconds elsewhere. The collector turns
//! ticks into nanoseconds with [`Converter`], which interpolates between (TSC, `CLOCK_MONOTONIC`)
//! anchor pairs it takes on every cycle, before reading the buffers. The conversion error is the
//! jitter of one anchor read (tens of nanoseconds), far below a ptrace stop's latency, so function
//! events and the companion's syscall stamps nest exactly.

/// Reads `CLOCK_MONOTONIC` in nanoseconds (vDSO: no system call on Linux).
#[inline]
pub fn monotonic_ns() -> u64 {
    read_clock(libc::CLOCK_MONOTONIC)
}

/// Reads `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
pub fn realtime_ns() -> u64 {
    read_clock(libc::CLOCK_REALTIME)
}

#[inline]
fn read_clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes to it.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Reads the time-stamp counter.
#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is available on every x86_64 CPU and has no memory effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Reads the time-stamp counter (not x86_64, or under Miri, which cannot run RDTSC: the
/// monotonic clock stands in).
#[cfg(any(not(target_arch = "x86_64"), miri))]
#[inline(always)]
pub fn rdtsc() -> u64 {
    monotonic_ns()
}

/// True when this machine's TSC ticks at a constant rate in every power state, so it can stand in
/// for `CLOCK_MONOTONIC` after conversion. `RUCHYTRACE_CLOCK=monotonic` turns it off.
pub fn tsc_usable() -> bool {
    if !cfg!(target_arch = "x86_64") || cfg!(miri) {
        return false;
    }
    if std::env::var("RUCHYTRACE_CLOCK").is_ok_and(|v| v == "monotonic") {
        return false;
    }
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or("");
    let has = |f: &str| flags.split_whitespace().any(|w| w == f);
    has("constant_tsc") && has("nonstop_tsc")
}

/// One simultaneous reading of the TSC and `CLOCK_MONOTONIC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// TSC ticks (midpoint of two reads around the clock read).
    pub tsc: u64,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub ns: u64,
}

impl Anchor {
    /// Takes an anchor, retrying when the read was disturbed (preemption between the reads).
    pub fn take() -> Anchor {
        let mut best = None;
        for _ in 0..8 {
            let t1 = rdtsc();
            let ns = monotonic_ns();
            let t2 = rdtsc();
            let width = t2.wrapping_sub(t1);
            let a = Anchor {
                tsc: t1 + width / 2,
                ns,
            };
            match best {
                Some((w, _)) if w <= width => {}
                _ => best = Some((width, a)),
            }
            if width < 2_000 {
                break;
            }
        }
        best.map(|(_, a)| a).expect("at least one anchor read")
    }
}

/// Converts hot-path ticks to `CLOCK_MONOTONIC` nanoseconds.
#[derive(Debug, Clone)]
pub struct Converter {
    tsc: bool,
    anchors: Vec<Anchor>,
    /// The last segment (start anchor, ns per tick): almost every event lies in it, so its
    /// rate is computed once per anchor instead of once per event.
    last: Option<(Anchor, f64)>,
}

/// Anchors kept: at one anchor per collector cycle this spans minutes, far longer than any
/// event waits in a buffer.
const MAX_ANCHORS: usize = 4096;

impl Converter {
    /// A converter for TSC ticks (`tsc = true`) or for ticks that already are nanoseconds.
    pub fn new(tsc: bool) -> Converter {
        let mut c = Converter {
            tsc,
            anchors: Vec::new(),
            last: None,
        };
        if tsc {
            c.anchors.push(Anchor::take());
        }
        c
    }

    /// A converter over anchors read back from a trace file (sorted by ticks).
    pub fn from_anchors(tsc: bool, mut anchors: Vec<Anchor>) -> Converter {
        // Anchors closer than 100 µs add jitter and no precision (see `anchor`), and one that
        // goes back in time is a read disturbed beyond repair.
        let mut kept: Vec<Anchor> = Vec::with_capacity(anchors.len());
        for a in anchors.drain(..) {
            match kept.last() {
                Some(l) if a.ns < l.ns + 100_000 || a.tsc <= l.tsc => {}
                _ => kept.push(a),
            }
        }
        let mut c = Converter {
            tsc,
            anchors: kept,
            last: None,
        };
        let n = c.anchors.len();
        if tsc && n >= 2 {
            let (a, b) = (c.anchors[n - 2], c.anchors[n - 1]);
            let rate = (b.ns as f64 - a.ns as f64) / b.tsc.saturating_sub(a.tsc).max(1) as f64;
            c.last = Some((a, rate));
        }
        if c.anchors.is_empty() {
            c.anchors.push(Anchor { tsc: 0, ns: 0 });
        }
        c
    }

    /// Whether ticks are TSC readings.
    pub fn is_tsc(&self) -> bool {
        self.tsc
    }

    /// Records a fresh anchor; call before converting events read after this point.
    pub fn anchor(&mut self) {
        if !self.tsc {
            return;
        }
        let mut a = Anchor::take();
        if self.anchors.len() == 1 {
            // The first rate estimate needs a baseline well above the read jitter: wait for 1 ms
            // once in the life of the process.
            let first = self.anchors[0];
            while a.ns < first.ns + 1_000_000 {
                std::hint::spin_loop();
                a = Anchor::take();
            }
        }
        if let Some(last) = self.anchors.last() {
            // Anchors closer than 100 µs add jitter and no precision.
            if a.ns < last.ns + 100_000 {
                return;
            }
        }
        if self.anchors.len() == MAX_ANCHORS {
            self.anchors.drain(..MAX_ANCHORS / 2);
        }
        self.anchors.push(a);
        let n = self.anchors.len();
        if n >= 2 {
            let (a, b) = (self.anchors[n - 2], self.anchors[n - 1]);
            let rate = (b.ns - a.ns) as f64 / b.tsc.saturating_sub(a.tsc).max(1) as f64;
            self.last = Some((a, rate));
        }
    }

    /// Estimated TSC frequency in Hz (None until two anchors exist or without TSC).
    pub fn tsc_hz(&self) -> Option<f64> {
        let (a, b) = (self.anchors.first()?, self.anchors.last()?);
        if !self.tsc || b.ns <= a.ns {
            return None;
        }
        Some((b.tsc - a.tsc) as f64 * 1e9 / (b.ns - a.ns) as f64)
    }

    /// Converts ticks to nanoseconds.
    #[inline]
    pub fn to_ns(&self, ticks: u64) -> u64 {
        if !self.tsc {
            return ticks;
        }
        if let Some((a, rate)) = self.last {
            if ticks >= a.tsc {
                return (a.ns as i64 + ((ticks - a.tsc) as f64 * rate) as i64).max(0) as u64;
            }
        }
        self.to_ns_search(ticks)
    }

    fn to_ns_search(&self, ticks: u64) -> u64 {
        let n = self.anchors.len();
        if n < 2 {
            // One anchor and a nominal rate guess: only used before the collector's second anchor
            // and corrected as soon as it exists (events are converted after an anchor is taken).
            let a = self.anchors[0];
            let hz = 1e9;
            return (a.ns as i128 + ((ticks as i128 - a.tsc as i128) as f64 * 1e9 / hz) as i128)
                .max(0) as u64;
        }
        let (_, _, a, rate) = self.segment(ticks).expect("two TSC anchors");
        let off = ticks as i64 - a.tsc as i64;
        (a.ns as i64 + (off as f64 * rate) as i64).max(0) as u64
    }

    /// The anchor segment that converts `ticks`: every tick count in `lo..=hi` converts with
    /// anchor `a` and `rate` nanoseconds per tick, as `(lo, hi, a, rate)`. `None` for a
    /// nanosecond clock or fewer than two anchors. Readers converting many nearby tick counts
    /// keep the last segment and skip the search.
    pub fn segment(&self, ticks: u64) -> Option<(u64, u64, Anchor, f64)> {
        let n = self.anchors.len();
        if !self.tsc || n < 2 {
            return None;
        }
        // Segment [i, i+1] containing ticks; outside, extrapolate from the nearest segment
        // (the first holds everything before its end, the last everything from its start on).
        // Almost every event lies in the last segment, so try it before searching.
        let last = n - 2;
        let i = if ticks >= self.anchors[last].tsc {
            last
        } else {
            let idx = self.anchors.partition_point(|a| a.tsc <= ticks);
            idx.clamp(1, n - 1) - 1
        };
        let (a, b) = (self.anchors[i], self.anchors[i + 1]);
        let lo = if i == 0 { 0 } else { a.tsc };
        let hi = if i == last { u64::MAX } else { b.tsc - 1 };
        let rate = (b.ns as f64 - a.ns as f64) / b.tsc.saturating_sub(a.tsc).max(1) as f64;
        Some((lo, hi, a, rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_tracks_monotonic() {
        if !tsc_usable() {
            return;
        }
        let mut c = Converter::new(true);
        std::thread::sleep(std::time::Duration::from_millis(3));
        // The pair read with the least time between its two clock reads: a preemption between
        // them (frequent on a loaded virtual machine) would be measured as conversion error.
        let (t, m) = (0..16)
            .map(|_| {
                let m0 = monotonic_ns();
                let t = rdtsc();
                let m1 = monotonic_ns();
                (m1 - m0, t, m0 + (m1 - m0) / 2)
            })
            .min()
            .map(|(_, t, m)| (t, m))
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(3));
        c.anchor();
        let conv = c.to_ns(t);
        let err = conv as i64 - m as i64;
        assert!(err.abs() < 20_000, "conversion error {err} ns");
        assert!(c.tsc_hz().unwrap() > 1e8);
    }

    #[test]
    fn monotonic_passthrough() {
        let c = Converter::new(false);
        assert_eq!(c.to_ns(12345), 12345);
        assert!(monotonic_ns() > 0 && realtime_ns() > 1_600_000_000_000_000_000);
    }
}
